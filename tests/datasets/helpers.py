"""Small event and label tables shaped like the event log and the label table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

T0 = datetime(2024, 1, 1, tzinfo=UTC)
UTC_US = pa.timestamp("us", tz="UTC")


def at(hours: float) -> datetime:
    """``T0`` plus ``hours``."""
    return T0 + timedelta(hours=hours)


def events_table(
    ids: list[str],
    event_hours: list[float],
    arrival_hours: list[float] | None = None,
    *,
    seed: int = 0,
) -> pa.Table:
    """Events with every column of the event log: inputs, prediction, probabilities, metadata."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    arrival = arrival_hours if arrival_hours is not None else event_hours
    p = rng.random(n)
    return pa.table(
        {
            "event_id": pa.array(ids, pa.string()),
            "timestamp": pa.array([at(h) for h in event_hours], UTC_US),
            "ingested_at": pa.array([at(h) for h in arrival], UTC_US),
            "model_version": pa.array(["v1"] * n, pa.string()),
            "prediction": pa.array(np.where(p > 0.5, "yes", "no").tolist(), pa.string()),
            "proba.no": pa.array(1 - p, pa.float64()),
            "proba.yes": pa.array(p, pa.float64()),
            "score": pa.array([None] * n, pa.float64()),
            "tags": pa.array([json.dumps({"i": i}) for i in range(n)], pa.string()),
            "trace_id": pa.array([None] * n, pa.string()),
            "parent_event_id": pa.array([None] * n, pa.string()),
            "served": pa.array([True] * n, pa.bool_()),
            "spec_version": pa.array([1] * n, pa.int64()),
            "in.x": pa.array(rng.normal(size=n), pa.float64()),
            "in.country": pa.array(rng.choice(["DE", "FR", "US"], size=n).tolist(), pa.string()),
            "in.emb": pa.array(rng.normal(size=(n, 3)).astype(np.float32).tolist(), pa.list_(pa.float32())),
        }
    )


def labels_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Label rows; each dict gives event_id, value (decoded) and arrival hours ``arr``, optionally
    ``made`` (hours), ``source``, ``label_id``, ``annotator``."""
    return pa.table(
        {
            "label_id": pa.array(
                [r.get("label_id", f"{r['event_id']}/{i}/{r['arr']}") for i, r in enumerate(rows)],
                pa.string(),
            ),
            "event_id": pa.array([r["event_id"] for r in rows], pa.string()),
            "value": pa.array([json.dumps(r["value"]) for r in rows], pa.string()),
            "source": pa.array([r.get("source", "annotator") for r in rows], pa.string()),
            "annotator": pa.array([r.get("annotator") for r in rows], pa.string()),
            "timestamp": pa.array([at(r.get("made", r["arr"])) for r in rows], UTC_US),
            "ingested_at": pa.array([at(r["arr"]) for r in rows], UTC_US),
            "time_spent_s": pa.array([None] * len(rows), pa.float64()),
        }
    )


def simple_world(n: int = 40, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """``n`` events an hour apart, each labelled once an hour after it, two classes 3:1."""
    ids = [f"e{i:03d}" for i in range(n)]
    hours = [float(i) for i in range(n)]
    events = events_table(ids, hours, seed=seed)
    labels = labels_table(
        [
            {"event_id": e, "value": "yes" if i % 4 == 0 else "no", "arr": h + 1.0}
            for i, (e, h) in enumerate(zip(ids, hours, strict=True))
        ]
    )
    return events, labels
