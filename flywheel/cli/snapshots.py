"""Verbs of dataset snapshots: build, eval sets, list, show, diff, verify."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from flywheel.cli import main, settings_of
from flywheel.errors import ValidationError


def _store(ctx: click.Context) -> Any:
    from flywheel.store import open_store

    return open_store(settings_of(ctx))


def _json_option(text: str | None, what: str) -> Any:
    if text is None:
        return None
    path = Path(text)
    raw = path.read_text() if not text.lstrip().startswith(("{", "[")) and path.exists() else text
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"The {what} must be JSON (or a file holding JSON); {exc}") from exc


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    from flywheel.ingest.read import parse_time_param

    return parse_time_param(text, "as_of")


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


# -- datasets ------------------------------------------------------------------------------
@main.group()
def dataset() -> None:
    """Build, list, show, compare and verify a model's dataset snapshots and eval sets."""


def _rule(rule: str | None, window_days: float | None, window_rows: int | None) -> Any:
    if sum(x is not None for x in (rule, window_days, window_rows)) > 1:
        raise ValidationError("Give at most one of --rule, --window-days and --window-rows.")
    if window_days is not None:
        return {"kind": "window", "days": window_days}
    if window_rows is not None:
        return {"kind": "window", "rows": window_rows}
    return _json_option(rule, "--rule")


def _split(split: str, holdout: float) -> dict[str, Any]:
    return {"by": split, "holdout": 0.0 if split == "none" else holdout}


@dataset.command("build")
@click.argument("model")
@click.option("--name", default="training", show_default=True, help="Dataset name; versions count per name.")
@click.option(
    "--rule",
    default=None,
    help='Formation rule as JSON (or a JSON file), e.g. \'{"kind": "sample", "n": 1000}\'.',
)
@click.option(
    "--window-days", type=float, default=None, help="Shorthand for a window rule over the last N days."
)
@click.option(
    "--window-rows", type=int, default=None, help="Shorthand for a window rule over the last N rows."
)
@click.option(
    "--label-policy",
    type=click.Choice(["latest", "majority", "adjudicated-first", "source-priority"]),
    default="latest",
    show_default=True,
)
@click.option("--split", type=click.Choice(["time", "random", "none"]), default="time", show_default=True)
@click.option(
    "--holdout", type=float, default=0.2, show_default=True, help="Share held out (the newest, by time)."
)
@click.option("--as-of", default=None, help="ISO time: only events and labels that had arrived by then.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dataset_build(
    ctx: click.Context,
    model: str,
    name: str,
    rule: str | None,
    window_days: float | None,
    window_rows: int | None,
    label_policy: str,
    split: str,
    holdout: float,
    as_of: str | None,
    as_json: bool,
) -> None:
    """Build a training snapshot of MODEL's labelled events (a new version only if it changed)."""
    from flywheel.datasets.service import DatasetService

    res = DatasetService(_store(ctx)).build(
        model,
        name=name,
        rule=_rule(rule, window_days, window_rows),
        label_policy=label_policy,
        split=_split(split, holdout),
        as_of=_as_of(as_of),
    )
    if as_json:
        _echo_json(res.to_dict())
        return
    m = res.record.manifest
    state = "built" if res.created else "unchanged, same as"
    click.echo(
        f"{state} {res.record.ref} ({res.record.dataset_id}): {res.record.num_rows:,} rows as of {m['as_of']}"
    )
    click.echo(f"  splits {m['split_counts']}  classes {m.get('class_balance')}")


@dataset.command("eval-set")
@click.argument("model")
@click.argument("name")
@click.option(
    "--ids", default=None, help="Golden set: event ids, comma-separated, or @FILE with one per line."
)
@click.option("--edge-cases", is_flag=True, help="Events flagged (flag, thumbs_down) in feedback.")
@click.option("--slice", "slice_expr", default=None, help="A slice: 'age < 30', or a feature with --value.")
@click.option("--value", default=None, help="With a group-by --slice: the value to keep.")
@click.option(
    "--as-of", default=None, help="ISO time: only events, labels and feedback that had arrived by then."
)
@click.pass_context
def dataset_eval_set(
    ctx: click.Context,
    model: str,
    name: str,
    ids: str | None,
    edge_cases: bool,
    slice_expr: str | None,
    value: str | None,
    as_of: str | None,
) -> None:
    """Build or refresh the pinned eval set NAME (golden ids, edge cases, or a slice)."""
    from flywheel.datasets.service import DatasetService

    if sum((ids is not None, edge_cases, slice_expr is not None)) != 1:
        raise ValidationError("Give exactly one of --ids, --edge-cases and --slice.")
    rule: dict[str, Any]
    if ids is not None:
        text = Path(ids[1:]).read_text() if ids.startswith("@") else ids.replace(",", "\n")
        rule = {"kind": "golden", "event_ids": [x.strip() for x in text.splitlines() if x.strip()]}
    elif edge_cases:
        rule = {"kind": "edge-cases"}
    else:
        rule = {"kind": "slice", "expr": slice_expr, "value": value}
    res = DatasetService(_store(ctx)).build_eval_set(model, name, rule, as_of=_as_of(as_of))
    state = "built" if res.created else "unchanged:"
    click.echo(f"{state} {res.record.ref} ({res.record.dataset_id}): {res.record.num_rows:,} rows")


@dataset.command("slice-sets")
@click.argument("model")
@click.option("--as-of", default=None, help="ISO time: only events and labels that had arrived by then.")
@click.pass_context
def dataset_slice_sets(ctx: click.Context, model: str, as_of: str | None) -> None:
    """Build or refresh one eval set per slice of MODEL's spec."""
    from flywheel.datasets.service import DatasetService

    for res in DatasetService(_store(ctx)).build_slice_sets(model, as_of=_as_of(as_of)):
        state = "built" if res.created else "unchanged"
        click.echo(f"{res.record.ref:<40} {res.record.num_rows:>8,} rows  {state}")


@dataset.command("list")
@click.argument("model")
@click.option("--kind", type=click.Choice(["train", "eval"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dataset_list(ctx: click.Context, model: str, kind: str | None, as_json: bool) -> None:
    """MODEL's datasets, newest first."""
    from flywheel.datasets.service import DatasetService

    recs = DatasetService(_store(ctx)).list(model, kind=kind)
    if as_json:
        _echo_json([r.to_dict(manifest=False) for r in recs])
        return
    for r in recs:
        click.echo(
            f"{r.dataset_id}  {r.ref:<32} {r.kind:<5} {r.num_rows:>9,} rows  as of {r.as_of.isoformat()}  {r.content_hash[:12]}"
        )


@dataset.command("show")
@click.argument("model")
@click.argument("ref")
@click.option("--rows", type=int, default=0, help="Also print the first N rows.")
@click.pass_context
def dataset_show(ctx: click.Context, model: str, ref: str, rows: int) -> None:
    """A dataset (id, name or name@version): its record and manifest, as JSON."""
    from flywheel.datasets.service import DatasetService

    _echo_json(DatasetService(_store(ctx)).show(model, ref, rows=rows))


@dataset.command("diff")
@click.argument("model")
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (ids cut to 100 per list).")
@click.pass_context
def dataset_diff(ctx: click.Context, model: str, a: str, b: str, as_json: bool) -> None:
    """What changed from dataset A to B: rows added, removed, relabelled; class balance."""
    from flywheel.datasets.service import DatasetService

    d = DatasetService(_store(ctx)).diff(model, a, b)
    if as_json:
        _echo_json(d)
        return
    c = d["counts"]
    click.echo(f"{d['a_ref']} → {d['b_ref']}")
    click.echo(
        f"  +{c['added']:,} added  -{c['removed']:,} removed  ~{c['relabelled']:,} relabelled  "
        f"{c['unchanged']:,} unchanged  ({c['resplit']:,} changed split)"
    )
    for cls, ch in (d.get("class_balance_change") or {}).items():
        click.echo(
            f"  {cls:<20} {ch['a']:>8,} → {ch['b']:>8,}   share {ch['share_a']:.3f} → {ch['share_b']:.3f}"
        )


@dataset.command("verify")
@click.argument("model")
@click.argument("ref")
@click.pass_context
def dataset_verify(ctx: click.Context, model: str, ref: str) -> None:
    """Rebuild a dataset from the store by its manifest; exit 1 unless hash and bytes match."""
    from flywheel.datasets.service import DatasetService

    res = DatasetService(_store(ctx)).verify(model, ref)
    _echo_json(res)
    if not (res["same_content"] and res["same_bytes"]):
        ctx.exit(1)
