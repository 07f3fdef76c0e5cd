"""Read what ingest stored: pages of events, one event with its labels and feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flywheel.errors import NotFound, ValidationError
from flywheel.ingest.records import table_to_events
from flywheel.ingest.validate import parse_timestamp


def parse_time_param(value: str | None, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise ValidationError(
            f"The '{field}' parameter {exc}", details=[{"field": field, "reason": str(exc)}]
        ) from exc


def list_events_page(
    store: Any,
    name: str,
    *,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    prediction: str | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    store.models.get(name)
    equals: dict[str, Any] = {}
    if prediction:
        equals["prediction"] = prediction
    if model_version:
        equals["model_version"] = model_version
    table, nxt = store.events.page(
        name,
        since=parse_time_param(since, "since"),
        until=parse_time_param(until, "until"),
        limit=limit,
        cursor=cursor,
        equals=equals,
    )
    return {"events": table_to_events(table), "next": nxt}


def event_detail(store: Any, name: str, event_id: str) -> dict[str, Any]:
    store.models.get(name)
    events = table_to_events(store.events.get(name, [event_id]))
    if not events:
        raise NotFound(f"model {name!r} has no event {event_id!r}")
    labels = store.labels.list(name, event_ids=[event_id])
    feedback = store.feedback.list(name, event_ids=[event_id])
    return {
        "event": events[0],
        "labels": [
            {
                **lbl.__dict__,
                "timestamp": lbl.timestamp.isoformat(),
                "ingested_at": lbl.ingested_at.isoformat(),
            }
            for lbl in labels
        ],
        "feedback": [
            {**f.__dict__, "timestamp": f.timestamp.isoformat(), "ingested_at": f.ingested_at.isoformat()}
            for f in feedback
        ],
    }
