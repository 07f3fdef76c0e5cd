"""The gate refuses a candidate that hides a slice regression behind a better average, and says where."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import ValidationError
from flywheel.evaluate import EvalSet, GatePolicy, InvarianceTest, build_report, gate
from tests.evaluate.helpers import SPEC, Lookup, model_with_accuracy, region_data


def slice_regression_report(n_boot: int = 300):
    frame, y = region_data()
    champion = model_with_accuracy(y, frame, {"north": 0.80, "south": 0.90}, seed=1)
    candidate = model_with_accuracy(y, frame, {"north": 0.92, "south": 0.80}, seed=2)  # 0.896 vs 0.82 overall
    labels = np.where(y == 1, "yes", "no")
    report = build_report(
        SPEC,
        candidate,
        {"holdout": EvalSet(frame, labels)},
        champion=champion,
        n_boot=n_boot,
        seed=0,
        labels={"candidate": "v2", "champion": "v1"},
    )
    return report


def test_candidate_better_on_average_but_worse_on_a_slice_is_refused_naming_the_slice() -> None:
    report = slice_regression_report()
    overall = report.eval_set("holdout").overall
    assert overall.deltas["champion"]["accuracy"].value == pytest.approx(0.896 - 0.82)
    result = gate(report, GatePolicy(max_regression=0.05))
    assert not result.passed
    assert len(result.reasons) == 1
    reason = result.reasons[0]
    assert "slice 'region=south' of eval set 'holdout'" in reason
    assert (
        "accuracy worse by 0.1000" in reason
        and "candidate 0.8000 vs champion 0.9000" in reason
        and "200 rows" in reason
    )
    failed = [c for c in result.checks if not c.passed]
    assert failed[0].check == "max_regression" and failed[0].value == pytest.approx(-0.10)


def test_same_candidate_passes_when_the_policy_allows_that_loss() -> None:
    assert gate(slice_regression_report(), GatePolicy(max_regression=0.11)).passed


def test_small_slices_are_not_judged() -> None:
    result = gate(slice_regression_report(), GatePolicy(max_regression=0.05, min_slice_size=201))
    assert result.passed
    skipped = [c for c in result.checks if c.subject.startswith("slice 'region=south'")]
    assert "not judged" in skipped[0].detail


def test_significant_only_forgives_a_drop_within_noise_but_not_a_real_one() -> None:
    frame, y = region_data(n_north=800, n_south=40)
    labels = np.where(y == 1, "yes", "no")
    champion = model_with_accuracy(y, frame, {"north": 0.80, "south": 0.90}, seed=1)
    noisy = model_with_accuracy(y, frame, {"north": 0.90, "south": 0.85}, seed=2)  # south: 2 rows of 40
    report = build_report(SPEC, noisy, {"holdout": EvalSet(frame, labels)}, champion=champion, n_boot=300)
    assert not gate(report, GatePolicy(max_regression=0.01)).passed
    assert gate(report, GatePolicy(max_regression=0.01, significant_only=True)).passed
    strong = slice_regression_report()
    assert not gate(strong, GatePolicy(max_regression=0.01, significant_only=True)).passed


def test_min_improvement_refuses_a_candidate_that_does_not_gain_enough() -> None:
    result = gate(slice_regression_report(), GatePolicy(max_regression=0.5, min_improvement=0.1))
    assert not result.passed
    assert result.reasons[0].startswith("eval set 'holdout': accuracy gain over the champion 0.0760")


def test_required_eval_set_and_expectations() -> None:
    frame, y = region_data()
    labels = np.where(y == 1, "yes", "no")
    expectation = InvarianceTest(name="region-blind", feature="region", values=["north", "south"])
    report = build_report(
        SPEC, _RegionModel(), {"holdout": EvalSet(frame, labels)}, expectations=[expectation], n_boot=50
    )
    result = gate(report, GatePolicy(required_eval_sets=["golden"], must_beat_baseline=False))
    assert not result.passed
    assert any("required eval set 'golden' is missing" in r for r in result.reasons)
    assert any(r.startswith("expectation 'region-blind': invariance on 'region'") for r in result.reasons)
    only_other = gate(report, GatePolicy(required_expectations=["monotone-x"], must_beat_baseline=False))
    assert only_other.reasons == [
        "expectation 'monotone-x': required expectation 'monotone-x' was not run in this report"
    ]


class _RegionModel:
    def predict_proba(self, frame):
        p = np.where(frame["region"].to_numpy() == "north", 0.9, 0.1)
        return np.column_stack([1 - p, p])


def test_first_model_passes_champion_checks_but_must_beat_the_baseline() -> None:
    frame, y = region_data()
    labels = np.where(y == 1, "yes", "no")
    good = model_with_accuracy(y, frame, {"north": 0.9, "south": 0.9}, seed=1)
    bad = model_with_accuracy(y, frame, {"north": 0.3, "south": 0.3}, seed=1)
    baseline = Lookup(np.full(len(y), 0.5 + 1e-9))
    ok = gate(
        build_report(SPEC, good, {"holdout": EvalSet(frame, labels)}, baseline=baseline, n_boot=50),
        GatePolicy(),
    )
    assert ok.passed and "no champion" in ok.checks[0].detail
    refused = gate(
        build_report(SPEC, bad, {"holdout": EvalSet(frame, labels)}, baseline=baseline, n_boot=50),
        GatePolicy(),
    )
    assert not refused.passed and "gain over the baseline" in refused.reasons[0]


def test_lower_is_better_metrics_are_oriented() -> None:
    report = slice_regression_report(n_boot=100)
    result = gate(report, GatePolicy(primary_metric="log_loss", max_regression=0.05))
    south = [c for c in result.checks if c.subject.startswith("slice 'region=south'")][0]
    assert not south.passed and south.value < 0  # log loss rose on south: a loss


def test_policy_naming_an_unknown_metric_or_eval_set_is_an_error() -> None:
    report = slice_regression_report(n_boot=20)
    with pytest.raises(ValidationError, match="'rmse'"):
        gate(report, GatePolicy(primary_metric="rmse"))
    with pytest.raises(ValidationError, match="'golden' is not in the report"):
        gate(report, GatePolicy(primary_eval_set="golden"))
    with pytest.raises(Exception, match="extra"):
        GatePolicy.model_validate({"max_regresion": 0.1})
