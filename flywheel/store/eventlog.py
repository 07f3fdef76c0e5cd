"""The event log: append-only Parquet files, read through DuckDB, deduplicated on ``event_id``.

Layout: ``<root>/model=<m>/date=<YYYY-MM-DD>/part-<ingest-us>-<rand>.parquet``. Each accepted
batch becomes one file per event date, written to a hidden temporary name, flushed to disk
and renamed, so a reader sees a batch wholly or not at all. A retried batch may leave the same
event in two files; every read keeps the first arrival of each ``event_id``, and compaction
merges a partition's files into one without losing or duplicating an event.

Columns: ``event_id``, ``timestamp`` (event time, UTC), ``ingested_at`` (arrival, UTC),
``model_version``, ``spec_version``, ``prediction``, ``score``, ``proba.<class>``, ``tags``
(JSON), ``trace_id``, ``parent_event_id``, ``served``, and ``in.<feature>`` per input.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flywheel.errors import StoreError, ValidationError

INPUT_PREFIX = "in."
PROBA_PREFIX = "proba."
_PART_RE = re.compile(r"^part-[0-9a-z\-]+\.parquet$")
_COLUMN_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_US_PER_DAY = 86_400_000_000


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _quote(col: str) -> str:
    if not _COLUMN_RE.match(col):
        raise ValidationError(f"column name {col!r} has characters that are not allowed")
    return '"' + col + '"'


def _ts_literal(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return "TIMESTAMPTZ '" + dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00'"


@dataclass(frozen=True)
class CompactionStats:
    partitions: int
    files_before: int
    files_after: int
    rows_before: int
    rows_after: int


class _ReadGate:
    """Readers share it; compaction holds it alone only while it removes merged files.

    So a reader in this process never loses a file between listing and reading it (DuckDB
    opens files lazily, and a listing taken while files vanish can miss events). Readers in
    other processes fall back on the retry in ``EventLog.query``.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._removing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._removing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def removing(self) -> Iterator[None]:
        with self._cond:
            while self._removing:
                self._cond.wait()
            self._removing = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._removing = False
                self._cond.notify_all()


_GATES: dict[str, _ReadGate] = {}
_GATES_LOCK = threading.Lock()


def _gate_for(root: Path) -> _ReadGate:
    """One gate per event-log root, shared by every ``EventLog`` of this process on that root."""
    key = str(root.resolve())
    with _GATES_LOCK:
        return _GATES.setdefault(key, _ReadGate())


class EventLog:
    """Append and read one model's events; safe for many threads and processes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._compact_lock = threading.Lock()
        self._gate = _gate_for(self.root)

    # -- writing ----------------------------------------------------------------------
    def model_dir(self, model: str) -> Path:
        return self.root / f"model={model}"

    def append(self, model: str, table: pa.Table) -> list[Path]:
        """Write a batch (already validated); one file per event date. Returns the files."""
        if table.num_rows == 0:
            return []
        ts = table.column("timestamp").cast(pa.int64()).to_numpy()
        days = ts // _US_PER_DAY
        stamp = f"{time.time_ns() // 1000:016d}-{secrets.token_hex(4)}"
        written: list[Path] = []
        try:
            for day in np.unique(days):
                part = (
                    table
                    if len(written) == 0 and (days == day).all()
                    else table.filter(pa.array(days == day))
                )
                date = datetime.fromtimestamp(int(day) * 86_400, UTC).strftime("%Y-%m-%d")
                d = self.model_dir(model) / f"date={date}"
                d.mkdir(parents=True, exist_ok=True)
                final = d / f"part-{stamp}.parquet"
                self._write_atomic(part, final)
                written.append(final)
        except OSError as exc:
            raise StoreError(f"could not write to the event log at {self.root}: {exc.strerror}") from exc
        return written

    @staticmethod
    def _write_atomic(table: pa.Table, final: Path, compression: str = "snappy") -> None:
        tmp = final.parent / f".tmp-{final.name}"
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression=compression)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    # -- reading ----------------------------------------------------------------------
    def files(self, model: str, since: datetime | None = None, until: datetime | None = None) -> list[str]:
        d = self.model_dir(model)
        if not d.exists():
            return []
        lo = since.astimezone(UTC).strftime("%Y-%m-%d") if since else None
        hi = until.astimezone(UTC).strftime("%Y-%m-%d") if until else None
        out: list[str] = []
        for part in sorted(d.iterdir()):
            if not part.name.startswith("date="):
                continue
            date = part.name[5:]
            if (lo and date < lo) or (hi and date > hi):
                continue
            out.extend(str(f) for f in sorted(part.iterdir()) if _PART_RE.match(f.name))
        return out

    def query(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        where: Sequence[str] = (),
        select: str = "*",
        group_by: str | None = None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Deduplicated events of ``model`` as an Arrow table.

        ``where`` holds SQL conditions over the columns (callers build them from validated
        names); ``select`` may aggregate. Files removed by a concurrent compaction are retried.
        """
        for attempt in range(3):
            with self._gate.reading():
                files = self.files(model, since, until)
                if not files:
                    return pa.table({})
                conds = list(where)
                if since is not None:
                    conds.append(f"timestamp >= {_ts_literal(since)}")
                if until is not None:
                    conds.append(f"timestamp < {_ts_literal(until)}")
                sql = (
                    "WITH ev AS (SELECT * EXCLUDE (__rn) FROM ("
                    "SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS __rn "
                    "FROM read_parquet($files, union_by_name=true)) WHERE __rn = 1) "
                    f"SELECT {select} FROM ev"
                )
                if conds:
                    sql += " WHERE " + " AND ".join(f"({c})" for c in conds)
                if group_by:
                    sql += f" GROUP BY {group_by}"
                if order_by:
                    sql += f" ORDER BY {order_by}"
                if limit is not None:
                    sql += f" LIMIT {int(limit)}"
                try:
                    con = duckdb.connect()
                    try:
                        con.execute("SET TimeZone='UTC'")
                        return con.sql(sql, params={"files": files}).to_arrow_table()
                    finally:
                        con.close()
                except duckdb.IOException:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def page(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
        equals: dict[str, Any] | None = None,
    ) -> tuple[pa.Table, str | None]:
        """One page of events in (timestamp, event_id) order, and the cursor of the next."""
        where: list[str] = []
        if cursor:
            ts_us, eid = decode_cursor(cursor)
            lit = _ts_literal(datetime.fromtimestamp(ts_us / 1e6, UTC))
            where.append(f"(timestamp > {lit} OR (timestamp = {lit} AND event_id > '{_escape(eid)}'))")
        for col, val in (equals or {}).items():
            if isinstance(val, bool):
                where.append(f"{_quote(col)} = {'true' if val else 'false'}")
            else:
                where.append(f"CAST({_quote(col)} AS VARCHAR) = '{_escape(str(val))}'")
        table = self.query(
            model, since=since, until=until, where=where, order_by="timestamp, event_id", limit=limit + 1
        )
        if table.num_rows <= limit:
            return table, None
        table = table.slice(0, limit)
        last_ts = table.column("timestamp")[limit - 1].as_py()
        last_id = table.column("event_id")[limit - 1].as_py()
        return table, encode_cursor(last_ts, last_id)

    def get(self, model: str, event_ids: Sequence[str]) -> pa.Table:
        if not event_ids:
            return pa.table({})
        ids = ", ".join(f"'{_escape(e)}'" for e in event_ids)
        return self.query(model, where=[f"event_id IN ({ids})"])

    def hourly_counts(
        self, model: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[datetime, int]]:
        t = self.query(
            model,
            since=since,
            until=until,
            select="date_trunc('hour', timestamp) AS hour, count(*) AS n",
            group_by="hour",
            order_by="hour",
        )
        if t.num_rows == 0:
            return []
        return [
            (h, int(n)) for h, n in zip(t.column("hour").to_pylist(), t.column("n").to_pylist(), strict=True)
        ]

    # -- compaction ---------------------------------------------------------------------
    def compact(self, model: str, min_files: int = 2) -> CompactionStats:
        """Merge each date partition with at least ``min_files`` files into one file.

        Only the files listed at the start are merged and then removed, so batches that land
        during compaction are untouched. A crash between writing the merged file and removing
        the old ones leaves duplicates on disk, which every read drops and the next
        compaction removes.
        """
        parts = files_before = files_after = rows_before = rows_after = 0
        with self._compact_lock:
            d = self.model_dir(model)
            if not d.exists():
                return CompactionStats(0, 0, 0, 0, 0)
            for part in sorted(p for p in d.iterdir() if p.name.startswith("date=")):
                files = sorted(str(f) for f in part.iterdir() if _PART_RE.match(f.name))
                if len(files) < min_files:
                    continue
                con = duckdb.connect()
                try:
                    con.execute("SET TimeZone='UTC'")
                    # fetchall, not fetchone: DuckDB 2 refuses the next statement on a
                    # connection whose previous result was not read to the end.
                    rows_before += con.execute(
                        "SELECT count(*) FROM read_parquet($f, union_by_name=true)", {"f": files}
                    ).fetchall()[0][0]
                    merged = con.sql(
                        "SELECT * EXCLUDE (__rn) FROM (SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS __rn "
                        "FROM read_parquet($f, union_by_name=true)) WHERE __rn = 1 ORDER BY timestamp, event_id",
                        params={"f": files},
                    ).to_arrow_table()
                finally:
                    con.close()
                final = part / f"part-{time.time_ns() // 1000:016d}-c{secrets.token_hex(4)}.parquet"
                self._write_atomic(merged, final, compression="zstd")
                with self._gate.removing():
                    for f in files:
                        os.unlink(f)
                _fsync_dir(part)
                parts += 1
                files_before += len(files)
                files_after += 1
                rows_after += merged.num_rows
        return CompactionStats(parts, files_before, files_after, rows_before, rows_after)


def _escape(s: str) -> str:
    return s.replace("'", "''")


def encode_cursor(ts: datetime, event_id: str) -> str:
    us = int(ts.timestamp() * 1_000_000) if isinstance(ts, datetime) else int(ts)
    return base64.urlsafe_b64encode(f"{us}|{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        us, eid = raw.split("|", 1)
        return int(us), eid
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(
            "The 'cursor' parameter is not one this server gave out; pass the 'next' value of the previous page.",
            details=[{"field": "cursor", "reason": "malformed"}],
        ) from exc
