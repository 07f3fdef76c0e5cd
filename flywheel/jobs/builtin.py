"""Small built-in job kinds, used to check the machinery end to end."""

from __future__ import annotations

import time
from typing import Any

from flywheel.jobs.runner import JobContext


def sleep_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Sleep ``seconds`` in ``steps`` steps, reporting progress; fail if ``fail`` is true."""
    seconds = float(params.get("seconds", 1.0))
    steps = max(1, int(params.get("steps", 10)))
    for i in range(steps):
        time.sleep(seconds / steps)
        ctx.progress((i + 1) / steps, f"step {i + 1}/{steps}")
    if params.get("fail"):
        raise RuntimeError("asked to fail")
    return {"slept": seconds}
