"""The default alert policy and alert reconciliation."""

from __future__ import annotations

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.monitor.performance import MetricValue
from flywheel.monitor.policy import (
    Alert,
    AlertPolicy,
    Decision,
    DriftResult,
    WindowResults,
    evaluate,
    important_features,
    reconcile,
)

REF = {"accuracy": 0.83, "mae": 2.0}


def _window(**kw: object) -> WindowResults:
    return WindowResults(window="w", reference_performance=REF, **kw)  # type: ignore[arg-type]


def _drift(column: str, value: float, flagged: bool, threshold: float = 0.1) -> DriftResult:
    return DriftResult(column=column, metric="wasserstein", value=value, threshold=threshold, flagged=flagged)


def test_a_clear_accuracy_drop_alerts_critical() -> None:
    d = evaluate(_window(performance={"accuracy": MetricValue(0.70, 0.68, 0.72, 3000)}))
    [a] = d.alerts
    assert (a.monitor, a.severity, a.value) == ("performance:accuracy", "critical", 0.70)
    assert a.threshold == pytest.approx(0.83 * 0.95)
    assert "fell to 0.7" in a.message and "0.83" in a.message


def test_a_drop_within_noise_does_not_alert() -> None:
    # Point value is past the limit, but the interval still holds the reference value.
    d = evaluate(_window(performance={"accuracy": MetricValue(0.78, 0.70, 0.86, 150)}))
    assert d.alerts == []
    assert "performance:accuracy" in d.checked
    loud = evaluate(
        _window(performance={"accuracy": MetricValue(0.78, 0.70, 0.86, 150)}),
        AlertPolicy(require_significance=False),
    )
    assert [a.severity for a in loud.alerts] == ["warning"]


def test_a_significant_drop_short_of_the_threshold_does_not_alert() -> None:
    d = evaluate(_window(performance={"accuracy": MetricValue(0.81, 0.805, 0.815, 50_000)}))
    assert d.alerts == []


def test_a_drop_whose_interval_straddles_the_limit_is_a_warning() -> None:
    d = evaluate(_window(performance={"accuracy": MetricValue(0.78, 0.76, 0.80, 2000)}))
    assert [a.severity for a in d.alerts] == ["warning"]


def test_error_metrics_alert_when_they_rise() -> None:
    d = evaluate(_window(performance={"mae": MetricValue(2.5, 2.3, 2.7, 1000)}))
    assert [a.monitor for a in d.alerts] == ["performance:mae"]
    assert "rose to 2.5" in d.alerts[0].message
    assert evaluate(_window(performance={"mae": MetricValue(1.5, 1.3, 1.7, 1000)})).alerts == []


def test_estimated_performance_alerts_under_its_own_key() -> None:
    d = evaluate(_window(estimated_performance={"accuracy": MetricValue(0.70, 0.69, 0.71, 5000)}))
    assert [a.monitor for a in d.alerts] == ["estimated:accuracy"]
    assert d.alerts[0].message.startswith("estimated accuracy")


def test_small_windows_and_missing_values_are_not_judged() -> None:
    d = evaluate(
        _window(
            performance={
                "accuracy": MetricValue(0.1, 0.0, 0.2, 20),
                "f1": MetricValue(None, None, None, 0, "empty window"),
            }
        )
    )
    assert d.alerts == [] and d.checked == set()


def test_absolute_limits_replace_the_relative_rule() -> None:
    pol = AlertPolicy(performance_limits={"accuracy": 0.9})
    d = evaluate(_window(performance={"accuracy": MetricValue(0.85, 0.84, 0.86, 9000)}), pol)
    assert [a.threshold for a in d.alerts] == [0.9]


def test_output_drift_alerts_when_flagged() -> None:
    d = evaluate(_window(output_drift=[_drift("prediction", 0.15, True), _drift("score", 0.05, False)]))
    assert [(a.monitor, a.severity) for a in d.alerts] == [("output_drift:prediction", "warning")]
    assert d.checked >= {"output_drift:prediction", "output_drift:score"}
    big = evaluate(_window(output_drift=[_drift("score", 0.5, True)]))
    assert big.alerts[0].severity == "critical"


def test_only_large_drift_on_important_features_alerts_the_rest_is_info() -> None:
    importance = {"age": 0.5, "income": 0.3, "zip": 0.1, "colour": 0.05, "noise": 0.05}
    d = evaluate(
        _window(
            feature_importance=importance,
            feature_drift=[
                _drift("age", 0.25, True),  # important and large: alert
                _drift("income", 0.15, True),  # important, flagged, not large: info
                _drift("colour", 0.9, True),  # large but unimportant: info
                _drift("zip", 0.05, False),  # nothing
            ],
        )
    )
    assert [a.monitor for a in d.alerts] == ["feature_drift:age"]
    assert sorted(a.monitor for a in d.info) == ["feature_drift:colour", "feature_drift:income"]
    assert all(a.severity == "info" for a in d.info)
    assert "feature_drift:colour" not in d.checked and "feature_drift:age" in d.checked


def test_feature_drift_on_any_feature_can_be_switched_on() -> None:
    pol = AlertPolicy(alert_on={"feature_drift"})
    d = evaluate(_window(feature_drift=[_drift("colour", 0.9, True)]), pol)
    assert [a.monitor for a in d.alerts] == ["feature_drift:colour"]


def test_important_features_by_rank_and_by_share() -> None:
    imp = {"a": 10.0, "b": 5.0, "c": -4.0, "d": 1.0}
    assert important_features(imp, top_k=2, min_share=0.5) == {"a", "b"}
    assert important_features(imp, top_k=0, min_share=0.2) == {"a", "b", "c"}
    assert important_features({}, top_k=3, min_share=0.2) == set()


def test_quality_violations_alert_per_rule_and_slices_get_their_own_keys() -> None:
    d = evaluate(
        WindowResults(window="w", slice="country=DE", quality_violations={"age:range": 3, "age:nulls": 0})
    )
    assert [a.monitor for a in d.alerts] == ["quality:age:range@country=DE"]
    assert "in slice country=DE" in d.alerts[0].message
    assert d.checked == {"quality:age:range@country=DE", "quality:age:nulls@country=DE"}


def test_policy_rejects_unknown_fields_and_bad_values() -> None:
    with pytest.raises(pydantic.ValidationError):
        AlertPolicy(performance_drop=1.5)
    with pytest.raises(pydantic.ValidationError):
        AlertPolicy(alert_on={"everything"})  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        AlertPolicy(thresholds=3)  # type: ignore[call-arg]


def _alert(monitor: str, window: str = "w1") -> Alert:
    return Alert(monitor=monitor, window=window, severity="warning", value=1.0, threshold=0.5, message="m")


def test_reconcile_keeps_one_open_alert_per_monitor() -> None:
    open_ = [_alert("quality:a")]
    new = Decision(
        alerts=[_alert("quality:a", "w2"), _alert("quality:b", "w2")], checked={"quality:a", "quality:b"}
    )
    to_open, to_close = reconcile(open_, new)
    assert [a.monitor for a in to_open] == ["quality:b"]
    assert to_close == []


def test_reconcile_closes_cleared_monitors_but_not_unchecked_ones() -> None:
    open_ = [_alert("performance:accuracy"), _alert("quality:a")]
    new = Decision(alerts=[], checked={"quality:a"})  # no labels yet: accuracy unchecked
    to_open, to_close = reconcile(open_, new)
    assert to_open == [] and [a.monitor for a in to_close] == ["quality:a"]


monitors = st.sampled_from(["m1", "m2", "m3", "m4"])


@given(
    open_keys=st.sets(monitors),
    firing=st.sets(monitors),
    checked_extra=st.sets(monitors),
)
def test_reconcile_leaves_exactly_the_firing_and_unchecked_monitors_open(
    open_keys: set[str], firing: set[str], checked_extra: set[str]
) -> None:
    open_ = [_alert(k) for k in sorted(open_keys)]
    new = Decision(alerts=[_alert(k, "w2") for k in sorted(firing)] * 2, checked=firing | checked_extra)
    to_open, to_close = reconcile(open_, new)
    after = (open_keys - {a.monitor for a in to_close}) | {a.monitor for a in to_open}
    assert after == firing | (open_keys - new.checked)
    assert len(to_open) == len({a.monitor for a in to_open})  # never two alerts for one monitor
    assert not {a.monitor for a in to_open} & open_keys


def test_drift_result_from_a_column_drift_picks_the_metric_nearest_its_threshold() -> None:
    from types import SimpleNamespace

    col = SimpleNamespace(
        name="age",
        metrics={"wasserstein": 0.07, "psi": 0.12, "ks": 0.3},
        thresholds={"wasserstein": 0.035, "psi": 0.1},
        flagged=True,
        p_adjusted=1e-9,
    )
    d = DriftResult.from_column_drift(col)
    assert (d.column, d.metric, d.value, d.threshold, d.flagged) == ("age", "wasserstein", 0.07, 0.035, True)
    assert d.p_value == 1e-9
    assert evaluate(_window(feature_importance={"age": 1.0}, feature_drift=[d])).alerts[0].monitor == (
        "feature_drift:age"
    )
