"""``/v1/models/{m}/...`` for curation and labelling: runs, schedule, queue, annotations,
agreement, adjudications, label errors, and label import/export.

Scopes: reading needs ``read``; labelling (next item, annotations, undo, adjudications,
label-error reviews, label import) needs ``ingest``, as every label write does; curation runs,
schedules, requeues and label-error searches need ``admin``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from flywheel.curate.service import parse_interval, parse_request, run_curation
from flywheel.errors import NotFound, ValidationError
from flywheel.ingest.read import parse_time_param
from flywheel.label.errors_job import LabelErrorsRequest, find_suspects, review
from flywheel.label.service import EXPORT_FORMATS, LabellingService, parse
from flywheel.server.api import ORJSONResponse, read_body
from flywheel.server.auth import require
from flywheel.store.label import STATUSES
from flywheel.store.label_reviews import REVIEW_STATUSES

router = APIRouter(prefix="/v1", tags=["curation and labelling"])
READ = [Depends(require("read"))]
LABEL = [Depends(require("ingest"))]
ADMIN = [Depends(require("admin"))]


def _store(request: Request) -> Any:
    return request.app.state.store


def _svc(request: Request) -> LabellingService:
    return LabellingService(_store(request))


def _choice(value: str | None, field: str, allowed: tuple[str, ...]) -> str | None:
    if value and value not in allowed:
        raise ValidationError(
            f"The '{field}' parameter must be one of {list(allowed)}; got {value!r}.",
            details=[{"field": field, "reason": "unknown value"}],
        )
    return value or None


# -- curation runs ------------------------------------------------------------------------------
@router.post("/models/{model}/curation/runs", status_code=201, dependencies=ADMIN)
def create_run(
    request: Request,
    model: str,
    body: dict[str, Any] | None = Body(None),
    background: bool = Query(False, description="Queue a `curate` job (202) instead of running now."),
) -> Response:
    """Run curation now (201, the run) or as a job (202). Body: a curation request (all optional):
    ``policy`` (``budget``, ``daily_budget``, ``random_share``, ``selectors``, ``quotas``, ``seed``),
    ``k`` (annotators per item), ``since``/``until`` or ``window_hours``, ``max_candidates``."""
    store = _store(request)
    store.models.get(model)
    req = parse_request(body or {})
    if background:
        job = store.jobs.submit(
            "curate", {"model": model, "request": req.model_dump(mode="json")}, model=model
        )
        return ORJSONResponse({"job": job.to_dict()}, status_code=202)
    run = run_curation(store, model, req)
    return ORJSONResponse(run.to_dict(), status_code=201)


@router.get("/models/{model}/curation/runs", dependencies=READ)
def list_runs(request: Request, model: str, limit: int = Query(50, ge=1, le=1000)) -> Response:
    store = _store(request)
    store.models.get(model)
    return ORJSONResponse({"runs": [r.to_dict() for r in store.labelling.runs(model, limit)]})


@router.get("/models/{model}/curation/runs/{run_id}", dependencies=READ)
def get_run(request: Request, model: str, run_id: str) -> Response:
    """One run, with its items' statuses now."""
    store = _store(request)
    run = store.labelling.run(run_id)
    if run.model != model:
        raise NotFound(f"model {model!r} has no curation run {run_id!r}")
    return ORJSONResponse({**run.to_dict(), "statuses": store.labelling.counts(model, run_id)})


@router.get("/models/{model}/curation/schedule", dependencies=READ)
def get_schedule(request: Request, model: str) -> Response:
    store = _store(request)
    store.models.get(model)
    sched = store.labelling.schedule(model)
    return ORJSONResponse({"schedule": None if sched is None else sched.to_dict()})


@router.put("/models/{model}/curation/schedule", dependencies=ADMIN)
def put_schedule(request: Request, model: str, body: dict[str, Any] = Body(...)) -> Response:
    """Run curation every ``every`` (``3600``, ``"30m"``, ``"6h"``, ``"1d"``) with ``request``;
    ``enabled: false`` pauses it. Workers (``flywheel worker``) start the runs."""
    store = _store(request)
    store.models.get(model)
    unknown = sorted(set(body) - {"every", "request", "enabled"})
    if unknown:
        raise ValidationError(
            f"Unknown schedule fields {unknown}; allowed: ['every', 'request', 'enabled'].",
            details=[{"field": f, "reason": "unknown field"} for f in unknown],
        )
    interval = parse_interval(body.get("every"))
    req = parse_request(body.get("request") or {})
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValidationError(
            "'enabled' must be true or false.", details=[{"field": "enabled", "reason": "not a bool"}]
        )
    sched = store.labelling.set_schedule(model, interval, req.model_dump(mode="json"), enabled)
    return ORJSONResponse({"schedule": sched.to_dict()})


# -- the queue ----------------------------------------------------------------------------------
@router.get("/models/{model}/queue", dependencies=READ)
def get_queue(
    request: Request,
    model: str,
    status: str | None = None,
    run_id: str | None = None,
    selector: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Response:
    """Queue items (oldest run first, by rank) with why each was queued, and counts per status."""
    store = _store(request)
    store.models.get(model)
    items = store.labelling.items(
        model,
        status=_choice(status, "status", STATUSES),
        run_id=run_id or None,
        selector=selector or None,
        limit=limit,
        offset=offset,
    )
    return ORJSONResponse(
        {"counts": store.labelling.counts(model, run_id or None), "items": [i.to_dict() for i in items]}
    )


@router.post("/models/{model}/queue/next", dependencies=LABEL)
def next_item(
    request: Request,
    model: str,
    annotator: str = Query(..., min_length=1, max_length=200),
    run_id: str | None = None,
) -> Response:
    """Assign the next item to ``annotator`` and return it as the labelling view shows it
    (``item`` is null when nothing is left for them), with their ``progress``."""
    return ORJSONResponse(_svc(request).next(model, annotator, run_id or None))


@router.get("/models/{model}/queue/{event_id}", dependencies=READ)
def get_item(request: Request, model: str, event_id: str) -> Response:
    """One queue item: why it was queued, its event, its assignments."""
    store = _store(request)
    svc = _svc(request)
    item = store.labelling.item(model, event_id)
    spec = store.models.get(model).spec
    assignments = [
        {
            **a.__dict__,
            "assigned_at": a.assigned_at.isoformat(),
            "done_at": a.done_at.isoformat() if a.done_at else None,
        }
        for a in store.labelling.assignments(model, event_id)
    ]
    return ORJSONResponse({**svc.view(spec, item), "assignments": assignments})


@router.post("/models/{model}/queue/{event_id}/requeue", dependencies=ADMIN)
def requeue(request: Request, model: str, event_id: str) -> Response:
    """Reopen a skipped item for every annotator."""
    return ORJSONResponse(_store(request).labelling.requeue(model, event_id).to_dict())


# -- annotations ---------------------------------------------------------------------------------
@router.post("/models/{model}/annotations", dependencies=LABEL)
def annotate(
    request: Request,
    model: str,
    body: dict[str, Any] = Body(...),
    next: bool = Query(False, description="Also assign and return the annotator's next item."),
    run_id: str | None = Query(None, description="With next: the run the next item comes from."),
) -> Response:
    """An annotator's answer for a queued event: ``{event_id, annotator, label | skip: true,
    time_spent_s, submission_id}``. Stored as a label with ``source="annotator"``; a retried
    request with the same ``submission_id`` is stored once (``created: false``). With
    ``next=true`` the answer also carries the annotator's next item (one round trip per item)."""
    return ORJSONResponse(_svc(request).annotate(model, body, then_next=next, run_id=run_id or None))


@router.post("/models/{model}/annotations/undo", dependencies=LABEL)
def undo(
    request: Request,
    model: str,
    annotator: str = Query(..., min_length=1, max_length=200),
    run_id: str | None = None,
) -> Response:
    """Take back ``annotator``'s latest label or skip; the item is theirs again (``previous``:
    what they had answered)."""
    return ORJSONResponse(_svc(request).undo(model, annotator, run_id or None))


@router.get("/models/{model}/agreement", dependencies=READ)
def agreement(request: Request, model: str, run_id: str | None = None) -> Response:
    """Agreement among annotators on overlapping items: Krippendorff's alpha, Fleiss' kappa,
    Cohen's kappa per pair, percent agreement, per-annotator figures."""
    return ORJSONResponse(_svc(request).agreement(model, run_id or None))


@router.get("/models/{model}/adjudications", dependencies=READ)
def list_adjudications(request: Request, model: str, limit: int = Query(50, ge=1, le=500)) -> Response:
    """Items whose annotators disagree, with each annotator's label."""
    return ORJSONResponse(_svc(request).adjudications(model, limit))


@router.post("/models/{model}/adjudications", dependencies=LABEL)
def adjudicate(request: Request, model: str, body: dict[str, Any] = Body(...)) -> Response:
    """The final label for a disputed item: ``{event_id, adjudicator, label, time_spent_s}``
    (stored with ``source="adjudication"``)."""
    return ORJSONResponse(_svc(request).adjudicate(model, body))


# -- label errors --------------------------------------------------------------------------------
@router.post("/models/{model}/label-errors", status_code=201, dependencies=ADMIN)
def search_label_errors(
    request: Request,
    model: str,
    body: dict[str, Any] | None = Body(None),
    background: bool = Query(False, description="Queue a `label-errors` job (202) instead of running now."),
) -> Response:
    """Find suspected label errors (confident learning on out-of-sample probabilities) and put
    them in the review queue. Body: ``probabilities`` ("cv" | "logged"), ``method``,
    ``max_issues``, ``n_splits``, ``since``, ``seed``."""
    store = _store(request)
    store.models.get(model)
    req = parse(LabelErrorsRequest, body or {})
    if background:
        job = store.jobs.submit(
            "label-errors", {"model": model, "request": req.model_dump(mode="json")}, model=model
        )
        return ORJSONResponse({"job": job.to_dict()}, status_code=202)
    return ORJSONResponse(find_suspects(store, model, req), status_code=201)


@router.get("/models/{model}/label-errors", dependencies=READ)
def list_label_errors(
    request: Request,
    model: str,
    status: str | None = "open",
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Response:
    """The label-error review queue, most suspicious first, with counts per status."""
    store = _store(request)
    store.models.get(model)
    items = store.labelling.label_errors(
        model, status=_choice(status, "status", REVIEW_STATUSES), limit=limit, offset=offset
    )
    return ORJSONResponse(
        {"counts": store.labelling.label_error_counts(model), "items": [i.to_dict() for i in items]}
    )


@router.post("/models/{model}/label-errors/{event_id}", dependencies=LABEL)
def review_label_error(
    request: Request, model: str, event_id: str, body: dict[str, Any] = Body(...)
) -> Response:
    """Review a suspect: ``{"action": "relabel", "label": ..., "reviewer": ...}`` or
    ``{"action": "confirm", "reviewer": ...}``. Either writes a label with ``source="adjudication"``."""
    return ORJSONResponse(review(_store(request), model, event_id, body).to_dict())


# -- import and export ------------------------------------------------------------------------
@router.get("/models/{model}/labels/export", dependencies=READ)
def export_labels(
    request: Request,
    model: str,
    format: str = "jsonl",
    source: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    """Labels as ``csv``, ``jsonl`` or ``label-studio`` JSON (tasks with the inputs and the
    model's guesses as predictions); ``source`` filters, ``since``/``until`` bound arrival time."""
    store = _store(request)
    store.models.get(model)
    text, media = _svc(request).export(
        model,
        format,
        source=source or None,
        since=parse_time_param(since, "since"),
        until=parse_time_param(until, "until"),
    )
    ext = {"csv": "csv", "jsonl": "jsonl", "label-studio": "json"}[format]
    return Response(
        text,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{model}-labels.{ext}"'},
    )


@router.post("/models/{model}/labels/import", dependencies=LABEL)
async def import_labels(
    request: Request,
    model: str,
    format: str = "jsonl",
    label_type: str = "str",
    source: str | None = None,
) -> Response:
    """Store labels from a ``csv``, ``jsonl`` or ``label-studio`` body. ``label_type`` reads CSV
    label cells (``str``, ``int``, ``float``, ``json``); ``source`` overrides the rows' source
    (default ``import``). Re-importing the same rows stores them once."""
    _choice(format, "format", EXPORT_FORMATS)
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("The labels file must be UTF-8 text.") from exc
    result = await run_in_threadpool(
        _svc(request).import_labels,
        model,
        text,
        format,
        label_type=label_type,
        source=source or None,
    )
    return ORJSONResponse(result)
