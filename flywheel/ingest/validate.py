"""Validate a batch of events against a model's spec and turn it into event-log columns.

The rules are those of ``flywheel.schema``; they are applied here row by row in plain Python
(one pass, no per-row model objects) because this is the ingest hot path. A batch with any
bad row is rejected whole; the error lists ``{"row", "field", "reason"}`` for each problem.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from flywheel.errors import BatchRejected
from flywheel.schema import FeatureKind, ModelSpec, Task
from flywheel.store.eventlog import INPUT_PREFIX, PROBA_PREFIX

MAX_ERRORS = 200
EVENT_KEYS = frozenset(
    {
        "event_id",
        "timestamp",
        "inputs",
        "prediction",
        "probabilities",
        "score",
        "model_version",
        "tags",
        "trace_id",
        "parent_event_id",
        "served",
    }
)
REQUIRED_EVENT_KEYS = ("event_id", "timestamp", "inputs", "prediction")
_REQUIRED_SET = frozenset(REQUIRED_EVENT_KEYS)
TS_TYPE = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Problems:
    """Collects row-level problems, up to a cap, so a huge bad batch gets a bounded answer."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.total = 0

    def add(self, row: int, field: str, reason: str) -> None:
        self.total += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append({"row": row, "field": field, "reason": reason})

    def raise_if_any(self, what: str) -> None:
        if self.total:
            more = f" (first {MAX_ERRORS} shown)" if self.total > MAX_ERRORS else ""
            first = self.items[0]
            raise BatchRejected(
                f"the {what} batch was rejected: {self.total} problem(s){more}; nothing was stored. "
                f"First: row {first['row']}, field '{first['field']}': {first['reason']}",
                details=self.items,
            )


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (a missing offset means UTC) or seconds since the epoch."""
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise ValueError(
                f"{value[:40]!r} is not an ISO 8601 time such as '2026-01-31T12:00:00Z'"
            ) from None
    elif isinstance(value, datetime):
        ts = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, UTC)
    else:
        raise ValueError(
            "must be an ISO 8601 string such as '2026-01-31T12:00:00Z' or seconds since the epoch"
        )
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _epoch_us(ts: datetime) -> int:
    """Exact microseconds since the epoch (no float rounding)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - _EPOCH) // timedelta(microseconds=1)


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _check_value(kind: FeatureKind, feat: Any, v: Any) -> tuple[Any, str | None]:
    """Return (stored value, problem or None) for one input value."""
    if v is None:
        return None, (None if feat.nullable else "is null, but the feature is declared nullable=false")
    if kind is FeatureKind.numeric:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None, f"must be a number; got {_type_name(v)}"
        fv = float(v)
        if not math.isfinite(fv) and not feat.allow_nan:
            return None, f"is {v}, which is not allowed (set allow_nan=true on the feature to accept NaN/inf)"
        return fv, None
    if kind is FeatureKind.categorical:
        if isinstance(v, str):
            return v, None
        if isinstance(v, int | bool):
            return str(v).lower() if isinstance(v, bool) else str(v), None
        return None, f"must be a string (a category); got {_type_name(v)}"
    if kind is FeatureKind.text:
        if isinstance(v, str):
            return v, None
        return None, f"must be a string (text); got {_type_name(v)}"
    if kind is FeatureKind.embedding:
        if not isinstance(v, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v
        ):
            return None, "must be a list of numbers (an embedding vector)"
        if feat.dim is not None and len(v) != feat.dim:
            return None, f"has length {len(v)}; the feature is declared with dim={feat.dim}"
        if not all(math.isfinite(x) for x in v):
            return None, "holds NaN or inf"
        return v, None
    # image: a base64/data-URI string, or pixel values as (nested) lists, stored as JSON.
    if isinstance(v, str):
        return v, None
    if isinstance(v, list):
        return orjson.dumps(v).decode(), None
    return None, f"must be a base64 string or a list of pixel values; got {_type_name(v)}"


# The values most events carry take a shortcut past _check_value (same result, no call):
# a finite float for a numeric feature, any float where NaN/inf are allowed, a string for a
# categorical, text or image feature. Everything else gets the full check.
_FINITE_FLOAT, _ANY_FLOAT, _STRING, _NONE = "finite-float", "any-float", "string", "none"


def _fast_path(feat: Any) -> str:
    if feat.kind is FeatureKind.numeric:
        return _ANY_FLOAT if feat.allow_nan else _FINITE_FLOAT
    if feat.kind in (FeatureKind.categorical, FeatureKind.text, FeatureKind.image):
        return _STRING
    return _NONE


def _arrow_type(kind: FeatureKind) -> pa.DataType:
    if kind is FeatureKind.numeric:
        return pa.float64()
    if kind is FeatureKind.embedding:
        return pa.list_(pa.float32())
    return pa.string()


def event_schema(spec: ModelSpec) -> pa.Schema:
    fields = [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("timestamp", TS_TYPE, nullable=False),
        pa.field("ingested_at", TS_TYPE, nullable=False),
        pa.field("model_version", pa.string()),
        pa.field("spec_version", pa.int32()),
        pa.field("prediction", pa.float64() if spec.task is Task.regression else pa.string()),
        pa.field("score", pa.float64()),
    ]
    fields += [pa.field(PROBA_PREFIX + c, pa.float64()) for c in spec.class_names or []]
    fields += [
        pa.field("tags", pa.string()),
        pa.field("trace_id", pa.string()),
        pa.field("parent_event_id", pa.string()),
        pa.field("served", pa.bool_()),
    ]
    fields += [pa.field(INPUT_PREFIX + f.name, _arrow_type(f.kind)) for f in spec.features]
    return pa.schema(fields)


def _opt_str(v: Any, field: str, row: int, problems: Problems, max_len: int = 128) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or len(v) > max_len:
        problems.add(row, field, f"must be a string of at most {max_len} characters; got {_type_name(v)}")
        return None
    return v


def validate_events(
    spec: ModelSpec, spec_version: int, items: Any, *, now: datetime, max_future_skew_s: float
) -> pa.Table:
    """Check every event of a batch; return it as an Arrow table in the event-log schema."""
    problems = Problems()
    if not isinstance(items, list):
        problems.add(-1, "events", f"must be a list of events; got {_type_name(items)}")
        problems.raise_if_any("events")
    features = spec.features
    names = [f.name for f in features]
    name_set = frozenset(names)
    classes = spec.class_names or []
    class_set = frozenset(classes)
    is_reg = spec.task is Task.regression
    limit = now.timestamp() + max_future_skew_s

    n = len(items)
    cols: dict[str, list[Any]] = {name: [None] * n for name in names}
    ids: list[Any] = [None] * n
    tss: list[Any] = [None] * n
    preds: list[Any] = [None] * n
    scores: list[Any] = [None] * n
    probas: dict[str, list[Any]] = {c: [None] * n for c in classes}
    versions: list[Any] = [None] * n
    tags: list[Any] = [None] * n
    traces: list[Any] = [None] * n
    parents: list[Any] = [None] * n
    served: list[bool] = [True] * n
    seen: dict[str, int] = {}
    checks = [(f.name, cols[f.name], _fast_path(f), f) for f in features]
    optional_strings = (("model_version", versions), ("trace_id", traces), ("parent_event_id", parents))
    isfinite = math.isfinite

    for i, ev in enumerate(items):
        if not isinstance(ev, dict):
            problems.add(i, "", f"each event must be a JSON object; got {_type_name(ev)}")
            continue
        ev_keys = ev.keys()
        if not ev_keys <= EVENT_KEYS:
            extra = ev_keys - EVENT_KEYS
            problems.add(i, sorted(extra)[0], f"unknown field; allowed: {sorted(EVENT_KEYS)}")
        if not ev_keys >= _REQUIRED_SET:
            for k in REQUIRED_EVENT_KEYS:
                if k not in ev:
                    problems.add(i, k, "is required")
        eid = ev.get("event_id")
        if "event_id" in ev:
            if not isinstance(eid, str) or not 0 < len(eid) <= 128:
                problems.add(
                    i,
                    "event_id",
                    f"must be a non-empty string of at most 128 characters; got {_type_name(eid)}",
                )
            elif eid in seen:
                problems.add(
                    i, "event_id", f"duplicate event_id {eid!r} in this batch (also row {seen[eid]})"
                )
            else:
                seen[eid] = i
                ids[i] = eid
        if "timestamp" in ev:
            try:
                ts = parse_timestamp(ev["timestamp"])
                if ts.timestamp() > limit:
                    problems.add(
                        i,
                        "timestamp",
                        f"{ts.isoformat()} is more than {max_future_skew_s:.0f} s in the future; check the client clock",
                    )
                tss[i] = ts
            except (ValueError, OverflowError, OSError) as exc:
                problems.add(i, "timestamp", str(exc))
        inputs = ev.get("inputs")
        if "inputs" in ev:
            if not isinstance(inputs, dict):
                problems.add(
                    i, "inputs", f"must be an object of feature name to value; got {_type_name(inputs)}"
                )
            else:
                keys = inputs.keys()
                if keys != name_set:
                    for k in sorted(name_set - keys):
                        problems.add(i, f"inputs.{k}", "is missing (send null for an absent value)")
                    for k in sorted(keys - name_set):
                        problems.add(
                            i, f"inputs.{k}", f"is not a feature of model {spec.name!r}; features: {names}"
                        )
                for name, col, fast, f in checks:
                    if name not in inputs:
                        continue
                    v = inputs[name]
                    tv = type(v)
                    if (tv is float and (fast is _ANY_FLOAT or (fast is _FINITE_FLOAT and isfinite(v)))) or (
                        tv is str and fast is _STRING
                    ):
                        col[i] = v
                        continue
                    val, why = _check_value(f.kind, f, v)
                    if why:
                        problems.add(i, f"inputs.{name}", why)
                    else:
                        col[i] = val
        if "prediction" in ev:
            p = ev["prediction"]
            if is_reg:
                if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p):
                    problems.add(
                        i,
                        "prediction",
                        f"must be a finite number for a regression model; got {_type_name(p)}",
                    )
                else:
                    preds[i] = float(p)
            else:
                ps = (
                    p
                    if isinstance(p, str)
                    else (str(p) if isinstance(p, int) and not isinstance(p, bool) else None)
                )
                if ps is None or ps not in class_set:
                    problems.add(
                        i, "prediction", f"{p!r} is not a class of model {spec.name!r}; classes: {classes}"
                    )
                else:
                    preds[i] = ps
        pr = ev.get("probabilities")
        if pr is not None:
            if is_reg:
                problems.add(i, "probabilities", "is only for classification models")
            elif isinstance(pr, list):
                if len(pr) != len(classes):
                    problems.add(
                        i,
                        "probabilities",
                        f"has {len(pr)} values; expected {len(classes)} (one per class, in class_names order)",
                    )
                else:
                    pr = dict(zip(classes, pr, strict=True))
            if isinstance(pr, dict):
                for c, v in pr.items():
                    if c not in class_set:
                        problems.add(i, f"probabilities.{c}", f"is not a class; classes: {classes}")
                    elif isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                        problems.add(i, f"probabilities.{c}", f"must be a number in [0, 1]; got {v!r}")
                    else:
                        probas[c][i] = float(v)
            elif not isinstance(pr, list):
                problems.add(
                    i,
                    "probabilities",
                    f"must be an object of class to probability or a list; got {_type_name(pr)}",
                )
        sc = ev.get("score")
        if sc is not None:
            if isinstance(sc, bool) or not isinstance(sc, int | float) or not math.isfinite(sc):
                problems.add(i, "score", f"must be a finite number; got {_type_name(sc)}")
            else:
                scores[i] = float(sc)
        for key, out in optional_strings:
            v = ev.get(key)
            if v is not None:
                out[i] = _opt_str(v, key, i, problems)
        tg = ev.get("tags")
        if tg is not None:
            if not isinstance(tg, dict) or not all(
                isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in tg.items()
            ):
                problems.add(i, "tags", "must be an object of string keys to string/number/bool values")
            else:
                tags[i] = orjson.dumps(
                    {k: v if isinstance(v, str) else str(v) for k, v in tg.items()}
                ).decode()
        sv = ev.get("served", True)
        if not isinstance(sv, bool):
            problems.add(i, "served", f"must be true or false; got {_type_name(sv)}")
        else:
            served[i] = sv

    problems.raise_if_any("events")
    schema = event_schema(spec)
    arrays: dict[str, Any] = {
        "event_id": ids,
        "timestamp": tss,
        "ingested_at": pa.array(np.full(n, _epoch_us(now), dtype=np.int64)).cast(TS_TYPE),
        "model_version": versions,
        "spec_version": [spec_version] * n,
        "prediction": preds,
        "score": scores,
    }
    for c in classes:
        arrays[PROBA_PREFIX + c] = probas[c]
    arrays.update({"tags": tags, "trace_id": traces, "parent_event_id": parents, "served": served})
    for name in names:
        arrays[INPUT_PREFIX + name] = cols[name]
    return pa.Table.from_arrays(
        [
            v if isinstance(v, pa.Array) else pa.array(v, type=f.type)
            for f, v in ((f, arrays[f.name]) for f in schema)
        ],
        schema=schema,
    )


FEEDBACK_KINDS = frozenset({"thumbs_up", "thumbs_down", "flag", "outcome", "comment"})
LABEL_SOURCES = frozenset({"annotator", "outcome", "import", "adjudication", "model"})
_FEEDBACK_KEYS = frozenset({"event_id", "kind", "value", "comment", "feedback_id", "timestamp"})
_LABEL_KEYS = frozenset({"event_id", "label", "label_id", "source", "annotator", "timestamp", "time_spent_s"})


def _content_id(prefix: str, item: dict[str, Any]) -> str:
    """A deterministic id for an item sent without one, so a re-sent batch is stored once."""
    import hashlib

    return prefix + hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def check_label_value(spec: ModelSpec, v: Any) -> tuple[Any, str | None]:
    if spec.task is Task.regression:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return None, f"must be a finite number for a regression model; got {_type_name(v)}"
        return float(v), None
    vs = v if isinstance(v, str) else (str(v) if isinstance(v, int) and not isinstance(v, bool) else None)
    if vs is None or vs not in (spec.class_names or []):
        return None, f"{v!r} is not a class of model {spec.name!r}; classes: {spec.class_names}"
    return vs, None


def _common(
    items: Any, what: str, allowed: frozenset[str], id_key: str, problems: Problems, now: datetime
) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        problems.add(-1, what, f"must be a list; got {_type_name(items)}")
        problems.raise_if_any(what)
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, it in enumerate(items):
        row: dict[str, Any] = {}
        rows.append(row)
        if not isinstance(it, dict):
            problems.add(i, "", f"each item must be a JSON object; got {_type_name(it)}")
            continue
        for k in sorted(it.keys() - allowed):
            problems.add(i, k, f"unknown field; allowed: {sorted(allowed)}")
        eid = it.get("event_id")
        if not isinstance(eid, str) or not 0 < len(eid) <= 128:
            problems.add(
                i,
                "event_id",
                "is required: the id of the event this refers to (a string of at most 128 characters)",
            )
        row["event_id"] = eid
        try:
            row["timestamp"] = parse_timestamp(it["timestamp"]) if it.get("timestamp") is not None else now
        except (ValueError, OverflowError, OSError) as exc:
            problems.add(i, "timestamp", str(exc))
        iid = it.get(id_key)
        if iid is None:
            iid = _content_id(id_key[0], it)
        elif not isinstance(iid, str) or not 0 < len(iid) <= 128:
            problems.add(i, id_key, "must be a non-empty string of at most 128 characters")
        if isinstance(iid, str):
            if iid in seen:
                problems.add(i, id_key, f"duplicate {id_key} {iid!r} in this batch (also row {seen[iid]})")
            seen[iid] = i
        row[id_key] = iid
        row["ingested_at"] = now
    return rows


def validate_feedback(items: Any, *, now: datetime) -> list[dict[str, Any]]:
    problems = Problems()
    rows = _common(items, "feedback", _FEEDBACK_KEYS, "feedback_id", problems, now)
    for i, (it, row) in enumerate(zip(items, rows, strict=True)):
        if not isinstance(it, dict):
            continue
        kind = it.get("kind")
        if kind not in FEEDBACK_KINDS:
            problems.add(i, "kind", f"must be one of {sorted(FEEDBACK_KINDS)}; got {kind!r}")
        row["kind"] = kind
        row["value"] = None if it.get("value") is None else orjson.dumps(it["value"]).decode()
        c = it.get("comment")
        if c is not None and (not isinstance(c, str) or len(c) > 4000):
            problems.add(i, "comment", "must be a string of at most 4000 characters")
        row["comment"] = c
    problems.raise_if_any("feedback")
    return rows


def validate_labels(spec: ModelSpec, items: Any, *, now: datetime) -> list[dict[str, Any]]:
    problems = Problems()
    rows = _common(items, "labels", _LABEL_KEYS, "label_id", problems, now)
    for i, (it, row) in enumerate(zip(items, rows, strict=True)):
        if not isinstance(it, dict):
            continue
        if "label" not in it:
            problems.add(i, "label", "is required")
        else:
            val, why = check_label_value(spec, it["label"])
            if why:
                problems.add(i, "label", why)
            row["value"] = orjson.dumps(val).decode()
        src = it.get("source", "outcome")
        if src not in LABEL_SOURCES:
            problems.add(i, "source", f"must be one of {sorted(LABEL_SOURCES)}; got {src!r}")
        row["source"] = src
        row["annotator"] = _opt_str(it.get("annotator"), "annotator", i, problems, 200)
        ts = it.get("time_spent_s")
        if ts is not None and (
            isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts) or ts < 0
        ):
            problems.add(i, "time_spent_s", "must be a non-negative number of seconds")
            ts = None
        row["time_spent_s"] = ts
    problems.raise_if_any("labels")
    return rows
