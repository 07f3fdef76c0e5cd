"""A re-sent batch is stored once: events, labels and feedback (with or without ids)."""

from __future__ import annotations

import threading

import pytest

from flywheel.ingest.service import IngestService
from flywheel.settings import Settings
from flywheel.store import Store
from tests.ingest.cases import SPEC, good_events
from tests.store.helpers import log_files, stored_ids


@pytest.fixture
def svc(store: Store, backend_settings: Settings) -> IngestService:
    s = IngestService(store, backend_settings)
    s.register_model(SPEC)
    return s


def test_a_resent_event_batch_is_stored_once(svc: IngestService) -> None:
    items = good_events(5)
    assert svc.ingest_events("churn", items) == {"accepted": 5, "duplicates": 0}
    files = log_files(svc.store.events.root)
    assert svc.ingest_events("churn", items) == {"accepted": 0, "duplicates": 5}
    assert log_files(svc.store.events.root) == files, "a fully duplicate batch must not write a file"
    assert stored_ids(svc.store) == dict.fromkeys((e["event_id"] for e in items), 1)
    assert svc.store.event_index.count("churn") == 5


def test_a_batch_overlapping_an_earlier_one_stores_only_the_new_events(svc: IngestService) -> None:
    items = good_events(8)
    svc.ingest_events("churn", items[:5])
    assert svc.ingest_events("churn", items[3:]) == {"accepted": 3, "duplicates": 2}
    assert stored_ids(svc.store) == dict.fromkeys((e["event_id"] for e in items), 1)


def test_the_same_batch_sent_from_several_threads_at_once_is_stored_once(svc: IngestService) -> None:
    items = good_events(50)
    results: list[dict[str, int]] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait()
        results.append(svc.ingest_events("churn", items))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r["accepted"] for r in results) == [0, 0, 0, 50]
    assert sum(r["duplicates"] for r in results) == 150
    assert stored_ids(svc.store) == dict.fromkeys((e["event_id"] for e in items), 1)


def test_labels_without_ids_resent_are_stored_once(svc: IngestService) -> None:
    labels = [
        {"event_id": "ok-0", "label": "churn"},
        {"event_id": "ok-1", "label": "stay", "source": "annotator", "annotator": "ann"},
        # A second opinion on the same event is a different label, not a duplicate.
        {"event_id": "ok-1", "label": "churn", "source": "annotator", "annotator": "bob"},
    ]
    assert svc.ingest_labels("churn", labels) == {"accepted": 3, "duplicates": 0}
    assert svc.ingest_labels("churn", labels) == {"accepted": 0, "duplicates": 3}
    assert svc.store.labels.count("churn") == 3
    assert sorted(lbl.value for lbl in svc.store.labels.list("churn", event_ids=["ok-1"])) == [
        "churn",
        "stay",
    ]


def test_labels_with_ids_resent_are_stored_once(svc: IngestService) -> None:
    labels = [{"event_id": f"ok-{i}", "label": "stay", "label_id": f"L{i}"} for i in range(4)]
    assert svc.ingest_labels("churn", labels) == {"accepted": 4, "duplicates": 0}
    assert svc.ingest_labels("churn", labels[2:]) == {"accepted": 0, "duplicates": 2}
    assert svc.store.labels.count("churn") == 4


def test_feedback_without_ids_resent_is_stored_once(svc: IngestService) -> None:
    fb = [
        {"event_id": "ok-0", "kind": "thumbs_down"},
        {"event_id": "ok-0", "kind": "comment", "comment": "wrong plan"},
        {"event_id": "ok-1", "kind": "outcome", "value": {"spent": 12.5}},
    ]
    assert svc.ingest_feedback("churn", fb) == {"accepted": 3, "duplicates": 0}
    assert svc.ingest_feedback("churn", fb) == {"accepted": 0, "duplicates": 3}
    assert svc.store.feedback.count("churn") == 3
    got = svc.store.feedback.list("churn", event_ids=["ok-1"])
    assert [(f.kind, f.value) for f in got] == [("outcome", {"spent": 12.5})]


def test_a_label_may_arrive_before_its_event(svc: IngestService) -> None:
    assert svc.ingest_labels("churn", [{"event_id": "later", "label": "churn"}])["accepted"] == 1
    later = good_events(1, prefix="x")
    later[0]["event_id"] = "later"
    svc.ingest_events("churn", later)
    assert [lbl.value for lbl in svc.store.labels.list("churn", event_ids=["later"])] == ["churn"]
