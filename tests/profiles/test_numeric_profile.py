"""Laws and accuracy of NumericProfile: merge is associative, empty is its identity, bytes round-trip,
and merged results match NumPy over the concatenated data (exactly for counts and extremes, within
floating point for moments, within the KLL sketch's published rank error for quantiles)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.errors import ValidationError
from flywheel.profiles import NumericProfile

QS = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


@st.composite
def batches(draw: st.DrawFn) -> np.ndarray:
    """A batch of floats: small hand-picked values or a seeded draw from a skewed distribution."""
    if draw(st.booleans()):
        vals = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), max_size=30))
        return np.array(vals, dtype=np.float64)
    seed = draw(st.integers(0, 2**31))
    n = draw(st.integers(0, 3000))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["normal", "lognormal", "ints"]))
    if kind == "normal":
        return rng.normal(draw(st.floats(-100, 100)), 3.0, n)
    if kind == "lognormal":
        return rng.lognormal(0.0, 1.5, n)
    return rng.integers(0, 20, n).astype(np.float64)


def _exact_fields(p: NumericProfile) -> tuple:
    return (p.count, p.nulls, p.nan, p.inf, p.finite, p.min, p.max)


def _assert_matches_data(p: NumericProfile, data: np.ndarray) -> None:
    assert p.count == data.shape[0]
    assert p.finite == data.shape[0]
    if data.shape[0] == 0:
        assert math.isnan(p.quantile(0.5))
        return
    assert p.min == data.min() and p.max == data.max()
    assert p.mean == pytest.approx(data.mean(), rel=1e-9, abs=1e-9 * (1 + np.abs(data).max()))
    assert p.variance == pytest.approx(data.var(), rel=1e-7, abs=1e-9 * (1 + data.max() - data.min()) ** 2)
    eps = p.rank_error(False)
    n = data.shape[0]
    srt = np.sort(data)
    for q in QS:
        v = p.quantile(q)
        lo = np.searchsorted(srt, v, side="left") / n  # rank of v, excluding its own weight
        hi = np.searchsorted(srt, v, side="right") / n  # ... including it
        assert lo - eps <= q <= hi + eps, (q, v, lo, hi, eps)


@settings(max_examples=60, deadline=None)
@given(a=batches(), b=batches(), c=batches())
def test_merge_is_associative_and_matches_the_concatenated_data(a, b, c):
    pa_, pb, pc = (NumericProfile().update(x) for x in (a, b, c))
    left = pa_.merge(pb).merge(pc)
    right = pa_.merge(pb.merge(pc))
    assert _exact_fields(left) == _exact_fields(right)
    assert left.mean == pytest.approx(right.mean, rel=1e-12, abs=1e-9)
    assert left.m2 == pytest.approx(right.m2, rel=1e-9, abs=1e-6)
    data = np.concatenate([a, b, c])
    _assert_matches_data(left, data)
    _assert_matches_data(right, data)


@settings(max_examples=40, deadline=None)
@given(a=batches())
def test_empty_profile_is_the_identity_of_merge(a):
    p = NumericProfile().update(a)
    for merged in (p.merge(NumericProfile()), NumericProfile().merge(p)):
        assert _exact_fields(merged) == _exact_fields(p)
        assert merged.mean == p.mean and merged.m2 == p.m2
        assert np.array_equal(merged.quantiles(QS), p.quantiles(QS), equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(a=batches(), b=batches())
def test_bytes_round_trip_changes_nothing(a, b):
    p = NumericProfile(k=64).update(a).merge(NumericProfile(k=64).update(b))
    data = p.to_bytes()
    q = NumericProfile.from_bytes(data)
    assert q.to_bytes() == data
    assert _exact_fields(q) == _exact_fields(p) and q.k == 64
    assert np.array_equal(q.quantiles(QS), p.quantiles(QS), equal_nan=True)


def test_nulls_nan_and_inf_are_counted_apart_and_kept_out_of_the_moments():
    p = NumericProfile().update([1.0, None, float("nan"), float("inf"), -float("inf"), 3.0])
    assert (p.count, p.nulls, p.nan, p.inf, p.finite) == (6, 1, 1, 2, 2)
    assert (p.min, p.max, p.mean) == (1.0, 3.0, 2.0)


def test_update_accepts_arrow_pandas_and_lists_alike():
    import pandas as pd
    import pyarrow as pa

    vals = [1.5, None, 2.5, 4.0]
    profiles = [
        NumericProfile().update(vals),
        NumericProfile().update(pa.array(vals)),
        NumericProfile().update(pa.chunked_array([vals[:2], vals[2:]])),
        NumericProfile().update(pd.Series(vals)),
    ]
    assert {(p.count, p.nulls, p.finite, p.mean) for p in profiles} == {(4, 1, 3, 8.0 / 3)}


def test_cdf_and_histogram_agree_with_numpy_on_small_exact_data():
    data = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    p = NumericProfile().update(data)
    assert p.exact
    assert p.cdf([0.0, 2.0, 2.5, 5.0, np.inf]).tolist() == [0.0, 0.6, 0.6, 1.0, 1.0]
    assert p.histogram([1.0, 2.0, 4.0]) == pytest.approx([1.0, 2.0, 1.0, 1.0])


def test_large_stream_quantiles_stay_within_the_published_rank_error():
    rng = np.random.default_rng(7)
    parts = [rng.lognormal(0, 1, 20_000) for _ in range(10)]
    merged = NumericProfile.merge_all(NumericProfile().update(x) for x in parts)
    assert not merged.exact
    _assert_matches_data(merged, np.concatenate(parts))


def test_invalid_k_is_refused_with_the_parameter_named():
    with pytest.raises(
        ValidationError, match=r"The 'k' parameter of NumericProfile must be an int in \[8, 65535\]; got 3"
    ):
        NumericProfile(k=3)


def test_bytes_that_are_not_a_numeric_profile_are_refused():
    with pytest.raises(ValidationError, match="not a Flywheel profile"):
        NumericProfile.from_bytes(b"garbage")
    newer = bytearray(NumericProfile().to_bytes())
    newer[3] = 99
    with pytest.raises(ValidationError, match="newer than"):
        NumericProfile.from_bytes(bytes(newer))
    from flywheel.profiles import CategoricalProfile

    with pytest.raises(ValidationError, match="hold a categorical profile"):
        NumericProfile.from_bytes(CategoricalProfile().to_bytes())
    with pytest.raises(ValidationError, match="truncated"):
        NumericProfile.from_bytes(NumericProfile().update([1.0]).to_bytes()[:-3])
