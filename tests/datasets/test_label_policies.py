"""Label policies on crafted disagreements, and the record of how each label was chosen."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from flywheel.datasets import LabelPolicy, build_snapshot, resolve_labels
from flywheel.errors import ValidationError
from tests.datasets.helpers import events_table, labels_table


def _one(rows, policy) -> dict:
    out = resolve_labels(labels_table(rows), policy)
    assert len(out) == 1
    return out.iloc[0].to_dict()


def L(value, arr, source="annotator", made=None, **kw):
    row = {"event_id": "e1", "value": value, "arr": arr, "source": source, **kw}
    if made is not None:
        row["made"] = made
    return row


def test_latest_orders_by_when_the_label_was_made_not_when_it_arrived():
    r = _one([L("cat", arr=10, made=9), L("dog", arr=5, made=5), L("bird", arr=6, made=1)], "latest")
    assert (r["label_key"], r["label_how"], r["label_count"]) == ('"cat"', "latest", 3)
    assert r["label_agreement"] == pytest.approx(1 / 3)


def test_single_label_is_marked_only():
    r = _one([L("cat", arr=1)], "majority")
    assert (r["label_key"], r["label_how"], r["label_agreement"]) == ('"cat"', "only", 1.0)


def test_majority_takes_the_most_frequent_value_and_records_agreement():
    r = _one(
        [L("cat", arr=1), L("dog", arr=2), L("cat", arr=3), L("dog", arr=4), L("cat", arr=0.5)], "majority"
    )
    assert (r["label_key"], r["label_how"]) == ('"cat"', "majority")
    assert r["label_agreement"] == pytest.approx(3 / 5)


def test_majority_tie_goes_to_adjudication_label():
    rows = [L("cat", arr=1), L("dog", arr=5), L("bird", arr=2, source="adjudication")]
    r = _one(rows, "majority")
    assert (r["label_key"], r["label_how"], r["label_source"]) == (
        '"bird"',
        "tie-adjudication",
        "adjudication",
    )


def test_majority_tie_without_adjudication_goes_to_latest_tied_value():
    rows = [L("cat", arr=1), L("dog", arr=3), L("cat", arr=2), L("dog", arr=4), L("fox", arr=9)]
    r = _one(rows, "majority")  # cat 2, dog 2, fox 1: fox is latest but not tied
    assert (r["label_key"], r["label_how"]) == ('"dog"', "tie-latest")
    assert r["label_agreement"] == pytest.approx(2 / 5)


def test_adjudicated_first_overrides_a_clear_majority():
    rows = [L("cat", arr=1), L("cat", arr=2), L("cat", arr=3), L("dog", arr=4, source="adjudication")]
    r = _one(rows, "adjudicated-first")
    assert (r["label_key"], r["label_how"], r["label_agreement"]) == ('"dog"', "adjudication", 0.25)
    r = _one(rows[:3] + [L("dog", arr=4)], "adjudicated-first")  # no adjudication: majority
    assert (r["label_key"], r["label_how"]) == ('"cat"', "majority")


def test_source_priority_votes_only_within_the_most_trusted_source_present():
    rows = [
        L("cat", arr=9, source="outcome"),
        L("cat", arr=8, source="import"),
        L("dog", arr=1, source="annotator"),
        L("dog", arr=2, source="annotator"),
        L("cat", arr=3, source="annotator"),
    ]
    r = _one(rows, "source-priority")
    assert (r["label_key"], r["label_how"], r["label_source"]) == ('"dog"', "annotator:majority", "annotator")
    assert r["label_agreement"] == pytest.approx(2 / 5)
    r = _one(rows, LabelPolicy(policy="source-priority", sources=("outcome", "annotator")))
    assert (r["label_key"], r["label_how"], r["label_count"]) == ('"cat"', "outcome:only", 4)


def test_model_labels_count_only_when_asked_for():
    rows = [L("cat", arr=1, source="annotator"), L("dog", arr=5, source="model")]
    assert _one(rows, "latest")["label_key"] == '"cat"'
    with_model = LabelPolicy(policy="latest", sources=("annotator", "model"))
    assert _one(rows, with_model)["label_key"] == '"dog"'
    only_model = resolve_labels(labels_table(rows[1:]), "latest")
    assert only_model.empty


def test_retried_label_with_same_id_votes_once():
    rows = [L("cat", arr=1, label_id="a"), L("dog", arr=2, label_id="b"), L("dog", arr=3, label_id="b")]
    r = _one(rows, "majority")  # without dedup dog would win 2:1
    assert (r["label_how"], r["label_count"]) == ("tie-latest", 2)


def test_null_label_is_ignored():
    r = _one([L("cat", arr=1), L(None, arr=5)], "latest")
    assert (r["label_key"], r["label_count"]) == ('"cat"', 1)


def test_choice_does_not_depend_on_input_row_order():
    rows = [
        L(v, arr=float(i % 3), source=s)
        for i, (v, s) in enumerate(
            [
                ("cat", "annotator"),
                ("dog", "annotator"),
                ("dog", "adjudication"),
                ("cat", "outcome"),
                ("fox", "annotator"),
            ]
        )
    ]
    table = labels_table(rows)
    rng = np.random.default_rng(0)
    for policy in ("latest", "majority", "adjudicated-first", "source-priority"):
        base = resolve_labels(table, policy)
        for _ in range(5):
            again = resolve_labels(table.take(pa.array(rng.permutation(table.num_rows))), policy)
            assert again.equals(base), policy


def test_policies_apply_per_event_in_one_pass():
    rows = [
        {"event_id": "a", "value": 1, "arr": 1},
        {"event_id": "a", "value": 0, "arr": 2},
        {"event_id": "a", "value": 1, "arr": 3},
        {"event_id": "b", "value": 0, "arr": 1},
        {"event_id": "c", "value": 1, "arr": 1},
        {"event_id": "c", "value": 0, "arr": 2},
    ]
    out = resolve_labels(labels_table(rows), "majority").set_index("event_id")
    assert out["label_key"].to_dict() == {"a": "1", "b": "0", "c": "0"}
    assert out["label_how"].to_dict() == {"a": "majority", "b": "only", "c": "tie-latest"}


def test_snapshot_records_label_source_how_count_and_agreement():
    events = events_table(["e1", "e2"], [0.0, 1.0])
    labels = labels_table(
        [
            {"event_id": "e1", "value": "cat", "arr": 2, "source": "annotator"},
            {"event_id": "e1", "value": "dog", "arr": 3, "source": "annotator"},
            {"event_id": "e1", "value": "cat", "arr": 4, "source": "annotator"},
            {"event_id": "e2", "value": "dog", "arr": 2, "source": "outcome"},
        ]
    )
    snap = build_snapshot(events, labels, None, "majority", "none")
    t = snap.to_pandas().set_index("event_id")
    assert t.loc["e1", ["label", "label_source", "label_how", "label_count"]].tolist() == [
        "cat",
        "annotator",
        "majority",
        3,
    ]
    assert t.loc["e1", "label_agreement"] == pytest.approx(2 / 3)
    assert t.loc["e2", ["label", "label_how", "label_agreement"]].tolist() == ["dog", "only", 1.0]
    assert snap.manifest.counts["labels_conflicting_events"] == 1
    assert snap.manifest.counts["labels_used"] == 4


def test_bad_label_rows_are_refused_with_the_field_named():
    bad_json = labels_table([L("cat", arr=1)]).set_column(2, "value", pa.array(["cat"]))
    with pytest.raises(ValidationError, match="not JSON"):
        resolve_labels(bad_json, "latest")
    with pytest.raises(ValidationError, match="sources must be among"):
        resolve_labels(labels_table([L("cat", arr=1, source="oracle")]), "latest")
    with pytest.raises(ValidationError, match="label policy"):
        resolve_labels(labels_table([L("cat", arr=1)]), "vote")
    with pytest.raises(ValidationError, match="sources"):
        resolve_labels(labels_table([L("cat", arr=1)]), {"policy": "latest", "sources": ["oracle"]})
