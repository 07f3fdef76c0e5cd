"""Two-sample Kolmogorov–Smirnov statistic and its p-value.

``KS = max |F_ref(x) - F_cur(x)|``; the p-value is the asymptotic Kolmogorov tail with Stephens'
small-sample correction (see ``_tails``). With hundreds of thousands of rows the p-value flags
shifts too small to matter, so ``compute_drift`` uses it only together with an effect size: it is
the significance half of the flagging rule, not a threshold of its own.

From profiles the statistic is within the sketches' rank error of the exact one, and the p-value is
computed on ``max(0, KS - rank_error)``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> m = KolmogorovSmirnov().from_arrays(rng.normal(size=2000), rng.normal(0.3, 1, 2000))
>>> round(m.value, 2), m.p_value < 1e-6
(0.13, True)
"""

from __future__ import annotations

from typing import Any

from flywheel.monitor.drift._tails import ks_two_sample_pvalue
from flywheel.monitor.drift.base import DriftMetric, MetricValue
from flywheel.monitor.drift.ecdf import NumericComparison
from flywheel.monitor.drift.registry import register


@register
class KolmogorovSmirnov(DriftMetric):
    """Two-sample KS statistic with its asymptotic p-value."""

    name = "ks"
    kind = "numeric"
    is_test = True

    def compute(self, comparison: Any) -> MetricValue:
        cmp: NumericComparison = comparison
        if cmp.empty:
            return MetricValue.undefined(True)
        d = cmp.ks
        p = ks_two_sample_pvalue(max(0.0, d - cmp.rank_error), cmp.n_reference, cmp.n_current)
        return MetricValue(d, p, {"rank_error": cmp.rank_error} if cmp.rank_error else {})
