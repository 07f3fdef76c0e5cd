"""Profiles at ingest: every accepted batch updates the hourly profiles of its model.

``install(service)`` registers a listener on an ``IngestService``; the server's app factory
and the SDK's embedded transport both call it, so every path that stores events profiles
them. For each batch the listener groups the rows by model version and hour, profiles every
column — inputs ``in.<feature>``, ``prediction``, ``score`` and ``proba.<class>`` — and
merges the partial profiles into the stored ones in one writer transaction
(:meth:`flywheel.store.monitor.MonitorStore.merge_profiles`).

The events are already stored when the listener runs, so a failure here never fails the
batch: it is logged and counted, and :func:`rebuild_profiles` recomputes any range from the
event log (which stays the source of truth).

Columns are profiled by kind: numeric inputs, scores and probabilities as numbers;
categorical inputs and a classifier's predictions as categories; text as lengths; images (a
base64 string or JSON pixels at ingest) as the length of that string; embeddings through a
fixed seeded projection of their dimension (so every hour and the reference agree).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.profiles import CategoricalProfile, DatasetProfile, NumericProfile, profile_from_bytes
from flywheel.profiles._format import peek_kind
from flywheel.schema import FeatureKind, ModelSpec, Task

log = logging.getLogger("flywheel.monitor")

INPUT_PREFIX = "in."
PROBA_PREFIX = "proba."
OUTPUT_COLUMNS = ("prediction", "score")
_US_PER_HOUR = 3_600_000_000
EMBEDDING_COMPONENTS = 8


def profile_kinds(spec: ModelSpec) -> dict[str, str]:
    """``{event-log column: profile kind}`` for every column a model's events carry."""
    kinds: dict[str, str] = {}
    for f in spec.features:
        if f.kind is FeatureKind.embedding:
            kind = "embedding"
        elif f.kind in (FeatureKind.text, FeatureKind.image):
            kind = "text"
        else:
            kind = f.kind.value
        kinds[INPUT_PREFIX + f.name] = kind
    kinds["prediction"] = "numeric" if spec.task is Task.regression else "categorical"
    kinds["score"] = "numeric"
    for c in spec.class_names or []:
        kinds[PROBA_PREFIX + c] = "numeric"
    return kinds


def is_output(column: str) -> bool:
    return column in OUTPUT_COLUMNS or column.startswith(PROBA_PREFIX)


_PROJECTIONS: dict[int, np.ndarray] = {}


def embedding_projection(dim: int, components: int = EMBEDDING_COMPONENTS) -> np.ndarray:
    """A fixed ``dim x k`` orthonormal projection, the same for every process (seeded by ``dim``)."""
    key = dim * 1000 + components
    p = _PROJECTIONS.get(key)
    if p is None:
        k = min(components, dim)
        g = np.random.default_rng(dim).standard_normal((dim, k))
        q, r = np.linalg.qr(g)
        p = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
        _PROJECTIONS[key] = p
    return p


def projections_for(spec: ModelSpec, table: Any) -> dict[str, np.ndarray]:
    """Projection matrices for the embedding columns of ``table`` (dimension from the spec or data)."""
    out: dict[str, np.ndarray] = {}
    for f in spec.features:
        if f.kind is not FeatureKind.embedding:
            continue
        col = INPUT_PREFIX + f.name
        dim = f.dim
        if dim is None and col in table.column_names:
            lengths = pc.list_value_length(table.column(col)).drop_null()
            dim = int(lengths[0].as_py()) if len(lengths) else None
        if dim:
            out[col] = embedding_projection(dim)
    return out


def hour_of(ts_us: int) -> datetime:
    return datetime.fromtimestamp((ts_us // _US_PER_HOUR) * 3600, UTC)


def profile_table(spec: ModelSpec, table: pa.Table, *, include_empty_outputs: bool = False) -> DatasetProfile:
    """One ``DatasetProfile`` of the columns of ``table`` (event-log layout) that the spec knows."""
    kinds = {c: k for c, k in profile_kinds(spec).items() if c in table.column_names}
    if not include_empty_outputs:
        for c in list(kinds):
            if is_output(c) and c != "prediction" and table.column(c).null_count == table.num_rows:
                del kinds[c]
    projections = projections_for(spec, table)
    kinds = {c: k for c, k in kinds.items() if k != "embedding" or c in projections}
    return DatasetProfile.from_table(table, kinds, projections=projections)


def batch_profiles(spec: ModelSpec, table: pa.Table) -> dict[tuple[str, str, datetime], tuple[int, bytes]]:
    """Partial profiles of one batch: ``{(model_version, column, hour): (rows, bytes)}``."""
    if table.num_rows == 0:
        return {}
    hours = table.column("timestamp").cast(pa.int64()).to_numpy() // _US_PER_HOUR
    if "model_version" in table.column_names:
        versions = table.column("model_version").fill_null("").to_numpy(zero_copy_only=False)
    else:
        versions = np.full(table.num_rows, "", dtype=object)
    out: dict[tuple[str, str, datetime], tuple[int, bytes]] = {}
    uh = np.unique(hours)
    uv = np.unique(versions.astype(str))
    for h in uh:
        for v in uv:
            if len(uh) == 1 and len(uv) == 1:
                part = table
            else:
                mask = (hours == h) & (versions == v)
                if not mask.any():
                    continue
                part = table.filter(pa.array(mask))
            hour = datetime.fromtimestamp(int(h) * 3600, UTC)
            prof = profile_table(spec, part)
            for col, p in prof.columns.items():
                out[(str(v), col, hour)] = (part.num_rows, p.to_bytes())
    return out


def merge_profile_bytes(stored: bytes, new: bytes) -> bytes:
    return profile_from_bytes(stored).merge(profile_from_bytes(new)).to_bytes()  # type: ignore[arg-type]


class ProfileListener:
    """The ingest listener; keeps counts of batches, seconds spent and failures."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.batches = 0
        self.seconds = 0.0
        self.errors = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def __call__(self, record: Any, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        t0 = time.perf_counter()
        try:
            parts = batch_profiles(record.spec, table)
            self.store.monitor.merge_profiles(record.name, parts, merge_profile_bytes)
        except Exception as exc:  # the events are stored; never fail the batch over its profile
            with self._lock:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception(
                "profiling a batch of %d events of %r failed; `flywheel monitor rebuild` repairs it",
                table.num_rows,
                record.name,
            )
        finally:
            with self._lock:
                self.batches += 1
                self.seconds += time.perf_counter() - t0


def install(service: Any) -> ProfileListener:
    """Register the profiling listener on an ``IngestService`` (once; returns the listener)."""
    for existing in service.listeners:
        if isinstance(existing, ProfileListener):
            return existing
    listener = ProfileListener(service.store)
    service.listeners.append(listener)
    return listener


def rebuild_profiles(
    store: Any, model: str, since: datetime | None = None, until: datetime | None = None
) -> dict[str, int]:
    """Recompute the hourly profiles of ``[since, until)`` (whole hours) from the event log."""
    spec = store.models.get(model).spec
    span = store.events.query(model, select="min(timestamp) AS lo, max(timestamp) AS hi")
    if span.num_rows == 0 or span.column("lo")[0].as_py() is None:
        return {"hours": 0, "rows": 0}
    lo = since or span.column("lo")[0].as_py()
    hi = until or span.column("hi")[0].as_py() + timedelta(hours=1)
    lo = lo.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hi = hi.astimezone(UTC)
    if hi.minute or hi.second or hi.microsecond:
        hi = hi.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    parts: dict[tuple[str, str, datetime], tuple[int, bytes]] = {}
    rows = 0
    day = timedelta(days=1)
    start = lo
    while start < hi:
        end = min(hi, start + day)
        table = store.events.query(model, since=start, until=end)
        if table.num_rows:
            rows += table.num_rows
            parts.update(batch_profiles(spec, table))
        start = end
    store.monitor.replace_profiles(model, lo, hi, parts)
    return {"hours": len({k[2] for k in parts}), "rows": rows}


def merge_rows(rows: Any) -> DatasetProfile:
    """Merge stored profile rows (``ProfileRow``) column by column into one ``DatasetProfile``.

    Numeric and categorical columns merge straight from their bytes (no object per hour).
    """
    by_col: dict[str, list[bytes]] = {}
    for r in rows:
        by_col.setdefault(r.column, []).append(r.data)
    out: dict[str, Any] = {}
    for col, blobs in by_col.items():
        kind = peek_kind(blobs[0])
        if kind == "numeric":
            out[col] = NumericProfile.merge_serialized([(b, 0) for b in blobs])
        elif kind == "categorical":
            out[col] = CategoricalProfile.merge_serialized([(b, 0) for b in blobs])
        else:
            out[col] = DatasetProfile.merge_all(DatasetProfile({col: profile_from_bytes(b)}) for b in blobs)[
                col
            ]
    return DatasetProfile(out)
