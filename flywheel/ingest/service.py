"""The ingest service: validate, deduplicate, write, acknowledge.

An event batch is acknowledged only after its Parquet file is renamed into place and its ids
are committed to the event index, so an acknowledged event survives a crash. A crash between
the two leaves events in the log without index rows; the client's retry writes them again and
every reader keeps one copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError as PydanticValidationError

from flywheel.errors import NotFound, PayloadTooLarge, ValidationError
from flywheel.ingest.bulk import read_table, validate_arrow
from flywheel.ingest.validate import validate_events, validate_feedback, validate_labels
from flywheel.schema import ModelSpec
from flywheel.settings import Settings
from flywheel.store import Store
from flywheel.store.meta import ModelRecord

BatchListener = Callable[[ModelRecord, pa.Table], None]


def spec_from_json(data: Any) -> ModelSpec:
    """Parse a ModelSpec, turning pydantic's errors into one Flywheel error per field."""
    try:
        return ModelSpec.model_validate(data)
    except PydanticValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "spec", "reason": e["msg"]} for e in exc.errors()
        ]
        first = details[0]
        raise ValidationError(
            f"invalid model spec: '{first['field']}' {first['reason']}", details=details
        ) from exc


class IngestService:
    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings()
        self._models: dict[str, ModelRecord] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.listeners: list[BatchListener] = []

    # -- models -------------------------------------------------------------------------
    def register_model(self, spec: ModelSpec | dict[str, Any]) -> dict[str, Any]:
        if not isinstance(spec, ModelSpec):
            spec = spec_from_json(spec)
        res = self.store.models.register(spec)
        with self._guard:
            self._models[spec.name] = res.record
        return {
            "name": spec.name,
            "spec_version": res.record.spec_version,
            "created": res.created,
            "changed": res.changed,
            "spec": spec.model_dump(mode="json"),
        }

    def model(self, name: str) -> ModelRecord:
        rec = self._models.get(name)
        if rec is None:
            rec = self.store.models.get(name)
            with self._guard:
                self._models[name] = rec
        return rec

    def refresh(self, name: str) -> None:
        """Forget the cached spec (another process may have registered a new version)."""
        with self._guard:
            self._models.pop(name, None)

    def _lock(self, model: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(model, threading.Lock())

    # -- events -------------------------------------------------------------------------
    def ingest_events(self, model: str, items: Any) -> dict[str, int]:
        rec = self._model_or_refresh(model)
        if isinstance(items, list) and len(items) > self.settings.max_batch_rows:
            raise PayloadTooLarge(
                f"a batch may hold at most {self.settings.max_batch_rows} items; got {len(items)}. Split it, or use the bulk endpoint."
            )
        now = datetime.now(UTC)
        table = validate_events(
            rec.spec, rec.spec_version, items, now=now, max_future_skew_s=self.settings.max_future_skew_s
        )
        return self._store_events(rec, table, now)

    def ingest_events_json(self, model: str, body: bytes) -> dict[str, int]:
        return self.ingest_events(model, parse_batch(body, "events"))

    def ingest_bulk(self, model: str, body: bytes, content_type: str) -> dict[str, int]:
        rec = self._model_or_refresh(model)
        now = datetime.now(UTC)
        table = validate_arrow(
            rec.spec,
            rec.spec_version,
            read_table(body, content_type),
            now=now,
            max_future_skew_s=self.settings.max_future_skew_s,
        )
        return self._store_events(rec, table, now)

    def _model_or_refresh(self, model: str) -> ModelRecord:
        try:
            return self.model(model)
        except NotFound:
            self.refresh(model)
            return self.model(model)

    def _store_events(self, rec: ModelRecord, table: pa.Table, now: datetime) -> dict[str, int]:
        n = table.num_rows
        with self._lock(rec.name):
            keys = index_keys(table)
            existing = self.store.event_index.existing(rec.name, keys)
            if existing:
                keep = pc.invert(pc.is_in(table.column("event_id"), value_set=pa.array(list(existing))))
                table = table.filter(keep)
                keys = [k for k in keys if k[1] not in existing]
            if keys:
                self.store.events.append(rec.name, table)
                self.store.event_index.add(rec.name, keys, now)
        for listener in self.listeners:
            listener(rec, table)
        return {"accepted": len(keys), "duplicates": n - len(keys)}

    # -- feedback and labels --------------------------------------------------------------
    def ingest_feedback(self, model: str, items: Any) -> dict[str, int]:
        self._model_or_refresh(model)
        self._check_size(items)
        rows = validate_feedback(items, now=datetime.now(UTC))
        accepted, dups = self.store.feedback.add(model, rows)
        return {"accepted": accepted, "duplicates": dups}

    def ingest_labels(self, model: str, items: Any) -> dict[str, int]:
        rec = self._model_or_refresh(model)
        self._check_size(items)
        rows = validate_labels(rec.spec, items, now=datetime.now(UTC))
        accepted, dups = self.store.labels.add(model, rows)
        return {"accepted": accepted, "duplicates": dups}

    def _check_size(self, items: Any) -> None:
        if isinstance(items, list) and len(items) > self.settings.max_batch_rows:
            raise PayloadTooLarge(
                f"a batch may hold at most {self.settings.max_batch_rows} items; got {len(items)}. Split it."
            )


def index_keys(table: pa.Table) -> list[tuple[int, str]]:
    """(event time in µs, event_id) per row: the event index's key."""
    ts = table.column("timestamp").cast(pa.int64()).to_pylist()
    return list(zip(ts, table.column("event_id").to_pylist(), strict=True))


def parse_batch(body: bytes, key: str) -> Any:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(
            f'the request body is not valid JSON ({exc}); send {{"{key}": [...]}}',
            details=[{"row": -1, "field": "body", "reason": "invalid JSON"}],
        ) from exc
    if not isinstance(doc, dict) or key not in doc:
        raise ValidationError(
            f"the request body must be a JSON object with a '{key}' list",
            details=[{"row": -1, "field": key, "reason": "is required"}],
        )
    return doc[key]
