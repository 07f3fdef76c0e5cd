"""Durable job records: queued → running → succeeded | failed | cancelled, with progress and logs."""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, update

from flywheel.errors import Conflict, NotFound
from flywheel.store.db import Database
from flywheel.store.meta import utcnow
from flywheel.store.tables_jobs import job_logs, jobs

ACTIVE = ("queued", "running")
FINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    model: str | None
    params: dict[str, Any]
    status: str
    progress: float
    message: str | None
    result: Any
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker: str | None
    cancel_requested: bool

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def _job(r: Any) -> Job:
    return Job(
        r.job_id,
        r.kind,
        r.model,
        orjson.loads(r.params),
        r.status,
        r.progress,
        r.message,
        orjson.loads(r.result) if r.result else None,
        r.error,
        r.created_at,
        r.started_at,
        r.finished_at,
        r.heartbeat_at,
        r.worker,
        bool(r.cancel_requested),
    )


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def submit(self, kind: str, params: dict[str, Any], model: str | None = None) -> Job:
        job_id = secrets.token_hex(8)
        row = {
            "job_id": job_id,
            "kind": kind,
            "model": model,
            "params": orjson.dumps(params).decode(),
            "status": "queued",
            "progress": 0.0,
            "created_at": utcnow(),
            "cancel_requested": False,
        }
        self.db.write(lambda c: c.execute(jobs.insert().values(**row)))
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        r = self.db.read(lambda c: c.execute(select(jobs).where(jobs.c.job_id == job_id)).first())
        if r is None:
            raise NotFound(f"no job {job_id!r}; `flywheel jobs list` shows the jobs")
        return _job(r)

    def list(
        self,
        *,
        model: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        stmt = select(jobs)
        if model:
            stmt = stmt.where(jobs.c.model == model)
        if status:
            stmt = stmt.where(jobs.c.status == status)
        if kind:
            stmt = stmt.where(jobs.c.kind == kind)
        stmt = stmt.order_by(jobs.c.created_at.desc()).limit(limit)
        return [_job(r) for r in self.db.read(lambda c: c.execute(stmt).all())]

    def claim(
        self, worker: str, job_id: str | None = None, kinds: builtins.list[str] | None = None
    ) -> Job | None:
        """Atomically take the oldest queued job (or ``job_id``) for ``worker``."""

        def fn(conn: Connection) -> str | None:
            stmt = select(jobs.c.job_id).where(jobs.c.status == "queued", jobs.c.cancel_requested.is_(False))
            if job_id:
                stmt = stmt.where(jobs.c.job_id == job_id)
            if kinds:
                stmt = stmt.where(jobs.c.kind.in_(kinds))
            for (jid,) in conn.execute(stmt.order_by(jobs.c.created_at).limit(5)).all():
                now = utcnow()
                res = conn.execute(
                    update(jobs)
                    .where(jobs.c.job_id == jid, jobs.c.status == "queued")
                    .values(status="running", started_at=now, heartbeat_at=now, worker=worker)
                )
                if res.rowcount == 1:
                    return str(jid)
            return None

        jid = self.db.write(fn)
        return self.get(jid) if jid else None

    def heartbeat(self, job_id: str, *, progress: float | None = None, message: str | None = None) -> bool:
        """Record liveness (and progress); return whether cancellation was requested."""
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if progress is not None:
            values["progress"] = max(0.0, min(1.0, float(progress)))
        if message is not None:
            values["message"] = message[:2000]

        def fn(conn: Connection) -> bool:
            conn.execute(
                update(jobs).where(jobs.c.job_id == job_id, jobs.c.status == "running").values(**values)
            )
            return bool(conn.execute(select(jobs.c.cancel_requested).where(jobs.c.job_id == job_id)).scalar())

        return self.db.write(fn)

    def log(self, job_id: str, line: str) -> None:
        def fn(conn: Connection) -> None:
            seq = conn.execute(
                select(func.coalesce(func.max(job_logs.c.seq), 0)).where(job_logs.c.job_id == job_id)
            ).scalar_one()
            conn.execute(job_logs.insert().values(job_id=job_id, seq=seq + 1, at=utcnow(), line=line[:4000]))

        self.db.write(fn)

    def logs(self, job_id: str, after: int = 0) -> builtins.list[tuple[int, datetime, str]]:
        rows = self.db.read(
            lambda c: c.execute(
                select(job_logs)
                .where(job_logs.c.job_id == job_id, job_logs.c.seq > after)
                .order_by(job_logs.c.seq)
            ).all()
        )
        return [(r.seq, r.at, r.line) for r in rows]

    def finish(self, job_id: str, status: str, *, result: Any = None, error: str | None = None) -> None:
        assert status in FINAL
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
        if status == "succeeded":
            values["progress"] = 1.0
        if result is not None:
            values["result"] = orjson.dumps(result, default=str).decode()
        self.db.write(
            lambda c: c.execute(
                update(jobs).where(jobs.c.job_id == job_id, jobs.c.status.in_(ACTIVE)).values(**values)
            )
        )

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once; ask a running one to stop at its next progress point."""
        job = self.get(job_id)
        if job.status in FINAL:
            raise Conflict(f"job {job_id} already {job.status}; nothing to cancel")

        def fn(conn: Connection) -> None:
            conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(cancel_requested=True))
            conn.execute(
                update(jobs)
                .where(jobs.c.job_id == job_id, jobs.c.status == "queued")
                .values(status="cancelled", finished_at=utcnow(), error="cancelled before it started")
            )

        self.db.write(fn)
        return self.get(job_id)

    def reap(self, stale_after: timedelta, alive: Any = None) -> builtins.list[str]:
        """Mark running jobs whose worker stopped heart-beating (or is known dead) as failed."""
        cutoff = utcnow() - stale_after
        running = self.list(status="running", limit=10_000)
        dead = [
            j.job_id
            for j in running
            if (j.heartbeat_at is None or j.heartbeat_at < cutoff)
            or (alive is not None and j.worker and not alive(j.worker))
        ]
        for jid in dead:
            self.finish(
                jid,
                "failed",
                error="the worker running this job stopped (crashed or was killed); nothing it was writing was kept",
            )
        return dead
