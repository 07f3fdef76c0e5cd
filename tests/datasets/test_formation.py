"""Formation rules (window, sample, recency) and splits, against exact NumPy oracles."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.datasets import build_snapshot, parse_rule, parse_split
from flywheel.datasets.formation import allocate, assign_split, stratified_sample, time_buckets
from flywheel.datasets.rules import Split
from flywheel.errors import ValidationError
from tests.datasets.helpers import at, events_table, labels_table, simple_world

US_PER_HOUR = 3_600_000_000


def _world(classes: list[str], hours: list[float] | None = None):
    n = len(classes)
    ids = [f"e{i:04d}" for i in range(n)]
    hours = hours if hours is not None else [float(i) for i in range(n)]
    events = events_table(ids, hours, [h + 0.5 for h in hours])
    labels = labels_table(
        [{"event_id": e, "value": c, "arr": h + 1} for e, c, h in zip(ids, classes, hours, strict=True)]
    )
    return events, labels


def test_window_by_days_keeps_event_times_in_the_half_open_window():
    events, labels = simple_world(n=100)  # event i at hour i, label at hour i + 1
    as_of = at(80)
    snap = build_snapshot(events, labels, {"kind": "window", "days": 1.0, "as_of": as_of}, "latest", "none")
    hours = np.arange(100)
    expected = {f"e{i:03d}" for i in hours[(hours > 80 - 24) & (hours <= 80) & (hours + 1 <= 80)]}
    assert set(snap.table.column("event_id").to_pylist()) == expected
    assert len(expected) == 23  # hours 57..79; 80's label has not arrived


def test_window_by_rows_keeps_the_latest_labelled_events():
    events, labels = simple_world(n=50)
    rng = np.random.default_rng(0)
    shuffled = events.take(pa.array(rng.permutation(50)))
    snap = build_snapshot(shuffled, labels, {"kind": "window", "rows": 10, "as_of": at(30)}, "latest", "none")
    assert sorted(snap.table.column("event_id").to_pylist()) == [f"e{i:03d}" for i in range(20, 30)]


def test_recency_weights_halve_every_half_life():
    events, labels = simple_world(n=60)
    snap = build_snapshot(events, labels, {"kind": "recency", "half_life_days": 0.5}, "latest", "none")
    t = snap.to_pandas()
    as_of_us = (snap.manifest.as_of - at(0)).total_seconds() * 1e6
    ts_us = (t["timestamp"] - t["timestamp"].min()).dt.total_seconds().to_numpy() * 1e6
    age_days = (as_of_us - ts_us) / (24 * US_PER_HOUR)
    np.testing.assert_allclose(t["weight"].to_numpy(), 0.5 ** (age_days / 0.5), rtol=1e-12)
    assert snap.num_rows == 60


def test_sample_by_class_keeps_class_proportions_exactly_when_they_divide():
    classes = ["a"] * 700 + ["b"] * 200 + ["c"] * 100
    events, labels = _world(classes)
    snap = build_snapshot(
        events, labels, {"kind": "sample", "fraction": 0.1, "stratify": "class"}, "latest", "none"
    )
    assert snap.manifest.class_balance == {"a": 70, "b": 20, "c": 10}


def test_sample_is_fixed_by_seed_and_changes_with_it():
    events, labels = _world(["a", "b"] * 100)
    rule = {"kind": "sample", "n": 40, "seed": 1}
    a = build_snapshot(events, labels, rule, "latest", "none")
    b = build_snapshot(events, labels, rule, "latest", "none")
    c = build_snapshot(events, labels, {**rule, "seed": 2}, "latest", "none")
    assert a.content_hash == b.content_hash
    assert a.table.column("event_id").to_pylist() != c.table.column("event_id").to_pylist()


def test_sample_draw_of_an_event_does_not_depend_on_the_others():
    ids = np.array([f"e{i}" for i in range(200)], dtype=object)
    full = stratified_sample(ids, None, fraction=0.5, seed=3)
    half = stratified_sample(ids[:100], None, fraction=0.5, seed=3)
    # the same events keep the same keys: most of the half-pool's picks were picked from the full pool too
    assert (full[:100] & half).sum() >= 0.6 * half.sum()


def test_sample_by_slice_keeps_each_slice_share():
    events, labels = _world(["a"] * 300)
    country = np.array(["DE"] * 150 + ["FR"] * 120 + ["US"] * 30, dtype=object)
    events = events.set_column(
        events.column_names.index("in.country"), "in.country", pa.array(country.tolist())
    )
    snap = build_snapshot(
        events, labels, {"kind": "sample", "n": 30, "stratify": "slice", "slice": "country"}, "latest", "none"
    )
    got = snap.to_pandas()["in.country"].value_counts().to_dict()
    assert got == {"DE": 15, "FR": 12, "US": 3}
    cond = build_snapshot(
        events,
        labels,
        {"kind": "sample", "n": 30, "stratify": "slice", "slice": "country == 'US'"},
        "latest",
        "none",
    )
    assert (cond.to_pandas()["in.country"] == "US").sum() == 3


def test_sample_by_time_bucket_keeps_each_day_share():
    hours = [float(h) for h in range(0, 72, 1)]  # three days, 24 events each
    events, labels = _world(["a"] * len(hours), hours)
    snap = build_snapshot(
        events,
        labels,
        {"kind": "sample", "n": 12, "stratify": "time", "time_bucket": "day"},
        "latest",
        "none",
    )
    days = snap.to_pandas()["timestamp"].dt.day.value_counts().to_dict()
    assert days == {1: 4, 2: 4, 3: 4}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=8), st.integers(0, 300))
def test_allocation_is_within_one_row_of_the_exact_quota(sizes, n):
    sizes_arr = np.array(sizes)
    take = allocate(sizes_arr, n)
    total = min(n, int(sizes_arr.sum()))
    assert take.sum() == total
    assert (take <= sizes_arr).all() and (take >= 0).all()
    if sizes_arr.sum():
        quota = sizes_arr * total / sizes_arr.sum()
        assert np.all(np.abs(take - quota) < 1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=120), st.floats(0.01, 1.0), st.integers(0, 5))
def test_stratified_sample_keeps_class_proportions_within_rounding(classes, fraction, seed):
    ids = np.array([f"e{i}" for i in range(len(classes))], dtype=object)
    strata = np.array(classes, dtype=object)
    keep = stratified_sample(ids, strata, fraction=fraction, seed=seed)
    total = int(np.floor(fraction * len(classes) + 0.5))
    assert keep.sum() == total
    for c in set(classes):
        size = (strata == c).sum()
        assert abs((keep & (strata == c)).sum() - total * size / len(classes)) < 1


def test_time_split_holds_out_the_most_recent_rows():
    events, labels = simple_world(n=50)
    snap = build_snapshot(events, labels, None, "latest", {"by": "time", "holdout": 0.2, "validation": 0.1})
    t = snap.to_pandas()
    assert snap.manifest.split_counts == {"holdout": 10, "train": 35, "validation": 5}
    assert t.loc[t.split == "train", "timestamp"].max() < t.loc[t.split == "validation", "timestamp"].min()
    assert t.loc[t.split == "validation", "timestamp"].max() < t.loc[t.split == "holdout", "timestamp"].min()
    assert snap.to_pandas("holdout").shape[0] == 10


def test_random_split_is_seeded():
    ids = np.array([f"e{i}" for i in range(100)], dtype=object)
    ts = np.arange(100) * US_PER_HOUR
    a = assign_split(ids, ts, Split(by="random", holdout=0.3, seed=4))
    assert (a == "holdout").sum() == 30
    np.testing.assert_array_equal(a, assign_split(ids, ts, Split(by="random", holdout=0.3, seed=4)))
    assert not np.array_equal(a, assign_split(ids, ts, Split(by="random", holdout=0.3, seed=5)))
    assert (a[70:] == "holdout").sum() < 30  # not simply the latest
    assert (assign_split(ids, ts, Split(by="none")) == "train").all()


def test_time_buckets_are_utc_calendar_units():
    ts = np.array([0, 23 * US_PER_HOUR, 24 * US_PER_HOUR, 24 * 40 * US_PER_HOUR], dtype=np.int64)
    assert time_buckets(ts, "day").tolist() == ["1970-01-01", "1970-01-01", "1970-01-02", "1970-02-10"]
    assert time_buckets(ts, "week").tolist() == ["1969-12-29", "1969-12-29", "1969-12-29", "1970-02-09"]
    assert time_buckets(ts, "month").tolist() == ["1970-01", "1970-01", "1970-01", "1970-02"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "window"}, "exactly one of 'days' or 'rows'"),
        ({"kind": "window", "days": 3, "rows": 5}, "exactly one of 'days' or 'rows'"),
        ({"kind": "window", "days": -1}, "days"),
        ({"kind": "sample"}, "exactly one of 'n' or 'fraction'"),
        ({"kind": "sample", "fraction": 1.5}, "fraction"),
        ({"kind": "sample", "n": 5, "stratify": "slice"}, "needs 'slice'"),
        ({"kind": "recency"}, "half_life_days"),
        ({"kind": "bogus"}, "kind"),
        ({"kind": "all", "extra": 1}, "extra"),
    ],
)
def test_bad_rules_are_refused_with_the_field_named(raw, message):
    with pytest.raises(ValidationError, match=message):
        parse_rule(raw)


def test_bad_split_is_refused():
    with pytest.raises(ValidationError, match="below 1"):
        parse_split({"holdout": 0.6, "validation": 0.4})
    with pytest.raises(ValidationError, match="by"):
        parse_split("sideways")


def test_unknown_slice_feature_is_named():
    events, labels = simple_world(n=10)
    with pytest.raises(ValidationError, match="in.age"):
        build_snapshot(events, labels, {"kind": "sample", "n": 3, "stratify": "slice", "slice": "age < 30"})
