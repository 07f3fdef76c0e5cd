"""Diff between snapshots on crafted changes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from flywheel.datasets import build_snapshot, diff
from tests.datasets.helpers import events_table, labels_table


def _snap(labels: list[tuple[str, str]]):
    ids = sorted({e for e, _ in labels})
    events = events_table(ids, [float(i) for i in range(len(ids))])
    return build_snapshot(
        events,
        labels_table([{"event_id": e, "value": v, "arr": 100.0} for e, v in labels]),
        None,
        "latest",
        "none",
    )


def test_diff_lists_added_removed_and_relabelled_rows_with_old_and_new():
    a = _snap([("e1", "cat"), ("e2", "cat"), ("e3", "dog"), ("e4", "dog")])
    b = _snap([("e2", "cat"), ("e3", "cat"), ("e4", "dog"), ("e5", "bird"), ("e6", "cat")])
    d = diff(a, b)
    assert d.added == ["e5", "e6"]
    assert d.removed == ["e1"]
    assert [(r.event_id, r.old, r.new) for r in d.relabelled] == [("e3", "dog", "cat")]
    assert d.unchanged == 2
    assert d.class_balance_a == {"cat": 2, "dog": 2}
    assert d.class_balance_b == {"bird": 1, "cat": 3, "dog": 1}
    change = d.class_balance_change
    assert change["cat"]["delta"] == 1 and change["bird"]["a"] == 0 and change["dog"]["delta"] == -1
    assert change["cat"]["share_delta"] == pytest.approx(3 / 5 - 2 / 4)
    assert sum(c["share_b"] for c in change.values()) == pytest.approx(1.0)
    body = d.to_dict(limit=1)
    assert body["counts"] == {"added": 2, "removed": 1, "relabelled": 1, "unchanged": 2, "resplit": 0}
    assert body["added"] == ["e5"]


def test_diff_of_a_snapshot_with_itself_is_empty():
    a = _snap([("e1", "cat"), ("e2", "dog")])
    d = diff(a, a)
    assert (d.added, d.removed, d.relabelled, d.unchanged) == ([], [], [], 2)
    assert all(c["delta"] == 0 for c in d.class_balance_change.values())


def test_diff_counts_rows_that_moved_split():
    ids = [f"e{i}" for i in range(10)]
    events = events_table(ids, [float(i) for i in range(10)])
    labels = labels_table([{"event_id": e, "value": "x", "arr": 50.0} for e in ids])
    a = build_snapshot(events, labels, None, "latest", {"by": "time", "holdout": 0.2})
    more = events_table(["e10", "e11"], [10.0, 11.0])
    b = build_snapshot(
        pa.concat_tables([events, more]),
        pa.concat_tables(
            [labels, labels_table([{"event_id": e, "value": "x", "arr": 50.0} for e in ["e10", "e11"]])]
        ),
        None,
        "latest",
        {"by": "time", "holdout": 0.2},
    )
    d = diff(a, b)
    assert d.added == ["e10", "e11"] and d.resplit == 2  # e8, e9 move from holdout to train


def test_diff_of_regression_snapshots_has_no_class_balance():
    ids = ["e1", "e2"]
    events = events_table(ids, [0.0, 1.0])
    a = build_snapshot(events, labels_table([{"event_id": e, "value": 1.5, "arr": 5.0} for e in ids]))
    b = build_snapshot(
        events,
        labels_table(
            [{"event_id": "e1", "value": 1.5, "arr": 5.0}, {"event_id": "e2", "value": 2.5, "arr": 5.0}]
        ),
    )
    d = diff(a, b)
    assert d.class_balance_change is None
    assert [(r.event_id, r.old, r.new) for r in d.relabelled] == [("e2", 1.5, 2.5)]
