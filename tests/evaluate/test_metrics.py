"""Metrics match scikit-learn exactly; weights equal repeated rows; the bootstrap is seeded and paired."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from flywheel.errors import ValidationError
from flywheel.evaluate.bootstrap import bootstrap, resample_weights
from flywheel.evaluate.metrics import metric_names, per_class, point_metrics, reliability, weighted_metrics


def random_case(k: int, n: int, seed: int, round_to: int | None = 1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    if round_to is not None:  # coarse probabilities create ties, which AUC must handle
        p = np.round(p, round_to) + 1e-3
        p /= p.sum(axis=1, keepdims=True)
    return y, p


@pytest.mark.parametrize("k", [2, 3, 5])
def test_classification_metrics_equal_sklearn(k: int) -> None:
    y, p = random_case(k, 700, seed=k)
    pred = p.argmax(axis=1)
    task = "binary" if k == 2 else "multiclass"
    got = point_metrics(task, y, p)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, average="macro"),
        "log_loss": skm.log_loss(y, p, labels=list(range(k))),
        "brier": np.mean(np.sum((p - np.eye(k)[y]) ** 2, axis=1)),
    }
    if k == 2:
        expected["roc_auc"] = skm.roc_auc_score(y, p[:, 1])
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    pred = y + rng.normal(scale=0.4, size=300)
    got = point_metrics("regression", y, pred)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred), rel=1e-12)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-12)


def test_ece_and_reliability_bins_match_a_direct_computation() -> None:
    y, p = random_case(3, 500, seed=7, round_to=None)
    conf, correct = p.max(axis=1), (p.argmax(axis=1) == y)
    bins = np.minimum((conf * 10).astype(int), 9)
    direct = sum(
        abs(correct[bins == b].mean() - conf[bins == b].mean()) * (bins == b).mean() for b in np.unique(bins)
    )
    table, ece = reliability(y, p)
    assert ece == pytest.approx(direct, rel=1e-12)
    assert point_metrics("multiclass", y, p, ["ece"])["ece"] == pytest.approx(direct, rel=1e-12)
    assert sum(b["count"] for b in table) == 500


def test_per_class_matches_sklearn_report() -> None:
    y, p = random_case(3, 400, seed=3)
    cm, pc = per_class(y, p, ["a", "b", "c"])
    assert cm == skm.confusion_matrix(y, p.argmax(axis=1), labels=[0, 1, 2]).tolist()
    prec, rec, f1, sup = skm.precision_recall_fscore_support(
        y, p.argmax(axis=1), labels=[0, 1, 2], zero_division=0
    )
    for i, c in enumerate("abc"):
        assert pc[c]["precision"] == pytest.approx(prec[i]) and pc[c]["recall"] == pytest.approx(rec[i])
        assert pc[c]["f1"] == pytest.approx(f1[i]) and pc[c]["support"] == sup[i]


@settings(max_examples=40, deadline=None)
@given(k=st.integers(2, 4), n=st.integers(2, 60), seed=st.integers(0, 10_000))
def test_integer_weights_equal_repeating_rows(k: int, n: int, seed: int) -> None:
    y, p = random_case(k, n, seed)
    counts = np.random.default_rng(seed + 1).integers(0, 4, n)
    if counts.sum() == 0:
        counts[0] = 1
    task = "binary" if k == 2 else "multiclass"
    weighted = weighted_metrics(task, y, p, counts[None].astype(float))
    repeated = point_metrics(task, np.repeat(y, counts), np.repeat(p, counts, axis=0))
    for name in metric_names(task):
        a, b = weighted[name][0], repeated[name]
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12), name


def test_resample_weights_are_bootstrap_counts_in_bounded_chunks() -> None:
    chunks = list(resample_weights(50, 1000, np.random.default_rng(0), max_cells=5_000))
    assert [len(c) for c in chunks] == [100] * 10
    W = np.vstack(chunks)
    assert (W.sum(axis=1) == 50).all() and W.min() >= 0
    assert W.mean() == pytest.approx(1.0)


def test_bootstrap_is_seeded_and_its_interval_has_the_textbook_width() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    right = rng.random(n) < 0.8
    p_yes = np.where(right == (y == 1), 0.7, 0.3)
    proba = np.column_stack([1 - p_yes, p_yes])
    a = bootstrap("binary", y, {"candidate": proba}, names=["accuracy"], n_boot=2000, seed=5)
    b = bootstrap("binary", y, {"candidate": proba}, names=["accuracy"], n_boot=2000, seed=5)
    assert a.values == b.values
    value, lo, hi = a.values["candidate"]["accuracy"]
    assert lo < value < hi
    textbook = 2 * 1.96 * np.sqrt(value * (1 - value) / n)
    assert hi - lo == pytest.approx(textbook, rel=0.15)


def test_paired_difference_of_a_model_with_itself_is_exactly_zero() -> None:
    y, p = random_case(2, 300, seed=1)
    res = bootstrap("binary", y, {"candidate": p, "champion": p.copy()}, reference="champion", n_boot=200)
    for name, interval in res.deltas["candidate"].items():
        assert interval == (0.0, 0.0, 0.0), name


def test_empty_input_gives_nan_not_an_error() -> None:
    res = bootstrap("binary", np.zeros(0, int), {"candidate": np.zeros((0, 2))}, n_boot=10)
    assert all(np.isnan(v[0]) for v in res.values["candidate"].values())


def test_bad_arguments_are_refused_with_the_parameter_named() -> None:
    y, p = random_case(2, 10, seed=1)
    with pytest.raises(ValidationError, match="'n_boot' parameter of bootstrap"):
        bootstrap("binary", y, {"candidate": p}, n_boot=-1)
    with pytest.raises(ValidationError, match="roc_auc"):
        point_metrics("multiclass", y, p, ["roc_auc"])
