"""``/v1/jobs``: watch, follow and cancel background jobs."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Query, Request, Response

from flywheel.jobs.runner import worker_alive
from flywheel.server.api import ORJSONResponse
from flywheel.server.auth import require

router = APIRouter(prefix="/v1")


@router.get("/jobs", dependencies=[Depends(require("read"))])
def list_jobs(
    request: Request,
    model: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Response:
    store = request.app.state.store
    store.jobs.reap(timedelta(seconds=30), alive=worker_alive)
    return ORJSONResponse(
        {"jobs": [j.to_dict() for j in store.jobs.list(model=model, status=status, kind=kind, limit=limit)]}
    )


@router.get("/jobs/{job_id}", dependencies=[Depends(require("read"))])
def get_job(request: Request, job_id: str, logs_after: int = Query(0, ge=0)) -> Response:
    """A job with its progress, result, and log lines after ``logs_after``."""
    store = request.app.state.store
    job = store.jobs.get(job_id)
    logs = [
        {"seq": s, "at": a.isoformat(), "line": line}
        for s, a, line in store.jobs.logs(job_id, after=logs_after)
    ]
    return ORJSONResponse({**job.to_dict(), "logs": logs})


@router.post("/jobs/{job_id}/cancel", dependencies=[Depends(require("admin"))])
def cancel_job(request: Request, job_id: str) -> Response:
    return ORJSONResponse(request.app.state.store.jobs.cancel(job_id).to_dict())
