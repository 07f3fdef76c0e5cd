"""Label import/export round trips: CSV, JSON Lines, Label Studio JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.errors import ValidationError
from flywheel.label.io import (
    labels_from_csv,
    labels_from_jsonl,
    labels_from_label_studio,
    labels_to_csv,
    labels_to_jsonl,
    labels_to_label_studio,
)
from flywheel.schema import Label

T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
LABELS = [
    {
        "event_id": "e1",
        "label": "cat",
        "label_id": "l1",
        "source": "annotator",
        "annotator": "ana",
        "timestamp": T0,
        "time_spent_s": 2.5,
    },
    {"event_id": "e1", "label": "dog", "source": "annotator", "annotator": "bo", "timestamp": T0},
    {"event_id": "e2", "label": "cat, with a comma", "source": "import"},
]

label_dicts = st.lists(
    st.fixed_dictionaries(
        {
            "event_id": st.text(
                st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12
            ),
            "label": st.text(
                st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12
            ),
        },
        optional={
            "annotator": st.text(
                st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8
            ),
            "time_spent_s": st.floats(0, 1e5, allow_nan=False),
            "timestamp": st.datetimes(timezones=st.just(UTC)),
        },
    ),
    max_size=10,
)


def test_csv_round_trip_keeps_every_field() -> None:
    assert labels_from_csv(labels_to_csv(LABELS)) == LABELS


def test_jsonl_round_trip_keeps_every_field_and_json_types() -> None:
    rows = [*LABELS, {"event_id": "e3", "label": 3.25}, {"event_id": "e4", "label": ["a", "b"]}]
    assert labels_from_jsonl(labels_to_jsonl(rows)) == rows


@settings(max_examples=50, deadline=None)
@given(label_dicts)
def test_csv_and_jsonl_round_trip_any_text_labels(rows: list[dict]) -> None:
    assert labels_from_csv(labels_to_csv(rows)) == rows
    assert labels_from_jsonl(labels_to_jsonl(rows)) == rows


@pytest.mark.parametrize(
    ("label", "label_type"), [(7, "int"), (0.125, "float"), ([1, 2], "json"), (True, "json")]
)
def test_csv_reads_typed_labels_back_with_label_type(label: object, label_type: str) -> None:
    text = labels_to_csv([{"event_id": "e", "label": label}])
    assert labels_from_csv(text, label_type=label_type) == [{"event_id": "e", "label": label}]


def test_imported_labels_validate_as_schema_labels() -> None:
    for row in labels_from_csv(labels_to_csv(LABELS)) + labels_from_label_studio(
        labels_to_label_studio(LABELS)
    ):
        Label.model_validate(row)


def test_pydantic_labels_can_be_exported() -> None:
    text = labels_to_jsonl([Label(event_id="e9", label="cat", source="annotator", annotator="ana")])
    assert json.loads(text) == {"event_id": "e9", "label": "cat", "source": "annotator", "annotator": "ana"}


def test_label_studio_groups_annotations_per_event_with_choices() -> None:
    tasks = labels_to_label_studio(LABELS, data={"e1": {"text": "a cat?"}})
    assert [t["data"] for t in tasks] == [{"event_id": "e1", "text": "a cat?"}, {"event_id": "e2"}]
    first = tasks[0]["annotations"][0]
    assert first["result"] == [
        {"from_name": "label", "to_name": "input", "type": "choices", "value": {"choices": ["cat"]}}
    ]
    assert (
        first["completed_by"] == "ana" and first["lead_time"] == 2.5 and first["created_at"] == T0.isoformat()
    )
    assert len(tasks[0]["annotations"]) == 2


def test_label_studio_round_trip_keeps_what_label_studio_carries() -> None:
    back = labels_from_label_studio(json.dumps(labels_to_label_studio(LABELS)))
    carried = ("event_id", "label", "annotator", "timestamp", "time_spent_s")
    assert [{k: r[k] for k in carried if k in r} for r in back] == [
        {k: r[k] for k in carried if k in r} for r in LABELS
    ]
    assert {r["source"] for r in back} == {"import"}


def test_label_studio_numbers_and_predictions() -> None:
    tasks = labels_to_label_studio(
        [{"event_id": "r1", "label": 3.5}], predictions={"r1": (3.0, 0.8), "r2": 1.5}, model_version="v7"
    )
    assert tasks[0]["annotations"][0]["result"][0]["value"] == {"number": 3.5}
    assert tasks[0]["predictions"] == [
        {
            "result": [
                {"from_name": "label", "to_name": "input", "type": "number", "value": {"number": 3.0}}
            ],
            "score": 0.8,
            "model_version": "v7",
        }
    ]
    assert tasks[1]["data"] == {"event_id": "r2"} and "annotations" not in tasks[1]
    assert labels_from_label_studio(tasks) == [{"event_id": "r1", "label": 3.5, "source": "import"}]


def test_label_studio_export_from_the_tool_is_read() -> None:
    # The shape Label Studio itself exports: numeric user ids, cancelled annotations, other controls.
    export = [
        {
            "id": 41,
            "data": {"text": "hello"},
            "annotations": [
                {
                    "completed_by": 10,
                    "created_at": "2021-03-09T22:16:08.728353Z",
                    "lead_time": 4.288,
                    "was_cancelled": False,
                    "result": [
                        {
                            "from_name": "comment",
                            "to_name": "text",
                            "type": "textarea",
                            "value": {"text": ["hi"]},
                        },
                        {
                            "from_name": "sentiment",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["Positive"]},
                        },
                    ],
                },
                {"completed_by": {"email": "b@x.org"}, "was_cancelled": True, "result": []},
                {
                    "completed_by": {"email": "c@x.org"},
                    "result": [
                        {"from_name": "sentiment", "type": "choices", "value": {"choices": ["Negative"]}}
                    ],
                },
            ],
        }
    ]
    got = labels_from_label_studio(export, from_name="sentiment")
    assert got == [
        {
            "event_id": "41",
            "label": "Positive",
            "source": "import",
            "annotator": "10",
            "timestamp": datetime(2021, 3, 9, 22, 16, 8, 728353, tzinfo=UTC),
            "time_spent_s": 4.288,
        },
        {"event_id": "41", "label": "Negative", "source": "import", "annotator": "c@x.org"},
    ]


def test_bad_rows_name_the_row_and_field() -> None:
    with pytest.raises(ValidationError, match="Label 1 has no 'label'"):
        labels_to_csv([{"event_id": "a", "label": "x"}, {"event_id": "b"}])
    with pytest.raises(ValidationError, match="unknown fields \\['colour'\\]"):
        labels_to_jsonl([{"event_id": "a", "label": "x", "colour": "red"}])
    with pytest.raises(ValidationError, match="lacks \\['label'\\]"):
        labels_from_csv("event_id,value\ne1,3\n")
    with pytest.raises(ValidationError, match="timestamp 'yesterday'"):
        labels_from_csv("event_id,label,timestamp\ne1,cat,yesterday\n")
    with pytest.raises(ValidationError, match="Line 2 is not valid JSON"):
        labels_from_jsonl('{"event_id": "a", "label": 1}\n{oops\n')
    with pytest.raises(ValidationError, match="'7x' is not a valid int label"):
        labels_from_csv("event_id,label\ne1,7x\n", label_type="int")
