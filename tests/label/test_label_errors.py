"""Confident-learning label-error detection and the out-of-fold probability helper."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier

from flywheel.errors import ValidationError
from flywheel.label.label_errors import (
    confident_joint,
    estimate_num_issues,
    find_label_errors,
    out_of_fold_probabilities,
    per_class_thresholds,
    suspicion_scores,
)

LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2])
PROBS = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.7, 0.2, 0.1],
        [0.1, 0.8, 0.1],  # labelled 0, confidently 1
        [0.2, 0.7, 0.1],
        [0.1, 0.9, 0.0],
        [0.3, 0.4, 0.3],  # labelled 1, unsure
        [0.0, 0.1, 0.9],
        [0.6, 0.1, 0.3],  # labelled 2, leans 0 but not confidently
    ]
)


def _flip(y: np.ndarray, rate: float, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), int(round(rate * len(y))), replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    return noisy, idx


def test_thresholds_are_the_mean_self_confidence_per_class() -> None:
    expected = [np.mean([0.8, 0.7, 0.1]), np.mean([0.7, 0.9, 0.4]), np.mean([0.9, 0.3])]
    np.testing.assert_allclose(per_class_thresholds(LABELS, PROBS), expected)


def test_a_class_nobody_used_gets_an_unreachable_threshold() -> None:
    t = per_class_thresholds(np.array([0, 0]), np.array([[0.9, 0.1], [0.8, 0.2]]))
    assert np.isinf(t[1])


def test_confident_joint_counts_given_against_confident_class() -> None:
    # t = [0.533, 0.667, 0.6]; row 7 (p0 = 0.6 >= 0.533) counts as confidently 0.
    raw = confident_joint(LABELS, PROBS, calibrate=False)
    expected = np.zeros((3, 3))
    expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 2], expected[2, 0] = 2, 1, 2, 1, 1
    np.testing.assert_array_equal(raw, expected)


def test_calibrated_joint_rows_sum_to_the_label_counts() -> None:
    joint = confident_joint(LABELS, PROBS)
    np.testing.assert_allclose(joint.sum(axis=1), np.bincount(LABELS))
    assert estimate_num_issues(LABELS, PROBS) == 2


def test_argmax_method_flags_exactly_the_rows_the_model_assigns_elsewhere() -> None:
    issues = find_label_errors(LABELS, PROBS, method="argmax")
    assert sorted(i.index for i in issues) == sorted(np.flatnonzero(PROBS.argmax(axis=1) != LABELS).tolist())


def test_confident_joint_method_flags_the_off_diagonal_with_the_confident_class() -> None:
    issues = {i.index: i for i in find_label_errors(LABELS, PROBS, method="confident_joint")}
    assert set(issues) == {2, 7}
    assert issues[2].suggested_label == 1 and issues[7].suggested_label == 0


def test_default_flags_the_estimated_count_worst_first() -> None:
    issues = find_label_errors(LABELS, PROBS)
    assert [i.index for i in issues] == [2, 7]
    assert [(i.given_label, i.suggested_label) for i in issues] == [(0, 1), (2, 0)]
    assert issues[0].score == pytest.approx((1 - (0.1 - 0.8)) / 2)


def test_self_confidence_ranking_scores_one_minus_the_given_probability() -> None:
    np.testing.assert_allclose(
        suspicion_scores(LABELS, PROBS, "self_confidence"), 1 - PROBS[np.arange(8), LABELS]
    )
    issues = find_label_errors(LABELS, PROBS, method="argmax", rank_by="self_confidence")
    assert [i.score for i in issues] == sorted((i.score for i in issues), reverse=True)


def test_max_issues_truncates_the_ranked_list() -> None:
    assert [i.index for i in find_label_errors(LABELS, PROBS, max_issues=1)] == [2]


def test_clean_confident_labels_raise_no_issue() -> None:
    y = np.repeat([0, 1, 2], 20)
    p = np.full((60, 3), 0.05)
    p[np.arange(60), y] = 0.9
    assert find_label_errors(y, p) == []


def test_empty_input_has_no_issues() -> None:
    assert find_label_errors(np.zeros(0, int), np.zeros((0, 3))) == []


def test_bad_inputs_are_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="class indices in \\[0, 2\\]"):
        find_label_errors(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValidationError, match="length 2"):
        find_label_errors(np.array([0]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValidationError, match="'method' parameter"):
        find_label_errors(LABELS, PROBS, method="vibes")


def test_finds_flipped_digit_labels_with_high_f1() -> None:
    X, y = load_digits(return_X_y=True)
    noisy, flipped = _flip(y, 0.05, 10, seed=0)
    probs = out_of_fold_probabilities(KNeighborsClassifier(10), X, noisy)
    found = {i.index for i in find_label_errors(noisy, probs)}
    truth = set(flipped.tolist())
    precision, recall = len(found & truth) / len(found), len(found & truth) / len(truth)
    assert 2 * precision * recall / (precision + recall) >= 0.85
    # The suggested class is the true one for nearly every correctly found flip.
    issues = {i.index: i.suggested_label for i in find_label_errors(noisy, probs)}
    assert np.mean([issues[i] == y[i] for i in found & truth]) > 0.95


def test_out_of_fold_rows_are_never_scored_by_a_model_that_saw_them() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = rng.integers(0, 2, 200)  # labels carry no signal: only memorising could predict them
    memoriser = KNeighborsClassifier(n_neighbors=1)
    assert memoriser.fit(X, y).score(X, y) == 1.0
    probs = out_of_fold_probabilities(memoriser, X, y)
    assert 0.35 < (probs.argmax(axis=1) == y).mean() < 0.65


def test_ensemble_averages_each_members_out_of_fold_probabilities() -> None:
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    members = [KNeighborsClassifier(5), GaussianNB()]
    got = out_of_fold_probabilities(members, X, y, n_splits=4, random_state=3)
    folds = StratifiedKFold(4, shuffle=True, random_state=3)
    expected = np.mean(
        [cross_val_predict(m, X, y, cv=folds, method="predict_proba") for m in members], axis=0
    )
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_a_class_missing_from_a_training_fold_gets_zero_there() -> None:
    X = np.r_[np.zeros((10, 1)), np.ones((10, 1)), [[5.0]]]
    y = np.r_[np.zeros(10, int), np.ones(10, int), [2]]
    probs = out_of_fold_probabilities(KNeighborsClassifier(3), X, y, n_classes=3)
    assert probs.shape == (21, 3) and probs[20, 2] == 0.0
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
