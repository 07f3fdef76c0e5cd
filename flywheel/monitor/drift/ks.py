"""Two-sample Kolmogorov–Smirnov statistic and its p-value.

``KS = max |F_ref(x) - F_cur(x)|``; the p-value is the asymptotic Kolmogorov tail with Stephens'
small-sample correction (see ``_tails``). With hundreds of thousands of rows the p-value flags
shifts too small to matter, so ``compute_drift`` uses it only together with an effect size: it is
the significance half of the flagging rule, not a threshold of its own.

From profiles the statistic is within the sketches' rank error of the exact one and its p-value is
computed on ``max(0, KS - rank_error)``, so sketch noise never looks significant. That discount
hides shifts smaller than the rank error (a 0.05 sigma shift moves the CDF by 0.02, the rank error of
two ``k=200`` sketches is about 0.026), so from profiles the test also runs a Welch z-test on the
means, which the profiles hold exactly, and reports ``min(1, 2 min(p_ks, p_mean))`` (Bonferroni
over the two tests).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> m = KolmogorovSmirnov().from_arrays(rng.normal(size=2000), rng.normal(0.3, 1, 2000))
>>> round(m.value, 2), m.p_value < 1e-6
(0.13, True)
"""

from __future__ import annotations

import math
from typing import Any

from flywheel.monitor.drift._tails import ks_two_sample_pvalue, normal_sf
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
        if not cmp.rank_error:
            return MetricValue(d, p)
        se = math.sqrt(cmp.reference_std**2 / cmp.n_reference + cmp.current_std**2 / cmp.n_current)
        diff = abs(cmp.current_mean - cmp.reference_mean)
        p_mean = 2.0 * normal_sf(diff / se) if se > 0 else (1.0 if diff == 0 else 0.0)
        return MetricValue(
            d, min(1.0, 2.0 * min(p, p_mean)), {"rank_error": cmp.rank_error, "p_mean": p_mean}
        )
