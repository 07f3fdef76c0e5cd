"""Deterministic traffic for the monitoring integration tests: a churn model whose inputs drift.

Before ``drift_at`` (an hour index) ages are N(40, 10) and plans a/b/c; from then on ages shift
by +15 years, a new plan "gold" takes 30% of the traffic, and the true relation flips, so
measured accuracy falls. Scores are the model's calibrated churn probability before the drift.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
SPEC: dict[str, Any] = {
    "name": "churn",
    "task": "binary",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
        {"name": "country", "kind": "categorical"},
    ],
    "class_names": ["stay", "churn"],
    "slices": ["country", {"name": "young", "expr": "age < 30"}],
}


def events(
    hours: int,
    per_hour: int,
    *,
    drift_at: int | None = None,
    seed: int = 0,
    start: datetime = START,
    model_version: str = "v1",
    prefix: str = "e",
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``(events, true label per event_id)``."""
    rng = np.random.default_rng(seed)
    out, truth = [], {}
    for h in range(hours):
        drifted = drift_at is not None and h >= drift_at
        for i in range(per_hour):
            age = float(rng.normal(55 if drifted else 40, 10))
            plan = str(
                rng.choice(
                    ["a", "b", "c", "gold"], p=[0.3, 0.2, 0.2, 0.3] if drifted else [0.5, 0.3, 0.2, 0.0]
                )
            )
            country = str(rng.choice(["DE", "FR", "US"]))
            z = 0.12 * (age - 40) + (0.8 if plan == "a" else -0.4)
            p = 1 / (1 + math.exp(-z))
            y_p = 1 - p if drifted else p
            eid = f"{prefix}{h:04d}-{i:04d}"
            ts = start + timedelta(hours=h, seconds=int(i * 3600 / per_hour))
            out.append(
                {
                    "event_id": eid,
                    "timestamp": ts.isoformat(),
                    "inputs": {"age": round(age, 3), "plan": plan, "country": country},
                    "prediction": "churn" if p >= 0.5 else "stay",
                    "score": round(p, 6),
                    "model_version": model_version,
                }
            )
            truth[eid] = "churn" if rng.random() < y_p else "stay"
    return out, truth


def labels(truth: dict[str, str], fraction: float = 1.0, seed: int = 1) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [{"event_id": e, "label": y} for e, y in truth.items() if rng.random() < fraction]


def ingest(svc: Any, items: list[dict[str, Any]], model: str = "churn", batch: int = 1000) -> None:
    for i in range(0, len(items), batch):
        svc.ingest_events(model, items[i : i + batch])


def ingest_labels(svc: Any, items: list[dict[str, Any]], model: str = "churn", batch: int = 5000) -> None:
    for i in range(0, len(items), batch):
        svc.ingest_labels(model, items[i : i + batch])
