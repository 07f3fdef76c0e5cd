"""A bounded, ordered, on-disk spool of batches the SDK could not send yet.

Each batch is one file ``<seq>-<n>.json`` (``seq`` orders the files, ``n`` is the number of
items), written to a temporary name and renamed, so a crash leaves either the whole batch or
nothing. The spool lives in a *slot* directory under ``root``; a process holds its slot with
an advisory lock, so two processes never replay the same files, and a later process that takes
the slot replays what an earlier one left behind. Files are not fsync'ed: they survive a crash
of the process, not of the machine.

>>> import tempfile
>>> sp = Spool(tempfile.mkdtemp(), max_bytes=1 << 20)
>>> sp.put("events", "m", [{"event_id": "a"}])
'ok'
>>> sp.peek()[2]
[{'event_id': 'a'}]
>>> sp.pop(); sp.items
0
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

from flywheel.client.transport import dumps, loads

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one process per spool dir
    fcntl = None  # type: ignore[assignment]

_MAX_SLOTS = 64


class SpoolCorrupt(Exception):
    """The head file of the spool cannot be read back; it has been set aside as ``*.bad``."""

    def __init__(self, message: str, items: int) -> None:
        super().__init__(message)
        self.items = items


class Spool:
    """FIFO of batches on disk, bounded by ``max_bytes``.

    ``put`` answers ``"ok"``, ``"full"`` (no room now) or ``"too_big"`` (the batch alone is
    larger than ``max_bytes``). Only one thread may use a spool.
    """

    def __init__(self, root: str | os.PathLike[str], max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._lock_file: IO[bytes] | None = None
        self.dir = self._take_slot()
        self._files: list[tuple[str, int, int]] = []  # (name, bytes, items), oldest first
        for path in sorted(self.dir.glob("*.json")):
            try:
                n = int(path.stem.split("-", 1)[1])
                self._files.append((path.name, path.stat().st_size, n))
            except (IndexError, ValueError, OSError):
                continue
        for tmp in self.dir.glob("*.tmp"):  # a batch whose write never finished was never counted as spooled
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._next = int(self._files[-1][0].split("-", 1)[0]) + 1 if self._files else 0
        self.bytes = sum(f[1] for f in self._files)
        self.items = sum(f[2] for f in self._files)

    def _take_slot(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(_MAX_SLOTS):
            slot = self.root / f"slot-{i}"
            slot.mkdir(exist_ok=True)
            if fcntl is None:
                return slot
            fh = open(slot / ".lock", "ab")  # noqa: SIM115 - held open for the spool's lifetime
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                continue
            self._lock_file = fh
            return slot
        raise OSError(f"all {_MAX_SLOTS} spool slots under {self.root} are held by other processes")

    @property
    def files(self) -> int:
        return len(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def put(self, kind: str, model: str, items: list[dict[str, Any]], data: bytes | None = None) -> str:
        """Append a batch; ``data`` may carry its already-serialised form."""
        if data is None:
            data = dumps({"kind": kind, "model": model, "items": items})
        size = len(data)
        if size > self.max_bytes:
            return "too_big"
        if self.bytes + size > self.max_bytes:
            return "full"
        name = f"{self._next:012d}-{len(items)}.json"
        tmp = self.dir / (name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.dir / name)
        self._next += 1
        self._files.append((name, size, len(items)))
        self.bytes += size
        self.items += len(items)
        return "ok"

    def peek(self) -> tuple[str, str, list[dict[str, Any]]] | None:
        """The oldest batch as ``(kind, model, items)``, or None when empty."""
        if not self._files:
            return None
        name, _, n = self._files[0]
        try:
            doc = loads((self.dir / name).read_bytes())
            return str(doc["kind"]), str(doc["model"]), list(doc["items"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._drop_head(bad=True)
            raise SpoolCorrupt(
                f"spool file {name} is unreadable ({type(exc).__name__}); kept as {name}.bad", n
            ) from exc

    def pop(self) -> None:
        """Remove the oldest batch (after it was delivered or finally refused)."""
        if self._files:
            self._drop_head(bad=False)

    def _drop_head(self, *, bad: bool) -> None:
        name, size, n = self._files.pop(0)
        self.bytes -= size
        self.items -= n
        path = self.dir / name
        with contextlib.suppress(OSError):
            if bad:
                os.replace(path, path.with_name(name + ".bad"))
            else:
                path.unlink()

    def close(self) -> None:
        """Release the slot; files stay for the next process that takes it."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def release_after_fork(self) -> None:
        """In a forked child: drop the inherited slot (the parent keeps it) and take a free one."""
        if self._lock_file is not None:
            self._lock_file.close()  # the parent's descriptor keeps the lock held
            self._lock_file = None
        self.__init__(self.root, self.max_bytes)  # type: ignore[misc]
