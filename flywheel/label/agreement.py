"""Agreement between annotators: Cohen's kappa, Fleiss' kappa and Krippendorff's alpha.

When several people label the same items, their agreement says how far the labels can be
trusted, and how hard the task is: chance-corrected, so that two annotators who both answer
"no" to 95% of the items do not look reliable for that alone.

- :func:`cohen_kappa`: two annotators, every item labelled by both (optionally weighted for
  ordered categories). Cohen (1960); weighted form Cohen (1968).
- :func:`fleiss_kappa`: any fixed number ``m >= 2`` of ratings per item, raters free to
  differ between items. Fleiss (1971).
- :func:`krippendorff_alpha`: any number of annotators, **missing labels allowed**, at the
  nominal, ordinal, interval or ratio level. Krippendorff, *Computing Krippendorff's
  Alpha-Reliability* (2011), via the coincidence matrix.

All three are 1 for perfect agreement and 0 for agreement at chance level. They are ``nan``
where undefined: when the data show a single category only, chance agreement is perfect and
the ratio is 0/0.

>>> round(cohen_kappa(["y", "y", "n", "n"], ["y", "n", "n", "n"]), 3)
0.5
>>> round(krippendorff_alpha([[1, 2, 3, None], [1, 2, 3, 3]], level="nominal"), 3)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from flywheel.errors import ValidationError

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float | np.floating) and math.isnan(v))


def cohen_kappa(
    a: Sequence[Any], b: Sequence[Any], *, labels: Sequence[Any] | None = None, weights: str | None = None
) -> float:
    """Cohen's kappa between two annotators' labels of the same items.

    Args:
        a, b: the two annotators' labels, aligned by item. Items where either is missing
            (``None`` or NaN) are left out.
        labels: the categories, in order (needed for weighted kappa on ordered categories);
            the sorted union of both annotators' labels when None.
        weights: ``None`` (plain kappa), ``"linear"`` or ``"quadratic"`` (disagreement grows with
            the distance between the categories' positions in ``labels``).

    Matches ``sklearn.metrics.cohen_kappa_score`` on complete data.
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValidationError(
            f"The 'weights' parameter must be None, 'linear' or 'quadratic'; got {weights!r}."
        )
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValidationError(f"Both annotators must label the same items; got {len(a)} and {len(b)} labels.")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not _is_missing(x) and not _is_missing(y)]
    if not pairs:
        return math.nan
    cats = list(labels) if labels is not None else sorted({v for p in pairs for v in p}, key=_sort_key)
    index = {c: i for i, c in enumerate(cats)}
    unknown = sorted({v for p in pairs for v in p if v not in index}, key=_sort_key)
    if unknown:
        raise ValidationError(f"Labels {unknown} are not among the given categories {cats}.")
    k = len(cats)
    observed = np.zeros((k, k))
    for x, y in pairs:
        observed[index[x], index[y]] += 1
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    pos = np.arange(k)
    if weights is None:
        w = (pos[:, None] != pos[None, :]).astype(float)
    elif weights == "linear":
        w = np.abs(pos[:, None] - pos[None, :]).astype(float)
    else:
        w = ((pos[:, None] - pos[None, :]) ** 2).astype(float)
    denom = float((w * expected).sum())
    if denom == 0:
        return math.nan
    return 1.0 - float((w * observed).sum()) / denom


def ratings_to_counts(
    ratings: Sequence[Sequence[Any]], categories: Sequence[Any] | None = None
) -> tuple[np.ndarray, list[Any]]:
    """Turn ``(items x raters)`` labels into ``(items x categories)`` counts for :func:`fleiss_kappa`.

    Missing entries (``None``/NaN) are skipped; returns the counts and the category order.
    """
    rows = [[v for v in row if not _is_missing(v)] for row in ratings]
    cats = list(categories) if categories is not None else sorted({v for r in rows for v in r}, key=_sort_key)
    index = {c: j for j, c in enumerate(cats)}
    counts = np.zeros((len(rows), len(cats)), dtype=np.int64)
    for i, row in enumerate(rows):
        for v in row:
            if v not in index:
                raise ValidationError(f"Rating {v!r} of item {i} is not among the categories {cats}.")
            counts[i, index[v]] += 1
    return counts, cats


def fleiss_kappa(counts: Any) -> float:
    """Fleiss' kappa from an ``(items x categories)`` table of how many raters chose each category.

    Every item must have the same number ``m >= 2`` of ratings (who rated may differ between
    items). Use :func:`ratings_to_counts` to build the table from per-rater labels.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0 or (table < 0).any():
        raise ValidationError(
            "fleiss_kappa needs a non-empty (items x categories) table of non-negative counts."
        )
    per_item = table.sum(axis=1)
    m = per_item[0]
    if not np.all(per_item == m) or m < 2:
        raise ValidationError(
            "fleiss_kappa needs the same number (at least 2) of ratings for every item; "
            f"got between {int(per_item.min())} and {int(per_item.max())}. Use krippendorff_alpha for uneven data."
        )
    n_items = table.shape[0]
    p_cat = table.sum(axis=0) / (n_items * m)
    p_item = ((table**2).sum(axis=1) - m) / (m * (m - 1))
    p_bar, p_e = float(p_item.mean()), float((p_cat**2).sum())
    if p_e == 1.0:
        return math.nan
    return float((p_bar - p_e) / (1.0 - p_e))


def krippendorff_alpha(data: Sequence[Sequence[Any]], *, level: str = "nominal") -> float:
    """Krippendorff's alpha over ``(annotators x items)`` labels, ``None``/NaN where missing.

    Items with fewer than two labels carry no pairable information and are left out.

    Args:
        data: one row per annotator, one column per item.
        level: ``"nominal"`` (any hashable labels), or for numbers ``"ordinal"``,
            ``"interval"`` or ``"ratio"``.
    """
    if level not in LEVELS:
        raise ValidationError(f"The 'level' parameter must be one of {list(LEVELS)}; got {level!r}.")
    rows = [list(r) for r in data]
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValidationError(
            "krippendorff_alpha needs a non-empty (annotators x items) table with equal-length rows."
        )
    values = sorted({v for r in rows for v in r if not _is_missing(v)}, key=_sort_key)
    if level != "nominal" and not all(isinstance(v, int | float | np.integer | np.floating) for v in values):
        raise ValidationError(f"Level {level!r} needs numeric labels; use level='nominal' for categories.")
    index = {v: j for j, v in enumerate(values)}
    n_units = len(rows[0])
    counts = np.zeros((n_units, len(values)))
    for r in rows:
        for u, v in enumerate(r):
            if not _is_missing(v):
                counts[u, index[v]] += 1
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if len(counts) == 0:
        return math.nan
    # Coincidence matrix: each unit's ordered pairs of labels, weighted 1 / (m_u - 1).
    scaled = counts / (m - 1)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    delta = _delta(np.asarray(values, dtype=object), n_c, level)
    observed = float((coincidence * delta).sum()) / n
    expected = float((np.outer(n_c, n_c) * delta).sum()) / (n * (n - 1))
    if expected == 0:
        return math.nan
    return float(1.0 - observed / expected)


def _delta(values: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    """The squared difference function of ``level`` between every pair of values."""
    k = len(values)
    if level == "nominal":
        return (np.arange(k)[:, None] != np.arange(k)[None, :]).astype(float)
    v = values.astype(np.float64)
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        total = v[:, None] + v[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((v[:, None] - v[None, :]) / total) ** 2
        return np.where(total == 0, 0.0, d)
    # Ordinal: the mass of values between c and k, counting the end points half.
    cum = np.concatenate([[0.0], np.cumsum(n_c)])
    lo = np.minimum(np.arange(k)[:, None], np.arange(k)[None, :])
    hi = np.maximum(np.arange(k)[:, None], np.arange(k)[None, :])
    between = cum[hi + 1] - cum[lo] - (n_c[lo] + n_c[hi]) / 2.0
    return between**2


def _sort_key(v: Any) -> tuple[int, Any]:
    # Numbers before strings, each in natural order, so mixed label sets still sort.
    if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
        return (0, float(v))
    return (1, str(v))
