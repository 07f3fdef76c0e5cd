"""The SDK's behaviour against the in-memory transport: batching, retries, spool, drops, flush, close."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flywheel.client import Flywheel, MemoryTransport, TransportError
from flywheel.client.spool import Spool
from flywheel.errors import FlywheelError, ValidationError
from tests.client.helpers import FAST, Outage, client, wait_for
from tests.conftest import free_port

X = {"age": 41.0, "plan": "pro"}


def event_ids(t: MemoryTransport) -> list[str]:
    return [i["event_id"] for i in t.items("events")]


def test_event_ids_are_unique_rfc4122_v4_uuids(tmp_path: Path) -> None:
    fw, _ = client(tmp_path)
    ids = [fw.log("m", X, 1) for _ in range(5000)]
    fw.close()
    assert len(set(ids)) == 5000
    for s in ids[:3] + ids[-3:]:
        u = uuid.UUID(s)
        assert str(u) == s and u.version == 4 and u.variant == uuid.RFC_4122
    other, _ = client(tmp_path / "b")
    assert other.log("m", X, 1)[:24] != ids[0][:24]  # another client, another random prefix
    other.close()


def test_events_are_batched_by_size_in_order(tmp_path: Path) -> None:
    fw, t = client(tmp_path, batch_size=100, flush_interval=30)
    ids = [fw.log("m", {"i": i}, i % 2) for i in range(250)]
    assert wait_for(lambda: len(t.batches) >= 2)  # two full batches go without waiting for the timer
    assert fw.flush(5)
    assert [len(b[2]) for b in t.batches] == [100, 100, 50]
    assert event_ids(t) == ids
    assert [i["inputs"]["i"] for i in t.items()] == list(range(250))
    assert fw.stats()["sent"] == 250
    fw.close()


def test_a_partial_batch_goes_out_after_flush_interval(tmp_path: Path) -> None:
    fw, t = client(tmp_path, batch_size=500, flush_interval=0.05)
    fw.log("m", X, 1)
    fw.log("m", X, 0)
    assert wait_for(lambda: len(t.items()) == 2, timeout=2.0)
    fw.close()


def test_event_item_carries_every_field_and_an_iso_timestamp_with_timezone(tmp_path: Path) -> None:
    fw, t = client(tmp_path)
    before = time.time()
    fw.log("m", X, "churn")
    fw.log(
        "m",
        X,
        "stay",
        probabilities={"stay": 0.7, "churn": 0.3},
        event_id="e-1",
        timestamp=1_700_000_000.5,
        tags={"region": "eu", "n": 3},
        score=0.7,
        model_version="v2",
        trace_id="t",
        parent_event_id="p",
        served=False,
    )
    fw.log("m", X, 1, timestamp=datetime(2024, 1, 2, 3, 4, 5), probabilities=[0.1, 0.9])
    fw.log("m", X, 1, timestamp="2024-01-02T03:04:05+02:00")
    assert fw.flush(5)
    a, b, c, d = t.items()
    assert set(a) == {"event_id", "timestamp", "inputs", "prediction"}
    assert before - 1 <= datetime.fromisoformat(a["timestamp"]).timestamp() <= time.time() + 1
    assert datetime.fromisoformat(a["timestamp"]).tzinfo is not None
    assert b == {
        "event_id": "e-1",
        "timestamp": "2023-11-14T22:13:20.500000+00:00",
        "inputs": X,
        "prediction": "stay",
        "probabilities": {"stay": 0.7, "churn": 0.3},
        "score": 0.7,
        "model_version": "v2",
        "tags": {"region": "eu", "n": "3"},
        "trace_id": "t",
        "parent_event_id": "p",
        "served": False,
    }
    assert datetime.fromisoformat(c["timestamp"]) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)  # naive is UTC
    assert c["probabilities"] == [0.1, 0.9]
    assert d["timestamp"] == "2024-01-02T03:04:05+02:00"
    fw.close()


def test_feedback_and_labels_carry_client_made_ids(tmp_path: Path) -> None:
    fw, t = client(tmp_path)
    eid = fw.log("m", X, 1)
    fid = fw.feedback("m", eid, "thumbs_down", value=1, comment="wrong")
    lid = fw.label("m", eid, "stay", source="annotator", annotator="ana")
    assert fw.flush(5)
    (fb,) = t.items("feedback")
    (lb,) = t.items("labels")
    assert fb["feedback_id"] == fid and lb["label_id"] == lid and fid != lid
    assert uuid.UUID(hex=fid).version == 4 and len(fid) == 32
    assert {k: fb[k] for k in ("event_id", "kind", "value", "comment")} == {
        "event_id": eid,
        "kind": "thumbs_down",
        "value": 1,
        "comment": "wrong",
    }
    assert {k: lb[k] for k in ("event_id", "label", "source", "annotator")} == {
        "event_id": eid,
        "label": "stay",
        "source": "annotator",
        "annotator": "ana",
    }
    assert datetime.fromisoformat(fb["timestamp"]).tzinfo is not None
    fw.close()


def test_retryable_errors_are_retried_with_the_same_batch(tmp_path: Path) -> None:
    outage = Outage(503, times=2)
    fw, t = client(tmp_path, fail=outage, max_retries=3)
    ids = [fw.log("m", X, 1) for _ in range(10)]
    assert fw.flush(5)
    assert outage.calls == 3 and event_ids(t) == ids
    s = fw.stats()
    assert (s["sent"], s["spooled"], s["failed"], s["dropped"]) == (10, 0, 0, 0)
    fw.close()


@pytest.mark.parametrize("status", [422, 401, 403, 404])
def test_refused_batch_is_not_retried_but_counted_failed_with_the_message(
    tmp_path: Path, status: int
) -> None:
    outage = Outage(status, down=True)
    fw, t = client(tmp_path, fail=outage)
    for _ in range(7):
        fw.log("m", X, 1)
    assert fw.flush(5)  # nothing is pending: the batch will never succeed, so it is not kept
    s = fw.stats()
    assert outage.calls == 1 and t.items() == []
    assert (s["failed"], s["sent"], s["spooled"]) == (7, 0, 0)
    assert f"simulated HTTP {status}" in s["last_error"]
    fw.close()


def test_rows_the_server_names_in_a_422_fail_alone_and_the_rest_is_delivered(tmp_path: Path) -> None:
    def validate(kind: str, model: str, items: list) -> None:
        bad = [
            {"row": i, "field": "inputs.x", "reason": "must be a number"}
            for i, item in enumerate(items)
            if not isinstance(item["inputs"]["x"], float)
        ]
        if bad:
            raise TransportError("rejected", status=422, retryable=False, details=bad)

    fw, t = client(tmp_path, fail=validate, batch_size=10)
    for i in range(10):
        fw.log("m", {"x": "oops" if i in (2, 7) else float(i)}, i)
    assert fw.flush(5)
    assert [i["prediction"] for i in t.items()] == [0, 1, 3, 4, 5, 6, 8, 9]
    s = fw.stats()
    assert (s["failed"], s["sent"]) == (2, 8) and "rejected" in s["last_error"]
    fw.close()


def test_a_422_without_row_numbers_fails_the_whole_batch(tmp_path: Path) -> None:
    def refuse(kind: str, model: str, items: list) -> None:
        raise TransportError(
            "not a list", status=422, retryable=False, details=[{"row": -1, "field": "events"}]
        )

    fw, t = client(tmp_path, fail=refuse, batch_size=10)
    for i in range(10):
        fw.log("m", X, i)
    assert fw.flush(5)
    assert t.items() == [] and fw.stats()["failed"] == 10
    fw.close()


def test_too_large_batch_is_split_until_accepted(tmp_path: Path) -> None:
    def limit(kind: str, model: str, items: list) -> None:
        if len(items) > 30:
            raise TransportError.from_status(413, "too large")

    fw, t = client(tmp_path, fail=limit, batch_size=100)
    ids = [fw.log("m", X, 1) for _ in range(100)]
    assert fw.flush(5)
    assert event_ids(t) == ids
    assert max(len(b[2]) for b in t.batches) <= 30
    assert fw.stats()["sent"] == 100 and fw.stats()["failed"] == 0
    fw.close()


def test_one_item_too_large_fails_alone(tmp_path: Path) -> None:
    def limit(kind: str, model: str, items: list) -> None:
        if any(i["inputs"].get("big") for i in items):
            raise TransportError.from_status(413, "too large")

    fw, t = client(tmp_path, fail=limit, batch_size=10)
    for i in range(10):
        fw.log("m", {"big": i == 3}, 1)
    assert fw.flush(5)
    assert len(t.items()) == 9 and fw.stats()["failed"] == 1
    fw.close()


def test_outage_spools_then_replays_everything_in_order(tmp_path: Path) -> None:
    outage = Outage(503, down=True)
    fw, t = client(tmp_path, fail=outage, batch_size=50)
    ids = [fw.log("m", {"i": i}, 1) for i in range(300)]
    assert fw.flush(0.3) is False
    s = fw.stats()
    assert (s["spooled"], s["spool_items"], s["sent"], s["dropped"]) == (300, 300, 0, 0)
    assert s["server_up"] is False and "503" in s["last_error"]
    outage.down = False
    ids += [fw.log("m", {"i": i}, 1) for i in range(300, 400)]
    assert fw.flush(5)
    assert event_ids(t) == ids  # spool first, oldest first, then what came after
    s = fw.stats()
    assert (s["sent"], s["spool_items"], s["spool_bytes"], s["dropped"]) == (400, 0, 0, 0)
    assert s["replayed"] == s["spooled"] >= 300  # later events queue behind the spool to keep the order
    assert s["server_up"] is True
    fw.close()


def test_nothing_is_dropped_while_the_spool_has_room(tmp_path: Path) -> None:
    fw, _ = client(tmp_path, fail=Outage(503, down=True), batch_size=10, max_queue=2000)
    for i in range(1500):
        fw.log("m", {"i": i}, 1)
    fw.close(0.2)
    s = fw.stats()
    assert s["dropped"] == 0 and s["spooled"] == 1500


def test_drops_are_counted_only_when_queue_and_spool_are_full(tmp_path: Path) -> None:
    fw, _ = client(tmp_path, fail=Outage(503, down=True), batch_size=10, max_queue=50, spool_max_bytes=4096)
    n = 0
    while fw.stats()["dropped"] == 0 and n < 5000:
        fw.log("m", {"i": n}, 1)
        n += 1
        if n % 10 == 0:
            time.sleep(0.002)  # let the sender keep up, as it does at production rates
    s = fw.stats()
    assert s["dropped"] == 1
    assert 4096 - 2 * 1024 < s["spool_bytes"] <= 4096  # the first drop came only once the spool was full
    assert s["queued"] >= 50
    assert s["dropped"] + s["spooled"] + s["queued"] == n  # every event is accounted for
    fw.log("m", X, 1)  # still no exception
    assert fw.stats()["dropped"] == 2
    fw.close(0.1)


def test_flush_honours_its_deadline_while_the_server_is_down(tmp_path: Path) -> None:
    fw, _ = client(tmp_path, fail=Outage(503, down=True))
    fw.log("m", X, 1)
    t0 = time.monotonic()
    assert fw.flush(0.2) is False
    assert 0.19 <= time.monotonic() - t0 < 1.0
    fw.close(0.1)


def test_flush_honours_its_deadline_while_a_send_hangs(tmp_path: Path) -> None:
    fw, _ = client(tmp_path, fail=lambda *a: time.sleep(1.0))
    fw.log("m", X, 1)
    t0 = time.monotonic()
    assert fw.flush(0.2) is False
    assert time.monotonic() - t0 < 0.6
    fw.close(2)


def test_log_returns_at_once_while_a_send_hangs(tmp_path: Path) -> None:
    fw, _ = client(tmp_path, fail=lambda *a: time.sleep(0.5), batch_size=10)
    for _ in range(20):
        fw.log("m", X, 1)
    time.sleep(0.05)  # the worker is now stuck in a send
    t0 = time.perf_counter()
    for _ in range(1000):
        fw.log("m", X, 1)
    assert time.perf_counter() - t0 < 0.1
    t0 = time.monotonic()
    fw.close(0.2)
    assert time.monotonic() - t0 < 1.5  # the flush deadline, then at most the send in flight
    assert fw.stats()["spooled"] >= 1000  # what could not go out waits in the spool


def test_close_is_idempotent_and_later_calls_are_counted_not_raised(tmp_path: Path) -> None:
    fw, t = client(tmp_path)
    fw.log("m", X, 1)
    assert fw.close() is True
    assert fw.close() is True
    eid = fw.log("m", X, 1)
    fw.feedback("m", eid, "flag")
    fw.label("m", eid, "x")
    assert uuid.UUID(eid).version == 4
    s = fw.stats()
    assert s["dropped"] == 3 and s["sent"] == 1 and len(t.items()) == 1


def test_context_manager_closes_and_delivers(tmp_path: Path) -> None:
    t = MemoryTransport()
    with Flywheel(transport=t, spool_dir=tmp_path, **FAST) as fw:
        fw.log("m", X, 1)
    assert len(t.items()) == 1 and not fw._sender.thread.is_alive()


def test_close_spools_what_it_could_not_send_and_the_next_client_replays_it(tmp_path: Path) -> None:
    fw, _ = client(tmp_path, fail=Outage(503, down=True), batch_size=1000, flush_interval=30)
    ids = [fw.log("m", {"i": i}, 1) for i in range(120)]
    fw.feedback("m", ids[0], "flag")
    assert fw.close(0.1) is False
    assert fw.stats()["spool_items"] == 121
    fw2, t2 = client(tmp_path)  # same spool dir, server back
    assert fw2.flush(5)
    assert event_ids(t2) == ids and len(t2.items("feedback")) == 1
    assert fw2.stats()["replayed"] == 121
    fw2.close()


def test_two_live_clients_never_share_a_spool_slot(tmp_path: Path) -> None:
    a, _ = client(tmp_path)
    b, _ = client(tmp_path)
    assert a._sender.spool.dir != b._sender.spool.dir
    a.close()
    b.close()


def test_bad_values_never_raise_and_never_sink_their_batch(tmp_path: Path) -> None:
    fw, t = client(tmp_path)
    fw.log("m", X, 1)
    fw.log("m", 5, 1)  # type: ignore[arg-type]  # inputs not a mapping
    fw.log("m", X, object())  # not JSON-serialisable
    fw.log("m", X, 1, timestamp=object())
    fw.log(None, X, 1)  # type: ignore[arg-type]
    fw.log("m", X, 2)
    assert fw.flush(5)
    assert [i["prediction"] for i in t.items()] == [1, 2]
    s = fw.stats()
    assert s["failed"] == 4 and s["sent"] == 2 and s["last_error"]
    fw.close()


def test_a_transport_bug_is_counted_failed_and_the_sender_survives(tmp_path: Path) -> None:
    calls = []

    def buggy(kind: str, model: str, items: list) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("bug")

    fw, t = client(tmp_path, fail=buggy)
    fw.log("m", X, 1)
    assert fw.flush(5)
    fw.log("m", X, 2)
    assert fw.flush(5)
    assert fw.stats()["failed"] == 1 and [i["prediction"] for i in t.items()] == [2]
    assert "KeyError" in fw.stats()["last_error"]
    fw.close()


def test_corrupt_spool_file_is_set_aside_and_counted(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool", 1 << 20)
    sp.put("events", "m", [{"event_id": "a"}])
    sp.put("events", "m", [{"event_id": "b"}])
    head = sp.dir / sorted(p.name for p in sp.dir.glob("*.json"))[0]
    head.write_bytes(b"{not json")
    sp.close()
    fw, t = client(tmp_path)
    assert fw.flush(5)
    assert event_ids(t) == ["b"] and fw.stats()["failed"] == 1
    assert list(sp.dir.glob("*.bad"))
    fw.close()


def test_register_sends_the_spec_and_raises_when_refused(tmp_path: Path) -> None:
    from flywheel.schema import ModelSpec

    spec = {"name": "m", "task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
    fw, t = client(tmp_path)
    assert fw.register(spec)["created"] is True
    assert fw.register(spec)["created"] is False
    fw.register(ModelSpec.model_validate({**spec, "name": "m2"}))
    assert t.models["m"] == spec
    assert t.models["m2"]["task"] == "regression" and t.models["m2"]["features"][0]["name"] == "x"
    fw.close()
    bad, _ = client(tmp_path / "b", fail=Outage(422, down=True))
    with pytest.raises(TransportError) as info:
        bad.register(spec)
    assert info.value.status == 422 and isinstance(info.value, FlywheelError)
    bad.close()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"batch_size": 0}, "'batch_size' parameter of Flywheel must be an int in [1, 10000]; got 0."),
        ({"max_queue": 10}, "'max_queue' parameter of Flywheel must be an int >= batch_size (500); got 10."),
        ({"flush_interval": -1}, "'flush_interval'"),
        ({"spool_max_bytes": 10}, "'spool_max_bytes'"),
        ({"max_retries": -1}, "'max_retries'"),
        ({"timeout": 0}, "'timeout'"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_them(
    tmp_path: Path, kwargs: dict, fragment: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Flywheel(transport=MemoryTransport(), spool_dir=tmp_path, **kwargs)
    assert fragment in str(info.value)


def test_exactly_one_destination_is_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLYWHEEL_URL", raising=False)
    with pytest.raises(ValidationError, match="exactly one of url="):
        Flywheel(spool_dir=tmp_path)
    with pytest.raises(ValidationError, match="exactly one of url="):
        Flywheel(url="http://x", transport=MemoryTransport(), spool_dir=tmp_path)


def test_url_and_key_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("FLYWHEEL_API_KEY", "k")
    fw = Flywheel(spool_dir=tmp_path)
    assert fw.transport._headers["Authorization"] == "Bearer k"  # type: ignore[attr-defined]
    fw.close(0)


def test_spooling_can_be_turned_off(tmp_path: Path) -> None:
    fw, _ = client(tmp_path, fail=Outage(503, down=True), spool_dir=False, max_queue=500, batch_size=100)
    for _ in range(700):
        fw.log("m", X, 1)
    assert wait_for(lambda: fw.stats()["dropped"] + fw.stats()["queued"] == 700)
    s = fw.stats()
    assert s["spooled"] == 0 and s["dropped"] >= 100  # queue (500) plus one held batch (100) kept
    assert not (tmp_path / "spool").exists()
    fw.close(0.05)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_ids_thread_and_spool_slot(tmp_path: Path) -> None:
    fw, t = client(tmp_path)
    parent_id = fw.log("m", X, 1)
    out = tmp_path / "child.json"
    pid = os.fork()
    if pid == 0:  # the child: log, flush, report, leave without running the parent's atexit
        try:
            ids = [fw.log("m", X, 2) for _ in range(5)]
            ok = fw.flush(5)
            child_items = [i["event_id"] for i in fw.transport.items() if i["prediction"] == 2]  # type: ignore[attr-defined]
            out.write_text(
                json.dumps({"ids": ids, "ok": ok, "items": child_items, "slot": str(fw._sender.spool.dir)})
            )
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child = json.loads(out.read_text())
    assert child["ok"] and child["items"] == child["ids"]
    assert child["ids"][0][:24] != parent_id[:24]
    assert child["slot"] != str(fw._sender.spool.dir)
    assert fw.flush(5) and fw.log("m", X, 3) and fw.flush(5)
    assert [i["prediction"] for i in t.items()] == [1, 3]
    fw.close()


def test_events_logged_just_before_exit_are_spooled_for_the_next_run(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from flywheel.client import Flywheel\n"
        "fw = Flywheel(url=sys.argv[1], spool_dir=sys.argv[2], flush_interval=30, exit_timeout=0.2)\n"
        "for i in range(10):\n"
        "    fw.log('m', {'i': i}, 1)\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    subprocess.run([sys.executable, "-c", code, url, str(tmp_path / "spool")], check=True, timeout=60)
    fw2, t = client(tmp_path)
    assert fw2.flush(5)
    assert [i["inputs"]["i"] for i in t.items()] == list(range(10))
    fw2.close()
