"""The default alert policy: which monitoring results of a window raise an alert.

Alerts fire on what a team must act on, and only when the evidence is more than noise:

- **performance** (measured, once labels arrive) and **estimated performance** (CBPE): a
  metric worse than the reference by more than ``performance_drop`` (relative), *and* its
  confidence interval excludes the reference value, so a small window's noise does not
  alarm. ``critical`` when the whole interval lies beyond the threshold;
- **output drift** (predicted classes, scores): any flagged shift;
- **data quality**: a rule violated at least ``min_quality_violations`` times;
- **feature drift on the features the model relies on**: the top ``important_top_k`` by
  importance (and any with at least ``important_min_share`` of it), when the shift is
  *large*: flagged, with an effect size at least ``large_drift_factor`` times the flag's
  threshold.

All other drift is returned as ``info``: shown for debugging, never alerted on — models
tolerate some drift, and alerts nobody acts on teach people to ignore alerts.

The policy is pure: :func:`evaluate` turns one window's results into a :class:`Decision`;
:func:`reconcile` turns the open alerts and a new decision into what to open and what to
close, so each monitor has at most one open alert until it clears.

>>> from flywheel.monitor.performance import MetricValue
>>> results = WindowResults(
...     window="2024-05-01",
...     performance={"accuracy": MetricValue(0.71, 0.69, 0.73, 2000)},
...     reference_performance={"accuracy": 0.83},
... )
>>> [(a.monitor, a.severity) for a in evaluate(results).alerts]
[('performance:accuracy', 'critical')]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flywheel.monitor.performance import MetricValue

Monitor = Literal[
    "performance",
    "estimated_performance",
    "output_drift",
    "data_quality",
    "important_feature_drift",
    "feature_drift",
]
Severity = Literal["info", "warning", "critical"]
LOWER_IS_BETTER = frozenset({"mae", "rmse", "log_loss", "ece"})


class AlertPolicy(BaseModel):
    """Thresholds and switches of the default alert policy; every field has a default."""

    model_config = ConfigDict(extra="forbid")

    alert_on: set[Monitor] = Field(
        default={
            "performance",
            "estimated_performance",
            "output_drift",
            "data_quality",
            "important_feature_drift",
        },
        description="Monitors that raise alerts. 'feature_drift' (large drift on any feature) is off by default.",
    )
    performance_metrics: list[str] = Field(
        default=["accuracy", "f1", "f1_macro", "roc_auc", "roc_auc_macro", "mae", "rmse", "r2"],
        description="Metrics watched for drops, when present in a window's results.",
    )
    performance_drop: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Relative drop from the reference that alerts: 0.05 alerts on accuracy 0.83 -> below 0.7885 "
        "(for error metrics such as MAE, a 5% rise).",
    )
    performance_limits: dict[str, float] = Field(
        default_factory=dict,
        description="Absolute limits per metric that replace the relative rule, e.g. {'accuracy': 0.8}.",
    )
    require_significance: bool = Field(
        default=True,
        description="Alert on performance only when the confidence interval excludes the reference value "
        "(for an absolute limit: the limit).",
    )
    min_rows: int = Field(default=100, ge=1, description="Windows with fewer (labelled) rows are not judged.")
    important_top_k: int = Field(
        default=3, ge=0, description="How many most important features count as important."
    )
    important_min_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Features with at least this share of total importance also count.",
    )
    large_drift_factor: float = Field(
        default=2.0,
        ge=1,
        description="Drift is large when its effect size is at least this times the flag threshold.",
    )
    min_quality_violations: int = Field(
        default=1, ge=1, description="Violations of one rule that raise an alert."
    )


class DriftResult(BaseModel):
    """One column's drift in one window: effect size, the threshold it was flagged against."""

    model_config = ConfigDict(extra="allow")

    column: str
    metric: str
    value: float
    threshold: float
    flagged: bool
    p_value: float | None = None

    @classmethod
    def from_column_drift(cls, drift: Any) -> DriftResult:
        """From a ``flywheel.monitor.drift`` ``ColumnDrift`` (or anything with ``name``,
        ``metrics``, ``thresholds``, ``flagged`` and ``p_adjusted``): the metric reported is
        the one furthest past (or closest to) its threshold, relative to that threshold."""
        ratios = {
            m: drift.metrics[m] / t
            for m, t in drift.thresholds.items()
            if t and m in drift.metrics and drift.metrics[m] is not None and math.isfinite(drift.metrics[m])
        }
        if not ratios:
            return cls(
                column=drift.name, metric="none", value=0.0, threshold=1.0, flagged=bool(drift.flagged)
            )
        m = max(ratios, key=lambda k: ratios[k])
        p = getattr(drift, "p_adjusted", None)
        return cls(
            column=drift.name,
            metric=m,
            value=float(drift.metrics[m]),
            threshold=float(drift.thresholds[m]),
            flagged=bool(drift.flagged),
            p_value=None if p is None or not math.isfinite(p) else float(p),
        )


class WindowResults(BaseModel):
    """Everything monitored in one window (and one slice, when ``slice`` is set)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    window: str
    slice: str | None = None
    feature_drift: list[DriftResult] = Field(default_factory=list)
    output_drift: list[DriftResult] = Field(default_factory=list)
    performance: dict[str, MetricValue] = Field(default_factory=dict)
    estimated_performance: dict[str, MetricValue] = Field(default_factory=dict)
    reference_performance: dict[str, float | None] = Field(default_factory=dict)
    quality_violations: dict[str, int] = Field(default_factory=dict)
    feature_importance: dict[str, float] = Field(default_factory=dict)


class Alert(BaseModel):
    """An alert (or, with severity ``info``, a finding shown but not alerted on)."""

    model_config = ConfigDict(frozen=True)

    monitor: str
    window: str
    severity: Severity
    value: float
    threshold: float
    message: str
    slice: str | None = None


class Decision(BaseModel):
    """What :func:`evaluate` found: alerts, informational findings, and the monitors checked."""

    alerts: list[Alert] = Field(default_factory=list)
    info: list[Alert] = Field(default_factory=list)
    checked: set[str] = Field(default_factory=set)


def important_features(importance: dict[str, float], top_k: int, min_share: float) -> set[str]:
    """Features in the ``top_k`` by absolute importance, plus those with ``min_share`` of the total."""
    total = sum(abs(v) for v in importance.values())
    if total <= 0:
        return set()
    ranked = sorted(importance, key=lambda c: (-abs(importance[c]), c))
    out = {c for c in ranked[:top_k] if importance[c] != 0}
    return out | {c for c in ranked if abs(importance[c]) / total >= min_share > 0}


def _key(monitor: str, name: str, slice_: str | None) -> str:
    return f"{monitor}:{name}" + (f"@{slice_}" if slice_ else "")


def _performance(
    kind: str, metrics: dict[str, MetricValue], results: WindowResults, policy: AlertPolicy, out: Decision
) -> None:
    label = "estimated " if kind == "estimated" else ""
    for name in policy.performance_metrics:
        mv, ref = metrics.get(name), results.reference_performance.get(name)
        if mv is None or mv.value is None or mv.n < policy.min_rows:
            continue
        key = _key(kind, name, results.slice)
        higher = name not in LOWER_IS_BETTER
        if name in policy.performance_limits:
            limit = policy.performance_limits[name]
        elif ref is None:
            continue
        else:
            limit = (
                ref - policy.performance_drop * abs(ref)
                if higher
                else ref + policy.performance_drop * abs(ref)
            )
        out.checked.add(key)
        worse = (lambda a, b: a < b) if higher else (lambda a, b: a > b)
        if not worse(mv.value, limit):
            continue
        near = mv.upper if higher else mv.lower  # the interval's end closest to healthy
        # Noise guard: the interval must exclude the reference value (or, for an absolute
        # limit, the limit itself).
        baseline = limit if name in policy.performance_limits else ref
        if (
            policy.require_significance
            and near is not None
            and baseline is not None
            and not worse(near, baseline)
        ):
            continue
        critical = near is not None and worse(near, limit)
        ci = (
            f" (interval {mv.lower:.4g}-{mv.upper:.4g})"
            if mv.lower is not None and mv.upper is not None
            else ""
        )
        base = f" from {ref:.4g} on the reference" if ref is not None else ""
        verb = "fell" if higher else "rose"
        msg = f"{label}{name} {verb} to {mv.value:.4g}{ci}{base}; the limit is {limit:.4g}"
        out.alerts.append(
            Alert(
                monitor=key,
                window=results.window,
                severity="critical" if critical else "warning",
                value=mv.value,
                threshold=limit,
                message=msg + (f" in slice {results.slice}" if results.slice else "") + ".",
                slice=results.slice,
            )
        )


def _drift(results: WindowResults, policy: AlertPolicy, out: Decision) -> None:
    important = important_features(
        results.feature_importance, policy.important_top_k, policy.important_min_share
    )
    for d in results.output_drift:
        key = _key("output_drift", d.column, results.slice)
        large = d.value >= policy.large_drift_factor * d.threshold
        finding = _drift_alert(key, d, results, "warning" if not large else "critical", "output")
        if "output_drift" in policy.alert_on:
            out.checked.add(key)
            if d.flagged:
                out.alerts.append(finding)
        elif d.flagged:
            out.info.append(finding.model_copy(update={"severity": "info"}))
    for d in results.feature_drift:
        key = _key("feature_drift", d.column, results.slice)
        large = d.flagged and d.value >= policy.large_drift_factor * d.threshold
        alerting = ("important_feature_drift" in policy.alert_on and d.column in important) or (
            "feature_drift" in policy.alert_on
        )
        if alerting:
            out.checked.add(key)
        if large and alerting:
            why = "an important feature" if d.column in important else "a feature"
            out.alerts.append(_drift_alert(key, d, results, "warning", why))
        elif d.flagged:
            out.info.append(_drift_alert(key, d, results, "info", "a feature"))


def _drift_alert(key: str, d: DriftResult, results: WindowResults, severity: Severity, what: str) -> Alert:
    where = f" in slice {results.slice}" if results.slice else ""
    msg = f"Drift on {what} {d.column!r}{where}: {d.metric} {d.value:.4g} against a threshold of {d.threshold:.4g}."
    return Alert(
        monitor=key,
        window=results.window,
        severity=severity,
        value=d.value,
        threshold=d.threshold,
        message=msg,
        slice=results.slice,
    )


def evaluate(results: WindowResults, policy: AlertPolicy | None = None) -> Decision:
    """Decide which alerts one window's results raise under ``policy`` (the defaults if None)."""
    policy = policy or AlertPolicy()
    out = Decision()
    if "performance" in policy.alert_on:
        _performance("performance", results.performance, results, policy, out)
    if "estimated_performance" in policy.alert_on:
        _performance("estimated", results.estimated_performance, results, policy, out)
    _drift(results, policy, out)
    if "data_quality" in policy.alert_on:
        for rule, count in results.quality_violations.items():
            key = _key("quality", rule, results.slice)
            out.checked.add(key)
            if count >= policy.min_quality_violations:
                where = f" in slice {results.slice}" if results.slice else ""
                out.alerts.append(
                    Alert(
                        monitor=key,
                        window=results.window,
                        severity="warning",
                        value=float(count),
                        threshold=float(policy.min_quality_violations),
                        message=f"Data-quality rule {rule!r} was violated {count} times{where}.",
                        slice=results.slice,
                    )
                )
    return out


def reconcile(open_alerts: Iterable[Alert], new_results: Decision) -> tuple[list[Alert], list[Alert]]:
    """``(to_open, to_close)``: one open alert per monitor, closed once its monitor clears.

    A new alert opens only if its monitor has no open alert; an open alert closes when its
    monitor was checked in ``new_results`` and raised nothing. A monitor that was not
    checked (no labels yet, too few rows) leaves its open alert alone.

    >>> a = Alert(monitor="quality:nulls", window="w1", severity="warning", value=3, threshold=1, message="")
    >>> reconcile([a], Decision(checked={"quality:nulls"}))
    ([], [Alert(monitor='quality:nulls', window='w1', severity='warning', value=3.0, threshold=1.0, message='', slice=None)])
    """
    open_list = list(open_alerts)
    open_keys = {a.monitor for a in open_list}
    to_open: list[Alert] = []
    seen: set[str] = set()
    for a in new_results.alerts:
        if a.monitor not in open_keys and a.monitor not in seen:
            to_open.append(a)
            seen.add(a.monitor)
    firing = {a.monitor for a in new_results.alerts}
    to_close = [a for a in open_list if a.monitor in new_results.checked and a.monitor not in firing]
    return to_open, to_close
