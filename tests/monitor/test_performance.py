"""Measured performance: exact values against scikit-learn, intervals, and undefined cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from flywheel.errors import ValidationError
from flywheel.monitor.performance import (
    classification_metrics,
    expected_calibration_error,
    regression_metrics,
    wilson_interval,
)


def _binary(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1).round(2)  # rounding makes ties
    return y, p


def _multiclass(n: int = 900, k: int = 4, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.2
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def test_binary_metrics_equal_sklearn() -> None:
    y, p = _binary()
    pred = (p >= 0.5).astype(int)
    m = classification_metrics(y, proba=p, classes=[0, 1], n_boot=0)
    assert m["accuracy"].value == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"].value == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"].value == pytest.approx(skm.recall_score(y, pred))
    assert m["f1"].value == pytest.approx(skm.f1_score(y, pred))
    assert m["f1_macro"].value == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["precision[0]"].value == pytest.approx(skm.precision_score(y, pred, pos_label=0))
    assert m["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m["log_loss"].value == pytest.approx(skm.log_loss(y, p), rel=1e-9)


def test_multiclass_metrics_equal_sklearn() -> None:
    y, p = _multiclass()
    names = np.array(["a", "b", "c", "d"])
    labels = names[y]
    m = classification_metrics(labels, proba=p, classes=list(names), n_boot=0)
    pred = names[p.argmax(axis=1)]
    assert m["accuracy"].value == pytest.approx(skm.accuracy_score(labels, pred))
    for avg in ("precision", "recall", "f1"):
        fn = getattr(skm, f"{avg}_score")
        assert m[f"{avg}_macro"].value == pytest.approx(fn(labels, pred, average="macro"))
        per = fn(labels, pred, average=None, labels=names)
        for c, v in zip(names, per, strict=True):
            assert m[f"{avg}[{c}]"].value == pytest.approx(v)
    assert m["roc_auc_macro"].value == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"), abs=1e-12)
    assert m["log_loss"].value == pytest.approx(skm.log_loss(y, p), rel=1e-9)
    assert "f1" not in m and "roc_auc" not in m


def test_given_predictions_override_the_threshold() -> None:
    y, p = _binary()
    pred = (p >= 0.7).astype(int)
    m = classification_metrics(y, pred, proba=p, classes=[0, 1], n_boot=0)
    assert m["accuracy"].value == pytest.approx(skm.accuracy_score(y, pred))
    assert m["f1"].value == pytest.approx(skm.f1_score(y, pred))


def test_expected_calibration_error_matches_a_loop_oracle() -> None:
    y, p = _multiclass(n=500)
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0, 1, 11)
    oracle = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf >= lo) & (conf < hi) if hi < 1 else (conf >= lo)
        if inside.any():
            oracle += inside.sum() / len(y) * abs(correct[inside].mean() - conf[inside].mean())
    assert expected_calibration_error(y, p) == pytest.approx(oracle)
    m = classification_metrics(y, proba=p, classes=[0, 1, 2, 3], n_boot=0)
    assert m["ece"].value == pytest.approx(oracle)


def test_a_perfectly_calibrated_source_has_small_ece() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.05


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=300)
    f = y + rng.normal(scale=0.5, size=300)
    m = regression_metrics(y, f, n_boot=0)
    assert m["mae"].value == pytest.approx(skm.mean_absolute_error(y, f))
    assert m["rmse"].value == pytest.approx(np.sqrt(skm.mean_squared_error(y, f)))
    assert m["r2"].value == pytest.approx(skm.r2_score(y, f))


def test_accuracy_interval_is_wilson() -> None:
    lo, hi = wilson_interval(80, 100, 0.95)
    # Reference values of the Wilson score interval for 80/100 at 95%.
    assert lo == pytest.approx(0.7112, abs=1e-4)
    assert hi == pytest.approx(0.8666, abs=1e-4)
    y = np.array([1] * 80 + [0] * 20)
    m = classification_metrics(y, np.ones(100, dtype=int), classes=[0, 1])
    assert (m["accuracy"].lower, m["accuracy"].upper) == pytest.approx((lo, hi))


def test_bootstrap_intervals_cover_the_value_and_are_seeded() -> None:
    y, p = _binary()
    a = classification_metrics(y, proba=p, classes=[0, 1], seed=7)
    b = classification_metrics(y, proba=p, classes=[0, 1], seed=7)
    c = classification_metrics(y, proba=p, classes=[0, 1], seed=8)
    for key in ("f1", "roc_auc", "log_loss", "ece", "f1_macro"):
        v = a[key]
        assert v.lower is not None and v.upper is not None and v.value is not None
        assert v.lower <= v.value <= v.upper or key == "ece"  # ECE is biased upward under resampling
        assert v.upper - v.lower > 0
        assert b[key] == v
    assert c["roc_auc"] != a["roc_auc"]


def test_bootstrap_interval_width_matches_the_sampling_spread() -> None:
    # Over many independent samples the 95% AUC interval should cover the truth most times.
    rng = np.random.default_rng(11)
    covered = 0
    trials = 40
    for _ in range(trials):
        y = rng.integers(0, 2, 400)
        s = rng.normal(size=400) + y  # true AUC = Phi(1/sqrt(2))
        m = classification_metrics(y, proba=1 / (1 + np.exp(-s)), classes=[0, 1], n_boot=200, seed=1)
        truth = 0.7602499389065233
        covered += m["roc_auc"].lower <= truth <= m["roc_auc"].upper
    assert covered >= 0.8 * trials


def test_regression_intervals_shrink_with_more_rows() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=4000)
    f = y + rng.normal(size=4000)
    small = regression_metrics(y[:200], f[:200])
    large = regression_metrics(y, f)
    for key in ("mae", "rmse", "r2"):
        assert small[key].lower <= small[key].value <= small[key].upper
        assert (large[key].upper - large[key].lower) < (small[key].upper - small[key].lower)


def test_empty_window_gives_none_not_an_error() -> None:
    m = classification_metrics(np.array([], dtype=int), proba=np.zeros(0), classes=[0, 1])
    assert {v.value for v in m.values()} == {None}
    assert m["accuracy"].note == "empty window" and m["roc_auc"].n == 0
    r = regression_metrics([], [])
    assert r["mae"].value is None and r["r2"].note == "empty window"


def test_single_class_window_gives_none_auc_and_defined_accuracy() -> None:
    y = np.ones(50, dtype=int)
    p = np.linspace(0.1, 0.9, 50)
    m = classification_metrics(y, proba=p, classes=[0, 1])
    assert m["roc_auc"].value is None and m["roc_auc"].note == "only one class present"
    assert m["accuracy"].value == pytest.approx(np.mean(p >= 0.5))
    # Class 0 never occurs: its recall is undefined and left out of the macro average.
    assert m["recall[0]"].value is None and "no rows of class 0" in (m["recall[0]"].note or "")
    assert m["recall_macro"].value == pytest.approx(m["recall[1]"].value)
    pred = (p >= 0.5).astype(int)
    assert m["precision_macro"].value == pytest.approx(
        skm.precision_score(y, pred, average="macro", labels=[0, 1], zero_division=np.nan)
    )


def test_multiclass_auc_averages_over_the_classes_present() -> None:
    y, p = _multiclass(n=300, k=3)
    keep = y != 2
    m = classification_metrics(y[keep], proba=p[keep], classes=[0, 1, 2], n_boot=0)
    aucs = [skm.roc_auc_score(y[keep] == j, p[keep, j]) for j in (0, 1)]
    assert m["roc_auc_macro"].value == pytest.approx(np.mean(aucs))
    assert "2 of 3" in (m["roc_auc_macro"].note or "")


def test_constant_target_gives_none_r2() -> None:
    r = regression_metrics([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert r["r2"].value is None and r["r2"].note == "constant target"
    assert r["mae"].value == pytest.approx(2 / 3)


def test_bad_arguments_raise_validation_errors_naming_the_parameter() -> None:
    y, p = _binary(50)
    with pytest.raises(ValidationError, match="'n_bins' parameter"):
        classification_metrics(y, proba=p, classes=[0, 1], n_bins=1)
    with pytest.raises(ValidationError, match="'confidence' parameter"):
        classification_metrics(y, proba=p, classes=[0, 1], confidence=1.5)
    with pytest.raises(ValidationError, match="not among the classes"):
        classification_metrics(y + 5, proba=p, classes=[0, 1])
    with pytest.raises(ValidationError, match="shape"):
        classification_metrics(y, proba=np.ones((50, 3)), classes=[0, 1])
    with pytest.raises(ValidationError, match="needs 'y_pred' or 'proba'"):
        classification_metrics(y)
    with pytest.raises(ValidationError, match="finite"):
        regression_metrics([1.0, np.nan], [1.0, 2.0])
