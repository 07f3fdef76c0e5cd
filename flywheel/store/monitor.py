"""Monitoring's metadata: hourly column profiles, references, monitor config, alerts, deliveries.

Profiles are merged on write: each ingest batch's partial profiles are merged into the stored
ones by read-merge-write in one writer transaction. The transaction starts with an insert of
placeholder rows (``rows = 0``, empty bytes), so on SQLite it holds the write lock before it
reads, and on PostgreSQL the rows are then read ``FOR UPDATE`` in key order: concurrent
batches, threads or processes never lose each other's counts.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from flywheel.errors import NotFound
from flywheel.store.db import Database
from flywheel.store.meta import utcnow
from flywheel.store.tables import feedback as feedback_table
from flywheel.store.tables import labels as labels_table
from flywheel.store.tables_monitor import (
    alert_deliveries,
    alerts,
    monitor_configs,
    monitor_references,
    profiles,
)

# (model_version, column, hour) -> (rows, profile bytes)
ProfileKey = tuple[str, str, datetime]
Merge = Callable[[bytes, bytes], bytes]


def _dumps(v: Any) -> str:
    return orjson.dumps(v, default=str).decode()


@dataclass(frozen=True)
class ProfileRow:
    model_version: str
    column: str
    hour: datetime
    rows: int
    data: bytes


@dataclass(frozen=True)
class ReferenceRecord:
    model: str
    model_version: str  # '' = the model's default reference
    source: dict[str, Any]
    rows: int
    labelled: int
    profile_artifact: str
    sample_artifact: str | None
    cbpe_artifact: str | None
    summary: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class MonitorConfigRecord:
    model: str
    config: dict[str, Any]
    quality_rules: list[dict[str, Any]] | None
    updated_at: datetime


@dataclass(frozen=True)
class AlertRecord:
    alert_id: str
    model: str
    monitor: str
    slice: str | None
    severity: str
    window_start: datetime
    window_end: datetime
    value: float
    threshold: float
    message: str
    sample_event_ids: list[str]
    opened_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("window_start", "window_end", "opened_at", "last_seen_at", "closed_at"):
            d[k] = d[k].isoformat() if d[k] else None
        d["status"] = "open" if self.is_open else "closed"
        return d


@dataclass(frozen=True)
class DeliveryRecord:
    delivery_id: str
    alert_id: str
    event: str
    target: str
    format: str
    attempt: int
    ok: bool
    status_code: int | None
    error: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


def _alert(r: Any) -> AlertRecord:
    return AlertRecord(
        r.alert_id,
        r.model,
        r.monitor,
        r.slice,
        r.severity,
        r.window_start,
        r.window_end,
        r.value,
        r.threshold,
        r.message,
        orjson.loads(r.sample_event_ids),
        r.opened_at,
        r.last_seen_at,
        r.closed_at,
    )


class MonitorStore:
    """Narrow store of everything monitoring keeps in the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _insert(self) -> Any:
        return (postgresql if self.db.engine.dialect.name == "postgresql" else sqlite).insert

    # -- profiles ---------------------------------------------------------------------
    def merge_profiles(self, model: str, parts: dict[ProfileKey, tuple[int, bytes]], merge: Merge) -> None:
        """Merge partial profiles into the stored ones (``merge(stored, new) -> bytes``)."""
        if not parts:
            return
        keys = sorted(parts)
        c = profiles.c

        def fn(conn: Connection) -> None:
            now = utcnow()
            placeholders = [
                {
                    "model": model,
                    "model_version": v,
                    "column_name": col,
                    "hour": h,
                    "rows": 0,
                    "data": b"",
                    "updated_at": now,
                }
                for v, col, h in keys
            ]
            conn.execute(self._insert()(profiles).on_conflict_do_nothing(), placeholders)
            stored: dict[ProfileKey, bytes] = {}
            by_slot: dict[tuple[str, datetime], list[str]] = {}
            for v, col, h in keys:
                by_slot.setdefault((v, h), []).append(col)
            for (v, h), cols in by_slot.items():
                stmt = (
                    select(c.column_name, c.data)
                    .where(c.model == model, c.model_version == v, c.hour == h, c.column_name.in_(cols))
                    .order_by(c.column_name)
                )
                if self.db.engine.dialect.name == "postgresql":
                    stmt = stmt.with_for_update()
                for col, data in conn.execute(stmt):
                    stored[(v, col, h)] = bytes(data)
            updates = []
            for key in keys:
                rows, data = parts[key]
                old = stored.get(key, b"")
                v, col, h = key
                updates.append(
                    {
                        "b_version": v,
                        "b_column": col,
                        "b_hour": h,
                        "b_rows": rows,
                        "b_data": merge(old, data) if old else data,
                    }
                )
            upd = (
                update(profiles)
                .where(
                    c.model == model,
                    c.model_version == bindparam("b_version"),
                    c.column_name == bindparam("b_column"),
                    c.hour == bindparam("b_hour"),
                )
                .values(rows=c.rows + bindparam("b_rows"), data=bindparam("b_data"), updated_at=now)
            )
            conn.execute(upd, updates)

        self.db.write(fn)

    def replace_profiles(
        self, model: str, since: datetime, until: datetime, parts: dict[ProfileKey, tuple[int, bytes]]
    ) -> None:
        """Replace every stored profile of ``model`` in ``[since, until)`` by ``parts`` (a rebuild)."""
        c = profiles.c

        def fn(conn: Connection) -> None:
            conn.execute(delete(profiles).where(c.model == model, c.hour >= since, c.hour < until))
            now = utcnow()
            rows = [
                {
                    "model": model,
                    "model_version": v,
                    "column_name": col,
                    "hour": h,
                    "rows": n,
                    "data": data,
                    "updated_at": now,
                }
                for (v, col, h), (n, data) in sorted(parts.items())
            ]
            if rows:
                conn.execute(profiles.insert(), rows)

        self.db.write(fn)

    def profiles(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        columns: Sequence[str] | None = None,
        model_version: str | None = None,
    ) -> list[ProfileRow]:
        """Stored hourly profiles, ordered by hour then column."""
        c = profiles.c
        stmt = select(c.model_version, c.column_name, c.hour, c.rows, c.data).where(
            c.model == model, c.rows > 0
        )
        if since is not None:
            stmt = stmt.where(c.hour >= since)
        if until is not None:
            stmt = stmt.where(c.hour < until)
        if columns is not None:
            stmt = stmt.where(c.column_name.in_(list(columns)))
        if model_version is not None:
            stmt = stmt.where(c.model_version == model_version)
        stmt = stmt.order_by(c.hour, c.column_name, c.model_version)
        rows = self.db.read(lambda conn: conn.execute(stmt).all())
        return [ProfileRow(r[0], r[1], r[2], int(r[3]), bytes(r[4])) for r in rows]

    def hourly_rows(
        self, model: str, column: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[datetime, int]]:
        """Rows per hour (all versions), from the profiles of ``column``, without loading bytes."""
        c = profiles.c
        stmt = select(c.hour, func.sum(c.rows)).where(c.model == model, c.column_name == column)
        if since is not None:
            stmt = stmt.where(c.hour >= since)
        if until is not None:
            stmt = stmt.where(c.hour < until)
        stmt = stmt.group_by(c.hour).order_by(c.hour)
        return [(h, int(n)) for h, n in self.db.read(lambda conn: conn.execute(stmt).all())]

    def profile_span(self, model: str, model_version: str | None = None) -> tuple[datetime, datetime] | None:
        """First and last profiled hour of ``model`` (of one of its versions)."""
        c = profiles.c
        stmt = select(func.min(c.hour), func.max(c.hour)).where(c.model == model, c.rows > 0)
        if model_version is not None:
            stmt = stmt.where(c.model_version == model_version)
        row = self.db.read(lambda conn: conn.execute(stmt).first())
        if row is None or row[0] is None:
            return None
        return row[0], row[1]

    # -- references -------------------------------------------------------------------
    def set_reference(self, rec: ReferenceRecord) -> None:
        row = {
            "model": rec.model,
            "model_version": rec.model_version,
            "source": _dumps(rec.source),
            "rows": rec.rows,
            "labelled": rec.labelled,
            "profile_artifact": rec.profile_artifact,
            "sample_artifact": rec.sample_artifact,
            "cbpe_artifact": rec.cbpe_artifact,
            "summary": _dumps(rec.summary),
            "created_at": rec.created_at,
        }
        c = monitor_references.c

        def fn(conn: Connection) -> None:
            conn.execute(
                delete(monitor_references).where(c.model == rec.model, c.model_version == rec.model_version)
            )
            conn.execute(monitor_references.insert().values(**row))

        self.db.write(fn)

    def get_reference(self, model: str, model_version: str = "") -> ReferenceRecord | None:
        c = monitor_references.c
        r = self.db.read(
            lambda conn: conn.execute(
                select(monitor_references).where(c.model == model, c.model_version == model_version)
            ).first()
        )
        return None if r is None else _reference(r)

    def list_references(self, model: str) -> builtins.list[ReferenceRecord]:
        c = monitor_references.c
        rows = self.db.read(
            lambda conn: conn.execute(
                select(monitor_references).where(c.model == model).order_by(c.model_version)
            ).all()
        )
        return [_reference(r) for r in rows]

    # -- config and rules -------------------------------------------------------------
    def get_config(self, model: str) -> MonitorConfigRecord | None:
        r = self.db.read(
            lambda conn: conn.execute(select(monitor_configs).where(monitor_configs.c.model == model)).first()
        )
        if r is None:
            return None
        rules = orjson.loads(r.quality_rules) if r.quality_rules is not None else None
        return MonitorConfigRecord(r.model, orjson.loads(r.config), rules, r.updated_at)

    def put_config(self, model: str, config: dict[str, Any]) -> None:
        self._upsert_config(model, {"config": _dumps(config)})

    def put_quality_rules(self, model: str, rules: list[dict[str, Any]] | None) -> None:
        """Store edited rules; ``None`` goes back to the rules inferred from the reference."""
        self._upsert_config(model, {"quality_rules": None if rules is None else _dumps(rules)})

    def _upsert_config(self, model: str, values: dict[str, Any]) -> None:
        def fn(conn: Connection) -> None:
            now = utcnow()
            conn.execute(
                self._insert()(monitor_configs)
                .values(model=model, config="{}", quality_rules=None, updated_at=now)
                .on_conflict_do_nothing()
            )
            conn.execute(
                update(monitor_configs)
                .where(monitor_configs.c.model == model)
                .values(**values, updated_at=now)
            )

        self.db.write(fn)

    # -- labels (read-only view used to join labels on event_id) ----------------------
    def latest_labels(self, model: str, event_ids: Iterable[str]) -> dict[str, Any]:
        """The latest label (by arrival) of each of ``event_ids`` that has one."""
        ids = list(event_ids)
        c = labels_table.c
        out: dict[str, tuple[datetime, str, Any]] = {}

        def take(rows: Iterable[Any], wanted: set[str] | None) -> None:
            for eid, value, at, lid in rows:
                if wanted is not None and eid not in wanted:
                    continue
                prev = out.get(eid)
                if prev is None or (at, lid) > (prev[0], prev[1]):
                    out[eid] = (at, lid, value)

        def fn(conn: Connection) -> None:
            cols = (c.event_id, c.value, c.ingested_at, c.label_id)
            total = conn.execute(select(func.count()).where(c.model == model)).scalar_one()
            if total <= 2 * len(ids):  # one scan of the model's labels beats many IN lists
                take(conn.execute(select(*cols).where(c.model == model)), set(ids))
                return
            for i in range(0, len(ids), 5000):
                take(
                    conn.execute(select(*cols).where(c.model == model, c.event_id.in_(ids[i : i + 5000]))),
                    None,
                )

        self.db.read(fn)
        return {eid: orjson.loads(v[2]) for eid, v in out.items()}

    def feedback_counts(self, model: str, event_ids: Iterable[str]) -> dict[str, int]:
        """How many feedback items each of ``event_ids`` has (events without any are left out)."""
        ids = list(event_ids)
        c = feedback_table.c
        out: dict[str, int] = {}

        def fn(conn: Connection) -> None:
            for i in range(0, len(ids), 5000):
                stmt = (
                    select(c.event_id, func.count())
                    .where(c.model == model, c.event_id.in_(ids[i : i + 5000]))
                    .group_by(c.event_id)
                )
                out.update({eid: int(n) for eid, n in conn.execute(stmt)})

        self.db.read(fn)
        return out

    # -- alerts -----------------------------------------------------------------------
    def open_alerts(self, model: str) -> builtins.list[AlertRecord]:
        return self.alerts(model, status="open", limit=10_000)

    def alerts(
        self, model: str, *, status: str | None = None, limit: int = 200
    ) -> builtins.list[AlertRecord]:
        c = alerts.c
        stmt = select(alerts).where(c.model == model)
        if status == "open":
            stmt = stmt.where(c.closed_at.is_(None))
        elif status == "closed":
            stmt = stmt.where(c.closed_at.is_not(None))
        stmt = stmt.order_by(c.opened_at.desc(), c.alert_id).limit(limit)
        return [_alert(r) for r in self.db.read(lambda conn: conn.execute(stmt).all())]

    def get_alert(self, alert_id: str) -> AlertRecord:
        r = self.db.read(
            lambda conn: conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).first()
        )
        if r is None:
            raise NotFound(f"no alert {alert_id!r}; GET /v1/models/{{model}}/alerts lists them")
        return _alert(r)

    def apply_alerts(
        self,
        model: str,
        *,
        to_open: Sequence[dict[str, Any]],
        to_close: Sequence[str],
        seen: Sequence[str],
        now: datetime | None = None,
    ) -> tuple[builtins.list[AlertRecord], builtins.list[AlertRecord]]:
        """Open, close and touch alerts in one transaction; return ``(opened, closed)``.

        ``to_open`` items hold the alert fields (``monitor``, ``severity``, ``window_start``,
        ...). An alert whose monitor already has an open alert is not opened twice.
        """
        now = now or utcnow()
        c = alerts.c

        def fn(conn: Connection) -> tuple[list[str], list[str]]:
            opened: list[str] = []
            for a in to_open:
                key = f"{model}|{a['monitor']}"
                exists = conn.execute(select(c.alert_id).where(c.open_key == key)).first()
                if exists is not None:
                    continue
                aid = secrets.token_hex(8)
                conn.execute(
                    alerts.insert().values(
                        alert_id=aid,
                        model=model,
                        monitor=a["monitor"],
                        slice=a.get("slice"),
                        severity=a["severity"],
                        window_start=a["window_start"],
                        window_end=a["window_end"],
                        value=float(a["value"]),
                        threshold=float(a["threshold"]),
                        message=a["message"],
                        sample_event_ids=_dumps(list(a.get("sample_event_ids") or [])),
                        opened_at=now,
                        last_seen_at=now,
                        closed_at=None,
                        open_key=key,
                    )
                )
                opened.append(aid)
            closed: list[str] = []
            for aid in to_close:
                res = conn.execute(
                    update(alerts)
                    .where(and_(c.alert_id == aid, c.closed_at.is_(None)))
                    .values(closed_at=now, open_key=None)
                )
                if res.rowcount:
                    closed.append(aid)
            if seen:
                conn.execute(
                    update(alerts)
                    .where(c.alert_id.in_(list(seen)), c.closed_at.is_(None))
                    .values(last_seen_at=now)
                )
            return opened, closed

        opened, closed = self.db.write(fn)
        return [self.get_alert(a) for a in opened], [self.get_alert(a) for a in closed]

    def record_delivery(
        self,
        *,
        alert_id: str,
        model: str,
        event: str,
        target: str,
        format: str,
        attempt: int,
        ok: bool,
        status_code: int | None,
        error: str | None,
    ) -> None:
        row = {
            "delivery_id": secrets.token_hex(8),
            "alert_id": alert_id,
            "model": model,
            "event": event,
            "target": target[:300],
            "format": format,
            "attempt": attempt,
            "ok": ok,
            "status_code": status_code,
            "error": None if error is None else error[:2000],
            "at": utcnow(),
        }
        self.db.write(lambda conn: conn.execute(alert_deliveries.insert().values(**row)))

    def deliveries(
        self, model: str, *, alert_id: str | None = None, limit: int = 200
    ) -> builtins.list[DeliveryRecord]:
        c = alert_deliveries.c
        stmt = select(alert_deliveries).where(c.model == model)
        if alert_id is not None:
            stmt = stmt.where(c.alert_id == alert_id)
        stmt = stmt.order_by(c.at.desc(), c.delivery_id).limit(limit)
        return [
            DeliveryRecord(
                r.delivery_id,
                r.alert_id,
                r.event,
                r.target,
                r.format,
                r.attempt,
                bool(r.ok),
                r.status_code,
                r.error,
                r.at,
            )
            for r in self.db.read(lambda conn: conn.execute(stmt).all())
        ]


def _reference(r: Any) -> ReferenceRecord:
    return ReferenceRecord(
        r.model,
        r.model_version,
        orjson.loads(r.source),
        int(r.rows),
        int(r.labelled),
        r.profile_artifact,
        r.sample_artifact,
        r.cbpe_artifact,
        orjson.loads(r.summary),
        r.created_at,
    )
