"""Eval sets: golden ids, edge cases from feedback, per-slice sets, and content versioning."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from flywheel.datasets import build_eval_set, slice_eval_sets, slice_set_name
from flywheel.errors import ValidationError
from flywheel.schema import ModelSpec
from tests.datasets.helpers import at, labels_table, simple_world


def _feedback(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feedback_id": [f"f{i}" for i in range(len(rows))],
            "event_id": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "value": [None] * len(rows),
            "ingested_at": [at(r[2]) for r in rows],
        }
    )


def test_golden_set_holds_the_labelled_requested_ids_and_counts_the_missing():
    events, labels = simple_world(n=10)
    snap = build_eval_set(
        events, labels, {"kind": "golden", "event_ids": ["e003", "e001", "nope"]}, name="golden"
    )
    assert snap.table.column("event_id").to_pylist() == ["e001", "e003"]
    m = snap.manifest
    assert (m.kind, m.name, m.version, m.parent) == ("eval", "golden", 1, None)
    assert m.rule["event_ids"] == ["e001", "e003", "nope"]
    assert m.counts["ids_requested"] == 3 and m.counts["ids_missing"] == 1
    assert set(snap.table.column("split").to_pylist()) == {"eval"}
    assert set(snap.table.column("weight").to_pylist()) == {1.0}


def test_edge_cases_come_from_flag_and_thumbs_down_feedback_that_had_arrived():
    events, labels = simple_world(n=10)  # event i labelled at hour i + 1
    fb = _feedback(
        [
            ("e001", "flag", 2.0),
            ("e002", "thumbs_down", 3.0),
            ("e003", "thumbs_up", 3.0),
            ("e004", "flag", 50.0),  # arrives after as_of
            ("e008", "flag", 4.0),  # its label arrives at 9, after as_of
        ]
    )
    rule = {"kind": "edge-cases", "as_of": at(6)}
    snap = build_eval_set(events, labels, rule, name="edge-cases", feedback=fb)
    assert snap.table.column("event_id").to_pylist() == ["e001", "e002"]
    assert snap.manifest.counts["selected_unlabelled"] == 1
    only_flags = build_eval_set(
        events, labels, {**rule, "feedback_kinds": ["flag"]}, name="flags", feedback=pa.Table.from_pandas(fb)
    )
    assert only_flags.table.column("event_id").to_pylist() == ["e001"]
    with pytest.raises(ValidationError, match="feedback"):
        build_eval_set(events, labels, rule, name="edge-cases")


def test_unchanged_content_keeps_the_version_and_new_content_makes_the_next():
    events, labels = simple_world(n=10)
    rule = {"kind": "golden", "event_ids": ["e001", "e002"], "as_of": at(5)}
    v1 = build_eval_set(events, labels, rule, name="golden")
    later = build_eval_set(events, labels, {**rule, "as_of": at(20)}, name="golden", previous=v1)
    assert later is v1  # same rows, rule and policy: no new version
    agreeing = labels_table([{"event_id": "e001", "value": "no", "arr": 6.0}])
    more = build_eval_set(
        events, pa.concat_tables([labels, agreeing]), {**rule, "as_of": at(7)}, name="golden", previous=v1
    )
    assert more is v1  # one more agreeing label changes no label
    relabel = labels_table([{"event_id": "e002", "value": "yes", "arr": 7.0}])
    v2 = build_eval_set(
        events, pa.concat_tables([labels, relabel]), {**rule, "as_of": at(8)}, name="golden", previous=v1
    )
    assert (v2.manifest.version, v2.manifest.parent) == (2, v1.content_hash)
    assert v2.content_hash != v1.content_hash
    v3 = build_eval_set(events, labels, {**rule, "event_ids": ["e001"]}, name="golden", previous=v2)
    assert v3.manifest.version == 3
    with pytest.raises(ValidationError, match="latest version"):
        build_eval_set(events, labels, rule, name="other", previous=v1)


def test_slice_sets_follow_the_spec_one_per_value_of_a_group_by_slice():
    events, labels = simple_world(n=30)
    spec = ModelSpec(
        name="m",
        task="binary",
        features=[{"name": "x", "kind": "numeric"}, {"name": "country", "kind": "categorical"}],
        class_names=["no", "yes"],
        slices=["country", "x < 0"],
    )
    sets = slice_eval_sets(events, labels, spec)
    countries = sorted(set(events.column("in.country").to_pylist()))
    assert set(sets) == {slice_set_name("country", c) for c in countries} | {"slice-x_lt_0"}
    for c in countries:
        got = sets[slice_set_name("country", c)].to_pandas()
        assert (got["in.country"] == c).all()
        assert len(got) == events.column("in.country").to_pylist().count(c)
    neg = sets["slice-x_lt_0"].to_pandas()
    assert (neg["in.x"] < 0).all()
    assert len(neg) == sum(x < 0 for x in events.column("in.x").to_pylist())
    again = slice_eval_sets(events, labels, spec, previous=sets)
    assert all(again[k] is sets[k] for k in sets)


def test_slice_rule_needs_a_value_only_for_group_by_slices():
    events, labels = simple_world(n=5)
    with pytest.raises(ValidationError, match="needs a 'value'"):
        build_eval_set(events, labels, {"kind": "slice", "expr": "country"}, name="s")
    with pytest.raises(ValidationError, match="drop 'value'"):
        build_eval_set(events, labels, {"kind": "slice", "expr": "x < 0", "value": "true"}, name="s")
    with pytest.raises(ValidationError, match="name"):
        build_eval_set(events, labels, {"kind": "golden", "event_ids": ["e1"]}, name="bad name!")


def test_slice_set_names_are_valid_names():
    assert slice_set_name("age < 30") == "slice-age_lt_30"
    assert slice_set_name("country", "DE") == "slice-country-DE"
    assert slice_set_name("score >= 0.5") == "slice-score_ge_0.5"
