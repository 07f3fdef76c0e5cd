"""DatasetProfile: one profile per column by kind, from Arrow or pandas, merged and serialised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from flywheel.errors import ValidationError
from flywheel.profiles import (
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    TextProfile,
    profile_from_bytes,
)

KINDS = {"x": "numeric", "c": "categorical", "t": "text", "e": "embedding"}
PROJ = {"e": np.eye(3)[:, :2]}


def _frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": rng.choice(["a", "b", "c"], n),
            "t": rng.choice(["hello world", "hi", ""], n),
            "e": list(rng.normal(size=(n, 3))),
            "unused": np.zeros(n),
        }
    )


def test_profiles_of_pandas_and_arrow_tables_agree_and_merge_like_the_whole():
    a, b = _frame(0, 300), _frame(1, 200)
    pa_ = DatasetProfile.from_table(a, KINDS, projections=PROJ)
    pb = DatasetProfile.from_table(pa.Table.from_pandas(b), KINDS, projections=PROJ)
    whole = DatasetProfile.from_table(pd.concat([a, b]), KINDS, projections=PROJ)
    merged = pa_.merge(pb)
    assert merged.kinds == KINDS
    assert isinstance(merged["x"], NumericProfile) and isinstance(merged["t"], TextProfile)
    assert merged["x"].mean == pytest.approx(whole["x"].mean)
    assert merged["c"].frequencies() == whole["c"].frequencies()
    assert merged["t"].tokens.mean == pytest.approx(whole["t"].tokens.mean)
    assert merged["e"].components[1].mean == pytest.approx(whole["e"].components[1].mean)


def test_dataset_profile_round_trips_through_bytes():
    p = DatasetProfile.from_table(_frame(2, 100), KINDS, projections=PROJ)
    data = p.to_bytes()
    q = DatasetProfile.from_bytes(data, projections=PROJ)
    assert q.to_bytes() == data
    assert list(q) == list(KINDS)
    q.update(_frame(3, 10))
    assert q["x"].count == 110


def test_merge_all_of_many_hours_equals_pairwise_merges():
    hours = [DatasetProfile.from_table(_frame(s, 50), {"x": "numeric", "c": "categorical"}) for s in range(6)]
    all_at_once = DatasetProfile.merge_all(hours)
    pairwise = hours[0]
    for h in hours[1:]:
        pairwise = pairwise.merge(h)
    assert all_at_once["x"].count == pairwise["x"].count == 300
    assert all_at_once["x"].mean == pytest.approx(pairwise["x"].mean)
    assert all_at_once["c"].frequencies() == pairwise["c"].frequencies()


def test_column_profiles_load_by_the_kind_in_their_header():
    assert isinstance(profile_from_bytes(CategoricalProfile().to_bytes()), CategoricalProfile)
    with pytest.raises(ValidationError, match="Expected a column profile"):
        profile_from_bytes(DatasetProfile({}).to_bytes())


def test_missing_column_unknown_kind_and_missing_projection_are_clear_errors():
    with pytest.raises(ValidationError, match="Column 'nope' is missing"):
        DatasetProfile.from_table(_frame(0, 5), {"nope": "numeric"})
    with pytest.raises(ValidationError, match="Unknown column kind 'weird'"):
        DatasetProfile.empty({"x": "weird"})
    with pytest.raises(ValidationError, match="projections="):
        DatasetProfile.empty({"e": "embedding"})


def test_merging_straight_from_bytes_equals_loading_then_merging():
    hours = [DatasetProfile.from_table(_frame(s, 80), KINDS, projections=PROJ) for s in range(12)]
    blobs = [h.to_bytes() for h in hours]
    fast = DatasetProfile.merge_bytes(blobs, projections=PROJ)
    slow = DatasetProfile.merge_all(DatasetProfile.from_bytes(b, projections=PROJ) for b in blobs)
    assert fast.kinds == slow.kinds == KINDS
    for name in ("x",):
        f, s = fast[name], slow[name]
        assert (f.count, f.nulls, f.min, f.max) == (s.count, s.nulls, s.min, s.max)
        assert f.mean == pytest.approx(s.mean, rel=1e-12) and f.m2 == pytest.approx(s.m2, rel=1e-9)
        data = np.sort(np.concatenate([_frame(seed, 80)[name].to_numpy() for seed in range(12)]))
        eps = f.rank_error()
        for q, v in zip(
            [0.1, 0.5, 0.9], f.quantiles([0.1, 0.5, 0.9]), strict=True
        ):  # KLL merges are randomised
            assert (
                np.searchsorted(data, v, "left") / data.size - eps
                <= q
                <= np.searchsorted(data, v, "right") / data.size + eps
            )
    assert fast["c"].frequencies() == slow["c"].frequencies()
    assert fast["c"].distinct_count() == pytest.approx(slow["c"].distinct_count())  # CPC unioned on demand
    assert fast["t"].chars.count == slow["t"].chars.count and fast["e"].count == slow["e"].count
    assert (
        DatasetProfile.from_bytes(fast.to_bytes(), projections=PROJ)["c"].frequencies()
        == fast["c"].frequencies()
    )


def test_merge_bytes_refuses_garbage_and_truncation():
    blob = DatasetProfile.from_table(_frame(0, 10), {"x": "numeric"}).to_bytes()
    with pytest.raises(ValidationError, match="truncated"):
        DatasetProfile.merge_bytes([blob[:-20]])
    with pytest.raises(ValidationError, match="not a Flywheel profile"):
        DatasetProfile.merge_bytes([b"nope"])
