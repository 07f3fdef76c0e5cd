"""Exact numeric comparison of integer columns by counting instead of sorting.

Integer columns whose values span at most ``n + m`` integers (counts, ages, codes, ratings) are
compared from one ``bincount`` per side: the CDFs, Wasserstein-1, KS, moments and quantiles follow
exactly from the counts over the distinct values, in linear time, with no ties to handle.

>>> import numpy as np
>>> cmp = count_integers([np.array([1, 2, 2, 3])], [np.array([2, 3, 3, 4])])
>>> cmp.w1, cmp.ks, cmp.reference_quantiles(np.array([0.5])).tolist()
(1.0, 0.5, [2.0])
"""

from __future__ import annotations

import math

import numpy as np

from flywheel.monitor.drift.comparison import NumericComparison


class CountedNumericComparison(NumericComparison):
    """Both samples as counts over their distinct values (integer columns of small range)."""

    def __init__(self, x: np.ndarray, cum_ref: np.ndarray, cum_cur: np.ndarray) -> None:
        self.x = x
        self.cum_ref = cum_ref
        self.cum_cur = cum_cur
        self.n_reference = int(cum_ref[-1])
        self.n_current = int(cum_cur[-1])

    def cdf_at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.searchsorted(self.x, np.asarray(points, dtype=np.float64), side="right") - 1
        safe = np.maximum(idx, 0)
        ref = np.where(idx >= 0, self.cum_ref[safe], 0) / self.n_reference
        cur = np.where(idx >= 0, self.cum_cur[safe], 0) / self.n_current
        return ref, cur

    def reference_quantiles(self, qs: np.ndarray) -> np.ndarray:
        q = np.asarray(qs, dtype=np.float64)
        n = self.n_reference
        ranks = np.clip(np.ceil(q * n - 1e-9), 1, n)
        return self.x[np.searchsorted(self.cum_ref, ranks, side="left")].astype(np.float64)


def _grid_moments(x: np.ndarray, counts: np.ndarray, n: int) -> tuple[float, float]:
    mean = float(np.dot(x, counts)) / n
    dev = x - mean
    return mean, math.sqrt(max(0.0, float(np.dot(dev * dev, counts)) / n))


def count_integers(ref: list[np.ndarray], cur: list[np.ndarray]) -> CountedNumericComparison | None:
    """Compare two integer samples (lists of array chunks) by counting; ``None`` when their span
    is too wide for counting to pay (more than ``n + m`` values)."""
    parts = ref + cur
    lo = min(int(c.min()) for c in parts)
    hi = max(int(c.max()) for c in parts)
    span = hi - lo + 1
    if span > sum(c.shape[0] for c in parts) or span > 1 << 26 or hi >= 1 << 62:
        return None

    def count(chunks: list[np.ndarray]) -> np.ndarray:
        total = np.zeros(span, dtype=np.int64)
        for c in chunks:
            if c.dtype == np.uint64:  # bincount wants signed (intp) input
                c = c.astype(np.int64)
            if lo >= 0:
                total += np.bincount(c, minlength=hi + 1)[lo:]
            else:
                total += np.bincount(c - lo, minlength=span)
        return total

    rc, cc = count(ref), count(cur)
    present = np.flatnonzero(rc + cc)
    x = (present + lo).astype(np.float64)
    rc, cc = rc[present], cc[present]
    out = CountedNumericComparison(x, np.cumsum(rc), np.cumsum(cc))
    d = out.cum_ref / out.n_reference - out.cum_cur / out.n_current
    np.abs(d, out=d)
    out.w1 = float(np.dot(d[:-1], np.diff(x)))
    out.ks = float(d.max())
    out.reference_mean, out.reference_std = _grid_moments(x, rc, out.n_reference)
    out.current_mean, out.current_std = _grid_moments(x, cc, out.n_current)
    return out
