"""Labelling pages: the queue, the keyboard-first labelling view, adjudication and label errors.

- ``/models/{m}/labelling``: counts per status, why each item was queued (selector, score, the
  signal behind it), filters by status, run and selector, the runs, annotator agreement, and
  a form to run curation now;
- ``/models/{m}/labelling/label``: one item at a time with the model's guess pre-filled
  (``static/label.js`` drives it through the API; ``?run=`` limits it to one run's batch);
- ``/models/{m}/labelling/adjudicate``: the same view over items whose annotators disagree;
- ``/models/{m}/labelling/errors``: the label-error review queue.

Every page has its JSON twin (``.json`` or ``?format=json``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from flywheel.errors import ValidationError
from flywheel.label.service import LabellingService
from flywheel.store.label import STATUSES
from flywheel.store.label_reviews import REVIEW_STATUSES
from flywheel.ui import pages

router = APIRouter(include_in_schema=False)
pages.MODEL_TABS.append(("Labelling", "labelling"))
ANNOTATOR_COOKIE = "flywheel_annotator"
PAGE_SIZE = 100


def _store(request: Request) -> Any:
    return request.app.state.store


def _choice(value: str | None, field: str, allowed: tuple[str, ...]) -> str | None:
    if value and value not in allowed:
        raise ValidationError(
            f"The '{field}' parameter must be one of {list(allowed)}; got {value!r}.",
            details=[{"field": field, "reason": "unknown value"}],
        )
    return value or None


def queue_context(store: Any, model: str, params: Any) -> dict[str, Any]:
    rec = store.models.get(model)
    filters = {
        "status": _choice(params.get("status"), "status", STATUSES),
        "run": params.get("run") or None,
        "selector": params.get("selector") or None,
    }
    try:
        offset = max(0, int(params.get("offset") or 0))
    except ValueError:
        offset = 0
    items = store.labelling.items(
        model,
        status=filters["status"],
        run_id=filters["run"],
        selector=filters["selector"],
        limit=PAGE_SIZE + 1,
        offset=offset,
    )
    runs = store.labelling.runs(model, limit=20)
    svc = LabellingService(store)
    agreement = svc.agreement(model)
    return {
        "title": f"{model} · labelling",
        "model": model,
        "task": rec.spec.task.value,
        "filters": filters,
        "offset": offset,
        "next_offset": offset + PAGE_SIZE if len(items) > PAGE_SIZE else None,
        "counts": store.labelling.counts(model, filters["run"]),
        "statuses": list(STATUSES),
        "selectors": sorted({r for run in runs for r in run.context.get("counts", {})}),
        "items": [i.to_dict() for i in items[:PAGE_SIZE]],
        "runs": [{**r.to_dict(), "statuses": store.labelling.counts(model, r.run_id)} for r in runs],
        "agreement": {
            k: agreement[k]
            for k in (
                "items_with_overlap",
                "krippendorff_alpha",
                "fleiss_kappa",
                "percent_agreement",
                "per_annotator",
            )
        },
        "label_errors": store.labelling.label_error_counts(model),
        "schedule": (lambda s: None if s is None else s.to_dict())(store.labelling.schedule(model)),
    }


@router.get("/models/{model}/labelling")
@router.get("/models/{model}/labelling.json")
def queue_page(request: Request, model: str) -> Response:
    ctx = queue_context(_store(request), model, request.query_params)
    return pages.twin(request, "label_queue.html", ctx, request.url.path.endswith(".json"))


def view_context(store: Any, model: str, request: Request, mode: str) -> dict[str, Any]:
    rec = store.models.get(model)
    run = request.query_params.get("run") or None
    if run is not None:
        found = store.labelling.run(run)
        if found.model != model:
            raise ValidationError(
                f"Run {run!r} belongs to model {found.model!r}, not {model!r}.",
                details=[{"field": "run", "reason": "another model's run"}],
            )
    return {
        "title": f"{model} · {'adjudicate' if mode == 'adjudicate' else 'label'}",
        "model": model,
        "mode": mode,
        "run": run,
        "task": rec.spec.task.value,
        "class_names": rec.spec.class_names or [],
        "annotator": request.cookies.get(ANNOTATOR_COOKIE, ""),
        "counts": store.labelling.counts(model, run),
    }


@router.get("/models/{model}/labelling/label")
@router.get("/models/{model}/labelling/label.json")
def label_page(request: Request, model: str) -> Response:
    ctx = view_context(_store(request), model, request, "label")
    return pages.twin(request, "label_view.html", ctx, request.url.path.endswith(".json"))


@router.get("/models/{model}/labelling/adjudicate")
@router.get("/models/{model}/labelling/adjudicate.json")
def adjudicate_page(request: Request, model: str) -> Response:
    ctx = view_context(_store(request), model, request, "adjudicate")
    return pages.twin(request, "label_view.html", ctx, request.url.path.endswith(".json"))


def errors_context(store: Any, model: str, params: Any) -> dict[str, Any]:
    rec = store.models.get(model)
    status = params.get("status", "open")
    status = _choice(status, "status", REVIEW_STATUSES) if status else None
    return {
        "title": f"{model} · label errors",
        "model": model,
        "class_names": rec.spec.class_names or [],
        "status": status,
        "statuses": list(REVIEW_STATUSES),
        "counts": store.labelling.label_error_counts(model),
        "items": [i.to_dict() for i in store.labelling.label_errors(model, status=status, limit=500)],
    }


@router.get("/models/{model}/labelling/errors")
@router.get("/models/{model}/labelling/errors.json")
def errors_page(request: Request, model: str) -> Response:
    ctx = errors_context(_store(request), model, request.query_params)
    return pages.twin(request, "label_errors.html", ctx, request.url.path.endswith(".json"))
