"""The interface every numeric drift metric reads: two samples seen through their CDFs.

Three implementations fill it: ``ecdf`` (exact, one merged sort), ``counted`` (exact, integer
columns by ``bincount``) and ``sketched`` (approximate, from two profiles' KLL sketches).
"""

from __future__ import annotations

import math

import numpy as np


class NumericComparison:
    """Two numeric samples seen through their CDFs: what the numeric drift metrics need.

    Attributes (all floats are NaN when a side is empty):
        n_reference, n_current: finite values compared on each side.
        dropped_reference, dropped_current: null, NaN or infinite values left out.
        reference_mean, reference_std, current_mean, current_std: moments (population std).
        w1: Wasserstein-1 distance in the column's units.
        ks: Kolmogorov–Smirnov statistic, ``max |F_ref - F_cur|``.
        rank_error: bound on the error of any CDF value (0 for exact, the sketches' rank error
            for profiles).
        exact: computed from the raw values rather than from sketches.
    """

    n_reference: int = 0
    n_current: int = 0
    dropped_reference: int = 0
    dropped_current: int = 0
    reference_mean: float = math.nan
    reference_std: float = math.nan
    current_mean: float = math.nan
    current_std: float = math.nan
    w1: float = math.nan
    w1_lower: float | None = None  # set from sketches: a lower bound of W1 (see ``sketched``)
    ks: float = math.nan
    rank_error: float = 0.0
    exact: bool = True

    @property
    def empty(self) -> bool:
        """True when either side has no finite value: every metric is then NaN."""
        return self.n_reference == 0 or self.n_current == 0

    def cdf_at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(F_ref(p), F_cur(p))`` with ``F(p) = P(X <= p)`` at each point."""
        raise NotImplementedError

    def reference_quantiles(self, qs: np.ndarray) -> np.ndarray:
        """Lower reference quantiles: the smallest ``x`` with ``F_ref(x) >= q``."""
        raise NotImplementedError

    def reference_iqr(self) -> float:
        """Interquartile range of the reference sample."""
        if self.empty:
            return math.nan
        q1, q3 = self.reference_quantiles(np.array([0.25, 0.75]))
        return float(q3 - q1)
