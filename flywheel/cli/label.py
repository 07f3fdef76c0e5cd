"""Verbs of curation and labelling: ``flywheel curate run|status|schedule`` and
``flywheel label export|import|agreement|errors``.

``curate run`` and ``label errors`` submit a job (``curate``, ``label-errors``) and, unless
``--detach``, run it right here with a progress bar, as ``flywheel train`` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from flywheel.cli import main
from flywheel.cli.registry import run_or_follow
from flywheel.cli.snapshots import _as_of, _echo_json, _store


def _config(text: str | None) -> dict[str, Any]:
    """A curation request from JSON text or a JSON file (empty when not given)."""
    if not text:
        return {}
    path = Path(text)
    raw = path.read_text() if path.exists() else text
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON, nor a JSON file: {exc}", param_hint="--config") from exc
    if not isinstance(doc, dict):
        raise click.BadParameter("must be a JSON object (a curation request)", param_hint="--config")
    return doc


def _request(
    config: str | None,
    budget: int | None,
    daily_budget: int | None,
    k: int | None,
    window_hours: float | None,
    since: str | None,
    until: str | None,
    seed: int | None,
) -> dict[str, Any]:
    from flywheel.curate.service import parse_request

    doc = _config(config)
    policy = dict(doc.get("policy") or {})
    for key, value in (("budget", budget), ("daily_budget", daily_budget), ("seed", seed)):
        if value is not None:
            policy[key] = value
    if policy:
        doc["policy"] = policy
    if k is not None:
        doc["k"] = k
    if window_hours is not None:
        doc["window_hours"] = window_hours
    for key, text in (("since", since), ("until", until)):
        if text:
            doc[key] = _as_of(text)
    return parse_request(doc).model_dump(mode="json")


def _request_options(fn: Any) -> Any:
    options = [
        click.option("--config", default=None, help="A curation request as JSON text or a JSON file."),
        click.option("--budget", type=int, default=None, help="Most events this run queues (default 100)."),
        click.option(
            "--daily-budget", type=int, default=None, help="Most events queued per UTC day, all runs."
        ),
        click.option("--k", type=int, default=None, help="Annotators wanted per event (default 1)."),
        click.option("--window-hours", type=float, default=None, help="Window before --until (default 168)."),
        click.option("--since", default=None, help="Window start (ISO time)."),
        click.option(
            "--until", default=None, help="Window end (ISO time; default just after the newest event)."
        ),
        click.option("--seed", type=int, default=None, help="Seed of the policy (same inputs, same queue)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


# -- curate -------------------------------------------------------------------------------------
@main.group()
def curate() -> None:
    """Pick the events most worth labelling into the labelling queue."""


@curate.command("run")
@click.argument("model")
@_request_options
@click.option("--detach", is_flag=True, help="Submit the job and return; a worker runs it.")
@click.pass_context
def curate_run(
    ctx: click.Context,
    model: str,
    config: str | None,
    budget: int | None,
    daily_budget: int | None,
    k: int | None,
    window_hours: float | None,
    since: str | None,
    until: str | None,
    seed: int | None,
    detach: bool,
) -> None:
    """Run curation over MODEL's recent events and queue the picks."""
    _store(ctx).models.get(model)
    req = _request(config, budget, daily_budget, k, window_hours, since, until, seed)
    result = run_or_follow(ctx, "curate", {"model": model, "request": req}, model, detach)
    if result is None:
        return
    run = _store(ctx).labelling.run(result["run_id"])
    click.echo(f"run {run.run_id}: queued {run.picked} of {run.candidates} candidates (budget {run.budget})")
    for selector, n in sorted(run.context.get("counts", {}).items()):
        click.echo(f"  {selector:<16} {n}")
    for note in run.notes:
        click.echo(f"  note: {note}")


@curate.command("status")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def curate_status(ctx: click.Context, model: str, as_json: bool) -> None:
    """The labelling queue of MODEL: items per status, recent runs, the schedule."""
    store = _store(ctx)
    store.models.get(model)
    sched = store.labelling.schedule(model)
    doc = {
        "counts": store.labelling.counts(model),
        "label_errors": store.labelling.label_error_counts(model),
        "schedule": None if sched is None else sched.to_dict(),
        "runs": [
            {
                k: v
                for k, v in r.to_dict().items()
                if k in ("run_id", "created_at", "trigger", "picked", "budget", "candidates")
            }
            for r in store.labelling.runs(model, limit=10)
        ],
    }
    if as_json:
        _echo_json(doc)
        return
    click.echo("queue: " + ", ".join(f"{n} {s}" for s, n in doc["counts"].items()))
    click.echo("label errors: " + ", ".join(f"{n} {s}" for s, n in doc["label_errors"].items()))
    if sched is None:
        click.echo("schedule: none (set one with `flywheel curate schedule MODEL --every 6h`)")
    else:
        state = "on" if sched.enabled else "paused"
        click.echo(f"schedule: every {sched.interval_s}s ({state}), next {sched.next_run_at.isoformat()}")
    for r in doc["runs"]:
        click.echo(
            f"  {r['created_at'][:19]}  {r['run_id']}  {r['trigger']:<8} {r['picked']:>5} / {r['budget']:<5} of {r['candidates']}"
        )


@curate.command("schedule")
@click.argument("model")
@click.option("--every", default=None, help="Interval: 3600, 30m, 6h, 1d.")
@click.option("--off", is_flag=True, help="Pause the schedule.")
@_request_options
@click.pass_context
def curate_schedule(
    ctx: click.Context,
    model: str,
    every: str | None,
    off: bool,
    config: str | None,
    budget: int | None,
    daily_budget: int | None,
    k: int | None,
    window_hours: float | None,
    since: str | None,
    until: str | None,
    seed: int | None,
) -> None:
    """Show, set or pause MODEL's curation schedule (workers start the runs)."""
    from flywheel.curate.service import parse_interval

    store = _store(ctx)
    store.models.get(model)
    current = store.labelling.schedule(model)
    if every is None and not off:
        _echo_json(None if current is None else current.to_dict())
        return
    if every is None:
        if current is None:
            raise click.UsageError(f"model {model!r} has no schedule to pause")
        sched = store.labelling.set_schedule(model, current.interval_s, current.config, enabled=False)
    else:
        req = _request(config, budget, daily_budget, k, window_hours, since, until, seed)
        sched = store.labelling.set_schedule(model, parse_interval(every), req, enabled=not off)
    _echo_json(sched.to_dict())


# -- label --------------------------------------------------------------------------------------
@main.group()
def label() -> None:
    """Export and import labels, annotator agreement, and label-error searches."""


@label.command("export")
@click.argument("model")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl", "label-studio"]), default="jsonl", show_default=True
)
@click.option(
    "--source", default=None, help="Only labels of this source (annotator, adjudication, outcome, ...)."
)
@click.option("--since", default=None, help="Only labels that arrived at or after this time.")
@click.option("--until", default=None, help="Only labels that arrived before this time.")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=None, help="Write here (default stdout)."
)
@click.pass_context
def label_export(
    ctx: click.Context,
    model: str,
    fmt: str,
    source: str | None,
    since: str | None,
    until: str | None,
    output: Path | None,
) -> None:
    """Write MODEL's labels as CSV, JSON Lines or Label Studio JSON."""
    from flywheel.label.service import LabellingService

    store = _store(ctx)
    store.models.get(model)
    text, _ = LabellingService(store).export(
        model, fmt, source=source, since=_as_of(since), until=_as_of(until)
    )
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)


@label.command("import")
@click.argument("model")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "label-studio"]),
    default=None,
    help="Default by extension: .csv, .jsonl, .json (Label Studio).",
)
@click.option(
    "--label-type",
    type=click.Choice(["str", "int", "float", "json"]),
    default="str",
    show_default=True,
    help="How CSV label cells are read.",
)
@click.option(
    "--source",
    type=click.Choice(["import", "annotator", "outcome", "adjudication"]),
    default=None,
    help="Override the rows' source (default import).",
)
@click.pass_context
def label_import(
    ctx: click.Context, model: str, file: Path, fmt: str | None, label_type: str, source: str | None
) -> None:
    """Store labels from FILE (CSV, JSON Lines or a Label Studio export); re-imports are stored once."""
    from flywheel.label.service import LabellingService

    if fmt is None:
        fmt = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "label-studio"}.get(
            file.suffix.lower()
        )
        if fmt is None:
            raise click.UsageError(f"cannot tell the format of {file.name}; pass --format")
    res = LabellingService(_store(ctx)).import_labels(
        model, file.read_text(), fmt, label_type=label_type, source=source
    )
    click.echo(f"{res['accepted']} labels stored, {res['duplicates']} already there")


@label.command("agreement")
@click.argument("model")
@click.option("--run", "run_id", default=None, help="Only the items of this curation run.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.pass_context
def label_agreement(ctx: click.Context, model: str, run_id: str | None, as_json: bool) -> None:
    """Agreement among MODEL's annotators on items labelled by several of them."""
    from flywheel.label.service import LabellingService

    report = LabellingService(_store(ctx)).agreement(model, run_id)
    if as_json:
        _echo_json(report)
        return

    def num(v: Any) -> str:
        return "—" if v is None else f"{v:.3f}"

    click.echo(
        f"{report['items_with_overlap']} of {report['items']} items labelled by two or more annotators"
    )
    click.echo(f"Krippendorff's alpha {num(report['krippendorff_alpha'])}  Fleiss' kappa {num(report['fleiss_kappa'])}"
               f"  all agree {num(report['percent_agreement'])}")  # fmt: skip
    for pair in report["cohen_kappa"]:
        click.echo(
            f"  Cohen's kappa {pair['a']} / {pair['b']}: {num(pair['kappa'])} on {pair['items']} items"
        )
    for a in report["per_annotator"]:
        click.echo(
            f"  {a['annotator']:<20} {a['labels']:>6} labels  agrees {num(a['agreement_with_others'])}"
        )


@label.command("errors")
@click.argument("model")
@click.option("--list", "list_only", is_flag=True, help="List the review queue instead of searching.")
@click.option(
    "--status",
    type=click.Choice(["open", "relabelled", "confirmed"]),
    default="open",
    show_default=True,
    help="With --list.",
)
@click.option(
    "--probabilities",
    type=click.Choice(["cv", "logged"]),
    default="cv",
    show_default=True,
    help="Cross-validated, or the serving model's.",
)
@click.option(
    "--method",
    type=click.Choice(["rank_count", "confident_joint", "argmax"]),
    default="rank_count",
    show_default=True,
)
@click.option("--max-issues", type=int, default=500, show_default=True)
@click.option("--detach", is_flag=True, help="Submit the job and return; a worker runs it.")
@click.pass_context
def label_errors(
    ctx: click.Context,
    model: str,
    list_only: bool,
    status: str,
    probabilities: str,
    method: str,
    max_issues: int,
    detach: bool,
) -> None:
    """Search MODEL's labels for likely errors into the review queue (or --list it)."""
    store = _store(ctx)
    store.models.get(model)
    if not list_only:
        req = {"probabilities": probabilities, "method": method, "max_issues": max_issues}
        result = run_or_follow(ctx, "label-errors", {"model": model, "request": req}, model, detach)
        if result is None:
            return
        click.echo(
            f"{result['suspects']} suspects among {result['labelled_events']} labelled events "
            f"(estimated errors {result['estimated_errors']}); queued: {result['queued']}"
        )
    for r in store.labelling.label_errors(model, status=status, limit=50):
        click.echo(
            f"  {r.event_id:<24} given {r.given!s:<14} suggested {r.suggested!s:<14} {r.score:.2f}  {r.status}"
        )
