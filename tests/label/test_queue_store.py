"""The labelling store on every backend: queue once, assignment with overlap, skips, undo,
adjudication, labels from elsewhere, schedules and the label-error review queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from flywheel.errors import Conflict, NotFound
from flywheel.store import Store
from flywheel.store.label import LabellingStore


def run(store: Store, ids: list[str], k: int = 1, model: str = "m") -> Any:
    items = [
        {
            "event_id": e,
            "rank": i,
            "selector": "random",
            "score": 0.5,
            "signal": "why",
            "for_evaluation": False,
            "event": None,
        }
        for i, e in enumerate(ids)
    ]
    meta = {
        "model": model,
        "config": {},
        "budget": len(ids),
        "candidates": len(ids),
        "excluded": 0,
        "k": k,
        "trigger": "manual",
        "notes": [],
        "context": {},
        "job_id": None,
    }
    return store.labelling.record_run(meta, items)


def row(
    event_id: str, value: Any, who: str | None = None, source: str = "annotator", label_id: str | None = None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "label_id": label_id or f"{event_id}-{who}-{value}-{source}",
        "event_id": event_id,
        "value": orjson.dumps(value).decode(),
        "source": source,
        "annotator": who,
        "timestamp": now,
        "ingested_at": now,
        "time_spent_s": 1.0,
    }


def label(store: Store, event_id: str, who: str, value: Any) -> Any:
    return store.labelling.annotate("m", event_id, who, row(event_id, value, who), 1.0)


def nxt(store: Store, who: str, run_id: str | None = None) -> str | None:
    item = store.labelling.next_item("m", who, run_id)
    return None if item is None else item.event_id


def test_an_event_is_queued_once_per_model_whatever_runs_pick_it(store: Store) -> None:
    first = run(store, ["e1", "e2"])
    second = run(store, ["e2", "e3"])
    other_model = run(store, ["e2"], model="other")
    assert (first.picked, second.picked, other_model.picked) == (2, 1, 1)
    assert store.labelling.queued_ids("m") == {"e1", "e2", "e3"}
    assert [i.run_id for i in store.labelling.items("m")] == [first.run_id, first.run_id, second.run_id]
    assert store.labelling.counts("m")["queued"] == 3


def test_no_annotator_is_given_the_same_item_twice(store: Store) -> None:
    run(store, ["e1", "e2", "e3"], k=2)
    assert nxt(store, "ana") == "e1"
    label(store, "e1", "ana", "cat")
    assert nxt(store, "ana") == "e2"  # e1 still wants a second annotator, but not ana
    assert nxt(store, "bo") == "e1"
    label(store, "e1", "bo", "cat")
    assert store.labelling.item("m", "e1").status == "labelled"
    with pytest.raises(Conflict):
        label(store, "e1", "ana", "dog")


def test_overlap_k_bounds_how_many_people_hold_an_item(store: Store) -> None:
    run(store, ["e1", "e2"], k=1)
    assert nxt(store, "ana") == "e1"
    assert nxt(store, "bo") == "e2"
    assert nxt(store, "cy") is None
    assert store.labelling.item("m", "e1").status == "assigned"
    assert store.labelling.item("m", "e1").assigned_to == "ana"


def test_an_unanswered_item_comes_back_to_its_holder_and_expires_for_others(store: Store) -> None:
    run(store, ["e1", "e2"], k=1)
    assert nxt(store, "ana") == "e1"
    assert nxt(store, "ana") == "e1"  # a reload resumes the same item
    impatient = LabellingStore(store.db, assignment_ttl=timedelta(0))
    item = impatient.next_item("m", "bo")
    assert item is not None and item.event_id == "e1"  # ana's hold expired


def test_a_skipped_item_is_set_aside_until_requeued(store: Store) -> None:
    run(store, ["e1", "e2"], k=1)
    assert nxt(store, "ana") == "e1"
    answer = store.labelling.skip("m", "e1", "ana", 2.0, then_next=True)
    assert answer.item.status == "skipped" and answer.item.n_skips == 1
    assert answer.next is not None and answer.next.event_id == "e2"
    assert nxt(store, "bo") is None  # e1 is skipped, e2 is ana's
    store.labelling.requeue("m", "e1")
    assert store.labelling.item("m", "e1").status == "queued"
    assert nxt(store, "bo") == "e1"


def test_undo_takes_the_label_back_and_returns_the_item(store: Store) -> None:
    run(store, ["e1", "e2"], k=1)
    nxt(store, "ana")
    label(store, "e1", "ana", "cat")
    assert nxt(store, "ana") == "e2"
    undone = store.labelling.undo("m", "ana")
    assert undone is not None
    item, previous = undone
    assert (item.event_id, previous, item.status, item.n_labels) == ("e1", "cat", "assigned", 0)
    assert store.labels.list("m", event_ids=["e1"]) == []
    assert nxt(store, "ana") == "e1"  # the undone item is theirs again, before e2
    label(store, "e1", "ana", "dog")
    assert [lb.value for lb in store.labels.list("m", event_ids=["e1"])] == ["dog"]


def test_undo_of_a_skip_reopens_the_item(store: Store) -> None:
    run(store, ["e1"], k=1)
    nxt(store, "ana")
    store.labelling.skip("m", "e1", "ana", None)
    undone = store.labelling.undo("m", "ana")
    assert undone is not None and undone[1] is None
    assert store.labelling.item("m", "e1").status == "assigned"
    assert store.labelling.undo("m", "ana") is None


def test_disagreement_waits_for_an_adjudicator_whose_label_settles_it(store: Store) -> None:
    run(store, ["e1"], k=2)
    nxt(store, "ana")
    nxt(store, "bo")
    label(store, "e1", "ana", "cat")
    label(store, "e1", "bo", "dog")
    assert store.labelling.item("m", "e1").status == "adjudicating"
    store.labelling.adjudicate("m", "e1", row("e1", "cat", "judge", "adjudication"))
    with pytest.raises(Conflict):  # settled: a second adjudication is refused
        store.labelling.adjudicate("m", "e1", row("e1", "dog", "judge", "adjudication", "again"))
    item = store.labelling.item("m", "e1")
    assert item.status == "labelled" and item.n_labels == 2
    sources = sorted((lb.source, lb.annotator) for lb in store.labels.list("m", event_ids=["e1"]))
    assert sources == [("adjudication", "judge"), ("annotator", "ana"), ("annotator", "bo")]
    with pytest.raises(Conflict):
        store.labelling.undo("m", "bo")  # adjudicated: the dispute is closed


def test_a_retried_annotation_is_stored_once(store: Store) -> None:
    run(store, ["e1"], k=1)
    nxt(store, "ana")
    first = store.labelling.annotate("m", "e1", "ana", row("e1", "cat", "ana", label_id="sub-1"), 1.0)
    again = store.labelling.annotate("m", "e1", "ana", row("e1", "cat", "ana", label_id="sub-1"), 1.0)
    assert (first.created, again.created) == (True, False)
    assert len(store.labels.list("m", event_ids=["e1"])) == 1


def test_a_label_from_elsewhere_closes_the_item(store: Store) -> None:
    run(store, ["e1", "e2"], k=1)
    store.labels.add("m", [row("e1", "cat", None, "outcome")])
    assert nxt(store, "ana") == "e2"
    assert store.labelling.item("m", "e1").status == "labelled"


def test_answers_for_events_outside_the_queue_are_refused(store: Store) -> None:
    with pytest.raises(NotFound):
        label(store, "nope", "ana", "cat")
    with pytest.raises(NotFound):
        store.labelling.item("m", "nope")


def test_progress_counts_what_an_annotator_did_and_what_is_left_for_them(store: Store) -> None:
    r1 = run(store, ["e1", "e2", "e3"], k=1)
    run(store, ["e4"], k=1)
    nxt(store, "ana", r1.run_id)
    label(store, "e1", "ana", "cat")
    assert store.labelling.progress("m", "ana", r1.run_id) == {"done": 1, "remaining": 2}
    assert store.labelling.progress("m", "ana") == {"done": 1, "remaining": 3}
    nxt(store, "bo", r1.run_id)  # bo holds e2: not left for ana
    assert store.labelling.progress("m", "ana", r1.run_id) == {"done": 1, "remaining": 1}


def test_the_daily_budget_counts_events_queued_since_a_time(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    run(store, ["e1", "e2"])
    assert store.labelling.queued_since("m", before) == 2
    assert store.labelling.queued_since("m", datetime.now(UTC) + timedelta(seconds=1)) == 0


def test_a_due_schedule_is_claimed_by_one_worker_only(store: Store) -> None:
    store.labelling.set_schedule("m", 3600, {"k": 1})
    later = datetime.now(UTC) + timedelta(hours=2)
    (due,) = store.labelling.due_schedules(later)
    assert [store.labelling.claim_schedule(due, later) for _ in range(3)] == [True, False, False]
    again = store.labelling.schedule("m")
    assert again is not None and again.next_run_at > due.next_run_at
    store.labelling.set_schedule("m", 3600, {"k": 1}, enabled=False)
    assert store.labelling.due_schedules(later + timedelta(days=1)) == []


def test_label_error_reviews_reopen_only_when_the_label_changed(store: Store) -> None:
    finding = {
        "event_id": "e1",
        "label_id": "L1",
        "given": "cat",
        "suggested": "dog",
        "score": 0.9,
        "method": "rank_count/cv",
    }
    assert store.labelling.add_label_errors("m", [finding], "job1") == {
        "added": 1,
        "updated": 0,
        "already_reviewed": 0,
    }
    reviewed = store.labelling.review_label_error(
        "m", "e1", "relabelled", "rev", row("e1", "dog", "rev", "adjudication")
    )
    assert (reviewed.status, reviewed.reviewer) == ("relabelled", "rev")
    assert [lb.source for lb in store.labels.list("m", event_ids=["e1"])] == ["adjudication"]
    with pytest.raises(Conflict):
        store.labelling.review_label_error(
            "m", "e1", "confirmed", "rev", row("e1", "cat", "rev", "adjudication", "x")
        )
    assert store.labelling.add_label_errors("m", [finding], "job2")["already_reviewed"] == 1
    # The reviewer's own label, flagged again by a later search, does not reopen the review.
    by_reviewer = {**finding, "label_id": reviewed.new_label_id}
    assert store.labelling.add_label_errors("m", [by_reviewer], "job2")["already_reviewed"] == 1
    changed = {**finding, "label_id": "L2"}
    assert store.labelling.add_label_errors("m", [changed], "job3")["updated"] == 1
    assert store.labelling.label_error("m", "e1").status == "open"
    assert store.labelling.label_error_counts("m") == {"open": 1, "relabelled": 0, "confirmed": 0}


def test_concurrent_requests_never_hand_one_item_to_two_people(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    run(store, [f"e{i}" for i in range(12)], k=1)
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda who: nxt(store, who), [f"a{i}" for i in range(12)]))
    assert sorted(got) == sorted(f"e{i}" for i in range(12))  # twelve people, twelve different items
    assert store.labelling.counts("m")["assigned"] == 12
