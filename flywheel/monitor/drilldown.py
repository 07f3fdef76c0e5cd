"""The events behind a monitoring number: every figure can be traced to the rows it counts.

``events_behind(store, model, kind=..., window_start=..., window_end=...)`` returns the event ids
(and the events) of one window that explain a figure:

- ``drift`` (with ``column``): for a numeric column, the events whose value lies outside the
  reference's central 90% (most extreme first); for a categorical one, the events in the
  categories whose share grew the most (new categories first; up to three, each growing at
  least half as much as the top one);
- ``quality`` (with ``rule``, or ``column`` holding a rule id): the rows that break the rule;
- ``performance``: labelled events the model got wrong (largest error first for regression);
- ``estimated``: the events CBPE thinks most likely wrong (lowest calibrated confidence);
- ``feedback``: the events that received feedback;
- ``events``: the window's events, in time order.

Each answer carries an ``explore`` link to the events page over the same window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pyarrow as pa

from flywheel.errors import ValidationError
from flywheel.ingest.records import table_to_events
from flywheel.monitor.config import quality_rules_for
from flywheel.monitor.ingest_hook import INPUT_PREFIX, profile_kinds
from flywheel.monitor.quality_rules import check_rows
from flywheel.monitor.reference import Reference, implicit_reference, load_reference, scores_of

KINDS = ("drift", "quality", "performance", "estimated", "feedback", "events")


def explore_link(model: str, since: datetime, until: datetime) -> str:
    return f"/models/{model}/events?" + urlencode({"since": since.isoformat(), "until": until.isoformat()})


def _column(model_kinds: dict[str, str], column: str | None) -> str:
    if not column:
        raise ValidationError(
            "The 'column' parameter is required for drift drill-down (e.g. 'age' or 'prediction').",
            details=[{"field": "column", "reason": "is required"}],
        )
    for cand in (column, INPUT_PREFIX + column):
        if cand in model_kinds:
            return cand
    raise ValidationError(
        f"The 'column' parameter {column!r} is not a column of this model; columns: {sorted(model_kinds)}.",
        details=[{"field": "column", "reason": "unknown column"}],
    )


def _drift_order(ref: Reference | None, col: str, kind: str, table: pa.Table) -> np.ndarray:
    """Row indices of the window that show the shift in ``col``, most telling first."""
    values = table.column(col)
    if ref is None or col not in ref.profile:
        return np.arange(table.num_rows)
    prof: Any = ref.profile[col]
    if kind == "numeric":
        x = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        lo, mid, hi = prof.quantiles([0.05, 0.5, 0.95])
        spread = max(hi - lo, 1e-12)
        out = np.isfinite(x) & ((x < lo) | (x > hi))
        idx = np.flatnonzero(out)
        return idx[np.argsort(-np.abs(x[idx] - mid) / spread, kind="stable")]
    if kind == "categorical":
        labels = [None if v is None else str(v) for v in values.to_pylist()]
        ref_freq = prof.frequencies()
        ref_n = max(prof.non_null, 1)
        cur: dict[str, int] = {}
        for v in labels:
            if v is not None:
                cur[v] = cur.get(v, 0) + 1
        n = max(sum(cur.values()), 1)
        growth = {
            v: c / n - ref_freq.get(v, 0) / ref_n + (1.0 if v not in ref_freq else 0.0)
            for v, c in cur.items()
        }
        ranked = sorted(growth, key=lambda v: -growth[v])
        top = growth[ranked[0]] if ranked else 0.0
        # The categories that explain the shift: those that grew at least half as much as the most.
        grown = [v for v in ranked if growth[v] > 0 and growth[v] >= 0.5 * top][:3]
        rank = {v: i for i, v in enumerate(grown)}
        idx = np.array([i for i, v in enumerate(labels) if v in rank], dtype=np.int64)
        return idx[np.argsort([rank[str(labels[i])] for i in idx], kind="stable")] if len(idx) else idx
    return np.arange(table.num_rows)


def events_behind(
    store: Any,
    model: str,
    *,
    kind: str,
    window_start: datetime,
    window_end: datetime,
    column: str | None = None,
    rule: str | None = None,
    limit: int = 50,
    model_version: str | None = None,
    reference: Reference | None = None,
    table: pa.Table | None = None,
) -> dict[str, Any]:
    """The events of ``[window_start, window_end)`` behind a figure of ``kind`` (see above)."""
    if kind not in KINDS:
        raise ValidationError(
            f"The 'kind' parameter must be one of {list(KINDS)}; got {kind!r}.",
            details=[{"field": "kind", "reason": "unknown kind"}],
        )
    spec = store.models.get(model).spec
    where = []
    if model_version:
        where.append("model_version = '" + model_version.replace("'", "''") + "'")
    if table is None:  # callers that drill into one window many times pass its events
        table = store.events.query(
            model, since=window_start, until=window_end, where=where, order_by="timestamp, event_id"
        )
    ids = table.column("event_id").to_pylist() if table.num_rows else []
    order: np.ndarray = np.arange(len(ids))
    kinds = profile_kinds(spec)
    what = kind
    if not ids:
        order = np.empty(0, dtype=np.int64)
    elif kind == "drift":
        col = _column(kinds, column)
        ref = reference or load_reference(store, model, model_version) or implicit_reference(store, model)
        order = _drift_order(ref, col, kinds[col], table)
        what = f"drift of {col}"
    elif kind == "quality":
        rule_id = rule or column
        ref = reference or load_reference(store, model, model_version) or implicit_reference(store, model)
        rules, _ = quality_rules_for(store, model, ref)
        chosen = [r for r in rules if r.id == rule_id]
        if not chosen:
            raise ValidationError(
                f"The 'rule' parameter {rule_id!r} names no data-quality rule of this model; rules: {[r.id for r in rules]}.",
                details=[{"field": "rule", "reason": "unknown rule"}],
            )
        _, masks = check_rows(chosen, table)
        order = np.flatnonzero(masks.get(chosen[0].id, np.zeros(len(ids), dtype=bool)))
        what = f"violations of {rule_id}"
    elif kind == "performance":
        labels = store.monitor.latest_labels(model, ids)
        preds = table.column("prediction").to_pylist()
        if spec.is_classification:
            order = np.array(
                [i for i, e in enumerate(ids) if e in labels and str(labels[e]) != str(preds[i])],
                dtype=np.int64,
            )
        else:
            err = np.array(
                [abs(float(labels[e]) - float(preds[i])) if e in labels else -1.0 for i, e in enumerate(ids)]
            )
            order = np.flatnonzero(err >= 0)
            order = order[np.argsort(-err[order], kind="stable")]
        what = "labelled events the model got wrong"
    elif kind == "estimated":
        ref = reference or load_reference(store, model, model_version) or implicit_reference(store, model)
        scores, ok = scores_of(spec, table)
        if ref is None or ref.cbpe is None or scores is None or not ok.any():
            order = np.empty(0, dtype=np.int64)
        else:
            idx = np.flatnonzero(ok)
            p = ref.cbpe.calibrated(scores[idx])
            preds = np.asarray(table.column("prediction").to_pylist(), dtype=object)[idx]
            classes = [str(c) for c in ref.cbpe.classes_.tolist()]
            col_of = {c: j for j, c in enumerate(classes)}
            conf = np.array([p[i, col_of[str(v)]] if str(v) in col_of else 0.0 for i, v in enumerate(preds)])
            order = idx[np.argsort(conf, kind="stable")]
        what = "events most likely wrong (lowest calibrated confidence)"
    elif kind == "feedback":
        fb = store.monitor.feedback_counts(model, ids)
        order = np.array([i for i, e in enumerate(ids) if e in fb], dtype=np.int64)
        what = "events with feedback"
    total = int(len(order))
    picked = order[:limit]
    rows = table.take(pa.array(picked, type=pa.int64())) if len(picked) else table.slice(0, 0)
    return {
        "model": model,
        "kind": kind,
        "what": what,
        "window_start": window_start.isoformat(),
        "window_end": window_end.isoformat(),
        "total": total,
        "event_ids": [ids[i] for i in picked],
        "events": table_to_events(rows) if rows.num_rows else [],
        "explore": explore_link(model, window_start, window_end),
    }
