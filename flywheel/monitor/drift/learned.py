"""Thresholds learned from reference windows, for a stated false-alarm rate.

Fixed thresholds suit most columns; a column that is naturally restless (a seasonal feature, a
high-cardinality category) is better judged against its own history. Given ``K`` windows of
reference data (for instance the daily slices of the training period), each window is compared
with the pool of the others (or with ``reference`` when given), giving ``K`` values of every
metric under "no drift worth an alert". The threshold for a false-alarm rate ``r`` is:

* the empirical ``1 - r`` quantile of those values when ``K >= 1 / r`` (enough windows to see it);
* otherwise ``mean + z_{1-r} * std`` of a normal fitted to them, and never below the largest value
  seen, since with few windows the tail can only be extrapolated.

Metric values shrink with window size (sampling noise), so learn from windows of the size that
will be monitored. The result plugs into ``compute_drift(column_thresholds=...)``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> days = [{"x": rng.normal(size=2000)} for _ in range(20)]
>>> learned = learn_thresholds(days, {"x": "numeric"}, false_alarm_rate=0.05)
>>> learned.method, 0.02 < learned.thresholds["x"]["wasserstein"] < 0.2
('empirical', True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.monitor.drift.compute import compute_drift, compute_drift_from_profiles
from flywheel.profiles.columns import column_names, get_column, vectors


@dataclass(frozen=True)
class LearnedThresholds:
    """Per-feature effect thresholds learned from reference windows."""

    thresholds: dict[str, dict[str, float]]
    false_alarm_rate: float
    n_windows: int
    method: str  # "empirical" or "normal"
    observed: dict[str, dict[str, list[float]]]

    @property
    def column_thresholds(self) -> dict[str, dict[str, float]]:
        """In the shape ``compute_drift(column_thresholds=...)`` takes."""
        return self.thresholds


def _as_array(column: Any) -> np.ndarray:
    mod = type(column).__module__.split(".", 1)[0]
    if mod == "pyarrow":
        return np.asarray(column.to_numpy(zero_copy_only=False))
    if mod in ("pandas", "polars"):
        return np.asarray(column.to_numpy())
    if isinstance(column, np.ndarray):
        return column
    out = np.empty(len(column), dtype=object)
    out[:] = list(column)
    return out


def _pool(tables: Sequence[Any], kinds: Mapping[str, str]) -> dict[str, np.ndarray]:
    return {col: np.concatenate([_as_array(get_column(t, col)) for t in tables]) for col in kinds}


def _threshold(values: list[float], rate: float) -> tuple[float, str]:
    vals = np.array([v for v in values if not math.isnan(v)], dtype=np.float64)
    if vals.size == 0:
        return math.nan, "empirical"
    if vals.size >= math.ceil(1.0 / rate):
        return float(np.quantile(vals, 1.0 - rate, method="higher")), "empirical"
    z = NormalDist().inv_cdf(1.0 - rate)
    sd = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    return max(float(vals.mean()) + z * sd, float(vals.max())), "normal"


def learn_thresholds(
    windows: Sequence[Any],
    kinds: Mapping[str, str] | None = None,
    *,
    false_alarm_rate: float = 0.01,
    reference: Any = None,
    projections: Mapping[str, Any] | None = None,
) -> LearnedThresholds:
    """Learn one threshold per feature and thresholded metric from ``windows``.

    ``windows`` are tables (Arrow, pandas, polars, dict of columns) or ``DatasetProfile``s; with
    profiles ``kinds`` defaults to the profiles' own. Needs at least 3 windows.
    """
    if not 0.0 < false_alarm_rate < 0.5:
        raise ValidationError(
            f"The 'false_alarm_rate' parameter must be a float in (0, 0.5); got {false_alarm_rate!r}."
        )
    if len(windows) < 3:
        raise ValidationError(f"learn_thresholds needs at least 3 reference windows; got {len(windows)}.")
    profiles = all(hasattr(w, "merge") and hasattr(w, "kinds") for w in windows)
    if kinds is None:
        if not profiles:
            raise ValidationError("Pass kinds={column: kind} when the windows are tables.")
        kinds = windows[0].kinds
    kinds = dict(kinds)
    observed: dict[str, dict[str, list[float]]] = {}
    if not profiles:
        missing = [c for c in kinds if c not in column_names(windows[0])]
        if missing:
            raise ValidationError(f"Columns {missing} are missing from the first window.")
        projections = dict(projections or {})
        for col, kind in kinds.items():  # one fixed projection for every comparison
            if kind in ("embedding", "image") and col not in projections:
                from flywheel.monitor.drift.projection import fit_projection

                projections[col] = fit_projection(vectors(_pool(windows, {col: kind})[col].tolist())[0])
    for i, window in enumerate(windows):
        others = [w for j, w in enumerate(windows) if j != i]
        if profiles:
            from flywheel.profiles.dataset import DatasetProfile

            base = reference if reference is not None else DatasetProfile.merge_all(others)
            report = compute_drift_from_profiles(base, window, kinds, require_significance=False)
        else:
            base = reference if reference is not None else _pool(others, kinds)
            report = compute_drift(base, window, kinds, require_significance=False, projections=projections)
        for c in report:
            for metric in c.thresholds:
                observed.setdefault(c.name, {}).setdefault(metric, []).append(c.metrics[metric])
    thresholds: dict[str, dict[str, float]] = {}
    methods = set()
    for name, per_metric in observed.items():
        for metric, values in per_metric.items():
            thr, method = _threshold(values, false_alarm_rate)
            methods.add(method)
            thresholds.setdefault(name, {})[metric] = thr
    return LearnedThresholds(
        thresholds=thresholds,
        false_alarm_rate=false_alarm_rate,
        n_windows=len(windows),
        method="normal" if "normal" in methods else "empirical",
        observed=observed,
    )
