"""Point-in-time correctness: a snapshot as of T sees exactly what had arrived by T."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.datasets import build_snapshot
from tests.datasets.helpers import at, events_table, labels_table


def _snap(events: pa.Table, labels: pa.Table, as_of_hours: float, policy: str = "latest"):
    return build_snapshot(events, labels, {"kind": "all", "as_of": at(as_of_hours)}, policy, "none")


def test_label_is_chosen_among_labels_that_had_arrived():
    events = events_table(["e1"], [0.0], [1.0])
    labels = labels_table(
        [
            {"event_id": "e1", "value": "cat", "arr": 2.0},
            {"event_id": "e1", "value": "dog", "made": 3.0, "arr": 4.0},  # made at 3, arrives at 4
        ]
    )
    assert _snap(events, labels, 0.5).num_rows == 0  # the event had not arrived
    assert _snap(events, labels, 1.5).num_rows == 0  # no label yet
    assert _snap(events, labels, 3.5).table.column("label").to_pylist() == [
        "cat"
    ]  # dog was made, not arrived
    assert _snap(events, labels, 4.0).table.column("label").to_pylist() == ["dog"]  # arrival at T counts


def test_label_that_arrived_before_its_event_waits_for_the_event():
    events = events_table(["e1"], [0.0], [5.0])  # event time 0, but logged late
    labels = labels_table([{"event_id": "e1", "value": "cat", "arr": 1.0}])
    early = _snap(events, labels, 3.0)
    assert early.num_rows == 0 and early.manifest.counts["labels_orphaned"] == 1
    assert _snap(events, labels, 5.0).num_rows == 1


def test_event_time_alone_does_not_admit_an_event():
    # event time before T but arrival after T: not in a snapshot as of T
    events = events_table(["e1", "e2"], [0.0, 0.0], [1.0, 10.0])
    labels = labels_table(
        [{"event_id": "e1", "value": 1, "arr": 2.0}, {"event_id": "e2", "value": 0, "arr": 2.0}]
    )
    assert _snap(events, labels, 5.0).table.column("event_id").to_pylist() == ["e1"]


@st.composite
def worlds(draw):
    n_events = draw(st.integers(1, 12))
    ids = [f"e{i}" for i in range(n_events)]
    hours = st.integers(0, 48).map(float)
    event_time = draw(st.lists(hours, min_size=n_events, max_size=n_events))
    event_arrival = [t + draw(hours) for t in event_time]
    n_labels = draw(st.integers(0, 25))
    rows = []
    for j in range(n_labels):
        arr = draw(hours) * 2
        rows.append(
            {
                "event_id": draw(st.sampled_from(ids + ["unknown"])),
                "value": draw(st.sampled_from(["a", "b", "c"])),
                "arr": arr,
                "made": arr - draw(st.integers(0, 5)),
                "label_id": f"l{j}",
            }
        )
    as_of = draw(hours) * 2
    return ids, event_time, event_arrival, rows, as_of


@settings(max_examples=40, deadline=None)
@given(worlds())
def test_snapshot_as_of_t_holds_exactly_what_had_arrived_by_t(world):
    ids, event_time, event_arrival, rows, as_of = world
    events = events_table(ids, event_time, event_arrival)
    labels = labels_table(rows)
    snap = _snap(events, labels, as_of)
    t = snap.to_pandas()

    # nothing that arrived after T
    assert (t["ingested_at"] <= at(as_of)).all()
    assert (t["label_ingested_at"] <= at(as_of)).all()

    # every event that arrived by T and has a label that arrived by T, and no other
    arrived = {e for e, a in zip(ids, event_arrival, strict=True) if a <= as_of}
    arrived_labels = [r for r in rows if r["arr"] <= as_of and r["event_id"] in arrived]
    assert set(t["event_id"]) == {r["event_id"] for r in arrived_labels}

    # each label is the latest made among those that had arrived (ties: later arrival, then label id)
    for event_id, label in zip(t["event_id"], t["label"], strict=True):
        mine = [r for r in arrived_labels if r["event_id"] == event_id]
        latest = max(mine, key=lambda r: (r["made"], r["arr"], r["label_id"]))
        assert label == latest["value"]
        assert t.set_index("event_id").loc[event_id, "label_count"] == len(mine)
