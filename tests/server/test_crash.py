"""Crash safety: SIGKILL the server while clients stream batches; no acknowledged event is lost.

A real uvicorn process takes thousands of small batches from a few client threads; it is
killed mid-stream, restarted on the same data directory, and then every acknowledged event
must be there exactly once. Re-sending every batch that was not acknowledged (a client's
retry) must complete the set without a single duplicate.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.settings import Settings
from flywheel.store import open_store
from tests.conftest import LiveServer, start_live_server
from tests.ingest.cases import SPEC_DICT, good_events
from tests.store.helpers import backend_params, fresh_pg_database

BATCHES = 3000
PER_BATCH = 5
SENDERS = 3
# Each acknowledged batch costs three fsyncs (Parquet file, its directory, the database
# commit), about 20-50 ms on a shared CI disk, so the kill comes after a few hundred
# acknowledgements; the batches never attempted are then sent in bulk to finish the set.
KILL_AFTER_ACKS = int(os.environ.get("FLYWHEEL_CRASH_KILL_AFTER", "150"))
BULK = 200

pytestmark = pytest.mark.slow


def _batch(b: int) -> list[dict[str, Any]]:
    return good_events(PER_BATCH, prefix=f"b{b:04d}")


def _send_all(
    url: str, todo: list[int], acked: set[int], stop_on_error: bool, attempted: set[int] | None = None
) -> list[BaseException]:
    """Send batches from ``todo`` with a few threads; record the attempted and acknowledged ones."""
    q: queue.Queue[int] = queue.Queue()
    for b in todo:
        q.put(b)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while True:
                try:
                    b = q.get_nowait()
                except queue.Empty:
                    return
                if attempted is not None:
                    with lock:
                        attempted.add(b)
                try:
                    r = client.post("/v1/models/churn/events", json={"events": _batch(b)})
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(exc)
                    if stop_on_error:
                        return
                    raise
                if r.status_code != 200:
                    with lock:
                        errors.append(AssertionError(f"batch {b}: {r.status_code} {r.text}"))
                    return
                body = r.json()
                assert body["accepted"] + body["duplicates"] == PER_BATCH, body
                with lock:
                    acked.add(b)

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


def _stored(srv: LiveServer) -> Counter[str]:
    """Every event id the server returns, paging through GET /v1/models/churn/events."""
    ids: Counter[str] = Counter()
    cursor = None
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        while True:
            params: dict[str, Any] = {"limit": 10_000}
            if cursor:
                params["cursor"] = cursor
            r = client.get("/v1/models/churn/events", params=params)
            assert r.status_code == 200, r.text
            ids.update(e["event_id"] for e in r.json()["events"])
            cursor = r.json()["next"]
            if cursor is None:
                return ids


def _ids_of(batches: set[int] | range) -> set[str]:
    return {ev["event_id"] for b in batches for ev in _batch(b)}


@pytest.mark.parametrize("backend", backend_params())
def test_sigkill_mid_stream_loses_no_acknowledged_event(tmp_path: Path, backend: str) -> None:
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if backend == "postgres":
            env["FLYWHEEL_DB_URL"] = stack.enter_context(
                fresh_pg_database(os.environ["FLYWHEEL_TEST_DATABASE_URL"])
            )
        data_dir = tmp_path / "data"
        srv = start_live_server(data_dir, extra_env=env)
        stack.callback(srv.stop)
        assert httpx.post(f"{srv.url}/v1/models", json=SPEC_DICT).status_code == 201

        acked: set[int] = set()
        attempted: set[int] = set()
        result: list[list[BaseException]] = []
        runner = threading.Thread(
            target=lambda: result.append(
                _send_all(srv.url, list(range(BATCHES)), acked, stop_on_error=True, attempted=attempted)
            )
        )
        runner.start()
        deadline = time.monotonic() + 60
        while len(acked) < KILL_AFTER_ACKS and runner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        srv.stop(signal.SIGKILL)
        runner.join()
        first_acked = set(acked)
        assert KILL_AFTER_ACKS <= len(first_acked) < BATCHES, "the kill must land mid-stream"
        assert result[0], "the clients must have seen the server die"

        srv.start()
        stored = _stored(srv)
        assert _ids_of(first_acked) <= set(stored), "an acknowledged event was lost"
        assert [i for i, n in stored.items() if n > 1] == []
        assert set(stored) <= _ids_of(range(BATCHES))

        # The clients retry every batch they sent without an acknowledgement (those in flight
        # at the kill may be wholly or partly on disk), and some acknowledged ones again.
        in_flight = sorted(attempted - first_acked)
        assert in_flight, "no batch was in flight at the kill"
        again = sorted(first_acked)[:: max(1, len(first_acked) // 50)]
        assert _send_all(srv.url, in_flight + again, acked, stop_on_error=False) == []
        assert acked == first_acked | set(in_flight)
        # The rest was never sent: send it in larger batches to finish the set quickly.
        rest = [b for b in range(BATCHES) if b not in attempted]
        with httpx.Client(base_url=srv.url, timeout=60) as client:
            for i in range(0, len(rest), BULK):
                events = [ev for b in rest[i : i + BULK] for ev in _batch(b)]
                r = client.post("/v1/models/churn/events", json={"events": events})
                assert (r.status_code, r.json()) == (200, {"accepted": len(events), "duplicates": 0})
        stored = _stored(srv)
        assert stored == Counter(dict.fromkeys(_ids_of(range(BATCHES)), 1))
        counts = httpx.get(f"{srv.url}/v1/models/churn").json()["counts"]
        assert counts["events"] == BATCHES * PER_BATCH

        # The same, read straight from the store files.
        settings = Settings(data_dir=data_dir, db_url=env.get("FLYWHEEL_DB_URL"))
        store = open_store(settings, migrate=False)
        try:
            ids = store.events.query("churn", select="event_id").column("event_id").to_pylist()
            assert len(ids) == len(set(ids)) == BATCHES * PER_BATCH
        finally:
            store.close()
