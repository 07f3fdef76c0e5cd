"""The label-error review queue and curation schedules, as part of :class:`LabellingStore`.

Suspected label errors wait here for a reviewer; a review closes one by writing a label
(``source="adjudication"``) in the same transaction, so a suspect is never dropped without a
decision on record. Schedules say how often each model's curation runs; workers claim a due
schedule with a compare-and-set on its next time, so several workers start one run, not many.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, update

from flywheel.errors import Conflict, NotFound
from flywheel.store import tables as t
from flywheel.store.db import Database
from flywheel.store.meta import utcnow
from flywheel.store.tables_label import curation_schedules, label_error_reviews

REVIEW_STATUSES = ("open", "relabelled", "confirmed")
r = label_error_reviews


def _dumps(v: Any) -> str:
    return orjson.dumps(v, default=str).decode()


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


@dataclass(frozen=True)
class LabelErrorReview:
    model: str
    event_id: str
    label_id: str | None
    given: Any
    suggested: Any
    score: float
    status: str
    method: str
    job_id: str | None
    created_at: datetime
    updated_at: datetime
    reviewed_at: datetime | None
    reviewer: str | None
    new_label_id: str | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("created_at", "updated_at", "reviewed_at"):
            d[k] = _iso(d[k])
        return d


@dataclass(frozen=True)
class Schedule:
    model: str
    interval_s: int
    config: dict[str, Any]
    enabled: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_job_id: str | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["next_run_at"], d["last_run_at"] = _iso(self.next_run_at), _iso(self.last_run_at)
        return d


def _review(row: Any) -> LabelErrorReview:
    return LabelErrorReview(
        row.model,
        row.event_id,
        row.label_id,
        orjson.loads(row.given),
        orjson.loads(row.suggested),
        row.score,
        row.status,
        row.method,
        row.job_id,
        row.created_at,
        row.updated_at,
        row.reviewed_at,
        row.reviewer,
        row.new_label_id,
    )


def _schedule(row: Any) -> Schedule:
    return Schedule(
        row.model,
        row.interval_s,
        orjson.loads(row.config),
        bool(row.enabled),
        row.next_run_at,
        row.last_run_at,
        row.last_job_id,
    )


class ReviewsAndSchedules:
    """Label-error reviews and curation schedules (mixed into ``LabellingStore``)."""

    db: Database

    # -- label-error reviews ----------------------------------------------------------------
    def add_label_errors(
        self, model: str, findings: Sequence[dict[str, Any]], job_id: str | None
    ) -> dict[str, int]:
        """Put suspects into the review queue.

        Each finding holds ``event_id``, ``label_id``, ``given``, ``suggested``, ``score`` and
        ``method``. An open review is updated; a reviewed one reopens only when the label in
        question is neither the one it judged nor the reviewer's own (a new label came in).
        """

        def fn(conn: Connection) -> dict[str, int]:
            now = utcnow()
            ids = [f["event_id"] for f in findings]
            current = (
                {
                    x.event_id: x
                    for x in conn.execute(select(r).where(r.c.model == model, r.c.event_id.in_(ids))).all()
                }
                if ids
                else {}
            )
            added = updated = kept = 0
            for f in findings:
                values = {
                    "label_id": f["label_id"],
                    "given": _dumps(f["given"]),
                    "suggested": _dumps(f["suggested"]),
                    "score": float(f["score"]),
                    "method": f["method"],
                    "job_id": job_id,
                    "updated_at": now,
                }
                old = current.get(f["event_id"])
                if old is None:
                    conn.execute(
                        r.insert().values(
                            model=model, event_id=f["event_id"], status="open", created_at=now, **values
                        )
                    )
                    added += 1
                elif old.status == "open" or f["label_id"] not in (old.label_id, old.new_label_id):
                    conn.execute(
                        update(r)
                        .where(r.c.model == model, r.c.event_id == f["event_id"])
                        .values(status="open", reviewed_at=None, reviewer=None, new_label_id=None, **values)
                    )
                    updated += 1
                else:
                    kept += 1
            return {"added": added, "updated": updated, "already_reviewed": kept}

        return self.db.write(fn)

    def label_errors(
        self, model: str, status: str | None = "open", limit: int = 100, offset: int = 0
    ) -> builtins.list[LabelErrorReview]:
        stmt = select(r).where(r.c.model == model)
        if status:
            stmt = stmt.where(r.c.status == status)
        stmt = stmt.order_by(r.c.score.desc(), r.c.event_id).limit(limit).offset(offset)
        return [_review(x) for x in self.db.read(lambda c: c.execute(stmt).all())]

    def label_error(self, model: str, event_id: str) -> LabelErrorReview:
        row = self.db.read(
            lambda c: c.execute(select(r).where(r.c.model == model, r.c.event_id == event_id)).first()
        )
        if row is None:
            raise NotFound(f"event {event_id!r} of model {model!r} is not in the label-error review queue")
        return _review(row)

    def label_error_counts(self, model: str) -> dict[str, int]:
        stmt = select(r.c.status, func.count()).where(r.c.model == model).group_by(r.c.status)
        found: dict[str, int] = dict(self.db.read(lambda c: c.execute(stmt).all()))
        return {s: int(found.get(s, 0)) for s in REVIEW_STATUSES}

    def review_label_error(
        self, model: str, event_id: str, status: str, reviewer: str, label_row: dict[str, Any]
    ) -> LabelErrorReview:
        """Close an open review: ``relabelled`` or ``confirmed``, with the reviewer's label row."""

        def fn(conn: Connection) -> None:
            now = utcnow()
            cur = conn.execute(
                select(r.c.status).where(r.c.model == model, r.c.event_id == event_id)
            ).scalar()
            if cur is None:
                raise NotFound(
                    f"event {event_id!r} of model {model!r} is not in the label-error review queue"
                )
            if cur != "open":
                raise Conflict(f"the suspected label of event {event_id!r} was already reviewed ({cur})")
            conn.execute(t.labels.insert().values(**label_row, model=model))
            conn.execute(
                update(r)
                .where(r.c.model == model, r.c.event_id == event_id)
                .values(
                    status=status,
                    reviewed_at=now,
                    reviewer=reviewer,
                    new_label_id=label_row["label_id"],
                    updated_at=now,
                )
            )

        self.db.write(fn)
        return self.label_error(model, event_id)

    # -- schedules ----------------------------------------------------------------------------
    def set_schedule(
        self, model: str, interval_s: int, config: dict[str, Any], enabled: bool = True
    ) -> Schedule:
        def fn(conn: Connection) -> None:
            now = utcnow()
            values = {
                "interval_s": interval_s,
                "config": _dumps(config),
                "enabled": enabled,
                "next_run_at": now + timedelta(seconds=interval_s),
                "updated_at": now,
            }
            found = conn.execute(
                select(curation_schedules.c.model).where(curation_schedules.c.model == model)
            ).first()
            if found is None:
                conn.execute(curation_schedules.insert().values(model=model, **values))
            else:
                conn.execute(
                    update(curation_schedules).where(curation_schedules.c.model == model).values(**values)
                )

        self.db.write(fn)
        sched = self.schedule(model)
        assert sched is not None
        return sched

    def schedule(self, model: str) -> Schedule | None:
        row = self.db.read(
            lambda c: c.execute(select(curation_schedules).where(curation_schedules.c.model == model)).first()
        )
        return None if row is None else _schedule(row)

    def due_schedules(self, now: datetime) -> builtins.list[Schedule]:
        stmt = select(curation_schedules).where(
            curation_schedules.c.enabled.is_(True), curation_schedules.c.next_run_at <= now
        )
        return [_schedule(x) for x in self.db.read(lambda c: c.execute(stmt).all())]

    def claim_schedule(self, sched: Schedule, now: datetime) -> bool:
        """Advance a due schedule to its next time, once: only one of several racing workers wins."""
        nxt = max(sched.next_run_at + timedelta(seconds=sched.interval_s), now)

        def fn(conn: Connection) -> bool:
            res = conn.execute(
                update(curation_schedules)
                .where(
                    curation_schedules.c.model == sched.model,
                    curation_schedules.c.next_run_at == sched.next_run_at,
                )
                .values(next_run_at=nxt, last_run_at=now)
            )
            return bool(res.rowcount == 1)

        return self.db.write(fn)

    def schedule_started(self, model: str, job_id: str) -> None:
        """Record the job a schedule started."""
        self.db.write(
            lambda c: c.execute(
                update(curation_schedules)
                .where(curation_schedules.c.model == model)
                .values(last_job_id=job_id)
            )
        )
