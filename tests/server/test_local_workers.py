"""The server starts its job workers: a job submitted while it runs gets done."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from flywheel.settings import Settings
from flywheel.store import open_store
from tests.conftest import start_live_server


@pytest.mark.slow
def test_a_server_with_workers_runs_submitted_jobs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_live_server(data, extra_env={"FLYWHEEL_WORKERS": "1"})
    try:
        store = open_store(Settings(data_dir=data))
        job = store.jobs.submit("sleep", {"seconds": 0.2, "steps": 2})
        store.close()
        deadline = time.monotonic() + 60
        status = "queued"
        while time.monotonic() < deadline:
            status = httpx.get(f"{srv.url}/v1/jobs/{job.job_id}").json()["status"]
            if status in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.3)
        assert status == "succeeded"
    finally:
        srv.stop()
