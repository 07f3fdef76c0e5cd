"""Verbs of datasets, training, evaluation and the registry.

``flywheel train`` and ``flywheel evaluate`` submit a job and, unless ``--detach``, run it right
here in this process (claiming it before any worker does) with a progress bar; if a worker has
already claimed it, they follow it instead. Either way the job is recorded like any other
(``flywheel jobs show``), and Ctrl-C asks it to cancel.
"""

from __future__ import annotations

import getpass
import json
import threading
from pathlib import Path
from typing import Any

import click

from flywheel.cli import main, settings_of
from flywheel.cli.core import models
from flywheel.cli.snapshots import _as_of, _echo_json, _rule, _store
from flywheel.errors import FlywheelError


def _who(who: str | None) -> str:
    if who:
        return who
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user:unknown"


# -- jobs run here or followed -------------------------------------------------------------
def run_or_follow(ctx: click.Context, kind: str, params: dict[str, Any], model: str, detach: bool) -> Any:
    """Submit a job; run it in this process (or follow the worker that took it) unless ``detach``."""
    from flywheel.cli.jobs import follow_job
    from flywheel.jobs.runner import run_job, worker_name

    settings = settings_of(ctx)
    store = _store(ctx)
    job = store.jobs.submit(kind, params, model=model)
    if detach:
        click.echo(f"submitted {kind} job {job.job_id}; follow it with `flywheel jobs show {job.job_id} -f`")
        return None
    claimed = store.jobs.claim(worker_name(), job_id=job.job_id)
    runner = None
    if claimed is not None:
        runner = threading.Thread(target=run_job, args=(store, settings, claimed), daemon=True)
        runner.start()
    try:
        follow_job(store.jobs, job.job_id)
    except KeyboardInterrupt:
        store.jobs.cancel(job.job_id)
        click.echo("cancelling…", err=True)
        if runner is not None:
            runner.join()
    if runner is not None:
        runner.join()
    done = store.jobs.get(job.job_id)
    if done.status != "succeeded":
        raise FlywheelError(
            f"{kind} job {job.job_id} {done.status}: {done.error}; `flywheel jobs show {job.job_id}`"
        )
    return done.result


@main.command()
@click.argument("model")
@click.option(
    "--dataset", "dataset_ref", default=None, help="Train on this stored dataset (id, name or name@version)."
)
@click.option(
    "--rule", default=None, help="Build the dataset with this formation rule (JSON or a JSON file)."
)
@click.option("--window-days", type=float, default=None, help="Build it from the last N days.")
@click.option("--window-rows", type=int, default=None, help="Build it from the last N rows.")
@click.option(
    "--as-of", default=None, help="ISO time for the dataset built (default: everything that arrived)."
)
@click.option(
    "--trainer", default=None, help="Trainer name or 'package.module:Class' (default by feature kinds)."
)
@click.option(
    "--trials",
    type=int,
    default=20,
    show_default=True,
    help="Search budget in trials; 0 fits the defaults once.",
)
@click.option("--timeout", "timeout_s", type=float, default=None, help="Search budget in seconds.")
@click.option("--metric", default=None, help="Metric the search optimises (default log_loss / rmse).")
@click.option("--param", "fixed", multiple=True, help="KEY=VALUE trainer param (JSON value) when --trials 0.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--detach", is_flag=True, help="Submit the job and return; a worker runs it.")
@click.pass_context
def train(
    ctx: click.Context,
    model: str,
    dataset_ref: str | None,
    rule: str | None,
    window_days: float | None,
    window_rows: int | None,
    as_of: str | None,
    trainer: str | None,
    trials: int,
    timeout_s: float | None,
    metric: str | None,
    fixed: tuple[str, ...],
    seed: int,
    detach: bool,
) -> None:
    """Train a new version of MODEL with a hyper-parameter search, and register it."""
    from flywheel.train.jobs import parse_train_params

    params: dict[str, Any] = {"model": model, "n_trials": trials, "seed": seed}
    built = _rule(rule, window_days, window_rows)
    for key, val in (
        ("dataset", dataset_ref),
        ("rule", built),
        ("as_of", _as_of(as_of)),
        ("trainer", trainer),
        ("timeout_s", timeout_s),
        ("metric", metric),
    ):
        if val is not None:
            params[key] = val
    if fixed:
        params["params"] = {}
        for kv in fixed:
            k, _, v = kv.partition("=")
            try:
                params["params"][k] = json.loads(v)
            except json.JSONDecodeError:
                params["params"][k] = v
    job_params = parse_train_params(params).model_dump(mode="json", exclude_none=True)
    result = run_or_follow(ctx, "train", job_params, model, detach)
    if result is None:
        return
    hold = result["metrics"]["holdout"]
    line = f"registered {model} version {result['version']} ({result['trainer']}, dataset {result['dataset_id']})"
    click.echo(line)
    for role in ("candidate", "baseline"):
        values = hold.get(role) or {}
        if values:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in list(values.items())[:4])
            click.echo(f"  holdout {role:<9} {shown}")
    click.echo(f"next: `flywheel evaluate {model} {result['version']}`")


@main.command()
@click.argument("model")
@click.argument("candidate")
@click.option("--champion", default="champion", show_default=True, help="Alias or version to compare with.")
@click.option("--no-champion", is_flag=True, help="Compare with the baseline only.")
@click.option(
    "--dataset", "dataset_ref", default=None, help="Whose holdout to use (default the candidate's dataset)."
)
@click.option("--eval-set", "eval_sets", multiple=True, help="Eval sets to use (default every pinned one).")
@click.option(
    "--n-boot", type=int, default=None, help="Bootstrap resamples (default from the gate policy, 1000)."
)
@click.option("--detach", is_flag=True, help="Submit the job and return; a worker runs it.")
@click.pass_context
def evaluate(
    ctx: click.Context,
    model: str,
    candidate: str,
    champion: str,
    no_champion: bool,
    dataset_ref: str | None,
    eval_sets: tuple[str, ...],
    n_boot: int | None,
    detach: bool,
) -> None:
    """Evaluate version CANDIDATE of MODEL against the champion; store a blessing or a refusal."""
    from flywheel.evaluate.jobs import parse_params

    params: dict[str, Any] = {
        "model": model,
        "candidate": candidate,
        "champion": None if no_champion else champion,
    }
    if dataset_ref:
        params["dataset"] = dataset_ref
    if eval_sets:
        params["eval_sets"] = list(eval_sets)
    if n_boot:
        params["n_boot"] = n_boot
    result = run_or_follow(ctx, "evaluate", parse_params(params).model_dump(mode="json"), model, detach)
    if result is None:
        return
    verdict = "PASSED (blessed)" if result["passed"] else "REFUSED"
    click.echo(f"{verdict}: version {result['candidate_version']} vs champion {result['champion_version']}")
    for r in result["reasons"]:
        click.echo(f"  - {r}")
    click.echo(
        f"report: /models/{model}/evaluations/{result['evaluation_id']} (evaluation {result['evaluation_id']})"
    )
    if result["passed"]:
        click.echo(f"next: `flywheel models promote {model} {result['candidate_version']} --why ...`")


# -- registry (on the existing `models` group) ---------------------------------------------
@models.command("versions")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_versions(ctx: click.Context, model: str, as_json: bool) -> None:
    """MODEL's trained versions, newest first, with their aliases."""
    from flywheel.deploy.registry import Registry

    reg = Registry(_store(ctx))
    versions = reg.versions(model)
    aliases = reg.aliases(model)
    if as_json:
        _echo_json({"aliases": aliases, "versions": [v.to_dict() for v in versions]})
        return
    for v in versions:
        tags = ",".join(a for a, n in aliases.items() if n == v.version)
        hold = (v.metrics.get("holdout") or {}).get("candidate") or {}
        first = next(iter(hold.items()), None)
        score = f"{first[0]} {first[1]:.4f}" if first else ""
        click.echo(
            f"v{v.version:<4} {v.trainer:<14} {v.created_at.isoformat()[:19]}  {score:<20} "
            f"parent v{v.parent_version or '-'}  {tags}"
        )


@models.command("promote")
@click.argument("model")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True)
@click.option("--why", required=True, help="Why (kept in the history).")
@click.option(
    "--override",
    "override_reason",
    default=None,
    help="Promote without a blessing, for this reason (recorded).",
)
@click.option("--who", default=None, help="Who is promoting (default user:<login>).")
@click.pass_context
def models_promote(
    ctx: click.Context,
    model: str,
    version: str,
    alias: str,
    why: str,
    override_reason: str | None,
    who: str | None,
) -> None:
    """Point ALIAS at VERSION; needs a passing evaluation against its current target (or --override)."""
    from flywheel.deploy.registry import Registry

    mv = Registry(_store(ctx)).promote(
        model, version, alias, who=_who(who), why=why, override_reason=override_reason
    )
    note = (
        f" (OVERRIDE: {mv.override_reason})"
        if mv.override_reason
        else f" (blessed by evaluation {mv.evaluation_id})"
    )
    click.echo(f"{model} {alias}: v{mv.from_version or '-'} → v{mv.to_version}{note}")


@models.command("rollback")
@click.argument("model")
@click.option("--alias", default="champion", show_default=True)
@click.option("--why", required=True, help="Why (kept in the history).")
@click.option("--who", default=None, help="Who is rolling back (default user:<login>).")
@click.pass_context
def models_rollback(ctx: click.Context, model: str, alias: str, why: str, who: str | None) -> None:
    """Move ALIAS back to its target before its latest promotion."""
    from flywheel.deploy.registry import Registry

    mv = Registry(_store(ctx)).rollback(model, alias, who=_who(who), why=why)
    click.echo(f"{model} {alias}: v{mv.from_version} → v{mv.to_version} (rolled back)")


@models.command("history")
@click.argument("model")
@click.option("--alias", default=None, help="Only this alias.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_history(ctx: click.Context, model: str, alias: str | None, as_json: bool) -> None:
    """Every alias move of MODEL, oldest first: who, when, why."""
    from flywheel.deploy.registry import Registry

    moves = Registry(_store(ctx)).history(model, alias)
    if as_json:
        _echo_json([m.to_dict() for m in moves])
        return
    for m in moves:
        extra = f"  OVERRIDE: {m.override_reason}" if m.override_reason else ""
        click.echo(
            f"{m.at.isoformat()[:19]}  {m.alias:<12} {m.action:<8} v{m.from_version or '-'} → v{m.to_version}  "
            f"{m.who}: {m.why}{extra}"
        )


@models.command("gate-policy")
@click.argument("model")
@click.option(
    "--set",
    "set_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Store this evaluation config (JSON or YAML: gate, expectations, n_boot).",
)
@click.option("--who", default=None)
@click.pass_context
def models_gate_policy(ctx: click.Context, model: str, set_file: Path | None, who: str | None) -> None:
    """Show MODEL's evaluation config (gate policy, expectation tests), or store a new version."""
    from flywheel.evaluate.jobs import model_config_of, parse_config

    store = _store(ctx)
    store.models.get(model)
    if set_file is not None:
        import yaml

        text = set_file.read_text()
        doc = json.loads(text) if set_file.suffix == ".json" else yaml.safe_load(text)
        rec = store.registry.policies.set(model, parse_config(doc).model_dump(mode="json"), _who(who))
        click.echo(f"stored version {rec.version} of {model}'s evaluation config")
    _echo_json(model_config_of(store, model).model_dump(mode="json"))
