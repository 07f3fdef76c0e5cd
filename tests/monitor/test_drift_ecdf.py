"""The one-pass numeric comparison against exact SciPy/NumPy oracles: Wasserstein-1, KS (with
ties), moments, CDF values and reference quantiles; float32 within its documented bound, float64
and the integer counting path exactly; chunked Arrow input like NumPy input."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from flywheel.errors import ValidationError
from flywheel.monitor.drift import compare_numeric
from flywheel.monitor.drift.ecdf import CHUNK, Workspace


@st.composite
def samples(draw: st.DrawFn) -> np.ndarray:
    seed = draw(st.integers(0, 2**31))
    n = draw(st.integers(1, 3000))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["normal", "ties", "negative_ties", "lognormal", "tiny"]))
    if kind == "normal":
        return rng.normal(draw(st.floats(-50, 50)), draw(st.floats(0.1, 10)), n)
    if kind == "ties":
        return rng.integers(0, 6, n).astype(np.float64) * 0.5
    if kind == "negative_ties":
        return -rng.integers(0, 4, n).astype(np.float64)
    if kind == "lognormal":
        return rng.lognormal(0, 1, n)
    return np.array(draw(st.lists(st.sampled_from([-1.0, 0.0, -0.0, 2.5, 3.0]), min_size=1, max_size=8)))


def _without_lowest_bit(x: np.ndarray) -> np.ndarray:
    bits = (x + 0.0).view(np.int64) & ~1
    return bits.view(np.float64)


def _oracle(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    return float(stats.wasserstein_distance(a, b)), float(stats.ks_2samp(a, b).statistic)


@settings(max_examples=80, deadline=None)
@given(a=samples(), b=samples())
def test_float64_pass_matches_scipy_exactly(a, b):
    cmp = compare_numeric(a, b, precision="float64")
    # Exact for the values as stored: the lowest mantissa bit carries the side (1 ulp of float64).
    w1, ks = _oracle(_without_lowest_bit(a), _without_lowest_bit(b))
    assert cmp.w1 == pytest.approx(w1, rel=1e-9, abs=1e-9)
    assert cmp.ks == pytest.approx(ks, abs=1e-12)
    assert cmp.reference_mean == pytest.approx(a.mean(), abs=1e-9 * (1 + abs(a).max()))
    assert cmp.reference_std == pytest.approx(a.std(), rel=1e-6, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(a=samples(), b=samples())
def test_float32_pass_stays_within_its_documented_bound(a, b):
    cmp = compare_numeric(a, b)  # "auto": float32 whenever the quantisation is below 1e-4 std
    w1, ks = _oracle(a, b)
    spread = max(a.std(), b.std())
    assert cmp.w1 == pytest.approx(w1, abs=2e-4 * spread + 1e-12, rel=1e-5)
    assert cmp.ks == pytest.approx(ks, abs=1e-5)


def test_large_samples_cross_many_chunks_and_still_match():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=3 * CHUNK + 17), rng.standard_t(4, size=2 * CHUNK + 5)
    cmp = compare_numeric(a, b, workspace=Workspace())
    w1, ks = _oracle(a, b)
    assert cmp.w1 == pytest.approx(w1, rel=1e-5)
    assert cmp.ks == pytest.approx(ks, abs=1e-6)


def test_far_from_zero_values_fall_back_to_float64():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1e9, 1.0, 5000), rng.normal(1e9 + 0.1, 1.0, 5000)
    cmp = compare_numeric(a, b)
    assert cmp.x.dtype == np.float64
    assert cmp.w1 == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-6)


def test_integer_columns_are_counted_and_match_the_sorted_result():
    rng = np.random.default_rng(2)
    a, b = rng.poisson(3, 20_000), rng.poisson(3.3, 15_000) - 1
    counted = compare_numeric(a, b)
    sorted_ = compare_numeric(a.astype(float), b.astype(float), precision="float64")
    assert type(counted).__name__ == "CountedNumericComparison"
    assert counted.w1 == pytest.approx(sorted_.w1, rel=1e-12)
    assert counted.ks == pytest.approx(sorted_.ks, abs=1e-12)
    assert counted.current_std == pytest.approx(b.std())
    pts = np.array([-5.0, 0.0, 2.5, 3.0, 100.0])
    for got, want in zip(counted.cdf_at(pts), sorted_.cdf_at(pts), strict=True):
        assert got == pytest.approx(want)
    qs = np.array([0.0, 0.1, 0.5, 0.99, 1.0])
    assert counted.reference_quantiles(qs).tolist() == sorted_.reference_quantiles(qs).tolist()


@settings(max_examples=40, deadline=None)
@given(a=samples(), b=samples(), q=st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_cdf_values_and_reference_quantiles_match_numpy(a, b, q):
    cmp = compare_numeric(a, b, precision="float64")
    qs = np.array(q)
    # exact up to the tag bit (one unit in the last place of float64)
    assert cmp.reference_quantiles(qs) == pytest.approx(
        np.quantile(a, qs, method="inverted_cdf"), rel=1e-15, abs=1e-300
    )
    pts = np.quantile(np.concatenate([a, b]), [0.1, 0.5, 0.9], method="inverted_cdf")
    f_ref, f_cur = cmp.cdf_at(pts)
    assert f_ref.tolist() == pytest.approx([(a <= p).mean() for p in pts])
    assert f_cur.tolist() == pytest.approx([(b <= p).mean() for p in pts])


def test_nulls_nan_and_inf_are_dropped_and_counted():
    cmp = compare_numeric([1.0, None, np.nan, 2.0, np.inf], pa.array([1.0, None, 3.0]))
    assert (cmp.n_reference, cmp.dropped_reference, cmp.n_current, cmp.dropped_current) == (2, 3, 2, 1)


def test_chunked_arrow_columns_compare_like_one_array():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=5000), rng.normal(0.1, 1, 4000)
    chunked = pa.chunked_array([a[:1000], a[1000:3500], a[3500:]])
    one, many = compare_numeric(a, b), compare_numeric(chunked, pa.chunked_array([b[:10], b[10:]]))
    assert (many.w1, many.ks) == (one.w1, one.ks)
    assert many.reference_mean == pytest.approx(one.reference_mean, rel=1e-14)


def test_an_empty_side_gives_nan_statistics_not_an_error():
    cmp = compare_numeric([], [1.0, 2.0])
    assert cmp.empty and cmp.n_reference == 0 and cmp.current_mean == 1.5
    assert math.isnan(cmp.w1) and math.isnan(cmp.ks)


def test_unknown_precision_is_refused():
    with pytest.raises(ValidationError, match="'precision' parameter of compare_numeric must be one of"):
        compare_numeric([1.0], [2.0], precision="half")
