"""Data-quality rules: inferred from the training data, edited by people, checked per bucket.

``infer_rules(table, kinds)`` reads what the training data looked like: each column's type, its
null rate, numeric range (widened by a small slack), whether NaN/inf occur, the allowed categories,
and, given a timestamp column, the volume of rows per hour. The rules are plain data: JSON in and
out, so a person can loosen a range or add a category. ``check(rules, batch)`` returns one
``Violation`` per broken rule with how many rows broke it and a few sample rows and event ids to
drill into.

>>> import pyarrow as pa
>>> train = pa.table({"age": [23, 35, 51, 44], "country": ["fr", "de", "fr", "it"]})
>>> rules = infer_rules(train, {"age": "numeric", "country": "categorical"})
>>> batch = pa.table({"event_id": ["e1", "e2", "e3"], "age": [30, 340, None], "country": ["fr", "xx", "de"]})
>>> [(v.column, v.rule, v.count, v.sample_event_ids) for v in check(rules, batch)]
[('age', 'null_rate', 1, ['e3']), ('age', 'range', 1, ['e2']), ('country', 'category', 1, ['e2'])]
>>> QualityRules.from_json(rules.to_json()) == rules
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.profiles.columns import category_label, column_names, get_column

RULES_VERSION = 1
KINDS = ("numeric", "categorical", "text", "embedding", "image")


@dataclass
class ColumnRule:
    """What one column may look like. ``None`` means "not checked"."""

    kind: str
    dtype: str | None = None
    max_null_rate: float | None = None
    min: float | None = None
    max: float | None = None
    allow_nan: bool = True
    allowed: list[str] | None = None


@dataclass
class VolumeRule:
    """Rows per hour, counted on ``timestamp`` (epoch seconds, or an Arrow/pandas timestamp)."""

    timestamp: str
    min_per_hour: float
    max_per_hour: float


@dataclass
class QualityRules:
    columns: dict[str, ColumnRule]
    volume: VolumeRule | None = None
    version: int = RULES_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualityRules:
        version = int(data.get("version", RULES_VERSION))
        if version > RULES_VERSION:
            raise ValidationError(
                f"Quality rules version {version} is newer than this Flywheel reads ({RULES_VERSION})."
            )
        try:
            columns = {name: ColumnRule(**rule) for name, rule in dict(data["columns"]).items()}
            volume = VolumeRule(**data["volume"]) if data.get("volume") else None
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"Malformed quality rules: {exc}.") from exc
        bad = {n: r.kind for n, r in columns.items() if r.kind not in KINDS}
        if bad:
            raise ValidationError(
                f"Unknown column kinds in quality rules: {bad}; expected one of {list(KINDS)}."
            )
        return cls(columns, volume, version)

    @classmethod
    def from_json(cls, text: str) -> QualityRules:
        return cls.from_dict(json.loads(text))


@dataclass
class Violation:
    """One broken rule in one batch: which, how often, and where to look."""

    column: str
    rule: str
    count: int
    total: int
    message: str
    sample_rows: list[int] = field(default_factory=list)
    sample_event_ids: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.total if self.total else math.nan


def _arrow(values: Any) -> Any:
    """Any column container as one Arrow array (pandas NaN counts as null)."""
    import pyarrow as pa

    mod = type(values).__module__.split(".", 1)[0]
    if mod == "pyarrow":
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    elif mod == "pandas":
        arr = pa.Array.from_pandas(values)
    elif mod == "polars":
        arr = values.to_arrow()
    else:
        arr = pa.array(
            values.tolist() if isinstance(values, np.ndarray) and values.dtype.kind in "US" else values
        )
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _type_name(arr: Any) -> str:
    import pyarrow as pa

    t = arr.type
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "list"
    if pa.types.is_null(t):
        return "null"
    return str(t)


_COMPATIBLE = {
    "float": {"float", "int", "bool", "null"},
    "int": {"int", "bool", "null"},
    "string": {"string", "null"},
}


def _hours(values: Any) -> np.ndarray:
    """Hour bucket (integer hours since the epoch) of each non-null timestamp."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow(values).drop_null()
    if pa.types.is_timestamp(arr.type):
        arr = pc.cast(arr.cast(pa.timestamp("s", arr.type.tz)), pa.int64())
    return np.floor_divide(np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64), 3600.0).astype(
        np.int64
    )


def infer_rules(
    table: Any,
    kinds: Mapping[str, str] | None = None,
    *,
    timestamp: str | None = None,
    range_slack: float = 0.05,
    null_slack: float = 0.01,
    max_categories: int = 1000,
    volume_slack: float = 0.5,
) -> QualityRules:
    """Rules that the training ``table`` itself satisfies, with some slack.

    Numeric ranges widen by ``range_slack`` of the observed range on each side; the null rate may
    exceed the observed one by ``null_slack``; categories are allowed as seen when there are at
    most ``max_categories``; hourly volume may range from ``(1 - volume_slack)`` of the quietest to
    ``(1 + volume_slack)`` of the busiest full hour seen. ``kinds`` defaults to numeric for number
    columns and categorical for the rest.
    """
    import pyarrow.compute as pc

    names = list(kinds) if kinds else [c for c in column_names(table) if c != timestamp]
    columns: dict[str, ColumnRule] = {}
    for name in names:
        arr = _arrow(get_column(table, name))
        tname = _type_name(arr)
        kind = (kinds or {}).get(name) or ("numeric" if tname in ("float", "int", "bool") else "categorical")
        if kind not in KINDS:
            raise ValidationError(
                f"Unknown column kind {kind!r} for {name!r}; expected one of {list(KINDS)}."
            )
        n = len(arr)
        nulls = arr.null_count
        rule = ColumnRule(
            kind=kind, dtype=tname, max_null_rate=min(1.0, nulls / n + null_slack) if n else None
        )
        if kind == "numeric" and tname in ("float", "int", "bool"):
            x = np.asarray(arr.drop_null().to_numpy(zero_copy_only=False), dtype=np.float64)
            finite = x[np.isfinite(x)]
            rule.allow_nan = bool(finite.size < x.size)
            if finite.size:
                lo, hi = float(finite.min()), float(finite.max())
                pad = range_slack * (hi - lo)
                rule.min, rule.max = lo - pad, hi + pad
                if tname == "int":
                    rule.min, rule.max = float(math.floor(rule.min)), float(math.ceil(rule.max))
        elif kind == "categorical":
            vc = pc.value_counts(arr.drop_null())
            if len(vc) <= max_categories:
                rule.allowed = sorted(category_label(v) for v in vc.field("values").to_pylist())
        columns[name] = rule
    volume = None
    if timestamp is not None:
        hours = _hours(get_column(table, timestamp))
        if hours.size:
            _, counts = np.unique(hours, return_counts=True)
            full = counts[1:-1] if counts.size > 2 else counts  # the first and last hour may be partial
            volume = VolumeRule(
                timestamp, float(full.min()) * (1 - volume_slack), float(full.max()) * (1 + volume_slack)
            )
    return QualityRules(columns, volume)


def _samples(mask: np.ndarray, ids: list[Any] | None, k: int) -> tuple[list[int], list[str]]:
    rows = np.flatnonzero(mask)[:k].tolist()
    return rows, ([str(ids[i]) for i in rows] if ids is not None else [])


def check(
    rules: QualityRules, batch: Any, *, id_column: str | None = "event_id", sample_size: int = 5
) -> list[Violation]:
    """Check one batch (a table) against ``rules``; one ``Violation`` per broken rule.

    Sample event ids come from ``id_column`` when the batch has it. Volume is checked per full
    hour of the batch's timestamps (the first and last hour of a batch may be partial and are
    checked only against the upper bound).
    """
    import pyarrow.compute as pc

    present = set(column_names(batch))
    ids = _arrow(get_column(batch, id_column)).to_pylist() if id_column and id_column in present else None
    out: list[Violation] = []
    total = 0
    for name, rule in rules.columns.items():
        if name not in present:
            out.append(Violation(name, "missing_column", 0, 0, f"Column {name!r} is missing from the batch."))
            continue
        arr = _arrow(get_column(batch, name))
        total = len(arr)
        tname = _type_name(arr)
        expected = rule.dtype
        if expected in _COMPATIBLE and tname not in _COMPATIBLE[expected]:
            out.append(
                Violation(name, "type", total, total, f"Column {name!r} should hold {expected}; got {tname}.")
            )
            continue
        null_mask = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        nulls = int(null_mask.sum())
        if rule.max_null_rate is not None and total and nulls / total > rule.max_null_rate:
            rows, eids = _samples(null_mask, ids, sample_size)
            msg = f"{nulls} of {total} values of {name!r} are null ({nulls / total:.1%}); at most {rule.max_null_rate:.1%} allowed."
            out.append(Violation(name, "null_rate", nulls, total, msg, rows, eids))
        if rule.kind == "numeric" and tname in ("float", "int", "bool"):
            x = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float64)
            bad_nan = ~np.isfinite(x) & ~null_mask
            if not rule.allow_nan and bad_nan.any():
                rows, eids = _samples(bad_nan, ids, sample_size)
                c = int(bad_nan.sum())
                out.append(
                    Violation(
                        name, "nan", c, total, f"{c} values of {name!r} are NaN or infinite.", rows, eids
                    )
                )
            lo = -math.inf if rule.min is None else rule.min
            hi = math.inf if rule.max is None else rule.max
            with np.errstate(invalid="ignore"):
                outside = ((x < lo) | (x > hi)) & ~null_mask & np.isfinite(x)
            if outside.any():
                rows, eids = _samples(outside, ids, sample_size)
                c = int(outside.sum())
                vals = x[outside]
                msg = f"{c} values of {name!r} fall outside [{lo:.6g}, {hi:.6g}] (seen {vals.min():.6g} to {vals.max():.6g})."
                out.append(
                    Violation(
                        name,
                        "range",
                        c,
                        total,
                        msg,
                        rows,
                        eids,
                        {"min_seen": float(vals.min()), "max_seen": float(vals.max())},
                    )
                )
        if rule.kind == "categorical" and rule.allowed is not None:
            labels = arr if tname == "string" else pc.cast(arr, "string")
            known = np.asarray(
                pc.is_in(labels, value_set=_arrow(rule.allowed)).to_numpy(zero_copy_only=False), dtype=bool
            )
            unknown = ~known & ~null_mask
            if unknown.any():
                rows, eids = _samples(unknown, ids, sample_size)
                c = int(unknown.sum())
                vc = pc.value_counts(pc.filter(labels, unknown))
                top = sorted(
                    zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True),
                    key=lambda t: -t[1],
                )[:10]
                msg = f"{c} values of {name!r} are not among its {len(rule.allowed)} known categories (e.g. {top[0][0]!r})."
                out.append(Violation(name, "category", c, total, msg, rows, eids, {"unexpected": top}))
    if rules.volume is not None and rules.volume.timestamp in present:
        hours = _hours(get_column(batch, rules.volume.timestamp))
        if hours.size:
            uniq, counts = np.unique(hours, return_counts=True)
            inner = np.zeros(uniq.size, dtype=bool)
            inner[1:-1] = True
            low = inner & (counts < rules.volume.min_per_hour)
            high = counts > rules.volume.max_per_hour
            for kind, mask, bound in (
                ("volume_low", low, rules.volume.min_per_hour),
                ("volume_high", high, rules.volume.max_per_hour),
            ):
                if mask.any():
                    hrs = [(int(h) * 3600, int(c)) for h, c in zip(uniq[mask], counts[mask], strict=True)]
                    side = "fewer" if kind == "volume_low" else "more"
                    msg = f"{len(hrs)} hour(s) had {side} rows than {bound:.6g} per hour (e.g. {hrs[0][1]} rows)."
                    out.append(
                        Violation(
                            rules.volume.timestamp,
                            kind,
                            len(hrs),
                            int(uniq.size),
                            msg,
                            details={"hours": hrs},
                        )
                    )
    return out
