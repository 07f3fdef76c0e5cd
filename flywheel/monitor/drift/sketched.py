"""Numeric comparison from two profiles: the CDFs read off their KLL sketches.

This is what a dashboard over months uses: merge the hourly profiles of the range, then compare
with the reference profile. The two CDFs are evaluated on a grid made of both sketches' quantiles
(``grid`` ranks per side, plus every retained value while a sketch is still exact), so the same
metric code that reads an exact comparison reads this one. Every CDF value is within
``rank_error`` (the sum of both sketches' PMF rank errors, 99% confidence) of the exact one, hence so
is the KS statistic; the KS p-value is computed on ``max(0, KS - rank_error)`` so sketch noise alone
cannot look significant.

The area between two sketched CDFs is noisier than any one CDF value: in a long tail a 1% CDF error
times a wide range is a sizeable area. ``w1`` is the plain estimate; ``w1_lower`` shrinks every CDF
difference by the rank error (and is at least the exact difference of means), a lower bound of the
true W1 that ``Wasserstein`` uses from profiles, so a dashboard never alarms on sketch noise.

>>> import numpy as np
>>> from flywheel.profiles import NumericProfile
>>> rng = np.random.default_rng(0)
>>> a = NumericProfile().update(rng.normal(size=50_000))
>>> b = NumericProfile().update(rng.normal(1.0, 1.0, size=50_000))
>>> cmp = compare_numeric_profiles(a, b)
>>> round(cmp.w1, 1), cmp.exact
(1.0, False)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flywheel.monitor.drift.comparison import NumericComparison


class SketchNumericComparison(NumericComparison):
    """A ``NumericComparison`` backed by two ``NumericProfile``s."""

    def __init__(self, reference: Any, current: Any, grid: int = 512) -> None:
        self._ref = reference
        self._cur = current
        self.n_reference = reference.finite
        self.n_current = current.finite
        self.dropped_reference = reference.count - reference.finite
        self.dropped_current = current.count - current.finite
        self.reference_mean = reference.mean if reference.finite else math.nan
        self.reference_std = reference.std
        self.current_mean = current.mean if current.finite else math.nan
        self.current_std = current.std
        self.exact = reference.exact and current.exact
        self.rank_error = 0.0 if self.exact else reference.rank_error(True) + current.rank_error(True)
        if self.empty:
            self.w1 = self.ks = math.nan
            return
        x = np.unique(np.concatenate([_support(reference, grid), _support(current, grid)]))
        d = np.abs(reference.cdf(x) - current.cdf(x))
        dx = np.diff(x)
        self.w1 = float(np.dot(d[:-1], dx))
        self.ks = float(d.max())
        # |D_true| >= |D_sketch| - rank_error, so this area is a lower bound of the true W1 (at the
        # sketches' confidence); with the mean shift, which the exact means bound from below, it
        # keeps sketch noise in a long tail from passing for drift.
        lower = float(np.dot(np.maximum(d[:-1] - self.rank_error, 0.0), dx))
        self.w1_lower = max(lower, abs(self.current_mean - self.reference_mean))

    def cdf_at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = np.asarray(points, dtype=np.float64)
        return self._ref.cdf(pts), self._cur.cdf(pts)

    def reference_quantiles(self, qs: np.ndarray) -> np.ndarray:
        return self._ref.quantiles(np.asarray(qs, dtype=np.float64).ravel())


def _support(profile: Any, grid: int) -> np.ndarray:
    """Points where the profile's CDF may step: every value while exact, else ``grid`` quantiles."""
    if profile.exact:
        n = profile.finite
        ranks = np.arange(1, n + 1) / n
    else:
        ranks = np.linspace(0.0, 1.0, grid + 1)
    return np.concatenate([profile.quantiles(ranks), [profile.min, profile.max]])


def compare_numeric_profiles(reference: Any, current: Any, grid: int = 512) -> NumericComparison:
    """Compare two ``NumericProfile``s (see the module docstring for the accuracy)."""
    return SketchNumericComparison(reference, current, grid)
