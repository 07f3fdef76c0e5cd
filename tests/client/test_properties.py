"""Laws of delivery under any schedule of failures: everything arrives, first arrivals keep the order."""

from __future__ import annotations

import tempfile
import threading
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.client import Flywheel, MemoryTransport, TransportError
from tests.client.helpers import FAST

FAILURES = st.sampled_from(["ok", "down", "lost_ack", "too_large"])


class Scripted(MemoryTransport):
    """Each send takes the next failure from a script; once it runs out, every send succeeds.

    ``lost_ack`` stores the batch and then fails, as when the server commits but the answer is lost.
    """

    def __init__(self, script: list[str]) -> None:
        super().__init__()
        self.script = list(script)
        self.guard = threading.Lock()

    def send(self, kind: str, model: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        with self.guard:
            step = self.script.pop(0) if self.script else "ok"
        if step == "down":
            raise TransportError.from_status(503, "down")
        if step == "too_large" and len(items) > 1:
            raise TransportError.from_status(413, "too large")
        answer = super().send(kind, model, items)
        if step == "lost_ack":
            raise TransportError("connection reset", status=0)
        return answer


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=st.lists(FAILURES, max_size=25),
    n=st.integers(1, 120),
    batch_size=st.integers(1, 40),
    models=st.integers(1, 3),
)
def test_every_event_arrives_and_first_arrivals_keep_the_logged_order(
    script: list[str], n: int, batch_size: int, models: int
) -> None:
    t = Scripted(script)
    with tempfile.TemporaryDirectory() as spool:
        fw = Flywheel(
            transport=t, spool_dir=spool, batch_size=batch_size, max_queue=max(batch_size, 1000), **FAST
        )
        logged: dict[str, list[str]] = {}
        for i in range(n):
            model = f"m{i % models}"
            logged.setdefault(model, []).append(fw.log(model, {"i": i}, 1))
        assert fw.flush(10)
        s = fw.stats()
        fw.close()
    for model, ids in logged.items():
        arrived = [i["event_id"] for i in t.items("events", model)]
        first: list[str] = []
        seen: set[str] = set()
        for eid in arrived:
            if eid not in seen:
                seen.add(eid)
                first.append(eid)
        assert first == ids
    assert (s["failed"], s["dropped"], s["queued"], s["spool_items"]) == (0, 0, 0, 0)
    assert s["sent"] >= n and s["replayed"] <= s["spooled"]
