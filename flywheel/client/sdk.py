"""``Flywheel``: the one object production code holds.

``log()`` appends a tuple to an in-memory queue and returns the event id; a background thread
does the rest (see ``flywheel.client.sender``). Nothing on the request path validates,
serialises, locks or touches the network, and nothing there raises.

    fw = Flywheel(url="http://flywheel:8080", api_key="...")
    fw.register({"name": "churn", "task": "binary", "class_names": ["stay", "leave"],
                 "features": [{"name": "age", "kind": "numeric"}]})
    event_id = fw.log("churn", {"age": 41}, "leave", probabilities={"stay": 0.2, "leave": 0.8})
    fw.label("churn", event_id, "stay")
    fw.close()
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import itertools
import os
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from flywheel.client.frames import frame_rows
from flywheel.client.sender import Sender
from flywheel.client.spool import Spool
from flywheel.client.transport import HttpTransport, Transport, TransportError
from flywheel.errors import ValidationError

_live: weakref.WeakSet[Flywheel] = weakref.WeakSet()
_FEEDBACK_KINDS = ("thumbs_up", "thumbs_down", "flag", "outcome", "comment")


def _id_prefix() -> str:
    """A random RFC 4122 version-4 UUID prefix; ids append a 12-hex-digit counter to it."""
    r = os.urandom(10).hex()
    variant = "89ab"[int(r[18], 16) & 3]
    return f"{r[0:8]}-{r[8:12]}-4{r[12:15]}-{variant}{r[15:18]}-"


def _check(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValidationError(f"The '{name}' parameter of Flywheel must be {allowed}; got {value!r}.")


class Flywheel:
    """Log predictions, feedback and labels to Flywheel without slowing the caller down.

    Give ``url`` (and ``api_key``) for a server, ``path`` for the embedded store in this
    process, or any ``transport``. With none of them, ``FLYWHEEL_URL`` and
    ``FLYWHEEL_API_KEY`` are read from the environment.

    ``batch_size`` items or ``flush_interval`` seconds make a batch; ``max_queue`` bounds the
    in-memory queue; ``spool_dir`` (default: a directory under the system temp dir derived
    from the URL or path; ``False`` for none) holds at most ``spool_max_bytes`` of batches
    while the server is unreachable; a retryable failure is retried ``max_retries`` times
    with jittered exponential back-off from ``backoff_base`` up to ``backoff_max`` seconds.
    ``timeout`` is the HTTP timeout. At interpreter exit the client is closed, waiting at most
    ``exit_timeout`` seconds for the server before spooling the rest.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        transport: Transport | None = None,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_queue: int = 100_000,
        spool_dir: str | os.PathLike[str] | bool | None = None,
        spool_max_bytes: int = 256 * 1024 * 1024,
        max_retries: int = 3,
        backoff_base: float = 0.1,
        backoff_max: float = 30.0,
        timeout: float = 5.0,
        exit_timeout: float = 2.0,
    ) -> None:
        if url is None and path is None and transport is None:
            url = os.environ.get("FLYWHEEL_URL")
            api_key = api_key or os.environ.get("FLYWHEEL_API_KEY")
        self.url, self.api_key, self.path = url, api_key, path
        self.batch_size, self.flush_interval, self.max_queue = batch_size, flush_interval, max_queue
        self.spool_dir, self.spool_max_bytes = spool_dir, spool_max_bytes
        self.max_retries, self.backoff_base, self.backoff_max = max_retries, backoff_base, backoff_max
        self.timeout, self.exit_timeout = timeout, exit_timeout
        _check(
            "url, path, transport",
            (url, path, transport),
            sum(x is not None for x in (url, path, transport)) == 1,
            "exactly one of url=, path= or transport= (or FLYWHEEL_URL in the environment)",
        )
        _check(
            "batch_size",
            batch_size,
            isinstance(batch_size, int) and 1 <= batch_size <= 10_000,
            "an int in [1, 10000]",
        )
        _check(
            "flush_interval",
            flush_interval,
            isinstance(flush_interval, (int, float)) and 0.001 <= flush_interval <= 60,
            "a number of seconds in [0.001, 60]",
        )
        _check(
            "max_queue",
            max_queue,
            isinstance(max_queue, int) and max_queue >= batch_size,
            f"an int >= batch_size ({batch_size})",
        )
        _check(
            "spool_max_bytes",
            spool_max_bytes,
            isinstance(spool_max_bytes, int) and spool_max_bytes >= 1024,
            "an int >= 1024",
        )
        _check(
            "max_retries",
            max_retries,
            isinstance(max_retries, int) and 0 <= max_retries <= 20,
            "an int in [0, 20]",
        )
        _check(
            "backoff_base",
            backoff_base,
            isinstance(backoff_base, (int, float)) and 0 < backoff_base <= backoff_max,
            "a positive number of seconds <= backoff_max",
        )
        _check(
            "timeout",
            timeout,
            isinstance(timeout, (int, float)) and timeout > 0,
            "a positive number of seconds",
        )

        if transport is None:
            if url is not None:
                transport = HttpTransport(url, api_key, timeout=timeout)
            else:
                from flywheel.client.embedded import InProcessTransport  # heavy: only when asked for

                transport = InProcessTransport(path)  # type: ignore[arg-type]
        self.transport = transport
        spool = self._open_spool()
        self._sender = Sender(
            transport,
            spool,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
        )
        self._queue = self._sender.queue
        self._seq = itertools.count()
        self._prefix = _id_prefix()
        self._hex_prefix = self._prefix.replace("-", "")
        self._closed = False
        self._sender.start()
        _live.add(self)

    def _open_spool(self) -> Spool | None:
        if self.spool_dir is False:
            return None
        if self.spool_dir is None or self.spool_dir is True:
            where = self.url or (
                str(Path(self.path).resolve()) if self.path is not None else type(self.transport).__qualname__
            )
            key = hashlib.sha256(where.encode()).hexdigest()[:16]
            root = Path(tempfile.gettempdir()) / "flywheel-spool" / key
        else:
            root = Path(self.spool_dir)
        return Spool(root, self.spool_max_bytes)

    # -- the request path: no validation, no I/O, no locks, no exceptions ----------------------------

    def log(
        self,
        model: str,
        inputs: dict[str, Any],
        prediction: Any,
        *,
        probabilities: dict[str, float] | list[float] | None = None,
        event_id: str | None = None,
        timestamp: Any = None,
        tags: dict[str, str] | None = None,
        score: float | None = None,
        model_version: str | None = None,
        trace_id: str | None = None,
        parent_event_id: str | None = None,
        served: bool = True,
    ) -> str:
        """Queue one prediction and return its ``event_id`` at once.

        ``inputs`` is read later by the background thread: do not change the dict after the
        call. ``timestamp`` is epoch seconds, a datetime (naive means UTC) or an ISO string;
        default now. Bad values are counted in ``stats()["failed"]``, never raised.
        """
        seq = next(self._seq)
        if event_id is None:
            event_id = f"{self._prefix}{seq:012x}"
        q = self._queue
        n = len(q)
        if n >= self.max_queue or self._closed:
            self._sender.count_dropped(1)
            return event_id
        q.append(
            (
                "events",
                model,
                seq,
                event_id,
                time.time() if timestamp is None else timestamp,
                inputs,
                prediction,
                probabilities,
                score,
                model_version,
                tags,
                trace_id,
                parent_event_id,
                served,
            )
        )
        if n + 1 == self.batch_size:
            self._sender.wake.set()
        return event_id

    def feedback(
        self, model: str, event_id: str, kind: str, value: Any = None, comment: str | None = None
    ) -> str:
        """Queue a user's signal about an event (``kind``: thumbs_up, thumbs_down, flag, outcome,
        comment); returns its ``feedback_id``. Never raises."""
        seq = next(self._seq)
        feedback_id = f"{self._hex_prefix}{seq:012x}"
        self._put(("feedback", model, seq, feedback_id, time.time(), event_id, kind, value, comment))
        return feedback_id

    def label(
        self, model: str, event_id: str, label: Any, *, source: str = "outcome", annotator: str | None = None
    ) -> str:
        """Queue the ground truth for an event; returns its ``label_id``. Never raises."""
        seq = next(self._seq)
        label_id = f"{self._hex_prefix}{seq:012x}"
        self._put(("labels", model, seq, label_id, time.time(), event_id, label, source, annotator))
        return label_id

    def _put(self, entry: tuple[Any, ...]) -> None:
        q = self._queue
        if len(q) >= self.max_queue or self._closed:
            self._sender.count_dropped(1)
            return
        q.append(entry)
        if len(q) == self.batch_size:
            self._sender.wake.set()

    # -- batch and setup calls (these may wait) ---------------------------------------------------

    def log_batch(
        self,
        model: str,
        frame: Any,
        *,
        prediction_col: str,
        probability_cols: list[str] | dict[str, str] | None = None,
        feature_cols: list[str] | None = None,
        event_id_col: str | None = None,
        timestamp_col: str | None = None,
        score_col: str | None = None,
        model_version: str | None = None,
        tags: dict[str, str] | None = None,
        served: bool = True,
        timeout: float | None = None,
    ) -> list[str]:
        """Queue one event per row of a pandas or polars frame (or a list of dicts); returns the ids.

        Feature columns default to every column not named by another argument. A list of
        ``probability_cols`` gives probabilities as a list in that order; a dict maps class
        name to column. Missing values (NaN, None, NA, NaT) become null. Unlike ``log()``,
        this waits for room in the queue (up to ``timeout`` seconds, default without end)
        rather than dropping rows; what is still not queued at the deadline is dropped and
        counted.
        """
        rows, features = frame_rows(
            frame, prediction_col, probability_cols, feature_cols, event_id_col, timestamp_col, score_col
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        ids: list[str] = []
        q, sender = self._queue, self._sender
        give_up = False
        for row in rows:
            seq = next(self._seq)
            event_id = row.get(event_id_col) if event_id_col else None
            event_id = f"{self._prefix}{seq:012x}" if event_id is None else str(event_id)
            ids.append(event_id)
            while not give_up and len(q) >= self.max_queue and not self._closed:
                sender.wake.set()
                if deadline is not None and time.monotonic() >= deadline:
                    give_up = True
                else:
                    time.sleep(0.001)
            if give_up or self._closed:
                sender.count_dropped(1)
                continue
            probs: Any = None
            if isinstance(probability_cols, dict):
                probs = {c: row[col] for c, col in probability_cols.items()}
            elif probability_cols:
                probs = [row[col] for col in probability_cols]
            ts = row.get(timestamp_col) if timestamp_col else None
            q.append(
                (
                    "events",
                    model,
                    seq,
                    event_id,
                    time.time() if ts is None else ts,
                    {f: row[f] for f in features},
                    row[prediction_col],
                    probs,
                    row.get(score_col) if score_col else None,
                    model_version,
                    tags,
                    None,
                    None,
                    served,
                )
            )
            if len(q) >= self.batch_size:
                sender.wake.set()
        return ids

    def register(self, spec: Any) -> dict[str, Any]:
        """Register a model (a ``ModelSpec`` or its JSON dict) synchronously; returns the server's answer.

        Raises :class:`~flywheel.client.transport.TransportError` (a ``FlywheelError``, with
        ``status``) if the server refuses the spec or cannot be reached.
        """
        body = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)
        name = body.get("name")
        if not isinstance(name, str):
            raise ValidationError(f"The spec must have a string 'name'; got {name!r}.")
        return self.transport.send("model", name, [body])

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything logged before this call is delivered (or finally refused).

        Returns False if ``timeout`` seconds pass first, e.g. while the server is down and
        events wait in the spool; nothing is lost then.
        """
        deadline = time.monotonic() + timeout
        sender = self._sender
        sender.request_flush()  # once: a flush may probe a down server once, not hammer it
        while True:
            if not sender.pending():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sender.thread.is_alive():
                return False
            with sender.changed:
                sender.changed.wait(min(remaining, 0.05))

    def stats(self) -> dict[str, Any]:
        """Counts of items (events, feedback and labels together) since this client started.

        ``sent``: acknowledged by the server (``duplicates`` of them were already there);
        ``spooled``: written to the spool; ``replayed``: sent from the spool; ``dropped``:
        lost because queue and spool were full, or logged after ``close()``; ``failed``:
        refused for good (422, 401/403, unserialisable values), see ``last_error``;
        ``queued``: in memory now; ``spool_items``/``spool_bytes``: on disk now.
        """
        s = self._sender
        spool = s.spool
        return {
            "sent": s.sent,
            "duplicates": s.duplicates,
            "spooled": s.spooled,
            "replayed": s.replayed,
            "dropped": s.dropped,
            "failed": s.failed,
            "queued": len(s.queue) + s.held_items,
            "spool_items": spool.items if spool is not None else 0,
            "spool_bytes": spool.bytes if spool is not None else 0,
            "server_up": s.server_up,
            "last_error": s.last_error,
        }

    def close(self, timeout: float = 5.0) -> bool:
        """Flush for up to ``timeout`` seconds, spool what is left, stop the thread. Idempotent.

        Returns True if everything was delivered. Later ``log()`` calls are counted as dropped.
        """
        if self._closed:
            return not self._sender.pending()
        self._closed = True
        delivered = self.flush(timeout)
        self._sender.stop_event.set()
        self._sender.wake.set()
        # Writing the leftovers to the spool is local, bounded work (at most max_queue items):
        # wait for it, unless a send hangs past the transport's own timeout.
        sender = self._sender
        while sender.thread.is_alive():
            sender.thread.join(0.05)
            since = sender.sending_since
            if since is not None and time.monotonic() - since > self.timeout + 1.0:
                break
        closer = getattr(self.transport, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception as exc:
                self._sender.last_error = f"closing transport: {exc}"
        _live.discard(self)
        return delivered

    def __enter__(self) -> Flywheel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.url or self.path or type(self.transport).__name__
        return f"Flywheel({where!r}, queued={len(self._queue)})"

    def _after_fork_in_child(self) -> None:
        self._prefix = _id_prefix()
        self._hex_prefix = self._prefix.replace("-", "")
        if not self._closed:
            self._sender.after_fork_in_child()
            self._queue = self._sender.queue
            self._sender.start()


def _close_all_at_exit() -> None:
    for fw in list(_live):
        with contextlib.suppress(Exception):  # nothing useful to do about it at interpreter exit
            fw.close(fw.exit_timeout)


def _after_fork() -> None:
    for fw in list(_live):
        fw._after_fork_in_child()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)

__all__ = ["Flywheel", "TransportError"]
