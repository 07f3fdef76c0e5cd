"""Compaction merges small files without losing or duplicating an event, even under ingest."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq

from flywheel.ingest.service import IngestService
from flywheel.store import Store
from flywheel.store.eventlog import EventLog
from tests.store.helpers import SPEC, T0, event_table, make_events, stored_ids


def _raw_rows(files: list[str]) -> Counter[str]:
    """Every event_id in the files, duplicates included (no dedupe)."""
    out: Counter[str] = Counter()
    for f in files:
        out.update(pq.read_table(f, columns=["event_id"]).column("event_id").to_pylist())
    return out


def test_compaction_merges_each_partition_into_one_file_and_drops_duplicates(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events")
    items = make_events(60, start=T0 - timedelta(hours=2), step=timedelta(minutes=4))
    for i in range(0, 60, 10):
        log.append("churn", event_table(items[i : i + 10]))
    log.append("churn", event_table(items[:25]))  # a retried batch, across both days
    before = log.query("churn", order_by="event_id")
    n_files = len(log.files("churn"))
    assert sum(_raw_rows(log.files("churn")).values()) == 85

    stats = log.compact("churn")

    assert (stats.partitions, stats.files_before, stats.files_after) == (2, n_files, 2)
    assert (stats.rows_before, stats.rows_after) == (85, 60)
    files = log.files("churn")
    assert len(files) == 2
    assert _raw_rows(files) == Counter({ev["event_id"]: 1 for ev in items})
    assert log.query("churn", order_by="event_id").equals(before)
    # Nothing left to do: a second pass changes nothing.
    assert log.compact("churn").partitions == 0
    assert log.files("churn") == files


def test_compaction_skips_partitions_with_too_few_files(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events")
    log.append("churn", event_table(make_events(5)))
    files = log.files("churn")
    assert log.compact("churn").partitions == 0
    assert log.compact("nobody").partitions == 0
    assert log.files("churn") == files


def test_compaction_under_concurrent_ingest_and_reads_loses_and_duplicates_nothing(store: Store) -> None:
    svc = IngestService(store)
    svc.register_model(SPEC)
    writers, batches, size = 3, 20, 8
    errors: list[BaseException] = []
    done = threading.Event()
    seen_counts: list[int] = []
    compactions = [0]

    def ingest(w: int) -> None:
        try:
            for b in range(batches):
                items = make_events(size, prefix=f"w{w}-b{b}-", start=T0 + timedelta(hours=b % 20 * 2))
                assert svc.ingest_events("churn", items) == {"accepted": size, "duplicates": 0}
                if b % 10 == 3:  # a client retry of the batch just acknowledged
                    assert svc.ingest_events("churn", items) == {"accepted": 0, "duplicates": size}
        except BaseException as exc:
            errors.append(exc)

    def compact() -> None:
        while not done.is_set():
            try:
                compactions[0] += store.events.compact("churn").partitions
            except BaseException as exc:
                errors.append(exc)
                return

    def read() -> None:
        while not done.is_set():
            try:
                ids = stored_ids(store)
                assert not [i for i, c in ids.items() if c > 1], "a read returned an event twice"
                seen_counts.append(len(ids))
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=ingest, args=(w,)) for w in range(writers)]
    side = [threading.Thread(target=compact), threading.Thread(target=read)]
    for th in side + threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    for th in side:
        th.join()

    assert errors == []
    assert compactions[0] > 0, "the compactor never ran while ingest was busy"
    assert seen_counts and seen_counts == sorted(seen_counts), "a read saw fewer events than an earlier one"
    expected = {f"w{w}-b{b}-{i}" for w in range(writers) for b in range(batches) for i in range(size)}
    assert stored_ids(store) == Counter(dict.fromkeys(expected, 1))
    store.events.compact("churn")
    files = store.events.files("churn")
    assert len(files) == 2, "one file per date partition after a quiet compaction"
    assert _raw_rows(files) == Counter(dict.fromkeys(expected, 1))
    assert store.event_index.count("churn") == len(expected)
