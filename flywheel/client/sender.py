"""The SDK's background thread: drain the queue, batch, send, retry, spool, replay.

Callers only ever append tuples to ``Sender.queue`` (a ``collections.deque``); everything
else happens here, in one thread, so the hot path takes no lock. Order is kept: while the
spool holds anything, new batches go behind it on disk, and the spool is replayed oldest
first before anything newer is sent.

States: *up* (send directly) and *down* (after a retryable failure: spool everything, probe
the server again after an exponential, jittered back-off). A batch that cannot be spooled
because the spool is full is *held* in memory and the queue is no longer drained, so the
queue fills up and ``log()`` starts counting drops: data is dropped only when both the queue
and the spool are full.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from flywheel.client.spool import Spool, SpoolCorrupt
from flywheel.client.transport import Transport, TransportError, dumps

# Queue entries are tuples; the first three fields are (kind, model, seq).
Entry = tuple[Any, ...]
Batch = tuple[str, str, list[dict[str, Any]]]


_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def iso_timestamp(ts: Any) -> str:
    """Epoch seconds, a datetime (naive = UTC) or an ISO string -> ISO 8601 with a timezone.

    >>> iso_timestamp(1700000000.25)
    '2023-11-14T22:13:20.250000+00:00'
    """
    global _second
    if isinstance(ts, float | int) and not isinstance(ts, bool) and 0 <= ts < 253402300800:
        # Events come in time order, so the formatted second is cached: 4x cheaper than datetime.
        sec = int(ts)
        cached = _second
        if cached[0] != sec:
            cached = _second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
        return f"{cached[1]}.{min(round((ts - sec) * 1e6), 999_999):06d}+00:00"
    if isinstance(ts, float | int) and not isinstance(ts, bool):
        return datetime.fromtimestamp(ts, UTC).isoformat()
    if isinstance(ts, datetime):
        return (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).isoformat()
    if isinstance(ts, str):
        return ts
    if hasattr(ts, "item"):  # a NumPy scalar
        return iso_timestamp(ts.item())
    raise TypeError(
        f"timestamp must be epoch seconds, a datetime or an ISO 8601 string; got {type(ts).__name__}"
    )


def _event(e: Entry) -> dict[str, Any]:
    (
        _,
        _,
        _,
        event_id,
        ts,
        inputs,
        prediction,
        probabilities,
        score,
        version,
        tags,
        trace,
        parent,
        served,
    ) = e
    if not isinstance(inputs, dict):
        inputs = dict(inputs)
    item = {"event_id": event_id, "timestamp": iso_timestamp(ts), "inputs": inputs, "prediction": prediction}
    if probabilities is not None:
        item["probabilities"] = dict(probabilities) if hasattr(probabilities, "keys") else list(probabilities)
    if score is not None:
        item["score"] = float(score)
    if version is not None:
        item["model_version"] = str(version)
    if tags:
        item["tags"] = {str(k): str(v) for k, v in tags.items()}
    if trace is not None:
        item["trace_id"] = str(trace)
    if parent is not None:
        item["parent_event_id"] = str(parent)
    if served is not True:
        item["served"] = bool(served)
    return item


def _feedback(e: Entry) -> dict[str, Any]:
    (_, _, _, feedback_id, ts, event_id, kind, value, comment) = e
    item = {
        "feedback_id": feedback_id,
        "event_id": str(event_id),
        "kind": str(kind),
        "timestamp": iso_timestamp(ts),
    }
    if value is not None:
        item["value"] = value
    if comment is not None:
        item["comment"] = str(comment)
    return item


def _label(e: Entry) -> dict[str, Any]:
    (_, _, _, label_id, ts, event_id, label, source, annotator) = e
    item = {
        "label_id": label_id,
        "event_id": str(event_id),
        "label": label,
        "source": str(source),
        "timestamp": iso_timestamp(ts),
    }
    if annotator is not None:
        item["annotator"] = str(annotator)
    return item


_BUILDERS = {"events": _event, "feedback": _feedback, "labels": _label}


def _bad_rows(exc: TransportError, n: int) -> set[int]:
    """Rows of a 422 the server named, when it named only some and each by a valid index; else empty."""
    if exc.status != 422 or not exc.details:
        return set()
    bad: set[int] = set()
    for d in exc.details:
        row = d.get("row") if isinstance(d, dict) else None
        if not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < n:
            return set()  # a batch-level problem (or an answer we cannot read): the batch fails whole
        bad.add(row)
    return bad if len(bad) < n else set()


class Sender:
    """Owns the queue, the spool and the counters; runs the background thread."""

    def __init__(
        self,
        transport: Transport,
        spool: Spool | None,
        *,
        batch_size: int,
        flush_interval: float,
        max_queue: int,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
    ) -> None:
        self.transport = transport
        self.spool = spool
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.queue: deque[Entry] = deque()
        # Counters: written by the worker thread only, except ``dropped`` (under a lock).
        self.sent = self.duplicates = self.spooled = self.replayed = self.failed = self.dropped = 0
        self.last_error: str | None = None
        self._reset_threading()

    def _reset_threading(self) -> None:
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.changed = threading.Condition()
        self.drop_lock = threading.Lock()
        self.held: deque[Batch] = deque()
        self.held_items = 0
        self.busy = False
        self.sending_since: float | None = None  # monotonic start of the send in flight
        self.flush_requested = False
        self.down = False  # after a retryable failure, until a send succeeds
        self.down_until = 0.0  # when the next probe may go out
        self.backoff = self.backoff_base
        self.last_drain = time.monotonic()
        self.thread = threading.Thread(target=self._run, name="flywheel-sdk-sender", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- called from other threads -------------------------------------------------------------

    def count_dropped(self, n: int) -> None:
        with self.drop_lock:
            self.dropped += n

    @property
    def server_up(self) -> bool:
        return not self.down

    def _may_try(self) -> bool:
        return not self.down or time.monotonic() >= self.down_until

    def pending(self) -> bool:
        """Anything logged and not yet resolved (sent or finally refused)?"""
        spooled = self.spool.items if self.spool is not None else 0
        return bool(self.queue) or self.busy or bool(self.held) or spooled > 0

    def request_flush(self) -> None:
        self.flush_requested = True
        self.wake.set()

    def after_fork_in_child(self) -> None:
        """The worker thread does not survive fork: forget the parent's queue, take a new spool slot."""
        self.queue.clear()
        self._reset_threading()
        if self.spool is not None:
            self.spool.release_after_fork()

    # -- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self.wake.wait(self._wait_time())
            self.wake.clear()
            try:
                self._cycle()
            except Exception as exc:  # the worker must outlive any bug in a transport or a value
                self.last_error = f"sender: {type(exc).__name__}: {exc}"
                self.busy = False
                self.stop_event.wait(0.05)
            with self.changed:
                self.changed.notify_all()
        self._spool_leftovers()

    def _wait_time(self) -> float:
        if self.flush_requested:
            return 0.0
        now = time.monotonic()
        if not self.down and self.spool is not None and self.spool.files:
            return 0.0  # keep replaying
        wait = self.flush_interval
        if self.queue and not self.held:
            wait = self.flush_interval - (now - self.last_drain)
        if self.down:
            wait = min(wait, self.down_until - now)
        return max(wait, 0.0)

    def _cycle(self) -> None:
        flush = self.flush_requested
        self.flush_requested = False
        if self.spool is not None and self.spool.files and (self._may_try() or flush):
            self._replay()
        while self.held:
            kind, model, items = self.held[0]
            rest = self._place(kind, model, items)
            if rest:
                self.held[0] = (kind, model, rest)
                self.held_items -= len(items) - len(rest)
                return  # still no room: leave the queue alone so that log() counts the drops
            self.held.popleft()
            self.held_items -= len(items)
        due = flush or time.monotonic() - self.last_drain >= self.flush_interval
        if self.queue and (due or len(self.queue) >= self.batch_size):
            self._drain()

    def _drain(self) -> None:
        self.busy = True
        self.last_drain = time.monotonic()
        try:
            todo = len(self.queue)  # what is there now; later arrivals wait for the next cycle
            while todo > 0 and not self.held and not self.stop_event.is_set():
                take = min(todo, self.batch_size)
                todo -= take
                groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
                for _ in range(take):
                    entry = self.queue.popleft()
                    try:
                        item = _BUILDERS[entry[0]](entry)
                        model = entry[1]
                        if not isinstance(model, str) or not model:
                            raise TypeError(f"model must be a non-empty string; got {model!r}")
                    except Exception as exc:
                        self.failed += 1
                        self.last_error = f"bad {entry[0]} item: {type(exc).__name__}: {exc}"
                        continue
                    groups.setdefault((entry[0], model), []).append(item)
                for (kind, model), items in groups.items():
                    items = self._serialisable(kind, items)
                    rest = self._place(kind, model, items) if items else []
                    if rest:
                        self.held.append((kind, model, rest))
                        self.held_items += len(rest)
        finally:
            self.busy = False

    def _serialisable(self, kind: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop (and count) the items JSON cannot carry, so that they do not sink their batch."""
        try:
            dumps(items)
            return items
        except Exception:
            good = []
            for item in items:
                try:
                    dumps(item)
                    good.append(item)
                except Exception as exc:
                    self.failed += 1
                    self.last_error = f"{kind} item {item.get('event_id')!r} is not JSON-serialisable: {exc}"
            return good

    def _place(self, kind: str, model: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch or spool it; returns what must be held in memory (the spool is full)."""
        spool_busy = self.spool is not None and self.spool.files > 0
        if not spool_busy and self._may_try() and not self.stop_event.is_set():
            items = self._send(kind, model, items, retries=0 if self.down else None)
            if not items:
                return []
            self._mark_down()
        return self._to_spool(kind, model, items)

    def _to_spool(self, kind: str, model: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Spool a batch; returns the items that found no room."""
        if self.spool is None:
            return items
        answer = self.spool.put(kind, model, items)
        if answer == "ok":
            self.spooled += len(items)
            return []
        if answer == "too_big":
            if len(items) > 1:
                mid = len(items) // 2
                rest = self._to_spool(kind, model, items[:mid])
                return rest + items[mid:] if rest else self._to_spool(kind, model, items[mid:])
            self.count_dropped(1)  # one item larger than the whole spool can never be kept
            self.last_error = (
                f"a {kind} item is larger than spool_max_bytes ({self.spool.max_bytes}); dropped"
            )
            return []
        return items

    def _replay(self) -> None:
        assert self.spool is not None
        while self.spool.files and not self.stop_event.is_set():
            try:
                head = self.spool.peek()
            except SpoolCorrupt as exc:
                self.failed += exc.items
                self.last_error = str(exc)
                continue
            if head is None:
                return
            kind, model, items = head
            # While down, one attempt is the probe; back-off between probes is _mark_down's.
            rest = self._send(kind, model, items, retries=0 if self.down else None, replay=True)
            if rest:
                self._mark_down()
                return
            self.spool.pop()
            if len(self.queue) >= self.batch_size:
                return  # let the drain keep up; the next cycle goes on replaying

    def _send(
        self,
        kind: str,
        model: str,
        items: list[dict[str, Any]],
        *,
        retries: int | None = None,
        replay: bool = False,
    ) -> list[dict[str, Any]]:
        """Deliver a batch; returns what is left to deliver later (empty when resolved)."""
        retries = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            self.sending_since = time.monotonic()
            try:
                answer = self.transport.send(kind, model, items)
            except TransportError as exc:
                self.sending_since = None
                if exc.status == 413 and len(items) > 1:
                    mid = len(items) // 2
                    rest = self._send(kind, model, items[:mid], retries=retries, replay=replay)
                    if rest:
                        return rest + items[mid:]
                    return self._send(kind, model, items[mid:], retries=retries, replay=replay)
                self.last_error = f"{kind} batch for {model!r}: HTTP {exc.status or '-'}: {exc.message}"
                bad = _bad_rows(exc, len(items))
                if bad:
                    # The server names the rows it refused: they never succeed, the others may.
                    self.failed += len(bad)
                    items = [item for i, item in enumerate(items) if i not in bad]
                    continue
                if not exc.retryable:
                    self.failed += len(items)
                    return []
                if attempt >= retries or self._under_pressure() or self.stop_event.is_set():
                    return items
                self.stop_event.wait(self._jitter(self.backoff_base * 2**attempt))
                attempt += 1
                continue
            except Exception as exc:  # a transport bug will not heal by itself: count, keep the message
                self.sending_since = None
                self.failed += len(items)
                self.last_error = f"{kind} batch for {model!r}: {type(exc).__name__}: {exc}"
                return []
            self.sending_since = None
            self.sent += len(items)
            if replay:
                self.replayed += len(items)
            dup = answer.get("duplicates", 0) if isinstance(answer, dict) else 0
            self.duplicates += dup if isinstance(dup, int) else 0
            self._mark_up()
            return []

    def _under_pressure(self) -> bool:
        # Retrying in place while the queue fills would turn an outage into drops: spool instead.
        return len(self.queue) > self.max_queue // 2

    def _jitter(self, delay: float) -> float:
        delay = min(delay, self.backoff_max)
        return delay / 2 + random.uniform(0, delay / 2)

    def _mark_down(self) -> None:
        self.down = True
        self.down_until = time.monotonic() + self._jitter(self.backoff)
        self.backoff = min(self.backoff * 2, self.backoff_max)

    def _mark_up(self) -> None:
        self.down = False
        self.down_until = 0.0
        self.backoff = self.backoff_base

    def _spool_leftovers(self) -> None:
        """On close: what could not be sent goes to the spool for the next process; the rest is dropped."""
        batches = list(self.held)
        self.held.clear()
        self.held_items = 0
        while self.queue:
            entry = self.queue.popleft()
            try:
                batches.append((entry[0], entry[1], [_BUILDERS[entry[0]](entry)]))
            except Exception as exc:
                self.failed += 1
                self.last_error = f"bad {entry[0]} item: {type(exc).__name__}: {exc}"
        merged: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for kind, model, items in batches:
            merged.setdefault((kind, model), []).extend(items)
        for (kind, model), items in merged.items():
            items = self._serialisable(kind, items)
            for i in range(0, len(items), self.batch_size):
                chunk = items[i : i + self.batch_size]
                self.count_dropped(len(self._to_spool(kind, model, chunk)))
        if self.spool is not None:
            self.spool.close()
        with self.changed:
            self.changed.notify_all()
