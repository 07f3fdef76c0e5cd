"""Laws and accuracy of CategoricalProfile: exact counts while the sketch holds every category,
counts within the sketch's error bound beyond that, distinct counts within CPC's error."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.errors import ValidationError
from flywheel.profiles import CategoricalProfile

labels = st.lists(
    st.one_of(st.none(), st.sampled_from(["a", "b", "c", "dé", "e" * 20]), st.integers(0, 30)), max_size=60
)


def _truth(*batches: list) -> Counter:
    out: Counter = Counter()
    for b in batches:
        out.update(str(v) for v in b if v is not None)
    return out


@settings(max_examples=60, deadline=None)
@given(a=labels, b=labels, c=labels)
def test_merge_is_associative_and_counts_match_the_concatenated_data(a, b, c):
    pa_, pb, pc = (CategoricalProfile().update(x) for x in (a, b, c))
    left = pa_.merge(pb).merge(pc)
    right = pa_.merge(pb.merge(pc))
    truth = _truth(a, b, c)
    for p in (left, right):
        assert p.count == len(a) + len(b) + len(c)
        assert p.nulls == sum(v is None for v in a + b + c)
        assert p.frequencies() == dict(truth)
        assert p.count_error() == 0
        assert p.distinct_count() == pytest.approx(len(truth), rel=0.05, abs=0.5)


@settings(max_examples=30, deadline=None)
@given(a=labels)
def test_empty_profile_is_the_identity_and_bytes_round_trip(a):
    p = CategoricalProfile().update(a)
    for q in (
        p.merge(CategoricalProfile()),
        CategoricalProfile().merge(p),
        CategoricalProfile.from_bytes(p.to_bytes()),
    ):
        assert (q.count, q.nulls, q.frequencies()) == (p.count, p.nulls, p.frequencies())
        assert q.distinct_count() == p.distinct_count()
        assert q.count_error() == p.count_error()


def test_heavy_hitters_stay_within_the_error_bound_when_the_tail_overflows_the_sketch():
    rng = np.random.default_rng(3)
    batches = [rng.zipf(1.3, 5000) for _ in range(8)]
    merged = CategoricalProfile.merge_all(CategoricalProfile(lg_max_items=6).update(b) for b in batches)
    truth = _truth(*[b.tolist() for b in batches])
    err = merged.count_error()
    assert err > 0  # the sketch had to drop the tail
    for label, est in merged.frequencies().items():
        assert abs(est - truth[label]) <= err
    for label, true_count in truth.most_common(5):
        assert label in merged.frequencies()
        assert abs(merged.frequencies()[label] - true_count) <= err
    assert merged.distinct_count() == pytest.approx(len(truth), rel=0.05)


def test_arrow_dictionary_pandas_categorical_and_plain_lists_give_the_same_counts():
    import pandas as pd
    import pyarrow as pa

    vals = ["x", "y", None, "x", "z"]
    expected = {"x": 2, "y": 1, "z": 1}
    for column in (
        vals,
        pa.array(vals),
        pa.array(vals).dictionary_encode(),
        pd.Series(vals, dtype="category"),
        pd.Series(vals),
    ):
        p = CategoricalProfile().update(column)
        assert (p.count, p.nulls, p.frequencies()) == (5, 1, expected)


def test_integer_and_integral_float_labels_are_one_category():
    p = CategoricalProfile().update(np.array([3, 3, 4])).update(np.array([3.0, np.nan])).update(["3"])
    assert p.frequencies() == {"3": 4, "4": 1}
    assert p.nulls == 1


def test_invalid_sketch_sizes_are_refused():
    with pytest.raises(
        ValidationError,
        match=r"'lg_max_items' parameter of CategoricalProfile must be an int in \[3, 20\]; got 2",
    ):
        CategoricalProfile(lg_max_items=2)
    with pytest.raises(ValidationError, match="'lg_k'"):
        CategoricalProfile(lg_k=40)
