"""Estimated performance (CBPE-style) and the calibrators under it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn import metrics as skm

from flywheel.errors import ValidationError
from flywheel.monitor.calibration import Calibrator, calibration_error, fit_calibrator
from flywheel.monitor.estimate import CBPE


def _calibrated_binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores that are true probabilities, and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.7, 0.7, n)
    return p, (rng.random(n) < p).astype(int)


def _calibrated_multiclass(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(n, k))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return p, np.minimum(y, k - 1)


# ------------------------------------------------------------------------------ calibrators


def test_auto_keeps_identity_for_scores_that_are_already_calibrated() -> None:
    p, y = _calibrated_binary(6000, 0)
    cal = fit_calibrator(p, y)
    assert cal.method == "identity"
    assert set(cal.params["cv_errors"]) == {"identity", "platt", "beta", "isotonic"}


def test_auto_calibrates_overconfident_scores_and_reduces_the_error() -> None:
    p, y = _calibrated_binary(8000, 1)
    over = np.clip(0.5 + 1.6 * (p - 0.5), 0, 1)  # too sure of itself
    cal = fit_calibrator(over[:5000], y[:5000])
    assert cal.method != "identity"
    before = calibration_error(y[5000:], over[5000:])
    after = calibration_error(y[5000:], cal.transform(over[5000:]))
    assert after < before / 2


def test_unbounded_scores_skip_identity_and_beta() -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(size=3000) * 3
    y = (rng.random(3000) < 1 / (1 + np.exp(-z))).astype(int)
    cal = fit_calibrator(z, y)
    assert cal.method in ("platt", "isotonic")
    assert set(cal.params["cv_errors"]) == {"platt", "isotonic"}
    with pytest.raises(ValidationError, match="needs scores in \\[0, 1\\]"):
        fit_calibrator(z, y, method="beta")


def test_isotonic_calibrator_matches_sklearn_and_round_trips() -> None:
    from sklearn.isotonic import IsotonicRegression

    p, y = _calibrated_binary(2000, 3)
    cal = fit_calibrator(p, y, method="isotonic")
    grid = np.linspace(-0.1, 1.1, 57)
    oracle = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y).predict(grid)
    np.testing.assert_allclose(cal.transform(grid), oracle)
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(again.transform(grid), cal.transform(grid))


def test_calibrator_validates_its_arguments() -> None:
    with pytest.raises(ValidationError, match="'method' parameter"):
        fit_calibrator(np.ones(3), np.ones(3), method="magic")
    with pytest.raises(ValidationError, match="'n_folds' parameter"):
        fit_calibrator(np.ones(3), np.ones(3), n_folds=1)
    with pytest.raises(ValidationError, match="Unknown calibrator"):
        Calibrator.from_dict({"method": "magic"})


# ------------------------------------------------------------------------------- estimates


def test_binary_estimates_equal_the_expected_confusion_formulas() -> None:
    p, y = _calibrated_binary(3000, 4)
    cbpe = CBPE(calibration="identity", n_sim=0).fit(p, y)
    rng = np.random.default_rng(5)
    w = rng.beta(2, 1, 500)
    est = cbpe.estimate(w)
    pred = w >= 0.5
    assert est["accuracy"].value == pytest.approx(np.mean(np.where(pred, w, 1 - w)))
    tp, fp, fn = np.sum(w * pred), np.sum((1 - w) * pred), np.sum(w * ~pred)
    assert est["f1"].value == pytest.approx(2 * tp / (2 * tp + fp + fn))
    num = den = 0.0  # expected AUC by brute force over ordered pairs of distinct rows
    for i, j in itertools.permutations(range(60), 2):
        weight = w[i] * (1 - w[j])
        den += weight
        num += weight * (1.0 if w[i] > w[j] else 0.5 if w[i] == w[j] else 0.0)
    assert cbpe.estimate(w[:60])["roc_auc"].value == pytest.approx(num / den)


def test_estimates_track_realised_metrics_without_drift() -> None:
    p, y = _calibrated_binary(20_000, 6)
    cbpe = CBPE(n_sim=100).fit(p[:5000], y[:5000])
    inside = 0
    for start in range(5000, 20_000, 1500):
        s, t = p[start : start + 1500], y[start : start + 1500]
        est = cbpe.estimate(s)
        real = {
            "accuracy": skm.accuracy_score(t, s >= 0.5),
            "f1": skm.f1_score(t, s >= 0.5),
            "roc_auc": skm.roc_auc_score(t, s),
        }
        for key, value in real.items():
            assert abs(est[key].value - value) < 0.05
            inside += est[key].lower <= value <= est[key].upper
    assert inside >= 0.8 * 30  # 95% intervals: most windows cover the realised value


def test_estimate_follows_a_shift_in_confidence() -> None:
    p, y = _calibrated_binary(6000, 7)
    cbpe = CBPE().fit(p, y)
    confident = cbpe.estimate(np.concatenate([np.full(500, 0.02), np.full(500, 0.98)]))
    unsure = cbpe.estimate(np.full(1000, 0.55))
    assert confident["accuracy"].value > 0.9 > 0.6 > unsure["accuracy"].value


def test_multiclass_estimates_track_realised_metrics() -> None:
    p, y = _calibrated_multiclass(12_000, 4, 8)
    names = np.array(["a", "b", "c", "d"])
    cbpe = CBPE(n_sim=50).fit(p[:6000], names[y[:6000]])
    assert cbpe.classes_.tolist() == ["a", "b", "c", "d"]
    est = cbpe.estimate(p[6000:])
    pred = p[6000:].argmax(axis=1)
    assert est["accuracy"].value == pytest.approx(skm.accuracy_score(y[6000:], pred), abs=0.02)
    assert est["f1_macro"].value == pytest.approx(skm.f1_score(y[6000:], pred, average="macro"), abs=0.03)
    oracle_auc = skm.roc_auc_score(y[6000:], p[6000:], multi_class="ovr")
    assert est["roc_auc_macro"].value == pytest.approx(oracle_auc, abs=0.02)
    assert est["accuracy"].lower < est["accuracy"].value < est["accuracy"].upper


def test_given_predictions_are_used_instead_of_the_threshold() -> None:
    p, y = _calibrated_binary(3000, 9)
    cbpe = CBPE(calibration="identity", n_sim=0).fit(p, y)
    w = np.full(100, 0.9)
    assert cbpe.estimate(w)["accuracy"].value == pytest.approx(0.9)
    assert cbpe.estimate(w, predictions=np.zeros(100, dtype=int))["accuracy"].value == pytest.approx(0.1)


def test_expected_confusion_adds_up_over_windows() -> None:
    p, y = _calibrated_binary(3000, 10)
    cbpe = CBPE(n_sim=0).fit(p, y)
    a, b = p[:700], p[700:1500]
    both = cbpe.expected_confusion(np.concatenate([a, b]))
    np.testing.assert_allclose(cbpe.expected_confusion(a) + cbpe.expected_confusion(b), both)
    assert both.sum() == pytest.approx(1500)


def test_reference_performance_is_recorded_at_fit() -> None:
    p, y = _calibrated_binary(3000, 11)
    cbpe = CBPE().fit(p, y)
    assert cbpe.reference_["accuracy"] == pytest.approx(skm.accuracy_score(y, p >= 0.5))
    assert cbpe.reference_["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))


def test_round_trip_through_bytes_gives_the_same_estimates() -> None:
    p, y = _calibrated_multiclass(3000, 3, 12)
    cbpe = CBPE(n_sim=20).fit(p, y)
    again = CBPE.from_bytes(cbpe.to_bytes())
    assert again.estimate(p[:400]) == cbpe.estimate(p[:400])
    assert again.reference_ == cbpe.reference_
    with pytest.raises(ValidationError, match="Not a fitted CBPE"):
        CBPE.from_bytes(b'{"format": "other"}')


def test_empty_window_and_one_sided_window_give_none() -> None:
    p, y = _calibrated_binary(2000, 13)
    cbpe = CBPE(calibration="identity").fit(p, y)
    empty = cbpe.estimate(np.zeros(0))
    assert all(v.value is None and v.note == "empty window" for v in empty.values())
    sure = cbpe.estimate(np.ones(10))  # every row surely positive: no negatives to rank
    assert sure["roc_auc"].value is None and sure["accuracy"].value == pytest.approx(1.0)


def test_bad_arguments_raise_validation_errors() -> None:
    with pytest.raises(ValidationError, match="'calibration' parameter"):
        CBPE(calibration="magic")
    with pytest.raises(ValidationError, match="'n_sim' parameter"):
        CBPE(n_sim=-1)
    p, y = _calibrated_binary(200, 14)
    cbpe = CBPE().fit(p, y)
    with pytest.raises(ValidationError, match="shape"):
        cbpe.estimate(np.ones((5, 2)))
    with pytest.raises(ValidationError, match="not among the classes"):
        cbpe.estimate(p[:5], predictions=[0, 1, 2, 0, 1])
    with pytest.raises(ValidationError, match="non-empty"):
        CBPE().fit(np.zeros(0), np.zeros(0))


def test_observe_corrects_later_estimates_under_concept_drift() -> None:
    p, y = _calibrated_binary(6000, 15)
    cbpe = CBPE(n_sim=50).fit(p, y)
    rng = np.random.default_rng(16)

    # Concept drift: the same scores, but labels now agree with the score only 70% as often.
    def drifted(n: int) -> tuple[np.ndarray, np.ndarray]:
        s = rng.beta(0.7, 0.7, n)
        truth = np.where(rng.random(n) < 0.7, s, 1 - s)
        return s, (rng.random(n) < truth).astype(int)

    s1, y1 = drifted(3000)
    s2, y2 = drifted(3000)
    real = skm.accuracy_score(y2, s2 >= 0.5)
    before = cbpe.estimate(s2)["accuracy"].value
    cbpe.observe(s1, y1)
    after = cbpe.estimate(s2)["accuracy"].value
    assert abs(before - real) > 0.1
    assert abs(after - real) < 0.03
    assert cbpe.recalibration_["kept"][0] > 0.9 and cbpe.recalibration_["a"][0] < 0.8
    assert CBPE.from_bytes(cbpe.to_bytes()).estimate(s2)["accuracy"].value == pytest.approx(after)


def test_observe_without_drift_barely_moves_the_estimates() -> None:
    p, y = _calibrated_binary(12_000, 17)
    cbpe = CBPE(n_sim=50).fit(p[:4000], y[:4000])
    before = cbpe.estimate(p[8000:])["accuracy"].value
    cbpe.observe(p[4000:8000], y[4000:8000])
    after = cbpe.estimate(p[8000:])["accuracy"].value
    sd = np.sqrt(0.25 / 4000)
    assert abs(after - before) < sd  # the observed error is mostly noise, so it is shrunk away


def test_observe_recalibrates_multiclass_columns() -> None:
    p, y = _calibrated_multiclass(6000, 3, 18)
    cbpe = CBPE(n_sim=0).fit(p[:3000], y[:3000])
    rng = np.random.default_rng(19)
    noisy = np.where(rng.random(3000) < 0.4, rng.integers(0, 3, 3000), y[3000:])  # labels got noisier
    real = skm.accuracy_score(noisy[1500:], p[4500:].argmax(axis=1))
    before = cbpe.estimate(p[4500:])["accuracy"].value
    cbpe.observe(p[3000:4500], noisy[:1500])
    after = cbpe.estimate(p[4500:])["accuracy"].value
    assert len(cbpe.recalibration_["a"]) == 3
    assert abs(after - real) < abs(before - real) / 2
