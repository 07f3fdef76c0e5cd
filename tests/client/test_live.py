"""The SDK against the real thing: a ``uvicorn`` server process, and the embedded store (``path=``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from flywheel.client import Flywheel
from flywheel.settings import Settings
from flywheel.store import open_store
from flywheel.store.eventlog import EventLog
from tests.conftest import TABULAR_SPEC, LiveServer, start_live_server

FAST = {"flush_interval": 0.05, "backoff_base": 0.01, "backoff_max": 0.5, "max_retries": 2, "timeout": 5.0}


def row(i: int) -> dict[str, Any]:
    return {"age": 20.0 + i % 50, "plan": ["free", "pro"][i % 2], "country": ["fr", "de", "us"][i % 3]}


def all_events(url: str, model: str) -> list[dict[str, Any]]:
    """Every event the API returns, paging through ``next`` cursors."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = (
            httpx.get(f"{url}/v1/models/{model}/events", params=params, timeout=30).raise_for_status().json()
        )
        out.extend(page["events"])
        cursor = page["next"]
        if not cursor:
            return out


def stored_event_ids(data_dir: Path, model: str) -> list[str]:
    """Every event id in the event log's files, duplicates included (readers would hide them)."""
    log = EventLog(data_dir / "events")
    return [
        i
        for f in log.files(model)
        for i in pq.read_table(f, columns=["event_id"]).column("event_id").to_pylist()
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_live_server(tmp_path_factory.mktemp("sdk-live") / "data")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.slow  # the server process takes seconds to start on a busy machine
def test_sdk_delivers_events_feedback_and_labels_to_a_live_server(server: LiveServer, tmp_path: Path) -> None:
    with Flywheel(url=server.url, spool_dir=tmp_path, **FAST) as fw:
        answer = fw.register(TABULAR_SPEC)
        assert answer["name"] == "churn"
        ids = [
            fw.log(
                "churn",
                row(i),
                "stay",
                probabilities={"stay": 0.8, "churn": 0.2},
                model_version="v1",
                tags={"ab": "b"},
            )
            for i in range(1200)
        ]
        fid = fw.feedback("churn", ids[0], "thumbs_down", comment="wrong")
        lid = fw.label("churn", ids[0], "churn", source="annotator", annotator="ana")
        assert fw.flush(30)
        s = fw.stats()
    assert (s["sent"], s["failed"], s["dropped"], s["spooled"]) == (1202, 0, 0, 0), s
    got = {e["event_id"]: e for e in all_events(server.url, "churn")}
    assert set(ids) <= set(got)
    assert got[ids[5]]["inputs"] == row(5) and got[ids[5]]["tags"] == {"ab": "b"}
    detail = httpx.get(f"{server.url}/v1/models/churn/events/{ids[0]}", timeout=30).json()
    assert [f["feedback_id"] for f in detail["feedback"]] == [fid]
    assert [(lb["label_id"], lb["value"], lb["annotator"]) for lb in detail["labels"]] == [
        (lid, "churn", "ana")
    ]


@pytest.mark.slow  # the server process takes seconds to start on a busy machine
def test_a_bad_event_is_refused_with_the_servers_reason_and_not_retried(
    server: LiveServer, tmp_path: Path
) -> None:
    with Flywheel(url=server.url, spool_dir=tmp_path, **FAST) as fw:
        fw.register(TABULAR_SPEC)
        fw.log("churn", {"age": 30.0, "plan": "pro"}, "stay")  # 'country' missing
        assert fw.flush(30)
        s = fw.stats()
    assert (s["failed"], s["sent"], s["spooled"]) == (1, 0, 0)
    assert "HTTP 422" in s["last_error"] and "country" in s["last_error"]


@pytest.mark.slow  # the server process takes seconds to start on a busy machine
def test_register_raises_on_a_bad_spec(server: LiveServer, tmp_path: Path) -> None:
    from flywheel.client import TransportError

    with Flywheel(url=server.url, spool_dir=tmp_path, **FAST) as fw, pytest.raises(TransportError) as info:
        fw.register({**TABULAR_SPEC, "task": "ranking"})
    assert info.value.status == 422 and "task" in info.value.message


@pytest.mark.slow
def test_stop_the_server_while_the_sdk_logs_start_it_again_every_event_arrives_exactly_once(
    live_server: LiveServer, tmp_path: Path
) -> None:
    n = 4000
    fw = Flywheel(url=live_server.url, spool_dir=tmp_path / "spool", batch_size=100, **FAST)
    fw.register(TABULAR_SPEC)
    ids: list[str] = []
    worst = [0.0]

    def produce() -> None:
        for i in range(n):
            t0 = time.perf_counter()
            ids.append(fw.log("churn", row(i), "stay"))
            worst[0] = max(worst[0], time.perf_counter() - t0)
            if i % 10 == 9:
                time.sleep(0.01)  # about 1,000 events/s over several seconds

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.8)
    live_server.stop()
    stopped_at = fw.stats()
    time.sleep(1.5)
    during = fw.stats()
    live_server.start()
    producer.join()
    assert fw.flush(60)
    s = fw.stats()
    fw.close()

    assert during["spooled"] > stopped_at["spooled"] and during["server_up"] is False
    assert (s["dropped"], s["failed"], s["queued"], s["spool_items"]) == (0, 0, 0, 0), s
    assert s["replayed"] == s["spooled"] > 0
    arrived = [e["event_id"] for e in all_events(live_server.url, "churn")]
    assert len(arrived) == n and sorted(arrived) == sorted(ids)
    stored = stored_event_ids(live_server.data_dir, "churn")
    assert sorted(stored) == sorted(ids)  # not only hidden by readers: written once
    assert worst[0] < 0.05  # log() never waited on the outage


def test_embedded_mode_writes_to_the_store_in_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Flywheel(path=data, spool_dir=tmp_path / "spool", **FAST) as fw:
        fw.register(TABULAR_SPEC)
        ids = [fw.log("churn", row(i), "churn") for i in range(50)]
        fw.label("churn", ids[0], "stay")
        fw.feedback("churn", ids[1], "flag")
        fw.log("churn", {"age": 1.0}, "stay")  # refused: the store's 422, counted
        assert fw.flush(30)
        s = fw.stats()
    assert (s["sent"], s["failed"], s["dropped"]) == (52, 1, 0), s
    assert "country" in s["last_error"]
    store = open_store(Settings(data_dir=data))
    try:
        table = store.events.query("churn")
        assert sorted(table.column("event_id").to_pylist()) == sorted(ids)
        assert [lb.value for lb in store.labels.list("churn", event_ids=[ids[0]])] == ["stay"]
        assert len(store.feedback.list("churn", event_ids=[ids[1]])) == 1
    finally:
        store.close()
