"""Data-quality rules: inferred from a reference, editable, checked per window.

A rule names a column (an event-log column such as ``in.age``) and what its values must do:

- ``not_null``: no nulls (inferred where the reference had none);
- ``max_null_rate``: at most ``max_rate`` of the rows null (inferred as twice the reference's
  rate plus one point);
- ``range``: finite numbers within ``[min, max]`` (inferred as the reference's range widened
  by a quarter of its span on each side, so a new extreme of the same distribution rarely
  trips it while a unit change or a sign flip does);
- ``no_nan``: no NaN or infinity (inferred for features that allow them but showed none);
- ``allowed_categories``: only the reference's categories (inferred when the reference has
  at most ``max_categories`` of them, counted exactly);
- ``volume``: rows per hour within ``[min, max]`` (inferred from a reference with hourly
  counts: a tenth of the median hour to ten times the busiest).

Types and required fields are enforced at ingest (a bad row rejects its batch), so they
never reach a window. Each check returns a count of violations per rule: rows for row
rules, hours for ``volume``. :func:`check_profile` counts from profiles (exact for nulls,
NaN and the categories a sketch holds exactly; a range is exact when the window's min and
max lie inside it and estimated from the quantile sketch otherwise); :func:`check_rows`
counts exactly from raw rows and returns the violating rows' masks.

>>> import pyarrow as pa
>>> from flywheel.profiles import DatasetProfile
>>> ref = pa.table({"in.age": [30.0, 40.0, 50.0], "in.plan": ["a", "b", "a"]})
>>> rules = infer_rules(DatasetProfile.from_table(ref, {"in.age": "numeric", "in.plan": "categorical"}))
>>> [r.id for r in rules]
['not_null:in.age', 'range:in.age', 'not_null:in.plan', 'allowed_categories:in.plan']
>>> cur = pa.table({"in.age": [35.0, 900.0, None], "in.plan": ["a", "c", "b"]})
>>> counts, _ = check_rows(rules, cur)
>>> counts
{'not_null:in.age': 1, 'range:in.age': 1, 'not_null:in.plan': 0, 'allowed_categories:in.plan': 1}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flywheel.errors import ValidationError

RuleKind = Literal["not_null", "max_null_rate", "range", "no_nan", "allowed_categories", "volume"]
RANGE_MARGIN = 0.25


class QualityRule(BaseModel):
    """One data-quality rule; ``id`` defaults to ``"<kind>:<column>"``."""

    model_config = ConfigDict(extra="forbid")

    id: str = ""
    kind: RuleKind
    column: str | None = None
    min: float | None = None
    max: float | None = None
    max_rate: float | None = Field(default=None, ge=0, le=1)
    values: list[str] | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _complete(self) -> QualityRule:
        if self.kind != "volume" and not self.column:
            raise ValueError(f"a {self.kind!r} rule needs a 'column'")
        if self.kind in ("range", "volume") and self.min is None and self.max is None:
            raise ValueError(f"a {self.kind!r} rule needs 'min' and/or 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is above 'max' ({self.max})")
        if self.kind == "max_null_rate" and self.max_rate is None:
            raise ValueError("a 'max_null_rate' rule needs 'max_rate' in [0, 1]")
        if self.kind == "allowed_categories" and self.values is None:
            raise ValueError("an 'allowed_categories' rule needs 'values' (a list of strings)")
        if not self.id:
            self.id = f"{self.kind}:{self.column}" if self.column else self.kind
        return self

    def describe(self) -> str:
        c = self.column
        if self.kind == "not_null":
            return f"{c} is never null"
        if self.kind == "max_null_rate":
            return f"at most {self.max_rate:.1%} of {c} is null"
        if self.kind == "range":
            return f"{c} lies in [{_num(self.min)}, {_num(self.max)}]"
        if self.kind == "no_nan":
            return f"{c} is never NaN or infinite"
        if self.kind == "allowed_categories":
            vals = self.values or []
            shown = ", ".join(vals[:8]) + (", ..." if len(vals) > 8 else "")
            return f"{c} is one of {len(vals)} known categories ({shown})"
        return f"rows per hour lie in [{_num(self.min)}, {_num(self.max)}]"


def _num(v: float | None) -> str:
    return "-inf" if v is None else f"{v:.6g}"


def parse_rules(items: Any) -> list[QualityRule]:
    """Validate a list of rule objects (as the API takes them); ids must be unique."""
    from pydantic import ValidationError as PydanticError

    if not isinstance(items, list):
        raise ValidationError("'rules' must be a list of rule objects.")
    out: list[QualityRule] = []
    details = []
    for i, it in enumerate(items):
        try:
            out.append(QualityRule.model_validate(it))
        except PydanticError as exc:
            e = exc.errors()[0]
            details.append({"row": i, "field": ".".join(map(str, e["loc"])) or "rule", "reason": e["msg"]})
    if details:
        raise ValidationError(f"rule {details[0]['row']}: {details[0]['reason']}", details=details)
    ids = [r.id for r in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValidationError(f"rule ids must be unique; repeated: {dup}")
    return out


def infer_rules(
    profile: Any,
    *,
    hourly_rows: Sequence[int] | None = None,
    allow_nan: Mapping[str, bool] | None = None,
    max_categories: int = 200,
    columns: Sequence[str] | None = None,
) -> list[QualityRule]:
    """Rules the reference ``profile`` (a ``DatasetProfile``) satisfies, as described above."""
    rules: list[QualityRule] = []
    allow_nan = allow_nan or {}
    for col in columns if columns is not None else list(profile):
        p = profile[col]
        if p.count == 0:
            continue
        rate = p.nulls / p.count
        if p.nulls == 0:
            rules.append(QualityRule(kind="not_null", column=col))
        else:
            rules.append(QualityRule(kind="max_null_rate", column=col, max_rate=min(1.0, 2 * rate + 0.01)))
        if p.kind == "numeric" and p.finite:
            span = p.max - p.min
            margin = RANGE_MARGIN * span if span > 0 else max(abs(p.min) * RANGE_MARGIN, 1.0)
            rules.append(QualityRule(kind="range", column=col, min=p.min - margin, max=p.max + margin))
            if allow_nan.get(col) and p.nan == 0 and p.inf == 0:
                rules.append(QualityRule(kind="no_nan", column=col))
        elif p.kind == "categorical" and p.exact:
            freq = p.frequencies()
            if 0 < len(freq) <= max_categories:
                rules.append(QualityRule(kind="allowed_categories", column=col, values=sorted(freq)))
    hours = [h for h in (hourly_rows or []) if h > 0]
    if len(hours) >= 3:
        rules.append(
            QualityRule(kind="volume", min=math.floor(0.1 * float(np.median(hours))), max=10.0 * max(hours))
        )
    return rules


def _out_of(lo: float | None, hi: float | None, x: np.ndarray) -> np.ndarray:
    bad = np.zeros(x.shape, dtype=bool)
    if lo is not None:
        bad |= x < lo
    if hi is not None:
        bad |= x > hi
    return bad


def check_profile(
    rules: Sequence[QualityRule], profile: Any, *, hourly_rows: Sequence[int] | None = None
) -> dict[str, int]:
    """Violations per enabled rule in one window's merged profile (and its rows per hour)."""
    out: dict[str, int] = {}
    for r in rules:
        if not r.enabled:
            continue
        if r.kind == "volume":
            if hourly_rows is not None:
                out[r.id] = int(_out_of(r.min, r.max, np.asarray(hourly_rows, dtype=float)).sum())
            continue
        if r.column not in profile:
            continue
        p = profile[r.column]
        if r.kind == "not_null":
            out[r.id] = int(p.nulls)
        elif r.kind == "max_null_rate":
            out[r.id] = int(p.nulls) if p.count and p.nulls / p.count > (r.max_rate or 0) else 0
        elif r.kind == "no_nan" and p.kind == "numeric":
            out[r.id] = int(p.nan + p.inf)
        elif r.kind == "range" and p.kind == "numeric":
            out[r.id] = _range_from_profile(r, p)
        elif r.kind == "allowed_categories" and p.kind == "categorical":
            allowed = set(r.values or [])
            out[r.id] = int(sum(c for v, c in p.frequencies().items() if v not in allowed))
    return out


def _range_from_profile(r: QualityRule, p: Any) -> int:
    if not p.finite:
        return 0
    lo_ok = r.min is None or p.min >= r.min
    hi_ok = r.max is None or p.max <= r.max
    if lo_ok and hi_ok:
        return 0
    n = 0.0
    if not lo_ok:
        n += max(1.0, float(p.cdf([r.min])[0]) * p.finite)
    if not hi_ok:
        n += max(1.0, (1.0 - float(p.cdf([r.max])[0])) * p.finite)
    return int(round(n))


def check_rows(rules: Sequence[QualityRule], table: pa.Table) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Exact violations per enabled row rule over raw rows, and each rule's mask of bad rows.

    ``volume`` is not a row rule and is left out (see :func:`check_profile`).
    """
    counts: dict[str, int] = {}
    masks: dict[str, np.ndarray] = {}
    n = table.num_rows
    for r in rules:
        if not r.enabled or r.kind == "volume" or r.column not in table.column_names:
            continue
        col = table.column(r.column)
        null = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if r.kind == "not_null":
            bad = null
        elif r.kind == "max_null_rate":
            bad = null if n and null.sum() / n > (r.max_rate or 0) else np.zeros(n, dtype=bool)
        elif r.kind in ("range", "no_nan"):
            if not pa.types.is_floating(col.type) and not pa.types.is_integer(col.type):
                continue
            x = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float64)
            finite = np.isfinite(x)
            if r.kind == "no_nan":
                bad = ~finite & ~null
            else:
                bad = finite & ~null & _out_of(r.min, r.max, np.where(finite, x, 0.0))
        else:  # allowed_categories
            allowed = pa.array(list(r.values or []), type=pa.string())
            known = pc.is_in(pc.cast(col, pa.string()), value_set=allowed)
            bad = ~np.asarray(known.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)
        counts[r.id] = int(bad.sum())
        masks[r.id] = bad
    return counts, masks
