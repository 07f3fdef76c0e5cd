"""New and vanished categories: what share of the current rows falls in categories the reference
never had, and which reference categories no longer appear.

A new category is often a schema or upstream change rather than drift (a new country code, a
renamed enum value); the data-quality rules' allowed categories catch it too. No threshold by
default: Jensen–Shannon already reacts to a new category with a sizeable share, and a tiny one is
reported here for debugging. From profiles, a category counts as new only if the reference sketch is
exact or the category is heavier than the reference's count error.

>>> m = NewCategories().from_arrays(["a", "b"] * 50, ["a"] * 90 + ["z"] * 10)
>>> m.value, m.details["new"], m.details["vanished"]
(0.1, ['z'], ['b'])
"""

from __future__ import annotations

from typing import Any

from flywheel.monitor.drift.base import DriftMetric, MetricValue
from flywheel.monitor.drift.counts import CategoricalComparison
from flywheel.monitor.drift.registry import register

_MAX_LISTED = 20


@register
class NewCategories(DriftMetric):
    """Share of current rows in categories unseen in the reference (details list new and vanished)."""

    name = "new_categories"
    kind = "categorical"

    def compute(self, comparison: Any) -> MetricValue:
        cmp: CategoricalComparison = comparison
        if cmp.empty:
            return MetricValue.undefined(False)
        new_idx = [
            i
            for i, (r, c) in enumerate(zip(cmp.reference, cmp.current, strict=True))
            if r == 0 and c > cmp.error_reference
        ]
        gone_idx = [
            i
            for i, (r, c) in enumerate(zip(cmp.reference, cmp.current, strict=True))
            if c == 0 and r > cmp.error_current
        ]
        new_share = float(sum(cmp.current[i] for i in new_idx)) / cmp.n_current
        gone_share = float(sum(cmp.reference[i] for i in gone_idx)) / cmp.n_reference
        new_idx.sort(key=lambda i: -cmp.current[i])
        gone_idx.sort(key=lambda i: -cmp.reference[i])
        return MetricValue(
            new_share,
            None,
            {
                "new": [cmp.labels[i] for i in new_idx[:_MAX_LISTED]],
                "n_new": len(new_idx),
                "vanished": [cmp.labels[i] for i in gone_idx[:_MAX_LISTED]],
                "n_vanished": len(gone_idx),
                "vanished_share": gone_share,
            },
        )
