"""Every bad input is refused whole, names its row and field, and leaves the store untouched."""

from __future__ import annotations

import math

import pytest

from flywheel.errors import BatchRejected, NotFound, PayloadTooLarge, ValidationError
from flywheel.ingest.service import IngestService, parse_batch
from tests.ingest.cases import CASES, Case, good_events, good_feedback, good_labels
from tests.store.helpers import snapshot


@pytest.fixture
def svc(shared_svc: IngestService) -> IngestService:
    """The module's service; every test here leaves its store as it found it, or adds fresh ids."""
    return shared_svc


def _send(svc: IngestService, kind: str, batch: object) -> dict[str, int]:
    fn = {"events": svc.ingest_events, "labels": svc.ingest_labels, "feedback": svc.ingest_feedback}[kind]
    return fn("churn", batch)


def test_the_good_batches_of_the_cases_are_accepted(svc: IngestService) -> None:
    # The cases below break one thing each; without it the batch is fine.
    assert svc.ingest_events("churn", good_events(3, prefix="fresh")) == {"accepted": 3, "duplicates": 0}
    assert svc.ingest_labels("churn", good_labels()) == {"accepted": 3, "duplicates": 0}
    assert svc.ingest_feedback("churn", good_feedback()) == {"accepted": 3, "duplicates": 0}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_batch_is_rejected_whole_naming_row_and_field(svc: IngestService, case: Case) -> None:
    before = snapshot(svc.store)
    with pytest.raises(BatchRejected) as err:
        _send(svc, case.kind, case.batch())
    exc = err.value
    assert (exc.status, exc.code) == (422, "invalid_batch")
    assert {(d["row"], d["field"]) for d in exc.details} == case.problems
    assert all(isinstance(d["reason"], str) and d["reason"] for d in exc.details)
    row, field = sorted(case.problems)[0]
    assert f"row {row}" in exc.message and f"'{field}'" in exc.message
    assert "nothing was stored" in exc.message
    assert snapshot(svc.store) == before


def test_nan_and_inf_are_stored_where_the_feature_allows_them(svc: IngestService) -> None:
    items = good_events(3, prefix="nan")
    items[0]["inputs"]["income"] = float("nan")
    items[1]["inputs"]["income"] = float("-inf")
    assert svc.ingest_events("churn", items) == {"accepted": 3, "duplicates": 0}
    got = svc.store.events.get("churn", ["nan-0", "nan-1", "nan-2"])
    income = dict(zip(got.column("event_id").to_pylist(), got.column("in.income").to_pylist(), strict=True))
    assert math.isnan(income["nan-0"]) and income["nan-1"] == -math.inf and income["nan-2"] == 2001.0


def test_every_problem_of_a_batch_is_listed_not_only_the_first(svc: IngestService) -> None:
    items = good_events(4, prefix="many")
    items[0]["prediction"] = "maybe"
    items[2]["inputs"]["age"] = "old"
    items[3]["colour"] = "x"
    with pytest.raises(BatchRejected) as err:
        svc.ingest_events("churn", items)
    assert [(d["row"], d["field"]) for d in err.value.details] == [
        (0, "prediction"),
        (2, "inputs.age"),
        (3, "colour"),
    ]


def test_a_huge_bad_batch_gets_a_bounded_answer(svc: IngestService) -> None:
    items = good_events(500, prefix="big")
    for ev in items:
        ev["prediction"] = "maybe"
    with pytest.raises(BatchRejected, match="500 problem") as err:
        svc.ingest_events("churn", items)
    assert len(err.value.details) == 200


@pytest.mark.parametrize("kind", ["events", "labels", "feedback"])
def test_ingest_for_an_unknown_model_is_not_found(svc: IngestService, kind: str) -> None:
    before = snapshot(svc.store)
    batch = {"events": good_events, "labels": good_labels, "feedback": good_feedback}[kind]()
    with pytest.raises(NotFound, match="'ghost'"):
        {"events": svc.ingest_events, "labels": svc.ingest_labels, "feedback": svc.ingest_feedback}[kind](
            "ghost", batch
        )
    assert snapshot(svc.store) == before


@pytest.mark.parametrize("kind", ["events", "labels", "feedback"])
def test_a_batch_over_the_row_limit_is_too_large(svc: IngestService, kind: str) -> None:
    small = IngestService(svc.store, svc.settings.model_copy(update={"max_batch_rows": 2}))
    before = snapshot(svc.store)
    batch = {"events": good_events, "labels": good_labels, "feedback": good_feedback}[kind](3)
    with pytest.raises(PayloadTooLarge, match="at most 2") as err:
        _send(small, kind, batch)
    assert err.value.status == 413
    assert snapshot(svc.store) == before
    result = _send(small, kind, batch[:2])
    assert result["accepted"] + result["duplicates"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b'{"events": [NaN]}', "body"),
        (b'{"evnts": []}', "events"),
        (b"[1, 2]", "events"),
    ],
)
def test_a_body_that_is_not_a_batch_names_what_is_wrong(body: bytes, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_batch(body, "events")
    assert err.value.status == 422
    assert err.value.details == [{"row": -1, "field": field, "reason": err.value.details[0]["reason"]}]
