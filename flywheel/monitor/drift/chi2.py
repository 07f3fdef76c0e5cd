"""Chi-squared test of homogeneity between the category counts of two samples.

The 2 x K contingency table (reference and current counts over the K categories seen on either
side) against the counts expected if both came from one distribution:
``X2 = sum (observed - expected)^2 / expected`` with K - 1 degrees of freedom. A category new in the
current sample is fine here (its expected count comes from the pooled share). Like KS, its p-value
is the significance half of ``compute_drift``'s rule; with large samples it alone flags harmless
moves (on the census control set every year has p < 1e-30 for ancestry).

>>> m = ChiSquare().from_arrays(["a"] * 50 + ["b"] * 50, ["a"] * 70 + ["b"] * 30)
>>> round(m.value, 2), round(m.p_value, 4)
(8.33, 0.0039)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flywheel.monitor.drift._tails import chi2_sf
from flywheel.monitor.drift.base import DriftMetric, MetricValue
from flywheel.monitor.drift.counts import CategoricalComparison
from flywheel.monitor.drift.registry import register


@register
class ChiSquare(DriftMetric):
    """Chi-squared homogeneity test; ``value`` is the statistic, with ``p_value``."""

    name = "chi2"
    kind = "categorical"
    is_test = True

    def compute(self, comparison: Any) -> MetricValue:
        cmp: CategoricalComparison = comparison
        if cmp.empty:
            return MetricValue.undefined(True)
        _, r, c = cmp.buckets()
        keep = (r + c) > 0
        r, c = r[keep], c[keep]
        n_r, n_c = float(r.sum()), float(c.sum())
        total = n_r + n_c
        pooled = (r + c) / total
        exp_r, exp_c = pooled * n_r, pooled * n_c
        stat = float(np.sum((r - exp_r) ** 2 / exp_r) + np.sum((c - exp_c) ** 2 / exp_c))
        dof = int(r.shape[0]) - 1
        return MetricValue(stat, chi2_sf(stat, dof), {"dof": dof})
