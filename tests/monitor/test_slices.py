"""Slice masks from slice definitions, and metrics per slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.errors import ValidationError
from flywheel.monitor.performance import classification_metrics
from flywheel.monitor.slices import per_slice, slice_masks
from flywheel.schema import ModelSpec, Slice


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [25.0, 40.0, 31.0, None, 18.0, 30.0],
            "country": ["DE", "FR", "DE", None, "US", "FR"],
            "tier": pd.Categorical(["a", "b", "a", "b", "a", "a"]),
        }
    )


def _s(expr: str, name: str | None = None) -> Slice:
    return Slice(name=name or expr, expr=expr)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("age < 30", [True, False, False, False, True, False]),
        ("age <= 30", [True, False, False, False, True, True]),
        ("age > 30", [False, True, True, False, False, False]),
        ("age >= 30", [False, True, True, False, False, True]),
        ("age == 30", [False, False, False, False, False, True]),
        ("age != 30", [True, True, True, False, True, False]),
        ("country == 'DE'", [True, False, True, False, False, False]),
        ("country in ['DE', 'US']", [True, False, True, False, True, False]),
    ],
)
def test_comparison_slices_match_pandas_and_exclude_nulls(
    frame: pd.DataFrame, expr: str, expected: list[bool]
) -> None:
    masks = slice_masks([_s(expr, "s")], frame)
    assert list(masks) == ["s"]
    assert masks["s"].dtype == bool
    assert masks["s"].tolist() == expected


def test_group_by_slice_gives_one_mask_per_value_and_one_for_nulls(frame: pd.DataFrame) -> None:
    masks = slice_masks([_s("country")], frame)
    assert list(masks) == ["country=DE", "country=FR", "country=US", "country=<null>"]
    assert masks["country=FR"].tolist() == [False, True, False, False, False, True]
    assert masks["country=<null>"].tolist() == [False, False, False, True, False, False]
    total = np.sum([m.astype(int) for m in masks.values()], axis=0)
    assert total.tolist() == [1] * len(frame)  # a partition of the rows


def test_group_by_works_on_categorical_columns(frame: pd.DataFrame) -> None:
    masks = slice_masks([_s("tier")], frame)
    assert masks["tier=a"].sum() == 4 and masks["tier=b"].sum() == 2


def test_group_by_pools_rare_values_beyond_max_groups() -> None:
    col = ["x"] * 5 + ["y"] * 3 + ["z", "w"]
    masks = slice_masks([_s("c")], pd.DataFrame({"c": col}), max_groups=2)
    assert list(masks) == ["c=x", "c=y", "c=<other>"]
    assert masks["c=<other>"].tolist() == [False] * 8 + [True, True]


def test_model_spec_slices_are_used_in_order(frame: pd.DataFrame) -> None:
    spec = ModelSpec(
        name="m",
        task="binary",
        class_names=["no", "yes"],
        features=[{"name": "age", "kind": "numeric"}, {"name": "country", "kind": "categorical"}],
        slices=["age < 30", {"name": "big markets", "expr": "country in ['DE', 'FR']"}],
    )
    masks = slice_masks(spec, frame)
    assert list(masks) == ["age < 30", "big markets"]
    assert masks["big markets"].sum() == 4


def test_missing_column_and_bad_comparison_raise_validation_errors(frame: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="lacks"):
        slice_masks([_s("height > 3")], frame)
    with pytest.raises(ValidationError, match="cannot compare"):
        slice_masks([_s("country < 3")], frame)
    with pytest.raises(ValidationError, match="needs a list"):
        slice_masks([_s("country in 'DE'")], frame)
    with pytest.raises(ValidationError, match="'max_groups' parameter"):
        slice_masks([_s("country")], frame, max_groups=0)


def test_per_slice_computes_each_metric_on_the_slice_rows_only(frame: pd.DataFrame) -> None:
    y = np.array([1, 0, 1, 1, 0, 0])
    pred = np.array([1, 1, 1, 0, 0, 1])
    masks = slice_masks([_s("country")], frame)
    res = per_slice(masks, classification_metrics, y, pred, classes=[0, 1], n_boot=0)
    assert res["country=DE"]["accuracy"].value == 1.0
    assert res["country=FR"]["accuracy"].value == 0.0
    assert res["country=US"]["accuracy"].n == 1
    assert set(per_slice(masks, classification_metrics, y, pred, classes=[0, 1], min_rows=2)) == {
        "country=DE",
        "country=FR",
    }


def test_per_slice_passes_none_arrays_through() -> None:
    seen: list[object] = []
    per_slice({"a": np.array([True, False])}, lambda x, p: seen.append(p), np.array([1, 2]), None)
    assert seen == [None]
