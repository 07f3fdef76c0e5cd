"""Bulk backfills: an Arrow IPC stream or a Parquet file, validated column-wise.

The same rules as JSON ingest (``validate.py``), applied with Arrow compute kernels instead of
per-row Python. Inputs may be named ``in.<feature>`` or just ``<feature>``; probabilities
``proba.<class>``.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flywheel.errors import BatchRejected, UnsupportedMediaType
from flywheel.ingest.validate import TS_TYPE, Problems, event_schema
from flywheel.schema import FeatureKind, ModelSpec, Task
from flywheel.store.eventlog import INPUT_PREFIX, PROBA_PREFIX

ARROW_TYPES = ("application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.file")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")
_OPTIONAL = ("model_version", "score", "tags", "trace_id", "parent_event_id", "served")


def read_table(body: bytes, content_type: str) -> pa.Table:
    ct = content_type.split(";")[0].strip().lower()
    try:
        if ct in ARROW_TYPES:
            if ct.endswith("file"):
                return pa.ipc.open_file(pa.BufferReader(body)).read_all()
            return pa.ipc.open_stream(pa.BufferReader(body)).read_all()
        if ct in PARQUET_TYPES:
            return pq.read_table(io.BytesIO(body))
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchRejected(
            f"the body could not be read as {ct}: {exc}",
            details=[{"row": -1, "field": "body", "reason": str(exc)}],
        ) from exc
    raise UnsupportedMediaType(
        f"Content-Type {content_type!r} is not accepted for bulk ingest; use one of {list(ARROW_TYPES + PARQUET_TYPES)}"
    )


def _rows(mask: Any) -> list[int]:
    arr = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
    return [int(i) for i in np.flatnonzero(arr)[:20]]


def _cast(col: Any, typ: pa.DataType, field: str, problems: Problems) -> Any:
    try:
        return pc.cast(col, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        problems.add(-1, field, f"cannot be read as {typ}: {exc}")
        return None


def validate_arrow(
    spec: ModelSpec, spec_version: int, table: pa.Table, *, now: datetime, max_future_skew_s: float
) -> pa.Table:
    problems = Problems()
    names = set(table.column_names)
    schema = event_schema(spec)
    n = table.num_rows
    out: dict[str, Any] = {}

    def take(name: str, alias: str | None = None) -> Any:
        for cand in (name, alias):
            if cand and cand in names:
                names.discard(cand)
                return table.column(cand)
        return None

    for req in ("event_id", "timestamp", "prediction"):
        if req not in names:
            problems.add(-1, req, "column is required")
    eid = take("event_id")
    if eid is not None:
        eid = _cast(eid, pa.string(), "event_id", problems)
        if eid is not None:
            for r in _rows(pc.is_null(eid)):
                problems.add(r, "event_id", "is null")
            counts = pc.value_counts(eid)
            dup_vals = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
            if len(dup_vals):
                for r in _rows(pc.is_in(eid, value_set=dup_vals)):
                    problems.add(r, "event_id", "duplicate event_id in this batch")
            out["event_id"] = eid
    ts = take("timestamp")
    if ts is not None:
        if pa.types.is_timestamp(ts.type) and ts.type.tz is None:
            ts = pc.assume_timezone(ts, "UTC")
        ts = _cast(ts, TS_TYPE, "timestamp", problems)
        if ts is not None:
            for r in _rows(pc.is_null(ts)):
                problems.add(r, "timestamp", "is null")
            limit = pa.scalar(int((now.timestamp() + max_future_skew_s) * 1e6), pa.int64())
            for r in _rows(pc.greater(pc.cast(ts, pa.int64()), limit)):
                problems.add(
                    r,
                    "timestamp",
                    f"is more than {max_future_skew_s:.0f} s in the future; check the client clock",
                )
            out["timestamp"] = ts
    pred = take("prediction")
    if pred is not None:
        if spec.task is Task.regression:
            pred = _cast(pred, pa.float64(), "prediction", problems)
            if pred is not None:
                for r in _rows(pc.invert(pc.is_finite(pred))):
                    problems.add(r, "prediction", "must be a finite number")
        else:
            pred = _cast(pred, pa.string(), "prediction", problems)
            if pred is not None:
                for r in _rows(pc.invert(pc.is_in(pred, value_set=pa.array(spec.class_names)))):
                    problems.add(r, "prediction", f"is not a class; classes: {spec.class_names}")
        out["prediction"] = pred
    for c in spec.class_names or []:
        col = take(PROBA_PREFIX + c)
        if col is not None:
            col = _cast(col, pa.float64(), PROBA_PREFIX + c, problems)
            if col is not None:
                bad = pc.or_(pc.less(col, 0.0), pc.greater(col, 1.0))
                for r in _rows(pc.or_(bad, pc.is_nan(col))):
                    problems.add(r, f"probabilities.{c}", "must be in [0, 1]")
            out[PROBA_PREFIX + c] = col
    for f in spec.features:
        col = take(INPUT_PREFIX + f.name, f.name)
        field = f"inputs.{f.name}"
        if col is None:
            problems.add(-1, field, f"column is missing (name it '{f.name}' or '{INPUT_PREFIX}{f.name}')")
            continue
        typ = schema.field(INPUT_PREFIX + f.name).type
        if f.kind is FeatureKind.image and not pa.types.is_string(col.type):
            problems.add(-1, field, "image columns must hold base64 strings in bulk uploads")
            continue
        col = _cast(col, typ, field, problems)
        if col is None:
            continue
        if not f.nullable:
            for r in _rows(pc.is_null(col)):
                problems.add(r, field, "is null, but the feature is declared nullable=false")
        if f.kind is FeatureKind.numeric and not f.allow_nan:
            for r in _rows(pc.invert(pc.is_finite(col))):
                problems.add(
                    r, field, "is NaN or inf, which is not allowed (set allow_nan=true on the feature)"
                )
        if f.kind is FeatureKind.embedding and f.dim is not None:
            for r in _rows(pc.not_equal(pc.list_value_length(col), f.dim)):
                problems.add(r, field, f"must have length {f.dim}")
        out[INPUT_PREFIX + f.name] = col
    for name in _OPTIONAL:
        col = take(name)
        if col is not None:
            col = _cast(col, schema.field(name).type, name, problems)
            out[name] = col
    for extra in sorted(names):
        problems.add(
            -1, extra, "is not a column of this model's events (inputs are named after the spec's features)"
        )
    problems.raise_if_any("bulk events")

    arrays = []
    for fld in schema:
        if fld.name == "ingested_at":
            arrays.append(pa.array(np.full(n, int(now.timestamp() * 1e6), dtype=np.int64)).cast(TS_TYPE))
        elif fld.name == "spec_version":
            arrays.append(pa.array(np.full(n, spec_version, dtype=np.int32)))
        elif fld.name == "served" and "served" not in out:
            arrays.append(pa.array(np.ones(n, dtype=bool)))
        elif fld.name in out:
            col = out[fld.name]
            arrays.append(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
        else:
            arrays.append(pa.nulls(n, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)
