"""Small stores for the registry tests: events and labels written with chosen arrival times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from flywheel.ingest.service import index_keys
from flywheel.ingest.validate import validate_events, validate_feedback, validate_labels
from flywheel.schema import ModelSpec
from flywheel.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(days=3650)  # "now" for validation: every test timestamp is in its past

SPEC: dict[str, Any] = {
    "name": "m",
    "task": "binary",
    "class_names": ["no", "yes"],
    "features": [{"name": "x", "kind": "numeric"}, {"name": "country", "kind": "categorical"}],
    "slices": ["country"],
}


def hours(h: float) -> datetime:
    return T0 + timedelta(hours=float(h))


def register(store: Store, name: str = "m", **changes: Any) -> ModelSpec:
    spec = ModelSpec.model_validate({**SPEC, "name": name, **changes})
    store.models.register(spec)
    return spec


def add_events(
    store: Store,
    model: str,
    ids: Sequence[str],
    x: Sequence[float],
    country: Sequence[str],
    *,
    event_hours: Sequence[float],
    arrival_hours: Sequence[float] | None = None,
) -> None:
    """Events with inputs ``x`` and ``country``, made at ``event_hours`` and arrived at ``arrival_hours``."""
    rec = store.models.get(model)
    items = [
        {
            "event_id": e,
            "timestamp": hours(h).isoformat(),
            "inputs": {"x": float(xi), "country": str(ci)},
            "prediction": "yes" if xi > 0 else "no",
        }
        for e, xi, ci, h in zip(ids, x, country, event_hours, strict=True)
    ]
    table = validate_events(rec.spec, rec.spec_version, items, now=LATER, max_future_skew_s=300)
    arrival = event_hours if arrival_hours is None else arrival_hours
    col = pa.array([hours(h) for h in arrival], table.schema.field("ingested_at").type)
    table = table.set_column(table.column_names.index("ingested_at"), "ingested_at", col)
    store.events.append(model, table)
    store.event_index.add(model, index_keys(table), LATER)


def add_labels(
    store: Store, model: str, ids: Sequence[str], values: Sequence[str], *, arrival_hours: Sequence[float]
) -> None:
    """One label per id; each is made and arrives at its ``arrival_hours``."""
    spec = store.models.get(model).spec
    items = [
        {"event_id": e, "label": v, "timestamp": hours(h).isoformat(), "label_id": f"l-{e}-{h}-{v}"}
        for e, v, h in zip(ids, values, arrival_hours, strict=True)
    ]
    rows = validate_labels(spec, items, now=LATER)
    for row, h in zip(rows, arrival_hours, strict=True):
        row["ingested_at"] = hours(h)
    store.labels.add(model, rows)


def add_feedback(
    store: Store, model: str, ids: Sequence[str], kind: str, *, arrival_hours: Sequence[float]
) -> None:
    rows = validate_feedback([{"event_id": e, "kind": kind} for e in ids], now=LATER)
    for row, h in zip(rows, arrival_hours, strict=True):
        row["ingested_at"] = hours(h)
    store.feedback.add(model, rows)


def populate(
    store: Store,
    model: str = "m",
    n: int = 200,
    *,
    seed: int = 0,
    share_b: float = 0.25,
    label: str = "x>0",
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` events an hour apart, each labelled an hour after it arrives.

    ``label='x>0'``: yes when x > 0 everywhere; ``'flip-b'``: the rule is reversed in country B.
    """
    register(store, model)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    country = np.where(rng.random(n) < share_b, "B", "A")
    yes = x > 0
    if label == "flip-b":
        yes = np.where(country == "B", ~yes, yes)
    ids = [f"e{i:04d}" for i in range(n)]
    t = np.arange(n, dtype=float)
    add_events(store, model, ids, x, country, event_hours=t)
    add_labels(store, model, ids, np.where(yes, "yes", "no").tolist(), arrival_hours=t + 1)
    return x, country
