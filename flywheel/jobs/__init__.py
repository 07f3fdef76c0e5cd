"""Background work as durable jobs: submit, run in worker processes, watch, cancel.

A job kind is a function ``fn(ctx: JobContext, params: dict) -> dict`` named by an import
string in ``KINDS``; workers import it when they first run such a job, so the server never
imports training code. See ``runner.py``.
"""

from flywheel.jobs.runner import JobCancelled, JobContext, run_job, run_worker

__all__ = ["JobCancelled", "JobContext", "run_job", "run_worker"]
