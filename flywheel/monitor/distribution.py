"""One column's distribution, reference against a range of traffic, from profiles.

Numeric (and text, by length) columns give shares per bin over a common grid (equal-width
between the lower 1% and upper 99% point of both sides, plus the tails); categorical columns
give shares per category (the ``top`` most frequent of either side, the rest pooled).

>>> import numpy as np
>>> from flywheel.profiles import NumericProfile
>>> ref = NumericProfile().update(np.arange(100.0))
>>> d = compare_distributions(ref, NumericProfile().update(np.arange(50.0, 150.0)), bins=4)
>>> d["kind"], len(d["edges"]), round(sum(d["reference"]), 6), round(sum(d["current"]), 6)
('numeric', 7, 1.0, 1.0)
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.monitor.ingest_hook import INPUT_PREFIX, merge_rows, profile_kinds
from flywheel.monitor.reference import Reference

OTHER = "(other)"


def _numeric(ref: Any, cur: Any, bins: int) -> dict[str, Any]:
    sides = [p for p in (ref, cur) if p is not None and p.finite]
    if not sides:
        return {"kind": "numeric", "edges": [], "reference": [], "current": []}
    lo = min(float(p.quantile(0.01)) for p in sides)
    hi = max(float(p.quantile(0.99)) for p in sides)
    if not hi > lo:
        hi = lo + 1.0
    inner = np.linspace(lo, hi, bins + 1)
    out: dict[str, Any] = {"kind": "numeric", "edges": [-math.inf, *inner.tolist(), math.inf]}
    for name, p in (("reference", ref), ("current", cur)):
        if p is None or not p.finite:
            out[name] = []
            continue
        h = p.histogram(inner)
        out[name] = (h / max(h.sum(), 1e-12)).tolist()
        out[f"{name}_summary"] = {
            k: (v if isinstance(v, int) or math.isfinite(v) else None) for k, v in p.summary().items()
        }
    out["edges"] = [None if not math.isfinite(e) else e for e in out["edges"]]
    return out


def _categorical(ref: Any, cur: Any, top: int) -> dict[str, Any]:
    freqs = [p.frequencies() if p is not None else {} for p in (ref, cur)]
    totals = [max(p.non_null, 1) if p is not None else 1 for p in (ref, cur)]
    score: dict[str, float] = {}
    for f, n in zip(freqs, totals, strict=True):
        for k, v in f.items():
            score[k] = max(score.get(k, 0.0), v / n)
    cats = sorted(score, key=lambda k: (-score[k], k))[:top]
    out: dict[str, Any] = {"kind": "categorical", "categories": cats + [OTHER]}
    for name, f, n, p in zip(("reference", "current"), freqs, totals, (ref, cur), strict=True):
        if p is None:
            out[name] = []
            continue
        shares = [f.get(c, 0) / n for c in cats]
        out[name] = shares + [max(0.0, 1.0 - sum(shares))]
        out[f"{name}_summary"] = {"count": p.count, "nulls": p.nulls, "distinct": p.distinct_count()}
    return out


def compare_distributions(ref: Any, cur: Any, *, bins: int = 30, top: int = 20) -> dict[str, Any]:
    """Shares per bin or category of two column profiles (either may be ``None``)."""
    p = ref if ref is not None else cur
    if p is None:
        raise ValidationError("compare_distributions needs at least one profile.")
    if p.kind == "numeric":
        return _numeric(ref, cur, bins)
    if p.kind == "categorical":
        return _categorical(ref, cur, top)
    if p.kind == "text":
        out = _numeric(ref.chars if ref else None, cur.chars if cur else None, bins)
        return {**out, "kind": "text", "unit": "characters"}
    out = _numeric(ref.norm if ref else None, cur.norm if cur else None, bins)
    return {**out, "kind": p.kind, "unit": "vector norm"}


def distribution(
    store: Any,
    model: str,
    column: str,
    *,
    since: datetime,
    until: datetime,
    reference: Reference | None,
    model_version: str | None = None,
    bins: int = 30,
) -> dict[str, Any]:
    """The distribution of ``column`` (a feature name or event-log column) over the range."""
    kinds = profile_kinds(store.models.get(model).spec)
    col = column if column in kinds else INPUT_PREFIX + column
    if col not in kinds:
        raise ValidationError(
            f"The 'column' parameter {column!r} is not a column of this model; columns: {sorted(kinds)}.",
            details=[{"field": "column", "reason": "unknown column"}],
        )
    rows = store.monitor.profiles(model, since=since, until=until, columns=[col], model_version=model_version)
    cur = merge_rows(rows).columns.get(col) if rows else None
    ref = reference.profile.columns.get(col) if reference is not None else None
    if cur is None and ref is None:
        return {"column": col, "kind": kinds[col], "reference": [], "current": [], "note": "no data"}
    return {
        "column": col,
        "since": since.isoformat(),
        "until": until.isoformat(),
        **compare_distributions(ref, cur, bins=bins),
    }
