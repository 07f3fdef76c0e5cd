"""The ``/v1`` HTTP API for models, events, feedback, labels and keys."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from flywheel.errors import PayloadTooLarge, ValidationError
from flywheel.ingest.bulk import ARROW_TYPES, PARQUET_TYPES
from flywheel.ingest.read import event_detail, list_events_page
from flywheel.ingest.service import IngestService, parse_batch
from flywheel.schema import EventBatch, FeedbackBatch, IngestResult, LabelBatch, ModelSpec
from flywheel.server.auth import require

router = APIRouter(prefix="/v1")


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) anything over ``limit`` before it is all in memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the request body is {int(declared)} bytes; the limit is {limit}. Send smaller batches."
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the request body is over the limit of {limit} bytes. Send smaller batches."
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _svc(request: Request) -> IngestService:
    return request.app.state.ingest  # type: ignore[no-any-return]


def _count(request: Request, model: str, kind: str, result: dict[str, int]) -> None:
    m = request.app.state.metrics
    m.ingested.labels(model=model, kind=kind).inc(result["accepted"])
    m.duplicates.labels(model=model, kind=kind).inc(result["duplicates"])


# -- models ------------------------------------------------------------------------------
@router.post(
    "/models",
    status_code=201,
    dependencies=[Depends(require("admin"))],
    responses={200: {"description": "The same spec was already registered."}},
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ModelSpec.model_json_schema()}},
            "required": True,
        }
    },
)
async def register_model(request: Request) -> Response:
    """Register a model with its spec. The same spec again → 200; a changed spec → a new spec version (201)."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("the request body is not valid JSON; send a ModelSpec object") from exc
    result = await run_in_threadpool(_svc(request).register_model, doc)
    status = 201 if result["created"] or result["changed"] else 200
    return ORJSONResponse(result, status_code=status)


@router.get("/models", dependencies=[Depends(require("read"))])
def list_models(request: Request) -> Response:
    store = request.app.state.store
    return ORJSONResponse(
        {
            "models": [
                {"name": r.name, "spec_version": r.spec_version, "spec": r.spec.model_dump(mode="json")}
                for r in store.models.list()
            ]
        }
    )


@router.get("/models/{name}", dependencies=[Depends(require("read"))])
def get_model(request: Request, name: str) -> Response:
    store = request.app.state.store
    rec = store.models.get(name)
    return ORJSONResponse(
        {
            "name": rec.name,
            "spec_version": rec.spec_version,
            "spec": rec.spec.model_dump(mode="json"),
            "created_at": rec.created_at.isoformat(),
            "counts": {
                "events": store.event_index.count(name),
                "labels": store.labels.count(name),
                "feedback": store.feedback.count(name),
            },
            "spec_history": [
                {"version": v, "created_at": t.isoformat()} for v, _, t in store.models.spec_history(name)
            ],
        }
    )


# -- ingest ------------------------------------------------------------------------------
def _json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "content": {"application/json": {"schema": model.model_json_schema()}},
            "required": True,
        }
    }


@router.post(
    "/models/{name}/events",
    response_model=IngestResult,
    dependencies=[Depends(require("ingest"))],
    openapi_extra=_json_body_doc(EventBatch),
)
async def ingest_events(request: Request, name: str) -> Response:
    """Store a batch of events. A bad batch is rejected whole (422, one entry per bad row)."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    result = await run_in_threadpool(_svc(request).ingest_events_json, name, body)
    _count(request, name, "events", result)
    return ORJSONResponse(result)


@router.post(
    "/models/{name}/events/bulk",
    response_model=IngestResult,
    dependencies=[Depends(require("ingest"))],
    openapi_extra={
        "requestBody": {
            "content": {
                ct: {"schema": {"type": "string", "format": "binary"}} for ct in ARROW_TYPES + PARQUET_TYPES
            },
            "required": True,
        }
    },
)
async def ingest_bulk(request: Request, name: str) -> Response:
    """Backfill events from an Arrow IPC stream/file or a Parquet file (columns as in the event log)."""
    body = await read_body(request, request.app.state.settings.max_bulk_bytes)
    ct = request.headers.get("content-type", "")
    result = await run_in_threadpool(_svc(request).ingest_bulk, name, body, ct)
    _count(request, name, "events", result)
    return ORJSONResponse(result)


@router.post(
    "/models/{name}/feedback",
    response_model=IngestResult,
    dependencies=[Depends(require("ingest"))],
    openapi_extra=_json_body_doc(FeedbackBatch),
)
async def ingest_feedback(request: Request, name: str) -> Response:
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    items = parse_batch(body, "feedback")
    result = await run_in_threadpool(_svc(request).ingest_feedback, name, items)
    _count(request, name, "feedback", result)
    return ORJSONResponse(result)


@router.post(
    "/models/{name}/labels",
    response_model=IngestResult,
    dependencies=[Depends(require("ingest"))],
    openapi_extra=_json_body_doc(LabelBatch),
)
async def ingest_labels(request: Request, name: str) -> Response:
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    items = parse_batch(body, "labels")
    result = await run_in_threadpool(_svc(request).ingest_labels, name, items)
    _count(request, name, "labels", result)
    return ORJSONResponse(result)


# -- reading events ------------------------------------------------------------------------
@router.get("/models/{name}/events", dependencies=[Depends(require("read"))])
def list_events(
    request: Request,
    name: str,
    since: str | None = None,
    until: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
    cursor: str | None = None,
    prediction: str | None = None,
    model_version: str | None = None,
) -> Response:
    """Events in time order, deduplicated; page with the returned ``next`` cursor."""
    page = list_events_page(
        request.app.state.store,
        name,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        prediction=prediction,
        model_version=model_version,
    )
    return ORJSONResponse(page)


@router.get("/models/{name}/events/{event_id:path}", dependencies=[Depends(require("read"))])
def get_event(request: Request, name: str, event_id: str) -> Response:
    """One event with its labels and feedback."""
    return ORJSONResponse(event_detail(request.app.state.store, name, event_id))


# -- keys --------------------------------------------------------------------------------
class KeyRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)


@router.post("/keys", status_code=201, dependencies=[Depends(require("admin"))])
def create_key(request: Request, body: KeyRequest) -> Response:
    """Create an API key; its secret is in this answer only."""
    key, token = request.app.state.store.keys.create(body.name, body.scopes)
    return ORJSONResponse(
        {"key_id": key.key_id, "name": key.name, "scopes": list(key.scopes), "key": token}, status_code=201
    )


@router.get("/keys", dependencies=[Depends(require("admin"))])
def list_keys(request: Request) -> Response:
    keys = request.app.state.store.keys.list()
    return ORJSONResponse(
        {
            "keys": [
                {
                    "key_id": k.key_id,
                    "name": k.name,
                    "scopes": list(k.scopes),
                    "revoked": k.revoked_at is not None,
                }
                for k in keys
            ]
        }
    )


@router.delete("/keys/{key_id}", status_code=204, dependencies=[Depends(require("admin"))])
def revoke_key(request: Request, key_id: str) -> Response:
    request.app.state.store.keys.revoke(key_id)
    return Response(status_code=204)
