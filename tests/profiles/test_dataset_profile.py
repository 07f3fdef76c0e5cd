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
