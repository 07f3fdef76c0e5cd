"""Running jobs: a context for progress/logs/cancellation, and the worker loop.

A worker claims queued jobs one at a time and runs them in its own process. While a job
runs, a heartbeat thread stamps it every few seconds; if the worker dies (crash, SIGKILL),
the stamps stop and the next reaper (any worker, the server, `flywheel jobs list`) marks
the job failed. A job writes its lasting results only at its end, so a killed job leaves
nothing half-done behind.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from datetime import timedelta

from flywheel.settings import Settings
from flywheel.store import Store
from flywheel.store.jobs import Job, JobStore

log = logging.getLogger("flywheel.jobs")
HEARTBEAT_S = 2.0
STALE_AFTER = timedelta(seconds=30)
SCHEDULE_TICK_S = 30.0


class JobCancelled(Exception):
    """Raised inside a job at a progress point after someone asked to cancel it."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_alive(worker: str) -> bool:
    """Whether a worker on this host is still running (workers elsewhere: assume yes)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobContext:
    """What a running job sees: its store, settings and params, and ways to report."""

    def __init__(self, store: Store, settings: Settings, job: Job, jobs: JobStore) -> None:
        self.store = store
        self.settings = settings
        self.job = job
        self._jobs = jobs
        self._cancel = False

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report progress in [0, 1]; raises JobCancelled if cancellation was requested."""
        self._cancel = (
            self._jobs.heartbeat(self.job.job_id, progress=fraction, message=message) or self._cancel
        )
        if self._cancel:
            raise JobCancelled(f"job {self.job.job_id} was cancelled")

    def log(self, line: str) -> None:
        self._jobs.log(self.job.job_id, line)

    def cancelled(self) -> bool:
        return self._cancel


def run_job(store: Store, settings: Settings, job: Job) -> Job:
    """Run one claimed job to its end, recording the outcome."""
    from flywheel.jobs.kinds import resolve

    jobs = JobStore(store.db)
    ctx = JobContext(store, settings, job, jobs)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                if jobs.heartbeat(job.job_id):
                    ctx._cancel = True
            except Exception:  # a missed beat is retried; the job itself carries on
                log.warning("heartbeat failed for job %s", job.job_id, exc_info=True)

    beater = threading.Thread(target=beat, name=f"flywheel-heartbeat-{job.job_id}", daemon=True)
    beater.start()
    try:
        fn = resolve(job.kind)
        result = fn(ctx, job.params)
        jobs.finish(job.job_id, "succeeded", result=result)
    except JobCancelled:
        jobs.finish(job.job_id, "cancelled", error="cancelled on request")
    except Exception as exc:
        jobs.log(job.job_id, traceback.format_exc())
        jobs.finish(job.job_id, "failed", error=f"{type(exc).__name__}: {exc}")
    finally:
        stop.set()
        beater.join(timeout=HEARTBEAT_S * 2)
    return jobs.get(job.job_id)


def run_worker(
    settings: Settings, *, once: bool = False, poll_s: float = 1.0, kinds: list[str] | None = None
) -> int:
    """Claim and run jobs until stopped (or, with ``once``, until the queue is empty)."""
    from flywheel.store import open_store

    store = open_store(settings)
    jobs = JobStore(store.db)
    name = worker_name()
    done = 0
    last_reap = 0.0
    last_tick = 0.0
    try:
        while True:
            if time.monotonic() - last_reap > 10:
                jobs.reap(STALE_AFTER, alive=worker_alive)
                last_reap = time.monotonic()
            if time.monotonic() - last_tick > SCHEDULE_TICK_S:
                tick_schedules(store)
                last_tick = time.monotonic()
            job = jobs.claim(name, kinds=kinds)
            if job is None:
                if once:
                    return done
                time.sleep(poll_s)
                continue
            log.info("running job %s (%s)", job.job_id, job.kind)
            run_job(store, settings, job)
            done += 1
    finally:
        store.close()


def tick_schedules(store: Store) -> None:
    """Submit the jobs of due schedules (curation: ``flywheel.curate.service.tick_schedules``)."""
    from flywheel.curate.service import tick_schedules as tick_curation

    try:
        for job_id in tick_curation(store):
            log.info("scheduled curation job %s submitted", job_id)
    except Exception:  # a failed tick is retried at the next one; the worker carries on
        log.warning("ticking the curation schedules failed", exc_info=True)
