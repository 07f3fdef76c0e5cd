"""Verbs for monitoring: report, check, reference, alerts, rebuild."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from flywheel.cli import main, settings_of


def _store(ctx: click.Context) -> Any:
    from flywheel.store import open_store

    return open_store(settings_of(ctx))


def _time(value: str | None, field: str) -> datetime | None:
    from flywheel.ingest.read import parse_time_param

    return parse_time_param(value, field)


def _latest(store: Any, model: str) -> datetime | None:
    """The end of the newest profiled hour: "now" for a model whose traffic has stopped."""
    from datetime import timedelta

    span = store.monitor.profile_span(model)
    return span[1] + timedelta(hours=1) if span else None


@main.group()
def monitor() -> None:
    """Monitoring: reports, checks that raise alerts, references, profiles."""


@monitor.command("report")
@click.argument("model")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="HTML file to write.")
@click.option("--since", default=None, help="Start (ISO 8601); default: the last 30 windows of data.")
@click.option("--until", default=None, help="End (ISO 8601); default: the newest event.")
@click.option("--bucket", type=click.Choice(["hour", "day", "week"]), default="day", show_default=True)
@click.option("--exact", is_flag=True, help="Drift from raw events instead of hourly profiles.")
@click.pass_context
def report(
    ctx: click.Context, model: str, out: Path, since: str | None, until: str | None, bucket: str, exact: bool
) -> None:
    """Write a standalone HTML report (charts open offline)."""
    from flywheel.monitor.report import write_report

    store = _store(ctx)
    try:
        store.models.get(model)
        res = write_report(
            store,
            model,
            out,
            since=_time(since, "since"),
            until=_time(until, "until"),
            bucket=bucket,
            exact=exact,
        )
    finally:
        store.close()
    click.echo(
        f"wrote {res['path']} ({res['bytes'] // 1024} KiB, {res['windows']} windows, {res['open_alerts']} open alerts)"
    )


@monitor.command("check")
@click.argument("model")
@click.option(
    "--until", default=None, help="End of the window: ISO 8601, 'now' (default) or 'latest' (newest event)."
)
@click.option(
    "--bucket",
    type=click.Choice(["hour", "day", "week"]),
    default=None,
    help="Window length (default: the model's check_bucket).",
)
@click.option("--no-deliver", is_flag=True, help="Do not call webhooks.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def check(
    ctx: click.Context, model: str, until: str | None, bucket: str | None, no_deliver: bool, as_json: bool
) -> None:
    """Run the monitors over the latest window; open and close alerts.

    Exits 1 when alerts are open after the check (new or still open), 0 when none are.
    """
    from flywheel.monitor.alerts import check as run_check

    store = _store(ctx)
    try:
        store.models.get(model)
        end = (
            _latest(store, model) if until == "latest" else _time(None if until == "now" else until, "until")
        )
        res = run_check(store, model, until=end, bucket=bucket, deliver=not no_deliver)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2, default=str))
    else:
        click.echo(
            f"{model}: window {res.window_start:%Y-%m-%d %H:%M} to {res.window_end:%Y-%m-%d %H:%M} UTC, {res.rows} events"
        )
        for a in res.opened:
            click.secho(f"  opened  [{a.severity}] {a.monitor}: {a.message}", fg="red")
        for a in res.closed:
            click.secho(f"  closed  {a.monitor}", fg="green")
        still = [a for a in res.open if a.alert_id not in {o.alert_id for o in res.opened}]
        for a in still:
            click.echo(f"  open    [{a.severity}] {a.monitor} (since {a.opened_at:%Y-%m-%d %H:%M})")
        click.echo(f"{len(res.open)} open alert(s)")
    ctx.exit(1 if res.open else 0)


@monitor.command("reference")
@click.argument("model")
@click.option("--since", default=None, help="Window start (ISO 8601), with --until.")
@click.option("--until", default=None, help="Window end (ISO 8601).")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Parquet file of reference rows.",
)
@click.option("--events-version", default=None, help="Only events of this model version (window).")
@click.option(
    "--for-version", default="", help="Store as this model version's reference (default: the model's)."
)
@click.pass_context
def reference(
    ctx: click.Context,
    model: str,
    since: str | None,
    until: str | None,
    path: Path | None,
    events_version: str | None,
    for_version: str,
) -> None:
    """Set the reference from a window of events or a Parquet file (features, optional target)."""
    from flywheel.errors import ValidationError
    from flywheel.monitor.reference import reference_from_table, reference_from_window

    store = _store(ctx)
    try:
        if path is not None:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            ref = reference_from_table(
                store, model, table, model_version=for_version, source={"kind": "file", "name": path.name}
            )
        else:
            lo, hi = _time(since, "since"), _time(until, "until")
            if lo is None or hi is None:
                raise ValidationError("Give --since and --until (a window of events), or --file.")
            ref = reference_from_window(
                store, model, lo, hi, model_version=events_version, save_as=for_version
            )
    finally:
        store.close()
    d = ref.describe()
    click.echo(
        f"reference of {model}{' ' + for_version if for_version else ''}: {d['rows']} rows, {d['labelled']} labelled"
    )


@monitor.command("alerts")
@click.argument("model")
@click.option("--status", type=click.Choice(["open", "closed", "all"]), default="open", show_default=True)
@click.pass_context
def alerts(ctx: click.Context, model: str, status: str) -> None:
    """List a model's alerts, newest first."""
    store = _store(ctx)
    try:
        store.models.get(model)
        found = store.monitor.alerts(model, status=None if status == "all" else status)
    finally:
        store.close()
    for a in found:
        state = "open" if a.is_open else f"closed {a.closed_at:%Y-%m-%d %H:%M}"
        click.echo(f"{a.alert_id}  {a.opened_at:%Y-%m-%d %H:%M}  {a.severity:<8} {a.monitor:<40} {state}")
    if not found:
        click.echo(f"no {status if status != 'all' else ''} alerts".replace("  ", " "))


@monitor.command("rebuild")
@click.argument("model")
@click.option("--since", default=None, help="Start (ISO 8601); default: the first event.")
@click.option("--until", default=None, help="End (ISO 8601); default: after the last event.")
@click.pass_context
def rebuild(ctx: click.Context, model: str, since: str | None, until: str | None) -> None:
    """Recompute the hourly profiles from the event log (after a failure, or a backfill)."""
    from flywheel.monitor.ingest_hook import rebuild_profiles

    store = _store(ctx)
    try:
        res = rebuild_profiles(store, model, _time(since, "since"), _time(until, "until"))
    finally:
        store.close()
    click.echo(f"rebuilt {res['hours']} hours from {res['rows']} events")
