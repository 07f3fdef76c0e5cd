"""Annotator agreement against textbook values and scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from flywheel.errors import ValidationError
from flywheel.label.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, ratings_to_counts

N = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders, 12 units.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]
# Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 items, 14 raters, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_cohen_kappa_textbook_two_by_two() -> None:
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(weights: str | None) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 200)
    b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 5, 200))
    assert cohen_kappa(a.tolist(), b.tolist(), weights=weights) == pytest.approx(
        cohen_kappa_score(a, b, weights=weights), abs=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("abcd")), min_size=2, max_size=40))
def test_cohen_kappa_matches_sklearn_on_any_data(pairs: list[tuple[str, str]]) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on single-label input; the value is what we compare
        expected = cohen_kappa_score(a, b)
    got = cohen_kappa(a, b)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_skips_items_either_annotator_left_out() -> None:
    assert cohen_kappa(["a", "b", None, "a"], ["a", "b", "b", float("nan")]) == pytest.approx(1.0)


def test_cohen_kappa_is_nan_when_everyone_says_the_same_thing() -> None:
    assert math.isnan(cohen_kappa(["a"] * 5, ["a"] * 5))


def test_cohen_kappa_refuses_unaligned_annotators() -> None:
    with pytest.raises(ValidationError, match="same items"):
        cohen_kappa(["a", "b"], ["a"])


def test_fleiss_kappa_textbook_value() -> None:
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.2099, abs=1e-4)


def test_fleiss_kappa_from_ratings_matches_the_count_table() -> None:
    ratings = [["a", "a", "b"], ["b", "b", "b"], ["a", "c", "c"], ["c", "c", "c"]]
    counts, cats = ratings_to_counts(ratings)
    assert cats == ["a", "b", "c"]
    assert counts.tolist() == [[2, 1, 0], [0, 3, 0], [1, 0, 2], [0, 0, 3]]
    # By hand: P_i = [1/3, 1, 1/3, 1] -> 2/3; p_j = [3, 4, 5] / 12 -> P_e = 50/144.
    p_e = 50 / 144
    assert fleiss_kappa(counts) == pytest.approx((2 / 3 - p_e) / (1 - p_e))


def test_fleiss_kappa_with_two_raters_agrees_with_scotts_pi() -> None:
    # With two raters Fleiss' kappa is Scott's pi: pooled marginals for chance agreement.
    a, b = ["x", "x", "y", "y", "x"], ["x", "y", "y", "y", "x"]
    counts, _ = ratings_to_counts(list(zip(a, b, strict=True)))
    pooled = np.array([a.count("x") + b.count("x"), a.count("y") + b.count("y")]) / 10
    p_o = np.mean([x == y for x, y in zip(a, b, strict=True)])
    assert fleiss_kappa(counts) == pytest.approx((p_o - (pooled**2).sum()) / (1 - (pooled**2).sum()))


def test_fleiss_kappa_refuses_uneven_rating_counts() -> None:
    with pytest.raises(ValidationError, match="same number"):
        fleiss_kappa([[2, 0], [1, 2]])


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_alpha_textbook_values_with_missing_data(level: str, expected: float) -> None:
    assert krippendorff_alpha(KRIPPENDORFF_2011, level=level) == pytest.approx(expected, abs=5e-4)


def test_krippendorff_alpha_accepts_nan_as_missing_and_string_labels() -> None:
    numeric = [[np.nan if v is None else v for v in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha(numeric) == pytest.approx(0.743, abs=5e-4)
    as_text = [[None if v is None else f"c{v}" for v in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha(as_text) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_nominal_equals_fleiss_style_on_complete_two_rater_data_in_the_limit() -> None:
    # For two coders and complete data, alpha = 1 - (n - 1) * D_o / D_e relates to Scott's pi:
    # alpha = pi + (1 - pi) / (2n) with n items (Krippendorff 2004).
    a, b = ["x", "x", "y", "y", "x", "y"], ["x", "y", "y", "y", "x", "x"]
    counts, _ = ratings_to_counts(list(zip(a, b, strict=True)))
    pi = fleiss_kappa(counts)
    assert krippendorff_alpha([a, b]) == pytest.approx(pi + (1 - pi) / (2 * len(a)))


def test_krippendorff_alpha_perfect_agreement_is_one_and_no_pairs_is_nan() -> None:
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([[1, None], [None, 2]]))


def test_krippendorff_alpha_interval_needs_numbers() -> None:
    with pytest.raises(ValidationError, match="numeric labels"):
        krippendorff_alpha([["a", "b"], ["a", "b"]], level="interval")
