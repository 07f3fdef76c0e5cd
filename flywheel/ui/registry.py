"""Pages of datasets, jobs, model versions and evaluation reports, each with its JSON twin.

- ``/jobs``: every background job with a progress bar; the page refreshes itself while any
  job is queued or running (``static/registry.js`` polls the JSON twin);
- ``/models/{m}/datasets`` and ``/models/{m}/datasets/{ref}``: snapshots, eval sets, a manifest;
- ``/models/{m}/versions`` and ``/models/{m}/versions/{v}``: versions, aliases, lineage, history;
- ``/models/{m}/evaluations`` and ``/models/{m}/evaluations/{id}``: verdicts, and a report with
  the candidate and the champion side by side on every eval set and slice.

The registry's modules are imported on first use, so the server starts fast.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from flywheel.ui import pages

router = APIRouter(include_in_schema=False)
pages.NAV.append(("Jobs", "/jobs"))
pages.MODEL_TABS.append(("Datasets", "datasets"))
pages.MODEL_TABS.append(("Versions", "versions"))
pages.MODEL_TABS.append(("Evaluations", "evaluations"))
ROLES = ("candidate", "champion", "baseline")


def _store(request: Request) -> Any:
    return request.app.state.store


def _strip_json(value: str) -> tuple[str, bool]:
    return (value[: -len(".json")], True) if value.endswith(".json") else (value, False)


# -- jobs --------------------------------------------------------------------------------------
def _job_link(job: Any) -> str | None:
    result = job.result or {}
    if job.kind == "train" and "version" in result:
        return f"/models/{job.model}/versions/{result['version']}"
    if job.kind == "evaluate" and "evaluation_id" in result:
        return f"/models/{job.model}/evaluations/{result['evaluation_id']}"
    return None


def jobs_context(store: Any, params: Any) -> dict[str, Any]:
    from flywheel.jobs.runner import worker_alive

    store.jobs.reap(timedelta(seconds=30), alive=worker_alive)
    model = params.get("model") or None
    status = params.get("status") or None
    jobs = store.jobs.list(model=model, status=status, limit=200)
    rows = [{**j.to_dict(), "link": _job_link(j)} for j in jobs]
    return {
        "title": "Jobs" if model is None else f"{model} · jobs",
        "model": model,
        "filters": {"model": model, "status": status},
        "active": sum(j.status in ("queued", "running") for j in jobs),
        "jobs": rows,
    }


@router.get("/jobs")
@router.get("/jobs.json")
def jobs_page(request: Request) -> Response:
    ctx = jobs_context(_store(request), request.query_params)
    return pages.twin(request, "registry_jobs.html", ctx, request.url.path.endswith(".json"))


# -- datasets ----------------------------------------------------------------------------------
def datasets_context(store: Any, model: str) -> dict[str, Any]:
    from flywheel.datasets.service import DatasetService

    svc = DatasetService(store)
    records = svc.list(model)
    return {
        "title": f"{model} · datasets",
        "model": model,
        "training": [r.to_dict(manifest=False) for r in records if r.kind == "train"],
        "eval_sets": [r.to_dict(manifest=False) for r in svc.eval_sets(model)],
        "all_eval_versions": [r.to_dict(manifest=False) for r in records if r.kind == "eval"],
    }


def _balance_figure(manifest: dict[str, Any]) -> dict[str, Any] | None:
    by_split = manifest.get("class_balance_by_split")
    if not by_split:
        return None
    classes = sorted({c for counts in by_split.values() for c in counts})
    return {
        "data": [
            {"type": "bar", "name": split, "x": classes, "y": [counts.get(c, 0) for c in classes]}
            for split, counts in by_split.items()
        ],
        "layout": {
            "title": {"text": "Rows per class and split"},
            "barmode": "stack",
            "height": 260,
            "margin": {"l": 40, "r": 10, "t": 30, "b": 30},
        },
    }


def dataset_context(store: Any, model: str, ref: str, rows: int = 20) -> dict[str, Any]:
    from flywheel.datasets.service import DatasetService

    svc = DatasetService(store)
    rec = svc.get(model, ref)
    snap = svc.load_record(rec)
    parent = None
    change = None
    if rec.parent_id is not None:
        prec = store.registry.datasets.get(model, rec.parent_id)
        parent = {"ref": prec.ref, "dataset_id": prec.dataset_id}
        change = svc.diff(model, prec.dataset_id, rec.dataset_id, limit=20)
    head = snap.table.slice(0, rows).to_pylist()
    versions = [v.version for v in store.registry.versions.list(model) if v.dataset_id == rec.dataset_id]
    return {
        "title": f"{model} · dataset {rec.ref}",
        "model": model,
        "dataset": rec.to_dict(),
        "parent": parent,
        "change": change,
        "trained_versions": versions,
        "columns": snap.table.column_names,
        "rows": head,
        "figure": _balance_figure(rec.manifest),
    }


@router.get("/models/{model}/datasets")
@router.get("/models/{model}/datasets.json")
def datasets_page(request: Request, model: str) -> Response:
    ctx = datasets_context(_store(request), model)
    return pages.twin(request, "registry_datasets.html", ctx, request.url.path.endswith(".json"))


@router.get("/models/{model}/datasets/{ref}")
def dataset_page(request: Request, model: str, ref: str) -> Response:
    ref, as_json = _strip_json(ref)
    return pages.twin(request, "registry_dataset.html", dataset_context(_store(request), model, ref), as_json)


# -- versions ----------------------------------------------------------------------------------
def _latest_verdicts(store: Any, model: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for ev in store.registry.evaluations.list(model):  # newest first
        out.setdefault(
            ev.candidate_version,
            {"evaluation_id": ev.evaluation_id, "passed": ev.passed, "champion_version": ev.champion_version},
        )
    return out


def versions_context(store: Any, model: str) -> dict[str, Any]:
    from flywheel.deploy.registry import Registry

    reg = Registry(store)
    versions = reg.versions(model)
    aliases = reg.aliases(model)
    verdicts = _latest_verdicts(store, model)
    refs = {d.dataset_id: d.ref for d in store.registry.datasets.list(model)}
    rows = []
    for v in versions:
        hold = (v.metrics.get("holdout") or {}).get("candidate") or {}
        rows.append(
            {
                **v.to_dict(),
                "aliases": sorted(a for a, n in aliases.items() if n == v.version),
                "dataset_ref": refs.get(v.dataset_id or ""),
                "holdout": hold,
                "verdict": verdicts.get(v.version),
            }
        )
    return {
        "title": f"{model} · versions",
        "model": model,
        "aliases": aliases,
        "versions": rows,
        "history": [h.to_dict() for h in reversed(reg.history(model))],
    }


def version_context(store: Any, model: str, ref: str) -> dict[str, Any]:
    from flywheel.deploy.registry import Registry

    reg = Registry(store)
    v = reg.get(model, ref)
    lineage: list[dict[str, Any]] = []
    parent = v.parent_version
    while parent is not None and len(lineage) < 50:
        p = store.registry.versions.get(model, parent)
        lineage.append({"version": p.version, "trainer": p.trainer, "created_at": p.created_at.isoformat()})
        parent = p.parent_version
    dataset = None
    if v.dataset_id:
        d = store.registry.datasets.get(model, v.dataset_id)
        dataset = {
            "ref": d.ref,
            "dataset_id": d.dataset_id,
            "num_rows": d.num_rows,
            "as_of": d.as_of.isoformat(),
        }
    return {
        "title": f"{model} · version {v.version}",
        "model": model,
        "version": v.to_dict(),
        "aliases": sorted(a for a, n in reg.aliases(model).items() if n == v.version),
        "dataset": dataset,
        "lineage": lineage,
        "evaluations": [
            e.to_dict(checks=False)
            for e in store.registry.evaluations.list(model, candidate_version=v.version)
        ],
        "history": [h.to_dict() for h in reg.history(model) if v.version in (h.to_version, h.from_version)],
    }


@router.get("/models/{model}/versions")
@router.get("/models/{model}/versions.json")
def versions_page(request: Request, model: str) -> Response:
    ctx = versions_context(_store(request), model)
    return pages.twin(request, "registry_versions.html", ctx, request.url.path.endswith(".json"))


@router.get("/models/{model}/versions/{version}")
def version_page(request: Request, model: str, version: str) -> Response:
    version, as_json = _strip_json(version)
    return pages.twin(
        request, "registry_version.html", version_context(_store(request), model, version), as_json
    )


# -- evaluations -------------------------------------------------------------------------------
def evaluations_context(store: Any, model: str) -> dict[str, Any]:
    store.models.get(model)
    return {
        "title": f"{model} · evaluations",
        "model": model,
        "evaluations": [e.to_dict(checks=False) for e in store.registry.evaluations.list(model)],
    }


def _side_by_side(report: dict[str, Any], checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per eval set: a metric table and a slice table with the candidate beside the champion."""
    primary = report["primary_metric"]
    failed = {c["subject"]: c["detail"] for c in checks if not c["passed"]}
    out = []
    for es in report["eval_sets"]:
        overall = es["overall"]
        metrics = [
            {
                "metric": m,
                "higher_is_better": report["higher_is_better"][m],
                **{r: overall["models"][r]["metrics"][m] for r in ROLES if r in overall["models"]},
                "delta": {r: d[m] for r, d in overall["deltas"].items()},
            }
            for m in report["metrics"]
        ]
        slices = []
        for sl in es["slices"]:
            subject = f"slice {sl['name']!r} of eval set {es['name']!r}"
            slices.append(
                {
                    "name": sl["name"],
                    "n": sl["n"],
                    **{r: sl["models"][r]["metrics"][primary] for r in ROLES if r in sl["models"]},
                    "delta": {r: d[primary] for r, d in sl["deltas"].items()},
                    "failed": failed.get(subject),
                }
            )
        confusion = {
            r: overall["models"][r].get("confusion")
            for r in ("candidate", "champion")
            if r in overall["models"]
        }
        out.append(
            {
                "name": es["name"],
                "n": es["n"],
                "failed": failed.get(f"eval set {es['name']!r}"),
                "metrics": metrics,
                "slices": slices,
                "confusion": {r: c for r, c in confusion.items() if c},
                "figure": _slice_figure(
                    es["name"], slices, primary, [r for r in ROLES if r in overall["models"]]
                ),
            }
        )
    return out


def _slice_figure(name: str, slices: list[dict[str, Any]], metric: str, roles: list[str]) -> dict[str, Any]:
    names = [s["name"] for s in slices]
    data = []
    colors = {"candidate": "#1f77b4", "champion": "#ff7f0e", "baseline": "#9e9e9e"}
    for r in roles:
        values = [s.get(r, {}).get("value") for s in slices]
        data.append({"type": "bar", "name": r, "x": names, "y": values, "marker": {"color": colors[r]}})
    return {
        "data": data,
        "layout": {
            "title": {"text": f"{metric} per slice · {name}"},
            "barmode": "group",
            "height": 280,
            "margin": {"l": 40, "r": 10, "t": 30, "b": 40},
        },
    }


def evaluation_context(store: Any, model: str, evaluation_id: str) -> dict[str, Any]:
    import orjson

    ev = store.registry.evaluations.get(model, evaluation_id)
    report = orjson.loads(store.artifacts.get(ev.report_artifact))
    roles = [r for r in ROLES if r in report["models"]]
    return {
        "title": f"{model} · evaluation of v{ev.candidate_version}",
        "model": model,
        "evaluation": ev.to_dict(),
        "roles": roles,
        "labels": report["models"],
        "primary_metric": report["primary_metric"],
        "class_names": report.get("class_names") or [],
        "confidence": report["confidence"],
        "n_boot": report["n_boot"],
        "eval_sets": _side_by_side(report, ev.checks),
        "expectations": report.get("expectations") or {},
        "report_html": f"/v1/models/{model}/evaluations/{ev.evaluation_id}/report.html",
    }


@router.get("/models/{model}/evaluations")
@router.get("/models/{model}/evaluations.json")
def evaluations_page(request: Request, model: str) -> Response:
    ctx = evaluations_context(_store(request), model)
    return pages.twin(request, "registry_evaluations.html", ctx, request.url.path.endswith(".json"))


@router.get("/models/{model}/evaluations/{evaluation_id}")
def evaluation_page(request: Request, model: str, evaluation_id: str) -> Response:
    evaluation_id, as_json = _strip_json(evaluation_id)
    ctx = evaluation_context(_store(request), model, evaluation_id)
    return pages.twin(request, "registry_evaluation.html", ctx, as_json)
