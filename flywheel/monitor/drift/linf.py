"""L-infinity distance between category shares: the largest change of any one category's share.

Reads directly as "the biggest category moved by this many points": 0.04 means some category's
share changed by 4 percentage points. Default threshold 0.1 (10 points); on the US census control
set the largest change (ancestry, 2018 against 2015) is 0.043 and is not flagged, while two swapped
top categories of a Zipf-like column move about 0.17 and are.

>>> m = LInfinity().from_arrays(["a"] * 60 + ["b"] * 40, ["a"] * 50 + ["b"] * 30 + ["c"] * 20)
>>> round(m.value, 2), m.details["category"]
(0.2, 'c')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flywheel.monitor.drift.base import DriftMetric, MetricValue
from flywheel.monitor.drift.counts import CategoricalComparison
from flywheel.monitor.drift.registry import register


@register
class LInfinity(DriftMetric):
    """Largest absolute change of a category's share."""

    name = "linf"
    kind = "categorical"
    default_threshold = 0.1

    def compute(self, comparison: Any) -> MetricValue:
        cmp: CategoricalComparison = comparison
        if cmp.empty:
            return MetricValue.undefined(False)
        labels, p, q = cmp.proportions()
        diff = np.abs(p - q)
        i = int(diff.argmax())
        return MetricValue(
            float(diff[i]),
            None,
            {"category": labels[i], "reference_share": float(p[i]), "current_share": float(q[i])},
        )
