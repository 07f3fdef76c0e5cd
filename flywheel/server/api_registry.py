"""``/v1/models/{m}/...``: datasets, eval sets, training, versions, evaluations, gate policy, aliases.

Building a dataset runs in the request (it reads the log once; seconds for tens of thousands of
events); training and evaluation are jobs: the answer is ``202`` with the job, which
``/v1/jobs/{id}`` follows. Writes need the ``admin`` scope, reads ``read``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from flywheel.errors import ValidationError
from flywheel.server.api import ORJSONResponse
from flywheel.server.auth import require
from flywheel.store.meta import ApiKey

router = APIRouter(prefix="/v1", tags=["registry"])


def _store(request: Request) -> Any:
    return request.app.state.store


# The services import pandas, scikit-learn and friends; importing them on first use keeps the
# server's start (and every process that only ingests) light.
def _datasets(store: Any) -> Any:
    from flywheel.datasets.service import DatasetService as cls

    return cls(store)


def _registry(store: Any) -> Any:
    from flywheel.deploy.registry import Registry as cls

    return cls(store)


def _who(key: ApiKey | None, given: str | None) -> str:
    """The actor recorded in history: the API key's name (or, with auth off, what the caller says)."""
    if key is not None:
        return f"key:{key.name}"
    return (given or "").strip()[:200] or "local (auth off)"


# -- datasets ------------------------------------------------------------------------------
class DatasetBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="training", description="Training sets are versioned per name.")
    rule: dict[str, Any] | None = Field(
        default=None, description='Formation rule, e.g. {"kind": "window", "days": 28}; default all.'
    )
    label_policy: str | dict[str, Any] = "latest"
    split: str | dict[str, Any] | None = Field(default=None, description="Default: by time, 20% held out.")
    as_of: datetime | None = Field(default=None, description="Only what had arrived by then; default all.")


@router.post("/models/{model}/datasets", status_code=201, dependencies=[Depends(require("admin"))])
def build_dataset(request: Request, model: str, body: DatasetBuild) -> Response:
    """Build a training snapshot as of ``as_of``; 200 with the existing version if nothing changed."""
    res = _datasets(_store(request)).build(
        model,
        name=body.name,
        rule=body.rule,
        label_policy=body.label_policy,
        split=body.split,
        as_of=body.as_of,
    )
    return ORJSONResponse(res.to_dict(), status_code=201 if res.created else 200)


@router.get("/models/{model}/datasets", dependencies=[Depends(require("read"))])
def list_datasets(
    request: Request, model: str, kind: str | None = Query(None, pattern="^(train|eval)$")
) -> Response:
    recs = _datasets(_store(request)).list(model, kind=kind)
    return ORJSONResponse({"datasets": [r.to_dict(manifest=False) for r in recs]})


@router.get("/models/{model}/datasets/diff", dependencies=[Depends(require("read"))])
def diff_datasets(
    request: Request, model: str, a: str, b: str, limit: int = Query(100, ge=0, le=100_000)
) -> Response:
    """Rows added, removed and relabelled from dataset ``a`` to ``b``; class balance of each."""
    return ORJSONResponse(_datasets(_store(request)).diff(model, a, b, limit=limit))


@router.get("/models/{model}/datasets/{ref}", dependencies=[Depends(require("read"))])
def show_dataset(
    request: Request,
    model: str,
    ref: str,
    rows: int = Query(0, ge=0, le=1000),
    split: str | None = Query(None, pattern="^(train|validation|holdout|eval)$"),
) -> Response:
    """A dataset (by id, name or name@version): record, manifest, and optionally its first rows."""
    return ORJSONResponse(_datasets(_store(request)).show(model, ref, rows=rows, split=split))


@router.get("/models/{model}/datasets/{ref}/parquet", dependencies=[Depends(require("read"))])
def download_dataset(request: Request, model: str, ref: str) -> Response:
    """The snapshot's Parquet file, byte for byte as stored (its manifest is in the file's metadata)."""
    store = _store(request)
    rec = _datasets(store).get(model, ref)
    return Response(
        store.artifacts.get(rec.artifact),
        media_type="application/vnd.apache.parquet",
        headers={"Content-Disposition": f'attachment; filename="{model}-{rec.name}-v{rec.version}.parquet"'},
    )


@router.post("/models/{model}/datasets/{ref}/verify", dependencies=[Depends(require("admin"))])
def verify_dataset(request: Request, model: str, ref: str) -> Response:
    """Rebuild the dataset from the store by its manifest and compare hashes and bytes."""
    return ORJSONResponse(_datasets(_store(request)).verify(model, ref))


# -- eval sets -----------------------------------------------------------------------------
class EvalSetBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    rule: dict[str, Any] = Field(
        description='{"kind": "golden", "event_ids": [...]}, {"kind": "edge-cases"} or {"kind": "slice", "expr": ...}'
    )
    label_policy: str | dict[str, Any] = "latest"
    as_of: datetime | None = None


class SliceSetsBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label_policy: str | dict[str, Any] = "latest"
    as_of: datetime | None = None


@router.get("/models/{model}/eval-sets", dependencies=[Depends(require("read"))])
def list_eval_sets(request: Request, model: str) -> Response:
    """The pinned eval sets: the latest version of each name (evaluations use all of them)."""
    svc = _datasets(_store(request))
    _store(request).models.get(model)
    return ORJSONResponse({"eval_sets": [r.to_dict(manifest=False) for r in svc.eval_sets(model)]})


@router.post("/models/{model}/eval-sets", status_code=201, dependencies=[Depends(require("admin"))])
def build_eval_set(request: Request, model: str, body: EvalSetBuild) -> Response:
    """Build or refresh an eval set; 200 with the current version if its rows and labels are unchanged."""
    res = _datasets(_store(request)).build_eval_set(
        model, body.name, body.rule, label_policy=body.label_policy, as_of=body.as_of
    )
    return ORJSONResponse(res.to_dict(), status_code=201 if res.created else 200)


@router.post("/models/{model}/eval-sets/slices", dependencies=[Depends(require("admin"))])
def build_slice_sets(request: Request, model: str, body: SliceSetsBuild) -> Response:
    """One eval set per slice of the spec (per value of a group-by slice)."""
    res = _datasets(_store(request)).build_slice_sets(model, label_policy=body.label_policy, as_of=body.as_of)
    return ORJSONResponse({"eval_sets": [r.to_dict() for r in res]})


# -- training ------------------------------------------------------------------------------
@router.post("/models/{model}/train", status_code=202, dependencies=[Depends(require("admin"))])
def submit_training(request: Request, model: str, body: dict[str, Any]) -> Response:
    """Queue a ``train`` job; follow it at ``/v1/jobs/{job_id}``.

    Body (all optional): ``dataset`` (id, name or name@version) or ``rule`` (a formation rule to
    build one, with ``dataset_name``, ``label_policy``, ``split``, ``as_of``); ``trainer`` (a
    registered name; default by the spec's feature kinds); ``n_trials`` (default 20; 0: fit
    ``params`` once), ``timeout_s``, ``metric``, ``seed``. See docs/registry.md.
    """
    from flywheel.train.jobs import parse_train_params

    store = _store(request)
    store.models.get(model)
    params = parse_train_params({**body, "model": model})
    if params.trainer is not None and ":" in params.trainer:
        from flywheel.train.registry import trainer_names

        raise ValidationError(
            f"the API trains only with registered trainers {trainer_names()}; a trainer named by import string "
            "runs code, so give it from trusted configuration (the CLI or the library), not a request.",
            details=[{"field": "trainer", "reason": "import strings are not accepted over HTTP"}],
        )
    job = store.jobs.submit("train", params.model_dump(mode="json", exclude_none=True), model=model)
    return ORJSONResponse(job.to_dict(), status_code=202)


# -- versions ------------------------------------------------------------------------------
@router.get("/models/{model}/versions", dependencies=[Depends(require("read"))])
def list_versions(request: Request, model: str) -> Response:
    reg = _registry(_store(request))
    versions = reg.versions(model)
    aliases = reg.aliases(model)
    by_version: dict[int, list[str]] = {}
    for alias, v in aliases.items():
        by_version.setdefault(v, []).append(alias)
    return ORJSONResponse(
        {
            "aliases": aliases,
            "versions": [{**v.to_dict(), "aliases": by_version.get(v.version, [])} for v in versions],
        }
    )


@router.get("/models/{model}/versions/{version}", dependencies=[Depends(require("read"))])
def get_version(request: Request, model: str, version: str) -> Response:
    """A version by number (``3``, ``v3``) or alias, with its aliases and evaluations."""
    store = _store(request)
    reg = _registry(store)
    v = reg.get(model, version)
    evaluations = store.registry.evaluations.list(model, candidate_version=v.version)
    return ORJSONResponse(
        {
            **v.to_dict(),
            "aliases": [a for a, n in reg.aliases(model).items() if n == v.version],
            "evaluations": [e.to_dict(checks=False) for e in evaluations],
        }
    )


@router.get("/models/{model}/versions/{version}/artifact", dependencies=[Depends(require("read"))])
def download_version(request: Request, model: str, version: str) -> Response:
    """The model artifact (a zip of a JSON manifest and a skops or LightGBM text payload; no pickle)."""
    store = _store(request)
    v = _registry(store).get(model, version)
    return Response(
        store.artifacts.get(v.artifact),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{model}-v{v.version}.flywheel-model.zip"'},
    )


# -- evaluations ---------------------------------------------------------------------------
@router.post("/models/{model}/evaluations", status_code=202, dependencies=[Depends(require("admin"))])
def submit_evaluation(request: Request, model: str, body: dict[str, Any]) -> Response:
    """Queue an ``evaluate`` job.

    Body: ``candidate`` (a version or alias, required); ``champion`` (alias or version, default
    ``"champion"``; null: none); ``dataset`` (whose holdout, default the candidate's); ``eval_sets``
    (names, default every pinned set); ``config`` (overrides the model's gate policy); ``n_boot``, ``seed``.
    """
    from flywheel.evaluate.jobs import parse_params

    store = _store(request)
    store.models.get(model)
    params = parse_params({**body, "model": model})
    _registry(store).get(model, params.candidate)
    job = store.jobs.submit("evaluate", params.model_dump(mode="json", exclude_none=True), model=model)
    return ORJSONResponse(job.to_dict(), status_code=202)


@router.get("/models/{model}/evaluations", dependencies=[Depends(require("read"))])
def list_evaluations(request: Request, model: str, candidate: int | None = None) -> Response:
    store = _store(request)
    store.models.get(model)
    recs = store.registry.evaluations.list(model, candidate_version=candidate)
    return ORJSONResponse({"evaluations": [e.to_dict(checks=False) for e in recs]})


@router.get("/models/{model}/evaluations/{evaluation_id}", dependencies=[Depends(require("read"))])
def get_evaluation(request: Request, model: str, evaluation_id: str) -> Response:
    """The verdict: passed (a blessing) or the reasons, every check, and the report's artifacts."""
    return ORJSONResponse(_store(request).registry.evaluations.get(model, evaluation_id).to_dict())


@router.get("/models/{model}/evaluations/{evaluation_id}/report", dependencies=[Depends(require("read"))])
def get_report(request: Request, model: str, evaluation_id: str) -> Response:
    """The full report (every eval set and slice, intervals, confusion, calibration) and the gate's verdict."""
    import orjson

    store = _store(request)
    ev = store.registry.evaluations.get(model, evaluation_id)
    report = orjson.loads(store.artifacts.get(ev.report_artifact))
    gate = {"passed": ev.passed, "reasons": ev.reasons, "checks": ev.checks, "policy": ev.policy}
    return ORJSONResponse({"evaluation_id": ev.evaluation_id, "report": report, "gate": gate})


@router.get(
    "/models/{model}/evaluations/{evaluation_id}/report.html",
    response_class=HTMLResponse,
    dependencies=[Depends(require("read"))],
)
def get_report_html(request: Request, model: str, evaluation_id: str) -> Response:
    """The standalone report page (Plotly inlined: it opens offline)."""
    store = _store(request)
    ev = store.registry.evaluations.get(model, evaluation_id)
    return HTMLResponse(store.artifacts.get(ev.html_artifact).decode())


# -- gate policy ---------------------------------------------------------------------------
@router.get("/models/{model}/gate-policy", dependencies=[Depends(require("read"))])
def get_gate_policy(request: Request, model: str) -> Response:
    """The model's evaluation config (gate policy, expectation tests); defaults if none was set."""
    from flywheel.evaluate.jobs import model_config_of

    store = _store(request)
    store.models.get(model)
    rec = store.registry.policies.get(model)
    return ORJSONResponse(
        {
            "model": model,
            "version": None if rec is None else rec.version,
            "config": model_config_of(store, model).model_dump(mode="json"),
        }
    )


@router.put("/models/{model}/gate-policy")
def set_gate_policy(
    request: Request, model: str, body: dict[str, Any], key: ApiKey | None = Depends(require("admin"))
) -> Response:
    """Store a new version of the model's evaluation config (every version is kept).

    Body: ``gate`` (min_improvement, max_regression, regression_metrics, significant_only,
    min_slice_size, required_eval_sets, required_expectations, must_beat_baseline, ...),
    ``expectations`` (invariance / directional tests), ``n_boot``, ``min_slice_rows``.
    """
    from flywheel.evaluate.jobs import parse_config

    store = _store(request)
    store.models.get(model)
    config = parse_config(body)
    rec = store.registry.policies.set(model, config.model_dump(mode="json"), _who(key, None))
    return ORJSONResponse({"model": model, "version": rec.version, "config": rec.config})


# -- aliases -------------------------------------------------------------------------------
class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | str
    why: str
    override_reason: str | None = Field(default=None, description="Promote without a blessing; recorded.")
    who: str | None = Field(default=None, description="Recorded only when auth is off (else the key's name).")


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    why: str
    who: str | None = None


@router.get("/models/{model}/aliases", dependencies=[Depends(require("read"))])
def list_aliases(request: Request, model: str) -> Response:
    store = _store(request)
    store.models.get(model)
    return ORJSONResponse({"aliases": _registry(store).aliases(model)})


@router.get("/models/{model}/aliases/{alias}", dependencies=[Depends(require("read"))])
def get_alias(request: Request, model: str, alias: str) -> Response:
    reg = _registry(_store(request))
    history = reg.history(model, alias)
    return ORJSONResponse(
        {"alias": alias, "version": reg.aliases(model).get(alias), "history": [h.to_dict() for h in history]}
    )


@router.post("/models/{model}/aliases/{alias}/promote")
def promote(
    request: Request, model: str, alias: str, body: Promotion, key: ApiKey | None = Depends(require("admin"))
) -> Response:
    """Point the alias at a version. 409 ``gate_refused`` without a blessing against its current target,
    unless ``override_reason`` is given (it is recorded)."""
    move = _registry(_store(request)).promote(
        model,
        body.version,
        alias,
        who=_who(key, body.who),
        why=body.why,
        override_reason=body.override_reason,
    )
    return ORJSONResponse(move.to_dict())


@router.post("/models/{model}/aliases/{alias}/rollback")
def rollback(
    request: Request, model: str, alias: str, body: Rollback, key: ApiKey | None = Depends(require("admin"))
) -> Response:
    """Move the alias back to its target before the latest promotion."""
    move = _registry(_store(request)).rollback(model, alias, who=_who(key, body.who), why=body.why)
    return ORJSONResponse(move.to_dict())


@router.get("/models/{model}/aliases/{alias}/history", dependencies=[Depends(require("read"))])
def alias_history(request: Request, model: str, alias: str) -> Response:
    return ORJSONResponse(
        {"history": [h.to_dict() for h in _registry(_store(request)).history(model, alias)]}
    )


@router.get("/models/{model}/history", dependencies=[Depends(require("read"))])
def model_history(request: Request, model: str) -> Response:
    """Every alias move of the model, oldest first."""
    return ORJSONResponse({"history": [h.to_dict() for h in _registry(_store(request)).history(model)]})
