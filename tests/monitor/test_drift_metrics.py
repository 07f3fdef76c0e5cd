"""Each drift metric against an exact oracle, from arrays, and within the sketches' error from profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from flywheel.errors import ValidationError
from flywheel.monitor.drift import (
    PSI,
    ChiSquare,
    JensenShannon,
    KolmogorovSmirnov,
    LInfinity,
    NewCategories,
    Wasserstein,
)
from flywheel.profiles import CategoricalProfile, NumericProfile

RNG = np.random.default_rng(42)
A = RNG.lognormal(0, 0.7, 8000)
B = RNG.lognormal(0.1, 0.8, 6000)
CATS_A = RNG.choice(["x", "y", "z", "w"], 5000, p=[0.4, 0.3, 0.2, 0.1])
CATS_B = RNG.choice(["x", "y", "z", "new"], 4000, p=[0.3, 0.3, 0.3, 0.1])


def _psi_oracle(a: np.ndarray, b: np.ndarray, bins: int, eps: float) -> float:
    edges = np.unique(np.quantile(a, np.arange(1, bins) / bins, method="inverted_cdf"))
    ra = np.bincount(np.searchsorted(edges, a, side="left"), minlength=edges.size + 1) / a.size
    rb = np.bincount(np.searchsorted(edges, b, side="left"), minlength=edges.size + 1) / b.size
    ra, rb = np.maximum(ra, eps), np.maximum(rb, eps)
    return float(np.sum((rb - ra) * np.log(rb / ra)))


def _shares(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = sorted(set(a) | set(b))
    pa = np.array([(a == k).mean() for k in labels])
    pb = np.array([(b == k).mean() for k in labels])
    return pa, pb


def test_wasserstein_is_scipys_distance_over_the_reference_std_or_iqr():
    w1 = stats.wasserstein_distance(A, B)
    assert Wasserstein().from_arrays(A, B).value == pytest.approx(w1 / A.std(), rel=1e-4)
    iqr = np.subtract(*np.quantile(A, [0.75, 0.25], method="inverted_cdf"))
    assert Wasserstein(scale="iqr").from_arrays(A, B).value == pytest.approx(w1 / (iqr / 1.349), rel=1e-4)


def test_wasserstein_of_a_constant_reference_is_zero_or_infinite():
    assert Wasserstein().from_arrays([3.0] * 10, [3.0] * 5).value == 0.0
    assert Wasserstein().from_arrays([3.0] * 10, [3.0, 4.0]).value == math.inf


@pytest.mark.parametrize("bins", [2, 10, 37])
def test_psi_matches_a_numpy_implementation_on_reference_quantile_bins(bins):
    assert PSI(bins=bins).from_arrays(A, B).value == pytest.approx(_psi_oracle(A, B, bins, 1e-4), rel=1e-6)
    ints_a, ints_b = RNG.integers(0, 4, 3000), RNG.integers(0, 5, 3000)  # tied quantiles merge bins
    assert PSI(bins=bins).from_arrays(ints_a, ints_b).value == pytest.approx(
        _psi_oracle(ints_a, ints_b, bins, 1e-4), rel=1e-9
    )


def test_ks_statistic_and_pvalue_match_scipy():
    m = KolmogorovSmirnov().from_arrays(A, B)
    ref = stats.ks_2samp(A, B, method="asymp")
    assert m.value == pytest.approx(ref.statistic, abs=1e-6)
    assert m.p_value == pytest.approx(ref.pvalue, rel=0.2, abs=1e-12)


def test_linf_and_jensen_shannon_match_numpy_and_scipy():
    pa, pb = _shares(CATS_A, CATS_B)
    assert LInfinity().from_arrays(CATS_A, CATS_B).value == pytest.approx(np.abs(pa - pb).max())
    assert JensenShannon().from_arrays(CATS_A, CATS_B).value == pytest.approx(jensenshannon(pa, pb, base=2))
    assert JensenShannon(base=math.e).from_arrays(CATS_A, CATS_B).value == pytest.approx(
        jensenshannon(pa, pb)
    )


def test_chi2_matches_scipys_contingency_test_without_continuity_correction():
    a, b = CATS_A, CATS_B
    labels = sorted(set(a) | set(b))
    table = np.array([[np.sum(a == k) for k in labels], [np.sum(b == k) for k in labels]])
    stat, p, dof, _ = stats.chi2_contingency(table, correction=False)
    m = ChiSquare().from_arrays(CATS_A, CATS_B)
    assert (m.value, m.details["dof"]) == (pytest.approx(stat), dof)
    assert m.p_value == pytest.approx(p, rel=1e-6, abs=1e-300)


def test_new_and_vanished_categories_are_listed_with_their_share():
    m = NewCategories().from_arrays(CATS_A, CATS_B)
    assert m.value == pytest.approx(np.mean(CATS_B == "new"))
    assert m.details["new"] == ["new"] and m.details["vanished"] == ["w"]
    assert m.details["vanished_share"] == pytest.approx(np.mean(CATS_A == "w"))


def test_numeric_metrics_from_profiles_are_close_to_the_exact_ones():
    pa_, pb = NumericProfile().update(A), NumericProfile().update(B)
    eps = pa_.rank_error(True) + pb.rank_error(True)
    # From profiles Wasserstein is a lower bound (CDF gaps shrunk by the rank error), never below
    # the exact mean shift.
    exact, approx = Wasserstein().from_arrays(A, B), Wasserstein().from_profiles(pa_, pb)
    assert abs(B.mean() - A.mean()) / A.std() - 1e-9 <= approx.value <= exact.value + 1e-3
    assert approx.details["w1_estimate"] / A.std() == pytest.approx(exact.value, abs=0.1)
    # Each bin share is off by up to the rank error, so PSI from sketches is only roughly the same.
    exact, approx = PSI().from_arrays(A, B).value, PSI().from_profiles(pa_, pb).value
    assert approx == pytest.approx(exact, abs=0.02)
    ks_exact, ks_approx = KolmogorovSmirnov().from_arrays(A, B), KolmogorovSmirnov().from_profiles(pa_, pb)
    assert abs(ks_approx.value - ks_exact.value) <= eps


def test_categorical_metrics_from_exact_profiles_equal_the_exact_ones():
    pa_, pb = CategoricalProfile().update(CATS_A), CategoricalProfile().update(CATS_B)
    for metric in (LInfinity(), JensenShannon(), ChiSquare(), NewCategories()):
        exact, approx = metric.from_arrays(CATS_A, CATS_B), metric.from_profiles(pa_, pb)
        assert approx.value == pytest.approx(exact.value)
        assert approx.p_value == pytest.approx(exact.p_value, nan_ok=True)


def test_an_overflowing_categorical_profile_keeps_the_tail_as_one_bucket():
    a = RNG.zipf(1.5, 20_000)
    b = RNG.zipf(1.5, 20_000)
    pa_, pb = CategoricalProfile(lg_max_items=5).update(a), CategoricalProfile(lg_max_items=5).update(b)
    exact, approx = JensenShannon().from_arrays(a, b).value, JensenShannon().from_profiles(pa_, pb).value
    assert approx <= exact + 0.05  # merging the tail into one bucket can only hide differences
    assert LInfinity().from_profiles(pa_, pb).value == pytest.approx(
        LInfinity().from_arrays(a, b).value, abs=0.02
    )


def test_metric_parameters_are_validated_with_the_parameter_named():
    with pytest.raises(
        ValidationError, match=r"The 'bins' parameter of PSI must be an int in \[2, 1000\]; got 1\."
    ):
        PSI(bins=1)
    with pytest.raises(ValidationError, match="'scale' parameter of Wasserstein must be one of"):
        Wasserstein(scale="mad")
    with pytest.raises(ValidationError, match="'base' parameter of JensenShannon"):
        JensenShannon(base=1)
