"""Helpers for the SDK tests: a switchable outage and fast client settings."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flywheel.client import Flywheel, MemoryTransport, TransportError

FAST = {"flush_interval": 0.02, "backoff_base": 0.001, "backoff_max": 0.02, "max_retries": 2}


class Outage:
    """A MemoryTransport failure hook: raise ``status`` while ``down`` (or for the next ``times`` calls)."""

    def __init__(self, status: int = 503, *, down: bool = False, times: int = 0) -> None:
        self.status = status
        self.down = down
        self.times = times
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, kind: str, model: str, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self.calls += 1
            fail = self.down or self.times > 0
            if self.times > 0:
                self.times -= 1
        if fail:
            raise TransportError.from_status(self.status, f"simulated HTTP {self.status}")


def client(
    tmp_path: Path, fail: Callable[..., None] | None = None, **kw: Any
) -> tuple[Flywheel, MemoryTransport]:
    transport = MemoryTransport(fail=fail)
    opts = {**FAST, "spool_dir": tmp_path / "spool", **kw}
    return Flywheel(transport=transport, **opts), transport


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()
