"""The labelling store: curation runs, the queue and its assignments (label-error reviews and
schedules are in :mod:`flywheel.store.label_reviews`, mixed into the same class).

Every change that touches a label and the work around it happens in one transaction: an
annotation inserts the label row, closes the annotator's assignment and updates the queue
item together, so a crash leaves either all of it or none.

A queue item's status follows from its assignments and labels (:meth:`LabellingStore._refresh`):

- ``labelled``: ``k`` annotators labelled it and agree, or an adjudication label exists, or
  a label arrived from elsewhere (an outcome or an import): no annotator is needed any more;
- ``adjudicating``: ``k`` labels that disagree, waiting for an adjudicator;
- ``skipped``: skipped by as many annotators as it wants labels (``requeue`` reopens it);
- ``assigned``: someone holds it now (an assignment younger than the time-to-live);
- ``queued``: waiting for annotators.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, exists, func, select, update

from flywheel.errors import Conflict, NotFound
from flywheel.store import tables as t
from flywheel.store.db import Database
from flywheel.store.label_reviews import ReviewsAndSchedules
from flywheel.store.meta import utcnow
from flywheel.store.tables_label import (
    curation_runs,
    label_assignments,
    label_queue,
)

STATUSES = ("queued", "assigned", "labelled", "skipped", "adjudicating")
OPEN = ("queued", "assigned")
ASSIGNMENT_TTL = timedelta(minutes=30)
q, a = label_queue, label_assignments


def _dumps(v: Any) -> str:
    return orjson.dumps(v, default=str).decode()


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


@dataclass(frozen=True)
class CurationRun:
    run_id: str
    model: str
    config: dict[str, Any]
    budget: int
    picked: int
    candidates: int
    excluded: int
    k: int
    trigger: str
    notes: list[str]
    context: dict[str, Any]
    job_id: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class QueueItem:
    model: str
    event_id: str
    run_id: str
    rank: int
    selector: str
    score: float | None
    signal: str
    for_evaluation: bool
    status: str
    k: int
    n_labels: int
    n_skips: int
    assigned_to: str | None
    event: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self, with_event: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "event"}
        d["created_at"], d["updated_at"] = self.created_at.isoformat(), self.updated_at.isoformat()
        if with_event:
            d["event"] = self.event
        return d


@dataclass(frozen=True)
class Answer:
    """What an annotation or a skip did: the item now, whether it was new, the next item if asked."""

    item: QueueItem
    created: bool
    next: QueueItem | None


@dataclass(frozen=True)
class Assignment:
    event_id: str
    annotator: str
    status: str
    assigned_at: datetime
    done_at: datetime | None
    label_id: str | None
    time_spent_s: float | None


@dataclass(frozen=True)
class AnnotatorLabel:
    """A label an annotator gave through the queue (for agreement)."""

    event_id: str
    annotator: str
    value: Any
    label_id: str
    time_spent_s: float | None
    run_id: str


def _run(row: Any) -> CurationRun:
    return CurationRun(
        row.run_id,
        row.model,
        orjson.loads(row.config),
        row.budget,
        row.picked,
        row.candidates,
        row.excluded,
        row.k,
        row.trigger,
        orjson.loads(row.notes),
        orjson.loads(row.context),
        row.job_id,
        row.created_at,
    )


def _item(row: Any) -> QueueItem:
    return QueueItem(
        row.model,
        row.event_id,
        row.run_id,
        row.rank,
        row.selector,
        row.score,
        row.signal,
        bool(row.for_evaluation),
        row.status,
        row.k,
        row.n_labels,
        row.n_skips,
        row.assigned_to,
        orjson.loads(row.event) if row.event else None,
        row.created_at,
        row.updated_at,
    )


class LabellingStore(ReviewsAndSchedules):
    """Curation runs, the labelling queue and its assignments, label-error reviews, schedules."""

    def __init__(self, db: Database, assignment_ttl: timedelta = ASSIGNMENT_TTL) -> None:
        self.db = db
        self.assignment_ttl = assignment_ttl

    # -- curation runs ----------------------------------------------------------------------
    def record_run(self, run: dict[str, Any], items: Sequence[dict[str, Any]]) -> CurationRun:
        """Store a run and queue its items; events queued before (by any run) are left out.

        ``run`` holds the ``curation_runs`` columns but ``run_id``, ``picked`` and ``created_at``;
        each item the ``label_queue`` columns ``event_id``, ``rank``, ``selector``, ``score``,
        ``signal``, ``for_evaluation`` and ``event``.
        """
        model = run["model"]
        run_id = secrets.token_hex(8)

        def fn(conn: Connection) -> None:
            now = utcnow()
            seen = Database.existing(conn, q.c.event_id, [i["event_id"] for i in items], q.c.model == model)
            new = [
                {
                    **i,
                    "event": _dumps(i["event"]) if i.get("event") is not None else None,
                    "model": model,
                    "run_id": run_id,
                    "status": "queued",
                    "k": run["k"],
                    "n_labels": 0,
                    "n_skips": 0,
                    "assigned_to": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in items
                if i["event_id"] not in seen
            ]
            row = {
                **run,
                "run_id": run_id,
                "picked": len(new),
                "config": _dumps(run["config"]),
                "notes": _dumps(run["notes"]),
                "context": _dumps(run["context"]),
                "created_at": now,
            }
            conn.execute(curation_runs.insert().values(**row))
            self.db.insert_ignore(conn, q, new)

        self.db.write(fn)
        return self.run(run_id)

    def run(self, run_id: str) -> CurationRun:
        row = self.db.read(
            lambda c: c.execute(select(curation_runs).where(curation_runs.c.run_id == run_id)).first()
        )
        if row is None:
            raise NotFound(f"no curation run {run_id!r}; GET /v1/models/{{model}}/curation/runs lists them")
        return _run(row)

    def runs(self, model: str, limit: int = 50) -> builtins.list[CurationRun]:
        stmt = (
            select(curation_runs)
            .where(curation_runs.c.model == model)
            .order_by(curation_runs.c.created_at.desc())
            .limit(limit)
        )
        return [_run(x) for x in self.db.read(lambda c: c.execute(stmt).all())]

    def queued_ids(self, model: str) -> set[str]:
        """Every event ever queued for ``model`` (a run never queues them again)."""
        rows = self.db.read(lambda c: c.execute(select(q.c.event_id).where(q.c.model == model)).all())
        return {x[0] for x in rows}

    def labelled_ids(self, model: str, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` have at least one label (of any source)."""
        return self.db.read(
            lambda c: Database.existing(c, t.labels.c.event_id, event_ids, t.labels.c.model == model)
        )

    def queued_since(self, model: str, since: datetime) -> int:
        """Events queued for ``model`` at or after ``since`` (the daily budget spent)."""
        stmt = select(func.count()).select_from(q).where(q.c.model == model, q.c.created_at >= since)
        return int(self.db.read(lambda c: c.execute(stmt).scalar_one()))

    # -- reading the queue ------------------------------------------------------------------
    def item(self, model: str, event_id: str) -> QueueItem:
        row = self.db.read(
            lambda c: c.execute(select(q).where(q.c.model == model, q.c.event_id == event_id)).first()
        )
        if row is None:
            raise NotFound(f"event {event_id!r} is not in the labelling queue of model {model!r}")
        return _item(row)

    def items(
        self,
        model: str,
        *,
        status: str | None = None,
        run_id: str | None = None,
        selector: str | None = None,
        limit: int = 100,
        offset: int = 0,
        with_event: bool = False,
    ) -> builtins.list[QueueItem]:
        cols = [c for c in q.c if with_event or c.name != "event"]
        stmt = select(*cols).where(q.c.model == model)
        if status:
            stmt = stmt.where(q.c.status == status)
        if run_id:
            stmt = stmt.where(q.c.run_id == run_id)
        if selector:
            stmt = stmt.where(q.c.selector == selector)
        stmt = stmt.order_by(q.c.created_at, q.c.rank, q.c.event_id).limit(limit).offset(offset)
        rows = self.db.read(lambda c: c.execute(stmt).all())
        return [_item(_WithEvent(x) if not with_event else x) for x in rows]

    def counts(self, model: str, run_id: str | None = None) -> dict[str, int]:
        """Queue items per status (every status present, zeros included)."""
        stmt = select(q.c.status, func.count()).where(q.c.model == model).group_by(q.c.status)
        if run_id:
            stmt = stmt.where(q.c.run_id == run_id)
        found: dict[str, int] = dict(self.db.read(lambda c: c.execute(stmt).all()))
        return {s: int(found.get(s, 0)) for s in STATUSES}

    def assignments(self, model: str, event_id: str) -> builtins.list[Assignment]:
        stmt = select(a).where(a.c.model == model, a.c.event_id == event_id).order_by(a.c.assigned_at)
        return [
            Assignment(
                x.event_id, x.annotator, x.status, x.assigned_at, x.done_at, x.label_id, x.time_spent_s
            )
            for x in self.db.read(lambda c: c.execute(stmt).all())
        ]

    def annotator_labels(self, model: str, run_id: str | None = None) -> builtins.list[AnnotatorLabel]:
        """Labels annotators gave through the queue, one per (event, annotator)."""
        stmt = (
            select(a.c.event_id, a.c.annotator, a.c.label_id, a.c.time_spent_s, t.labels.c.value, q.c.run_id)
            .join(t.labels, and_(t.labels.c.model == a.c.model, t.labels.c.label_id == a.c.label_id))
            .join(q, and_(q.c.model == a.c.model, q.c.event_id == a.c.event_id))
            .where(a.c.model == model, a.c.status == "labelled")
            .order_by(a.c.event_id, a.c.annotator)
        )
        if run_id:
            stmt = stmt.where(q.c.run_id == run_id)
        return [
            AnnotatorLabel(
                x.event_id, x.annotator, orjson.loads(x.value), x.label_id, x.time_spent_s, x.run_id
            )
            for x in self.db.read(lambda c: c.execute(stmt).all())
        ]

    def progress(self, model: str, annotator: str, run_id: str | None = None) -> dict[str, int]:
        """What ``annotator`` has done in scope, and how many items are left for them."""
        now = utcnow()

        def fn(conn: Connection) -> dict[str, int]:
            done = (
                select(func.count())
                .select_from(a.join(q, _same_item()))
                .where(
                    a.c.model == model, a.c.annotator == annotator, a.c.status.in_(("labelled", "skipped"))
                )
            )
            held = (
                select(func.count())
                .select_from(a.join(q, _same_item()))
                .where(
                    a.c.model == model,
                    a.c.annotator == annotator,
                    a.c.status == "assigned",
                    q.c.status.in_(OPEN),
                )
            )
            if run_id:
                done, held = done.where(q.c.run_id == run_id), held.where(q.c.run_id == run_id)
            avail = select(func.count()).select_from(
                self._available(model, annotator, run_id, now).subquery()
            )
            return {
                "done": int(conn.execute(done).scalar_one()),
                "remaining": int(conn.execute(held).scalar_one()) + int(conn.execute(avail).scalar_one()),
            }

        return self.db.read(fn)

    # -- handing out work -------------------------------------------------------------------
    def _available(self, model: str, annotator: str, run_id: str | None, now: datetime) -> Any:
        """Items ``annotator`` may be given: open, never theirs, with room for another annotator."""
        held = (
            select(a.c.event_id, func.count().label("n"))
            .where(a.c.model == model, a.c.status == "assigned", a.c.assigned_at >= now - self.assignment_ttl)
            .group_by(a.c.event_id)
            .subquery()
        )
        mine = exists().where(
            a.c.model == q.c.model, a.c.event_id == q.c.event_id, a.c.annotator == annotator
        )
        stmt = (
            select(q.c.event_id)
            .select_from(q.outerjoin(held, held.c.event_id == q.c.event_id))
            .where(
                q.c.model == model,
                q.c.status.in_(OPEN),
                ~mine,
                q.c.n_labels + func.coalesce(held.c.n, 0) < q.c.k,
            )
        )
        if run_id:
            stmt = stmt.where(q.c.run_id == run_id)
        return stmt

    def next_item(self, model: str, annotator: str, run_id: str | None = None) -> QueueItem | None:
        """The item ``annotator`` should label now, assigned to them; ``None`` when none is left.

        An item they already hold (not yet labelled or skipped) comes back first, newest first,
        so an undo or a reload resumes where they were. Otherwise the oldest run's best-ranked
        item that has room for another annotator and was never theirs is assigned to them.
        Items whose event got a label from elsewhere (an outcome, an import) meanwhile are
        marked labelled on the way and not handed out.
        """
        eid = self.db.write(lambda conn: self._next_in(conn, model, annotator, run_id, utcnow()))
        return None if eid is None else self.item(model, eid)

    def _next_in(
        self, conn: Connection, model: str, annotator: str, run_id: str | None, now: datetime
    ) -> str | None:
        own = (
            select(a.c.event_id)
            .join(q, _same_item())
            .where(
                a.c.model == model, a.c.annotator == annotator, a.c.status == "assigned", q.c.status.in_(OPEN)
            )
            .order_by(a.c.assigned_at.desc(), a.c.event_id)
            .limit(1)
        )
        if run_id:
            own = own.where(q.c.run_id == run_id)
        held = conn.execute(own).scalar()
        if held is not None:
            return str(held)
        # A few passes: candidates seen in one pass may be taken by concurrent requests
        # before this one locks them (PostgreSQL); the next pass sees what they committed.
        for _ in range(5):
            stmt = self._available(model, annotator, run_id, now).order_by(
                q.c.created_at, q.c.rank, q.c.event_id
            )
            ids = [x[0] for x in conn.execute(stmt.limit(32)).all()]
            if not ids:
                return None
            done_elsewhere = _labelled_elsewhere(conn, model, ids)
            for eid in ids:
                if eid in done_elsewhere:
                    self._refresh(conn, model, eid, now)  # marks it labelled
                    continue
                if not self._has_room(conn, model, eid, annotator, now):
                    continue
                conn.execute(
                    a.insert().values(
                        model=model, event_id=eid, annotator=annotator, status="assigned", assigned_at=now
                    )
                )
                self._refresh(conn, model, eid, now)
                return str(eid)
        return None

    def _has_room(self, conn: Connection, model: str, event_id: str, annotator: str, now: datetime) -> bool:
        """Lock the item (skipping it if another request holds it) and check it still takes ``annotator``."""
        stmt = select(q.c.k, q.c.n_labels, q.c.status).where(q.c.model == model, q.c.event_id == event_id)
        if not self.db.is_sqlite:  # SQLite has one writer: nothing to lock
            stmt = stmt.with_for_update(skip_locked=True)
        item = conn.execute(stmt).first()
        if item is None or item.status not in OPEN:
            return False
        rows = conn.execute(
            select(a.c.annotator, a.c.status, a.c.assigned_at).where(
                a.c.model == model, a.c.event_id == event_id
            )
        ).all()
        if any(x.annotator == annotator for x in rows):
            return False
        held = sum(1 for x in rows if x.status == "assigned" and x.assigned_at >= now - self.assignment_ttl)
        return bool(item.n_labels + held < item.k)

    def annotate(
        self,
        model: str,
        event_id: str,
        annotator: str,
        label_row: dict[str, Any],
        time_spent_s: float | None,
        *,
        then_next: bool = False,
        run_id: str | None = None,
    ) -> Answer:
        """Store ``annotator``'s label for a queued item.

        ``label_row`` is a validated row of the ``labels`` table. Sending the same ``label_id``
        again is a no-op (a retried request, ``created`` false); a second, different label from
        the same annotator is refused (undo first). With ``then_next`` the annotator's next item
        is assigned in the same transaction (one commit per answer).
        """

        def fn(conn: Connection) -> tuple[bool, str | None]:
            now = utcnow()
            existing = conn.execute(
                select(t.labels.c.label_id).where(
                    t.labels.c.model == model, t.labels.c.label_id == label_row["label_id"]
                )
            ).first()
            created = existing is None
            if created:
                self._open_assignment(conn, model, event_id, annotator, now)
                conn.execute(t.labels.insert().values(**label_row, model=model))
                self._close_assignment(
                    conn, model, event_id, annotator, now, "labelled", time_spent_s, label_row["label_id"]
                )
            nxt = self._next_in(conn, model, annotator, run_id, now) if then_next else None
            return created, nxt

        created, nxt = self.db.write(fn)
        return Answer(self.item(model, event_id), created, None if nxt is None else self.item(model, nxt))

    def skip(
        self,
        model: str,
        event_id: str,
        annotator: str,
        time_spent_s: float | None,
        *,
        then_next: bool = False,
        run_id: str | None = None,
    ) -> Answer:
        """``annotator`` declines the item; it is never handed to them again (unless undone)."""

        def fn(conn: Connection) -> str | None:
            now = utcnow()
            self._open_assignment(conn, model, event_id, annotator, now)
            self._close_assignment(conn, model, event_id, annotator, now, "skipped", time_spent_s, None)
            return self._next_in(conn, model, annotator, run_id, now) if then_next else None

        nxt = self.db.write(fn)
        return Answer(self.item(model, event_id), True, None if nxt is None else self.item(model, nxt))

    def _close_assignment(
        self,
        conn: Connection,
        model: str,
        event_id: str,
        annotator: str,
        now: datetime,
        status: str,
        time_spent_s: float | None,
        label_id: str | None,
    ) -> None:
        conn.execute(
            update(a)
            .where(a.c.model == model, a.c.event_id == event_id, a.c.annotator == annotator)
            .values(status=status, done_at=now, label_id=label_id, time_spent_s=time_spent_s)
        )
        self._refresh(conn, model, event_id, now)

    def undo(self, model: str, annotator: str, run_id: str | None = None) -> tuple[QueueItem, Any] | None:
        """Take back ``annotator``'s latest label or skip; the item is theirs again.

        Returns the item and the value they had given (``None`` for a skip), or ``None`` when
        there is nothing to undo. The label row is deleted: it was retracted by its author
        before anyone relied on it. An item already adjudicated is not reopened.
        """

        def fn(conn: Connection) -> tuple[str, Any] | None:
            now = utcnow()
            stmt = (
                select(a.c.event_id, a.c.status, a.c.label_id)
                .join(q, _same_item())
                .where(
                    a.c.model == model, a.c.annotator == annotator, a.c.status.in_(("labelled", "skipped"))
                )
                .order_by(a.c.done_at.desc(), a.c.event_id.desc())
                .limit(1)
            )
            if run_id:
                stmt = stmt.where(q.c.run_id == run_id)
            last = conn.execute(stmt).first()
            if last is None:
                return None
            value = None
            if last.label_id is not None:
                if _adjudicated(conn, model, last.event_id):
                    raise Conflict(
                        f"event {last.event_id!r} was adjudicated after this label; its label can no longer be undone"
                    )
                raw = conn.execute(
                    select(t.labels.c.value).where(
                        t.labels.c.model == model, t.labels.c.label_id == last.label_id
                    )
                ).scalar()
                value = orjson.loads(raw) if raw is not None else None
                conn.execute(
                    delete(t.labels).where(t.labels.c.model == model, t.labels.c.label_id == last.label_id)
                )
            conn.execute(
                update(a)
                .where(a.c.model == model, a.c.event_id == last.event_id, a.c.annotator == annotator)
                .values(status="assigned", assigned_at=now, done_at=None, label_id=None, time_spent_s=None)
            )
            self._refresh(conn, model, last.event_id, now)
            return str(last.event_id), value

        res = self.db.write(fn)
        if res is None:
            return None
        return self.item(model, res[0]), res[1]

    def adjudicate(self, model: str, event_id: str, label_row: dict[str, Any]) -> QueueItem:
        """Store an adjudication label (``source="adjudication"``) for an item; it is then labelled."""

        def fn(conn: Connection) -> None:
            now = utcnow()
            status = conn.execute(
                select(q.c.status).where(q.c.model == model, q.c.event_id == event_id)
            ).scalar()
            if status is None:
                raise NotFound(f"event {event_id!r} is not in the labelling queue of model {model!r}")
            if status != "adjudicating":
                raise Conflict(f"event {event_id!r} is {status}, not waiting for adjudication")
            conn.execute(t.labels.insert().values(**label_row, model=model))
            self._refresh(conn, model, event_id, now)

        self.db.write(fn)
        return self.item(model, event_id)

    def requeue(self, model: str, event_id: str) -> QueueItem:
        """Reopen a skipped item: the skips are forgotten, so anyone may be given it again."""

        def fn(conn: Connection) -> None:
            conn.execute(
                delete(a).where(a.c.model == model, a.c.event_id == event_id, a.c.status == "skipped")
            )
            self._refresh(conn, model, event_id, utcnow())

        self.item(model, event_id)
        self.db.write(fn)
        return self.item(model, event_id)

    def _open_assignment(
        self, conn: Connection, model: str, event_id: str, annotator: str, now: datetime
    ) -> None:
        """Make sure ``annotator`` holds an open assignment on the item (API users may skip /next)."""
        status = conn.execute(select(q.c.status).where(q.c.model == model, q.c.event_id == event_id)).scalar()
        if status is None:
            raise NotFound(f"event {event_id!r} is not in the labelling queue of model {model!r}")
        mine = conn.execute(
            select(a.c.status).where(a.c.model == model, a.c.event_id == event_id, a.c.annotator == annotator)
        ).scalar()
        if mine == "assigned":
            return
        if mine is not None:
            raise Conflict(
                f"{annotator!r} already {mine} event {event_id!r}; undo it first to change the answer"
            )
        if status not in OPEN:
            raise Conflict(f"event {event_id!r} is {status}; it takes no more annotations")
        conn.execute(
            a.insert().values(
                model=model, event_id=event_id, annotator=annotator, status="assigned", assigned_at=now
            )
        )

    def _refresh(self, conn: Connection, model: str, event_id: str, now: datetime) -> None:
        """Recompute an item's status and counts from its assignments and labels."""
        k = conn.execute(select(q.c.k).where(q.c.model == model, q.c.event_id == event_id)).scalar_one()
        rows = conn.execute(
            select(a.c.annotator, a.c.status, a.c.assigned_at, t.labels.c.value)
            .select_from(
                a.outerjoin(
                    t.labels, and_(t.labels.c.model == a.c.model, t.labels.c.label_id == a.c.label_id)
                )
            )
            .where(a.c.model == model, a.c.event_id == event_id)
            .order_by(a.c.assigned_at)
        ).all()
        values = [x.value for x in rows if x.status == "labelled"]
        skips = sum(1 for x in rows if x.status == "skipped")
        held = [x for x in rows if x.status == "assigned" and x.assigned_at >= now - self.assignment_ttl]
        if _adjudicated(conn, model, event_id) or _labelled_elsewhere(conn, model, [event_id]):
            status = "labelled"
        elif len(values) >= k:
            status = "labelled" if len(set(values)) == 1 else "adjudicating"
        elif skips >= k:
            status = "skipped"
        elif held:
            status = "assigned"
        else:
            status = "queued"
        conn.execute(
            update(q)
            .where(q.c.model == model, q.c.event_id == event_id)
            .values(
                status=status,
                n_labels=len(values),
                n_skips=skips,
                assigned_to=rows[-1].annotator if rows else None,
                updated_at=now,
            )
        )


class _WithEvent:
    """A row read without its ``event`` column, seen as one whose event is null."""

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return None if name == "event" else getattr(self._row, name)


def _same_item() -> Any:
    return and_(q.c.model == a.c.model, q.c.event_id == a.c.event_id)


def _labelled_elsewhere(conn: Connection, model: str, event_ids: Sequence[str]) -> set[str]:
    """Which events have a label from outside the queue (an outcome or an import)."""
    return Database.existing(
        conn,
        t.labels.c.event_id,
        event_ids,
        t.labels.c.model == model,
        t.labels.c.source.in_(("outcome", "import")),
    )


def _adjudicated(conn: Connection, model: str, event_id: str) -> bool:
    return (
        conn.execute(
            select(t.labels.c.label_id)
            .where(
                t.labels.c.model == model,
                t.labels.c.event_id == event_id,
                t.labels.c.source == "adjudication",
            )
            .limit(1)
        ).first()
        is not None
    )
