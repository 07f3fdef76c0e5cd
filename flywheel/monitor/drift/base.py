"""What every drift metric is: a small object that reads a comparison and returns a number.

A metric never touches raw data itself. ``compare(kind, reference, current)`` builds the one
comparison of a column (one merged sort for numeric, one count for categorical) and every metric of
that kind reads it, so ``compute_drift`` pays for the pass once however many metrics it reports.
The same metric reads an exact comparison (from arrays) or an approximate one (from profiles).

Empty input is not an error: when either side has no usable value the metric returns
``MetricValue(nan, p_value=nan)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flywheel.errors import ValidationError
from flywheel.monitor.drift.counts import (
    CategoricalComparison,
    compare_categorical,
    compare_categorical_profiles,
)
from flywheel.monitor.drift.ecdf import NumericComparison, compare_numeric

Comparison = NumericComparison | CategoricalComparison
METRIC_KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class MetricValue:
    """A metric's value, its p-value when the metric is a test, and extra details for display."""

    value: float
    p_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def undefined(cls, is_test: bool) -> MetricValue:
        return cls(math.nan, math.nan if is_test else None, {"reason": "empty input"})


def compare(kind: str, reference: Any, current: Any, **options: Any) -> Comparison:
    """The comparison of one column of ``kind`` between two samples (arrays or profiles)."""
    from_profiles = hasattr(reference, "to_bytes") and hasattr(current, "to_bytes")
    if kind == "numeric":
        if from_profiles:
            from flywheel.monitor.drift.sketched import compare_numeric_profiles

            return compare_numeric_profiles(reference, current)
        return compare_numeric(reference, current, **options)
    if kind == "categorical":
        if from_profiles:
            return compare_categorical_profiles(reference, current)
        return compare_categorical(reference, current)
    raise ValidationError(f"A drift metric compares 'numeric' or 'categorical' columns; got kind {kind!r}.")


class DriftMetric(ABC):
    """Base of the registered drift metrics.

    Subclasses set ``name``, ``kind`` (``"numeric"`` or ``"categorical"``), ``default_threshold``
    (the effect size above which ``compute_drift`` counts the column as moved; ``None`` for a metric
    reported but not thresholded by default) and ``is_test`` (the metric yields the p-value used for
    significance), and implement ``compute``.
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    default_threshold: ClassVar[float | None] = None
    is_test: ClassVar[bool] = False

    @abstractmethod
    def compute(self, comparison: Any) -> MetricValue:
        """The metric over a prepared comparison of this metric's kind."""

    def from_arrays(self, reference: Any, current: Any) -> MetricValue:
        """Exact value from two 1-D samples (NumPy, list, Arrow, pandas, polars)."""
        return self.compute(compare(self.kind, reference, current))

    def from_profiles(self, reference: Any, current: Any) -> MetricValue:
        """Approximate value from two column profiles (``NumericProfile``/``CategoricalProfile``)."""
        return self.compute(compare(self.kind, reference, current))

    def params(self) -> dict[str, Any]:
        """Constructor arguments, as given."""
        return dict(vars(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def check_int(owner: str, name: str, value: Any, lo: int, hi: int) -> int:
    """Validate an int argument: "The 'bins' parameter of PSI must be an int in [2, 1000]; got 1." """
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationError(
            f"The {name!r} parameter of {owner} must be an int in [{lo}, {hi}]; got {value!r}."
        )
    return value


def check_float(owner: str, name: str, value: Any, lo: float, hi: float) -> float:
    """Validate a float argument in the open-closed range ``(lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value <= hi:
        raise ValidationError(
            f"The {name!r} parameter of {owner} must be a float in ({lo}, {hi}]; got {value!r}."
        )
    return float(value)


def check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValidationError(
            f"The {name!r} parameter of {owner} must be one of {list(choices)}; got {value!r}."
        )
    return str(value)
