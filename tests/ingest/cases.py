"""Bad ingest inputs, shared by the service tests (tests/ingest) and the HTTP tests (tests/server).

Each case turns a good batch into a bad one and says which ``(row, field)`` problems ingest
must report; nothing of the batch may be stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flywheel.schema import ModelSpec

SPEC_DICT: dict[str, Any] = {
    "name": "churn",
    "task": "binary",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "income", "kind": "numeric", "allow_nan": True},
        {"name": "plan", "kind": "categorical"},
        {"name": "country", "kind": "categorical", "nullable": False},
        {"name": "note", "kind": "text"},
        {"name": "vec", "kind": "embedding", "dim": 3},
    ],
    "class_names": ["stay", "churn"],
}
SPEC = ModelSpec.model_validate(SPEC_DICT)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def good_events(n: int = 3, prefix: str = "ok") -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{i}",
            "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
            "inputs": {
                "age": 30 + i,
                "income": 1000.5 * i,
                "plan": "pro",
                "country": "de",
                "note": "hello",
                "vec": [0.1, 0.2, float(i)],
            },
            "prediction": "stay",
            "probabilities": {"stay": 0.8, "churn": 0.2},
        }
        for i in range(n)
    ]


def good_labels(n: int = 3) -> list[dict[str, Any]]:
    return [{"event_id": f"ok-{i}", "label": "churn", "label_id": f"l-{i}"} for i in range(n)]


def good_feedback(n: int = 3) -> list[dict[str, Any]]:
    return [{"event_id": f"ok-{i}", "kind": "thumbs_down", "feedback_id": f"f-{i}"} for i in range(n)]


Mutate = Callable[[list[dict[str, Any]]], Any]


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # "events", "labels" or "feedback"
    mutate: Mutate
    problems: frozenset[tuple[int, str]]
    json_ok: bool = True  # False when the bad value cannot travel in JSON (NaN, inf)

    def batch(self) -> Any:
        base = {"events": good_events, "labels": good_labels, "feedback": good_feedback}[self.kind]()
        return self.mutate(copy.deepcopy(base))


def _set(row: int, *path: str, value: Any) -> Mutate:
    def f(items: list[dict[str, Any]]) -> Any:
        target = items[row]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return items

    return f


def _del(row: int, *path: str) -> Mutate:
    def f(items: list[dict[str, Any]]) -> Any:
        target = items[row]
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return items

    return f


def _future(items: list[dict[str, Any]]) -> Any:
    items[2]["timestamp"] = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    return items


def _dup_id(items: list[dict[str, Any]]) -> Any:
    items[2]["event_id"] = items[0]["event_id"]
    return items


def _dup_label_id(items: list[dict[str, Any]]) -> Any:
    items[1]["label_id"] = items[0]["label_id"]
    return items


def _not_an_object(items: list[dict[str, Any]]) -> Any:
    return [items[0], "not an event", items[2]]


def P(*pairs: tuple[int, str]) -> frozenset[tuple[int, str]]:
    return frozenset(pairs)


CASES = [
    Case("missing-feature", "events", _del(1, "inputs", "plan"), P((1, "inputs.plan"))),
    Case("unknown-feature", "events", _set(1, "inputs", "colour", value="red"), P((1, "inputs.colour"))),
    Case("string-for-numeric", "events", _set(2, "inputs", "age", value="42"), P((2, "inputs.age"))),
    Case("bool-for-numeric", "events", _set(0, "inputs", "age", value=True), P((0, "inputs.age"))),
    Case("dict-for-categorical", "events", _set(0, "inputs", "plan", value={"a": 1}), P((0, "inputs.plan"))),
    Case("number-for-text", "events", _set(1, "inputs", "note", value=3.5), P((1, "inputs.note"))),
    Case(
        "null-where-not-nullable",
        "events",
        _set(1, "inputs", "country", value=None),
        P((1, "inputs.country")),
    ),
    Case(
        "embedding-wrong-length", "events", _set(2, "inputs", "vec", value=[1.0, 2.0]), P((2, "inputs.vec"))
    ),
    Case(
        "nan-where-not-allowed",
        "events",
        _set(1, "inputs", "age", value=float("nan")),
        P((1, "inputs.age")),
        json_ok=False,
    ),
    Case(
        "inf-where-not-allowed",
        "events",
        _set(2, "inputs", "age", value=float("inf")),
        P((2, "inputs.age")),
        json_ok=False,
    ),
    Case(
        "nan-in-embedding",
        "events",
        _set(0, "inputs", "vec", value=[0.0, float("nan"), 1.0]),
        P((0, "inputs.vec")),
        json_ok=False,
    ),
    Case("inputs-not-an-object", "events", _set(1, "inputs", value=[1, 2]), P((1, "inputs"))),
    Case("unknown-class-prediction", "events", _set(1, "prediction", value="maybe"), P((1, "prediction"))),
    Case("missing-prediction", "events", _del(0, "prediction"), P((0, "prediction"))),
    Case("missing-event-id", "events", _del(1, "event_id"), P((1, "event_id"))),
    Case("empty-event-id", "events", _set(1, "event_id", value=""), P((1, "event_id"))),
    Case("missing-timestamp", "events", _del(2, "timestamp"), P((2, "timestamp"))),
    Case("unparseable-timestamp", "events", _set(1, "timestamp", value="yesterday"), P((1, "timestamp"))),
    Case("timestamp-far-in-future", "events", _future, P((2, "timestamp"))),
    Case("duplicate-event-id-in-batch", "events", _dup_id, P((2, "event_id"))),
    Case("unknown-top-level-field", "events", _set(1, "colour", value="x"), P((1, "colour"))),
    Case(
        "probability-above-1",
        "events",
        _set(1, "probabilities", value={"stay": 1.5, "churn": 0.2}),
        P((1, "probabilities.stay")),
    ),
    Case(
        "probability-below-0",
        "events",
        _set(0, "probabilities", value={"stay": 0.5, "churn": -0.1}),
        P((0, "probabilities.churn")),
    ),
    Case(
        "probability-unknown-class",
        "events",
        _set(2, "probabilities", value={"maybe": 0.5}),
        P((2, "probabilities.maybe")),
    ),
    Case(
        "probabilities-wrong-length", "events", _set(1, "probabilities", value=[0.5]), P((1, "probabilities"))
    ),
    Case("bad-tags", "events", _set(0, "tags", value={"k": [1]}), P((0, "tags"))),
    Case("served-not-bool", "events", _set(1, "served", value="yes"), P((1, "served"))),
    Case("event-not-an-object", "events", _not_an_object, P((1, ""))),
    Case("events-not-a-list", "events", lambda items: {"e": items}, P((-1, "events"))),
    Case("label-unknown-class", "labels", _set(1, "label", value="maybe"), P((1, "label"))),
    Case("label-missing-value", "labels", _del(0, "label"), P((0, "label"))),
    Case("label-missing-event-id", "labels", _del(2, "event_id"), P((2, "event_id"))),
    Case("label-unknown-field", "labels", _set(1, "colour", value="x"), P((1, "colour"))),
    Case("label-bad-source", "labels", _set(0, "source", value="oracle"), P((0, "source"))),
    Case("label-duplicate-id-in-batch", "labels", _dup_label_id, P((1, "label_id"))),
    Case("label-negative-time-spent", "labels", _set(2, "time_spent_s", value=-1), P((2, "time_spent_s"))),
    Case("feedback-bad-kind", "feedback", _set(1, "kind", value="meh"), P((1, "kind"))),
    Case("feedback-missing-event-id", "feedback", _del(0, "event_id"), P((0, "event_id"))),
    Case("feedback-unknown-field", "feedback", _set(2, "colour", value="x"), P((2, "colour"))),
    Case("feedback-bad-timestamp", "feedback", _set(1, "timestamp", value="soon"), P((1, "timestamp"))),
]
