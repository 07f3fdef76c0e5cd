"""The Parquet event log: dedupe on read, atomic files, cursors that walk every event once."""

from __future__ import annotations

import base64
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flywheel.errors import StoreError, ValidationError
from flywheel.store.eventlog import EventLog, decode_cursor, encode_cursor
from tests.store.helpers import T0, event_table, make_events


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "events")


def _ids(table: Any) -> list[str]:
    return table.column("event_id").to_pylist() if table.num_rows else []


def test_appended_events_come_back_with_their_values(log: EventLog) -> None:
    items = make_events(5)
    log.append("churn", event_table(items))
    got = log.query("churn", order_by="event_id")
    assert _ids(got) == ["e0", "e1", "e2", "e3", "e4"]
    row = got.slice(1, 1).to_pylist()[0]
    assert row["in.age"] == 21.0 and row["in.plan"] == "pro" and row["prediction"] == "stay"
    assert row["proba.stay"] == 0.75
    assert row["timestamp"] == T0 + timedelta(seconds=1)


def test_a_batch_written_twice_is_read_once_keeping_the_first_arrival(log: EventLog) -> None:
    items = make_events(20)
    first = event_table(items, now=datetime(2026, 2, 1, tzinfo=UTC))
    retry_items = [{**ev, "prediction": "churn"} for ev in items]
    retry = event_table(retry_items, now=datetime(2026, 2, 2, tzinfo=UTC))
    log.append("churn", first)
    log.append("churn", retry)
    assert len(log.files("churn")) == 2
    got = log.query("churn")
    assert sorted(_ids(got)) == sorted(ev["event_id"] for ev in items)
    assert got.num_rows == 20
    assert set(got.column("ingested_at").to_pylist()) == {datetime(2026, 2, 1, tzinfo=UTC)}
    kept = log.get("churn", ["e0", "e1"])
    assert sorted(kept.column("prediction").to_pylist()) == sorted(ev["prediction"] for ev in items[:2])


def test_a_batch_spanning_two_days_is_split_into_date_partitions(log: EventLog) -> None:
    items = make_events(6, start=T0 - timedelta(hours=1), step=timedelta(minutes=30))
    files = log.append("churn", event_table(items))
    assert sorted(Path(f).parent.name for f in files) == ["date=2025-12-31", "date=2026-01-01"]
    assert log.query("churn").num_rows == 6
    day2 = log.query("churn", since=T0)
    assert sorted(_ids(day2)) == ["e2", "e3", "e4", "e5"]
    assert log.files("churn", since=T0) == [str(f) for f in files if "2026-01-01" in str(f)]


def test_reading_a_model_with_no_events_gives_an_empty_table(log: EventLog) -> None:
    assert log.query("nobody").num_rows == 0
    page, nxt = log.page("nobody")
    assert page.num_rows == 0 and nxt is None


def test_a_write_that_fails_midway_leaves_no_visible_file(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.append("churn", event_table(make_events(3)))
    before = log.files("churn")

    def torn_write(table: Any, where: Any, **kw: Any) -> None:
        where.write(b"PAR1 half a parquet file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", torn_write)
    with pytest.raises(StoreError, match="No space left"):
        log.append("churn", event_table(make_events(3, prefix="x")))
    monkeypatch.undo()
    assert log.files("churn") == before
    # The torn temporary file may stay on disk, but no reader sees it.
    assert sorted(_ids(log.query("churn"))) == ["e0", "e1", "e2"]


def test_temporary_and_foreign_files_are_ignored_by_readers(log: EventLog) -> None:
    log.append("churn", event_table(make_events(3)))
    part = Path(log.files("churn")[0]).parent
    (part / ".tmp-part-0000000000000001-abcd.parquet").write_bytes(b"garbage, being written")
    (part / "part-0000000000000002-abcd.parquet.tmp").write_bytes(b"garbage")
    (part / "README").write_text("not an event file")
    assert len(log.files("churn")) == 1
    assert log.query("churn").num_rows == 3


def test_every_listed_file_is_complete_while_writers_are_busy(log: EventLog) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []
    checked = [0]

    def writer(w: int) -> None:
        try:
            for b in range(25):
                log.append("churn", event_table(make_events(50, prefix=f"w{w}b{b}-")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        while not stop.is_set():
            for f in log.files("churn"):
                try:
                    assert pq.read_table(f).num_rows == 50
                    checked[0] += 1
                except BaseException as exc:
                    errors.append(exc)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    r = threading.Thread(target=reader)
    r.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    r.join()
    assert errors == []
    assert checked[0] > 0
    assert log.query("churn").num_rows == 3 * 25 * 50


def _walk(log: EventLog, limit: int, **kw: Any) -> list[list[str]]:
    pages, cursor = [], None
    for _ in range(10_000):
        page, cursor = log.page("churn", limit=limit, cursor=cursor, **kw)
        pages.append(_ids(page))
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize(("n", "limit"), [(12, 1), (150, 11), (300, 100), (300, 1000)])
def test_page_cursors_walk_every_event_once_in_time_order(log: EventLog, n: int, limit: int) -> None:
    rng = random.Random(n * limit)
    # Events over two days, many sharing a timestamp (ties are broken by event_id), appended
    # out of order in several batches, plus one retried batch.
    items = make_events(n)
    for ev in items:
        ev["timestamp"] = (T0 + timedelta(minutes=30 * (rng.randrange(n) // 3))).isoformat()
        ev["event_id"] = f"id-{rng.randrange(10**9):09d}-{ev['event_id']}"
    rng.shuffle(items)
    size = max(1, n // 5)
    for i in range(0, n, size):
        log.append("churn", event_table(items[i : i + size]))
    log.append("churn", event_table(items[:size]))
    order = sorted(items, key=lambda e: (datetime.fromisoformat(e["timestamp"]), e["event_id"]))
    pages = _walk(log, limit)
    assert [i for p in pages for i in p] == [ev["event_id"] for ev in order]
    assert all(len(p) == limit for p in pages[:-1])
    assert len(pages) == -(-n // limit)


def test_page_cursors_respect_since_and_until(log: EventLog) -> None:
    items = make_events(50, step=timedelta(hours=1))
    log.append("churn", event_table(items))
    since, until = T0 + timedelta(hours=10), T0 + timedelta(hours=30)
    got = [i for p in _walk(log, 3, since=since, until=until) for i in p]
    assert got == [f"e{i}" for i in range(10, 30)]


def test_a_cursor_round_trips_microseconds_and_odd_ids() -> None:
    ts = datetime(2026, 5, 17, 3, 4, 5, 678901, tzinfo=UTC)
    us, eid = decode_cursor(encode_cursor(ts, "a|b'c"))
    assert us == (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert eid == "a|b'c"


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        base64.urlsafe_b64encode(b"no separator").decode(),
        base64.urlsafe_b64encode(b"notanumber|e1").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    ],
)
def test_a_malformed_cursor_is_a_validation_error(log: EventLog, cursor: str) -> None:
    log.append("churn", event_table(make_events(3)))
    with pytest.raises(ValidationError, match="cursor") as err:
        log.page("churn", cursor=cursor)
    assert err.value.details == [{"field": "cursor", "reason": "malformed"}]
