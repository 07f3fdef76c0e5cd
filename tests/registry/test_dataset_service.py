"""The dataset service: point-in-time snapshots of the store, stored, versioned and reproducible."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.datasets import read_parquet
from flywheel.datasets.service import DatasetService
from flywheel.errors import Conflict, NotFound, ValidationError
from flywheel.store import Store

from .helpers import add_events, add_feedback, add_labels, hours, populate, register


def test_building_twice_from_the_same_inputs_gives_the_same_dataset(store: Store) -> None:
    populate(store, n=60)
    svc = DatasetService(store)
    first = svc.build("m")
    again = svc.build("m")
    assert first.created and not again.created
    assert again.record.dataset_id == first.record.dataset_id
    assert again.snapshot.table.equals(first.snapshot.table)
    assert [r.ref for r in svc.list("m")] == ["training@1"]


def test_a_stored_snapshot_rebuilds_to_the_same_hash_and_bytes(store: Store) -> None:
    populate(store, n=60)
    svc = DatasetService(store)
    rec = svc.build("m", rule={"kind": "window", "rows": 40}, as_of=hours(100)).record
    # later arrivals must not change the rebuild of a snapshot taken before them
    add_events(store, "m", ["late"], [1.0], ["A"], event_hours=[10], arrival_hours=[500])
    add_labels(store, "m", ["e0001"], ["no"], arrival_hours=[500])
    res = svc.verify("m", rec.ref)
    assert res["same_content"] and res["same_bytes"]
    data = store.artifacts.get(rec.artifact)
    assert hashlib.sha256(data).hexdigest() == rec.artifact
    assert read_parquet(data).content_hash == rec.content_hash == svc.load("m", rec.dataset_id).content_hash


def test_a_changed_pool_makes_a_new_version_whose_parent_is_the_last(store: Store) -> None:
    populate(store, n=40)
    svc = DatasetService(store)
    v1 = svc.build("m").record
    add_events(store, "m", ["new"], [2.0], ["A"], event_hours=[50], arrival_hours=[50])
    add_labels(store, "m", ["new"], ["yes"], arrival_hours=[51])
    v2 = svc.build("m").record
    assert (v2.version, v2.parent_id) == (2, v1.dataset_id)
    assert v2.manifest["parent"] == v1.content_hash
    d = svc.diff("m", "training@1", "training@2")
    assert d["added"] == ["new"] and d["counts"]["removed"] == 0
    assert svc.get("m", "training").dataset_id == v2.dataset_id  # a bare name is the latest version


def test_as_of_keeps_only_what_had_arrived(store: Store) -> None:
    register(store)
    add_events(
        store, "m", ["a", "b", "c"], [1, -1, 1], ["A"] * 3, event_hours=[0, 1, 2], arrival_hours=[0, 1, 30]
    )
    add_labels(store, "m", ["a", "b", "c"], ["yes", "no", "yes"], arrival_hours=[5, 20, 31])
    add_labels(store, "m", ["a"], ["no"], arrival_hours=[25])  # relabelled after T
    snap = DatasetService(store).build("m", as_of=hours(10), split="none").snapshot
    assert snap.table.column("event_id").to_pylist() == ["a"]
    assert snap.table.column("label").to_pylist() == ["yes"]
    assert snap.manifest.as_of == hours(10)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 40),  # event arrival (hours)
            st.lists(st.tuples(st.integers(0, 60), st.booleans()), max_size=3),  # labels: arrival, value
        ),
        min_size=1,
        max_size=12,
    ),
    as_of=st.integers(0, 60),
)
def test_as_of_never_holds_a_label_that_arrived_after_it(store: Store, data: list, as_of: int) -> None:
    model = f"p{next(_models)}"
    register(store, model)
    ids = [f"e{i}" for i in range(len(data))]
    add_events(
        store,
        model,
        ids,
        [0.5] * len(ids),
        ["A"] * len(ids),
        event_hours=[0] * len(ids),
        arrival_hours=[a for a, _ in data],
    )
    expected: dict[str, str] = {}
    for eid, (arrived, labels) in zip(ids, data, strict=True):
        for k, (at, yes) in enumerate(labels):
            # distinct label times per event so "latest" is well defined: ties broken by order given
            add_labels(store, model, [eid], ["yes" if yes else "no"], arrival_hours=[at + k / 100])
        seen = [(at + k / 100, yes) for k, (at, yes) in enumerate(labels) if at + k / 100 <= as_of]
        if arrived <= as_of and seen:
            expected[eid] = "yes" if max(seen)[1] else "no"
    svc = DatasetService(store)
    if not expected:
        with pytest.raises(ValidationError):
            svc.build(model, as_of=hours(as_of), split="none")
        return
    snap = svc.build(model, as_of=hours(as_of), split="none").snapshot
    rows = snap.table.to_pydict()
    assert dict(zip(rows["event_id"], rows["label"], strict=True)) == expected
    assert all(t <= hours(as_of) for t in rows["label_ingested_at"])
    assert all(t <= hours(as_of) for t in rows["ingested_at"])


_models = itertools.count()


def test_eval_sets_are_versioned_only_when_their_rows_or_labels_change(store: Store) -> None:
    populate(store, n=40)
    svc = DatasetService(store)
    golden = {"kind": "golden", "event_ids": ["e0001", "e0002", "e0003"]}
    v1 = svc.build_eval_set("m", "golden", golden)
    same = svc.build_eval_set("m", "golden", {"kind": "golden", "event_ids": ["e0003", "e0001", "e0002"]})
    assert v1.created and not same.created and same.record.dataset_id == v1.record.dataset_id
    add_labels(
        store,
        "m",
        ["e0002"],
        ["yes" if v1.snapshot.table.column("label")[1].as_py() == "no" else "no"],
        arrival_hours=[900],
    )
    v2 = svc.build_eval_set("m", "golden", golden)
    assert v2.created and v2.record.version == 2 and v2.record.parent_id == v1.record.dataset_id
    assert [r.ref for r in svc.eval_sets("m")] == ["golden@2"]
    assert svc.verify("m", "golden@2")["same_content"]


def test_edge_cases_come_from_flagged_feedback_as_of_its_arrival(store: Store) -> None:
    populate(store, n=30)
    add_feedback(store, "m", ["e0003", "e0007"], "flag", arrival_hours=[40, 40])
    add_feedback(store, "m", ["e0009"], "thumbs_down", arrival_hours=[100])
    svc = DatasetService(store)
    early = svc.build_eval_set("m", "edge", {"kind": "edge-cases"}, as_of=hours(50))
    assert early.snapshot.table.column("event_id").to_pylist() == ["e0003", "e0007"]
    later = svc.build_eval_set("m", "edge", {"kind": "edge-cases"})
    assert later.snapshot.table.column("event_id").to_pylist() == ["e0003", "e0007", "e0009"]
    assert later.record.version == 2


def test_slice_sets_cover_each_value_of_a_group_by_slice(store: Store) -> None:
    _, country = populate(store, n=80)
    built = DatasetService(store).build_slice_sets("m")
    sizes = {b.record.name: b.record.num_rows for b in built}
    assert sizes == {
        "slice-country-A": int((country == "A").sum()),
        "slice-country-B": int((country == "B").sum()),
    }
    assert not any(b.created for b in DatasetService(store).build_slice_sets("m"))


def test_names_are_either_training_sets_or_eval_sets(store: Store) -> None:
    populate(store, n=30)
    svc = DatasetService(store)
    svc.build("m", name="golden")
    with pytest.raises(Conflict):
        svc.build_eval_set("m", "golden", {"kind": "golden", "event_ids": ["e0001"]})


def test_unknown_references_and_empty_pools_say_what_to_do(store: Store) -> None:
    register(store)
    svc = DatasetService(store)
    with pytest.raises(ValidationError, match="no labelled events"):
        svc.build("m")
    with pytest.raises(NotFound, match="flywheel dataset list"):
        svc.get("m", "training@3")
