"""Snapshots: reproducible hashes and bytes, canonical layout, manifest contents, input checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel.datasets import HEAD_COLUMNS, build_snapshot, read_parquet, to_parquet_bytes, write_parquet
from flywheel.datasets.canonical import table_digest
from flywheel.datasets.parquet import HASH_KEY, MANIFEST_KEY
from flywheel.errors import ValidationError
from flywheel.schema import ModelSpec
from tests.datasets.helpers import at, events_table, labels_table, simple_world

RULE = {"kind": "all"}


def _build(events: pa.Table, labels: pa.Table, **kw: object) -> object:
    return build_snapshot(events, labels, kw.pop("rule", RULE), kw.pop("policy", "majority"), "time", **kw)  # type: ignore[arg-type]


def test_same_inputs_give_same_hash_and_identical_parquet_bytes(tmp_path):
    events, labels = simple_world()
    a = _build(events, labels)
    b = _build(events, labels)
    assert a.content_hash == b.content_hash
    write_parquet(a, tmp_path / "a.parquet")
    write_parquet(b, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert to_parquet_bytes(a) == (tmp_path / "a.parquet").read_bytes()


def test_input_row_order_chunking_and_container_do_not_change_hash_or_bytes():
    events, labels = simple_world()
    base = _build(events, labels)
    rng = np.random.default_rng(1)
    shuffled_events = events.take(pa.array(rng.permutation(events.num_rows)))
    chunked_events = pa.concat_tables([shuffled_events.slice(0, 7), shuffled_events.slice(7)])
    shuffled_labels = labels.take(pa.array(rng.permutation(labels.num_rows)))
    for ev, lb in [
        (chunked_events, shuffled_labels),
        (events.to_pandas(), labels.to_pandas()),
        (events.cast(events.schema.set(0, pa.field("event_id", pa.large_string()))), labels),
    ]:
        other = _build(ev, lb)
        assert other.content_hash == base.content_hash
        assert to_parquet_bytes(other) == to_parquet_bytes(base)


def test_parquet_round_trip_keeps_rows_types_and_hash(tmp_path):
    events, labels = simple_world()
    snap = _build(events, labels)
    write_parquet(snap, tmp_path / "s.parquet")
    back = read_parquet(tmp_path / "s.parquet")
    assert back.content_hash == snap.content_hash
    assert back.table.schema == snap.table.schema
    assert back.table.equals(snap.table)
    assert back.manifest == snap.manifest
    assert read_parquet(to_parquet_bytes(snap)).content_hash == snap.content_hash


def test_parquet_metadata_holds_only_schema_manifest_and_hash(tmp_path):
    events, labels = simple_world()
    snap = _build(events.to_pandas(), labels.to_pandas())
    write_parquet(snap, tmp_path / "s.parquet")
    meta = pq.read_metadata(tmp_path / "s.parquet").metadata
    assert set(meta) == {b"ARROW:schema", MANIFEST_KEY, HASH_KEY}
    assert meta[HASH_KEY].decode() == snap.content_hash
    assert json.loads(meta[MANIFEST_KEY])["rows_hash"] == table_digest(snap.table)
    assert not list(tmp_path.glob("*.tmp"))


def test_altered_snapshot_file_is_refused(tmp_path):
    events, labels = simple_world()
    snap = _build(events, labels)
    labels_col = snap.table.column("label").to_pylist()
    labels_col[0] = "yes" if labels_col[0] == "no" else "no"
    tampered = snap.table.set_column(3, "label", pa.array(labels_col, pa.string()))
    meta = {MANIFEST_KEY: snap.manifest.canonical_json().encode(), HASH_KEY: snap.content_hash.encode()}
    pq.write_table(tampered.replace_schema_metadata(meta), tmp_path / "t.parquet")
    with pytest.raises(ValidationError, match="do not match its manifest"):
        read_parquet(tmp_path / "t.parquet")


def test_hash_changes_with_as_of_policy_split_parent_and_rows():
    events, labels = simple_world()
    base = _build(events, labels)
    variants = [
        _build(events, labels, rule={"kind": "all", "as_of": at(20)}),
        _build(events, labels, policy="latest"),
        build_snapshot(events, labels, RULE, "majority", "random"),
        _build(events, labels, parent="0" * 64),
        _build(events.slice(1), labels),
    ]
    hashes = {base.content_hash} | {v.content_hash for v in variants}
    assert len(hashes) == 1 + len(variants)


def test_rows_are_sorted_by_event_id_with_fixed_column_order():
    events, labels = simple_world()
    rng = np.random.default_rng(3)
    snap = _build(events.take(pa.array(rng.permutation(events.num_rows))), labels)
    ids = snap.table.column("event_id").to_pylist()
    assert ids == sorted(ids)
    names = snap.table.column_names
    assert tuple(names[: len(HEAD_COLUMNS)]) == HEAD_COLUMNS
    rest = names[len(HEAD_COLUMNS) :]
    assert rest == sorted(rest)
    assert set(rest) == set(events.column_names) - {"event_id", "timestamp", "ingested_at"}
    assert snap.table.schema.field("in.emb").type == pa.list_(pa.float32())
    assert snap.table.schema.field("label_ingested_at").type == pa.timestamp("us", tz="UTC")
    # the inputs travel unchanged with their event
    src = events.to_pandas().set_index("event_id")
    got = snap.to_pandas().set_index("event_id")
    np.testing.assert_array_equal(got["in.x"].to_numpy(), src.loc[got.index, "in.x"].to_numpy())


def test_manifest_records_rule_policy_as_of_counts_and_balance():
    events, labels = simple_world(n=40)
    # one late label, one event arriving late, one label for an event never seen
    extra = labels_table(
        [
            {"event_id": "e000", "value": "no", "arr": 500.0},
            {"event_id": "ghost", "value": "no", "arr": 5.0},
        ]
    )
    late_event = events_table(["late"], [10.0], [900.0])
    snap = build_snapshot(
        pa.concat_tables([events, late_event]),
        pa.concat_tables([labels, extra]),
        {"kind": "all", "as_of": at(100)},
        "latest",
        {"by": "time", "holdout": 0.25},
    )
    m = snap.manifest
    assert m.kind == "training" and m.as_of == at(100)
    assert m.rule == {"kind": "all", "as_of": "2024-01-05T04:00:00Z"}
    assert m.label_policy["policy"] == "latest"
    assert m.split == {"by": "time", "holdout": 0.25, "validation": 0.0, "seed": 0}
    assert m.counts["events_input"] == 41
    assert m.counts["events_not_arrived"] == 1
    assert m.counts["labels_not_arrived"] == 1
    assert m.counts["labels_orphaned"] == 1
    assert m.counts["rows"] == m.num_rows == 40
    assert m.split_counts == {"holdout": 10, "train": 30}
    assert m.class_balance == {"no": 30, "yes": 10}
    assert sum(m.class_balance_by_split["holdout"].values()) == 10
    assert [c["name"] for c in m.columns] == snap.table.column_names


def test_as_of_defaults_to_latest_arrival_in_inputs():
    events, labels = simple_world(n=10)
    snap = build_snapshot(events, labels)
    assert snap.manifest.as_of == at(10.0)  # the last label arrives an hour after the last event
    assert snap.num_rows == 10


def test_empty_inputs_give_an_empty_snapshot():
    events, labels = simple_world(n=3)
    snap = build_snapshot(events.slice(0, 0), labels.slice(0, 0))
    assert snap.num_rows == 0 and snap.manifest.class_balance == {}
    assert snap.content_hash == build_snapshot(events.slice(0, 0), labels.slice(0, 0)).content_hash


def test_retried_event_is_kept_once_from_its_first_arrival():
    events, labels = simple_world(n=5)
    retry = events_table(["e002"], [2.0], [3.5], seed=9)
    snap = build_snapshot(pa.concat_tables([retry, events]), labels)
    assert snap.num_rows == 5
    row = snap.to_pandas().set_index("event_id").loc["e002"]
    assert row["ingested_at"] == at(2.0)


@pytest.mark.parametrize("column", ["label", "weight", "split"])
def test_event_column_that_a_snapshot_adds_is_refused(column):
    events, labels = simple_world(n=3)
    with pytest.raises(ValidationError, match=column):
        build_snapshot(events.append_column(column, pa.array([1, 2, 3])), labels)


def test_missing_required_columns_are_named():
    events, labels = simple_world(n=3)
    with pytest.raises(ValidationError, match="ingested_at"):
        build_snapshot(events.drop_columns(["ingested_at"]), labels)
    with pytest.raises(ValidationError, match="value"):
        build_snapshot(events, labels.drop_columns(["value"]))


def test_spec_maps_labels_to_class_names_and_refuses_unknown_classes():
    events, labels = simple_world(n=8)
    spec = ModelSpec(
        name="m", task="binary", features=[{"name": "x", "kind": "numeric"}], class_names=["no", "yes"]
    )
    snap = build_snapshot(events, labels, spec=spec)
    assert snap.manifest.spec_hash == spec.spec_hash()
    assert snap.table.schema.field("label").type == pa.string()
    bad = labels_table([{"event_id": "e001", "value": "maybe", "arr": 100.0}])
    with pytest.raises(ValidationError, match="maybe"):
        build_snapshot(events, pa.concat_tables([labels, bad]), spec=spec)


def test_numeric_labels_are_typed_and_summarised():
    events, _ = simple_world(n=6)
    labels = labels_table([{"event_id": f"e{i:03d}", "value": float(i) / 2, "arr": 50.0} for i in range(6)])
    snap = build_snapshot(events, labels)
    assert snap.table.schema.field("label").type == pa.float64()
    assert snap.manifest.class_balance is None
    assert snap.manifest.label_stats == pytest.approx(
        {"mean": 1.25, "std": np.std(np.arange(6) / 2), "min": 0.0, "max": 2.5}
    )
    ints = labels_table([{"event_id": f"e{i:03d}", "value": i % 3, "arr": 50.0} for i in range(6)])
    snap = build_snapshot(events, ints)
    assert snap.table.schema.field("label").type == pa.int64()
    assert snap.manifest.class_balance == {"0": 2, "1": 2, "2": 2}


@pytest.mark.slow
def test_separate_processes_with_different_hash_seeds_write_identical_files(tmp_path):
    script = (
        "import sys\n"
        "from flywheel.datasets import build_snapshot, write_parquet\n"
        "from tests.datasets.helpers import simple_world\n"
        "events, labels = simple_world(n=30)\n"
        "snap = build_snapshot(events, labels, {'kind': 'sample', 'fraction': 0.5}, 'majority', 'random')\n"
        "write_parquet(snap, sys.argv[1])\n"
    )
    root = Path(__file__).resolve().parents[2]
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / f"{seed}.parquet")], env=env, cwd=root, check=True
        )
    assert (tmp_path / "1.parquet").read_bytes() == (tmp_path / "2.parquet").read_bytes()
