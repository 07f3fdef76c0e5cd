"""The ``evaluate`` job: a candidate version against the champion and the baseline, judged by the gate.

The candidate is scored on the time holdout of its training dataset (or of ``dataset``) and on
every pinned eval set of the model (the latest version of each name, or those named in
``eval_sets``), overall and per slice, beside the champion (the version an alias points at) and
the baseline trained with the candidate. The model's evaluation config (:class:`EvaluationConfig`:
the gate policy and the expectation tests, stored per model) judges the report. The report is
stored as JSON and as a standalone HTML page (content-addressed artifacts) and the verdict as an
evaluation row: a *blessing* if it passed, else a refusal with its reasons, one per failed check.
Promotion (:meth:`flywheel.deploy.registry.Registry.promote`) requires a blessing.
"""

from __future__ import annotations

from typing import Any

import orjson
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from flywheel.datasets.rules import config_error
from flywheel.errors import ValidationError
from flywheel.evaluate.expectations import Expectation
from flywheel.evaluate.gate import GatePolicy, gate
from flywheel.evaluate.html import render_html
from flywheel.evaluate.report import EvalSet, EvaluationReport, build_report


class EvaluationConfig(BaseModel):
    """A model's evaluation config: the gate policy, the expectation tests and the bootstrap size."""

    model_config = ConfigDict(extra="forbid")

    gate: GatePolicy = Field(default_factory=GatePolicy)
    expectations: list[Expectation] = Field(default_factory=list)
    n_boot: int = Field(default=1000, ge=10, le=100_000)
    min_slice_rows: int = Field(
        default=1, ge=1, description="Slices with fewer rows are left out of the report."
    )


def parse_config(doc: Any) -> EvaluationConfig:
    try:
        return EvaluationConfig.model_validate(doc or {})
    except pydantic.ValidationError as exc:
        raise config_error(exc, "evaluation config") from exc


class EvaluateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    candidate: int | str = Field(description="A version (3, 'v3') or an alias.")
    champion: int | str | None = Field(
        default="champion", description="An alias or a version to compare with; None: no champion."
    )
    dataset: str | None = Field(
        default=None, description="Whose holdout to use; default the candidate's dataset."
    )
    eval_sets: list[str] | None = Field(
        default=None, description="Eval sets by name or name@version; default all."
    )
    config: dict[str, Any] | None = Field(default=None, description="Overrides the model's stored config.")
    n_boot: int | None = Field(default=None, ge=10, le=100_000)
    seed: int = Field(default=0, ge=0)


def parse_params(params: dict[str, Any]) -> EvaluateParams:
    try:
        return EvaluateParams.model_validate(params)
    except pydantic.ValidationError as exc:
        raise config_error(exc, "evaluate job parameters") from exc


def model_config_of(store: Any, model: str) -> EvaluationConfig:
    """The stored evaluation config of ``model``, or the defaults."""
    rec = store.registry.policies.get(model)
    return parse_config(None if rec is None else rec.config)


def _summary(report: EvaluationReport) -> dict[str, Any]:
    """Per eval set: rows, and each role's primary metric with the candidate's change against the others."""
    m = report.primary_metric
    sets = {}
    for es in report.eval_sets:
        o = es.overall
        sets[es.name] = {
            "n": es.n,
            "values": {r: res.metrics[m].value for r, res in o.models.items()},
            "deltas": {r: d[m].value for r, d in o.deltas.items()},
        }
    return {"primary_metric": m, "models": report.models, "eval_sets": sets}


def evaluate_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Job kind ``evaluate`` (see the module docstring); returns the evaluation's id and verdict."""
    from flywheel.datasets.service import DatasetService
    from flywheel.deploy.registry import Registry
    from flywheel.train.jobs import frame_and_target, split_rows

    p = parse_params(params)
    store = ctx.store
    spec = store.models.get(p.model).spec
    registry = Registry(store)
    datasets = DatasetService(store)
    config = parse_config(p.config) if p.config is not None else model_config_of(store, p.model)
    ctx.progress(0.02, "loading the models")
    cand = registry.get(p.model, p.candidate)
    champion_alias = (
        p.champion if isinstance(p.champion, str) and not p.champion.lstrip("v").isdigit() else None
    )
    champ_version: int | None = None
    if p.champion is not None:
        if champion_alias is not None:
            champ_version = store.registry.aliases.get(p.model, champion_alias)
        else:
            champ_version = registry.resolve(p.model, p.champion)
    if champ_version == cand.version:
        raise ValidationError(
            f"version {cand.version} is the {champion_alias or 'champion'} already; evaluate another version against it"
        )
    candidate = registry.load_model(p.model, cand.version)
    champion = None if champ_version is None else registry.load_model(p.model, champ_version)
    baseline = registry.load_model(p.model, cand.version, baseline=True) if cand.baseline_artifact else None
    labels = {"candidate": f"v{cand.version}", "baseline": f"baseline of v{cand.version}"}
    if champ_version is not None:
        labels["champion"] = f"v{champ_version}" + (f" ({champion_alias})" if champion_alias else "")

    ctx.progress(0.1, "loading the eval sets")
    sets: dict[str, EvalSet] = {}
    used: list[dict[str, Any]] = []
    ds_ref = p.dataset or cand.dataset_id
    dataset_id = None
    if ds_ref is not None:
        rec = datasets.get(p.model, ds_ref)
        dataset_id = rec.dataset_id
        holdout = split_rows(datasets.load_record(rec).table, "holdout")
        if holdout.num_rows:
            sets["holdout"] = EvalSet(*frame_and_target(holdout, spec))
            used.append(
                {"name": "holdout", "dataset_id": rec.dataset_id, "ref": rec.ref, "n": holdout.num_rows}
            )
    pinned = (
        datasets.eval_sets(p.model)
        if p.eval_sets is None
        else [datasets.get(p.model, ref) for ref in p.eval_sets]
    )
    for rec in pinned:
        if rec.kind != "eval":
            raise ValidationError(f"dataset {rec.ref!r} is not an eval set")
        rows = datasets.load_record(rec).table
        sets[rec.name] = EvalSet(*frame_and_target(rows, spec))
        used.append({"name": rec.name, "dataset_id": rec.dataset_id, "ref": rec.ref, "n": rows.num_rows})
    if not sets:
        raise ValidationError(
            f"nothing to evaluate version {cand.version} on: its dataset has no holdout and {p.model!r} has no eval sets"
        )

    ctx.progress(0.2, f"scoring on {len(sets)} eval set(s)")
    report = build_report(
        spec,
        candidate,
        sets,
        champion=champion,
        baseline=baseline,
        labels=labels,
        expectations=config.expectations,
        primary_metric=config.gate.primary_metric,
        n_boot=p.n_boot or config.n_boot,
        seed=p.seed,
        min_slice_rows=config.min_slice_rows,
    )
    ctx.progress(0.8, "judging by the gate")
    verdict = gate(report, config.gate)
    ctx.progress(0.85, "rendering the report")
    report_digest = store.artifacts.put(report.to_json().encode())
    html_digest = store.artifacts.put(render_html(report, verdict).encode())
    ctx.progress(0.97, "recording the verdict")
    rec = store.registry.evaluations.add(
        model=p.model,
        candidate_version=cand.version,
        champion_alias=champion_alias,
        champion_version=champ_version,
        dataset_id=dataset_id,
        eval_sets=used,
        policy=orjson.loads(orjson.dumps(config.model_dump(mode="json"))),
        passed=verdict.passed,
        reasons=verdict.reasons,
        checks=[c.model_dump(mode="json") for c in verdict.checks],
        summary=_summary(report),
        report_artifact=report_digest,
        html_artifact=html_digest,
        job_id=ctx.job.job_id,
    )
    ctx.log(("blessed" if verdict.passed else "refused") + f": evaluation {rec.evaluation_id}")
    for reason in verdict.reasons:
        ctx.log(f"  {reason}")
    return {
        "evaluation_id": rec.evaluation_id,
        "candidate_version": cand.version,
        "champion_version": champ_version,
        "passed": verdict.passed,
        "reasons": verdict.reasons,
    }
