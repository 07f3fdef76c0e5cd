"""Narrow metadata stores, one per domain, over one ``Database``. They return domain objects."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from flywheel.errors import NotFound, ValidationError
from flywheel.schema import ModelSpec
from flywheel.store import tables as t
from flywheel.store.db import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ModelRecord:
    name: str
    spec: ModelSpec
    spec_version: int
    created_at: datetime


@dataclass(frozen=True)
class RegisterResult:
    record: ModelRecord
    created: bool  # a new model
    changed: bool  # a new spec version of an existing model


class ModelStore:
    """Registered models and the versioned history of their specs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, spec: ModelSpec) -> RegisterResult:
        spec_json = spec.canonical_json()
        spec_hash = spec.spec_hash()

        def fn(conn: Connection) -> RegisterResult:
            now = utcnow()
            row = conn.execute(select(t.models).where(t.models.c.name == spec.name)).first()
            if row is None:
                conn.execute(t.models.insert().values(name=spec.name, spec_version=1, created_at=now))
                conn.execute(
                    t.model_specs.insert().values(
                        model=spec.name, version=1, spec_json=spec_json, spec_hash=spec_hash, created_at=now
                    )
                )
                return RegisterResult(ModelRecord(spec.name, spec, 1, now), created=True, changed=False)
            current = conn.execute(
                select(t.model_specs.c.spec_hash).where(
                    t.model_specs.c.model == spec.name, t.model_specs.c.version == row.spec_version
                )
            ).scalar_one()
            if current == spec_hash:
                return RegisterResult(
                    ModelRecord(spec.name, spec, row.spec_version, row.created_at),
                    created=False,
                    changed=False,
                )
            version = row.spec_version + 1
            conn.execute(
                t.model_specs.insert().values(
                    model=spec.name, version=version, spec_json=spec_json, spec_hash=spec_hash, created_at=now
                )
            )
            conn.execute(update(t.models).where(t.models.c.name == spec.name).values(spec_version=version))
            return RegisterResult(
                ModelRecord(spec.name, spec, version, row.created_at), created=False, changed=True
            )

        return self.db.write(fn)

    def get(self, name: str) -> ModelRecord:
        def fn(conn: Connection) -> ModelRecord:
            row = conn.execute(
                select(t.models, t.model_specs.c.spec_json)
                .join(
                    t.model_specs,
                    (t.model_specs.c.model == t.models.c.name)
                    & (t.model_specs.c.version == t.models.c.spec_version),
                )
                .where(t.models.c.name == name)
            ).first()
            if row is None:
                raise NotFound(
                    f"model {name!r} is not registered; register it first with POST /v1/models (or `flywheel models register`)"
                )
            return ModelRecord(
                row.name, ModelSpec.model_validate_json(row.spec_json), row.spec_version, row.created_at
            )

        return self.db.read(fn)

    def list(self) -> list[ModelRecord]:
        def fn(conn: Connection) -> list[ModelRecord]:
            rows = conn.execute(
                select(t.models, t.model_specs.c.spec_json)
                .join(
                    t.model_specs,
                    (t.model_specs.c.model == t.models.c.name)
                    & (t.model_specs.c.version == t.models.c.spec_version),
                )
                .order_by(t.models.c.name)
            ).all()
            return [
                ModelRecord(r.name, ModelSpec.model_validate_json(r.spec_json), r.spec_version, r.created_at)
                for r in rows
            ]

        return self.db.read(fn)

    def spec_history(self, name: str) -> builtins.list[tuple[int, ModelSpec, datetime]]:
        def fn(conn: Connection) -> list[tuple[int, ModelSpec, datetime]]:
            rows = conn.execute(
                select(t.model_specs).where(t.model_specs.c.model == name).order_by(t.model_specs.c.version)
            ).all()
            return [(r.version, ModelSpec.model_validate_json(r.spec_json), r.created_at) for r in rows]

        return self.db.read(fn)


class EventIndex:
    """Which events each model has stored, keyed by (event time in µs since the epoch, event_id)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def existing(self, model: str, keys: Sequence[tuple[int, str]]) -> set[str]:
        """The event ids among ``keys`` that are already stored for ``model``.

        Keys are looked up by time range, a chunk of sorted keys at a time, and matched in
        memory: a batch arriving in time order covers a narrow range, so each scan is short
        and no statement carries thousands of bound parameters.
        """
        if not keys:
            return set()
        c = t.event_index.c
        ordered = sorted((int(ts), eid) for ts, eid in keys)
        wanted = set(ordered)

        def fn(conn: Connection) -> set[str]:
            found: set[str] = set()
            for i in range(0, len(ordered), 2000):
                lo, hi = ordered[i][0], ordered[min(i + 2000, len(ordered)) - 1][0]
                stmt = select(c.ts_us, c.event_id).where(c.model == model, c.ts_us >= lo, c.ts_us <= hi)
                found.update(eid for ts, eid in conn.execute(stmt) if (ts, eid) in wanted)
            return found

        return self.db.read(fn)

    def add(self, model: str, keys: Sequence[tuple[int, str]], ingested_at: datetime) -> None:
        """Record keys (idempotent). A plain driver-level executemany: this is the ingest hot path."""
        naive = ingested_at.astimezone(UTC).replace(tzinfo=None)
        # The same text form SQLAlchemy's SQLite DateTime writes and reads.
        at: Any = naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.db.is_sqlite else naive
        rows = [(model, int(ts), eid, at) for ts, eid in sorted(keys)]
        ph = "?" if self.db.is_sqlite else "%s"
        sql = (
            "INSERT INTO event_index (model, ts_us, event_id, ingested_at) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}) ON CONFLICT DO NOTHING"
        )
        if rows:
            self.db.write(lambda conn: conn.exec_driver_sql(sql, rows))

    def count(self, model: str) -> int:
        return self.db.read(
            lambda c: c.execute(
                select(func.count()).select_from(t.event_index).where(t.event_index.c.model == model)
            ).scalar_one()
        )


@dataclass(frozen=True)
class LabelRecord:
    label_id: str
    event_id: str
    value: Any
    source: str
    annotator: str | None
    timestamp: datetime
    ingested_at: datetime
    time_spent_s: float | None


@dataclass(frozen=True)
class FeedbackRecord:
    feedback_id: str
    event_id: str
    kind: str
    value: Any
    comment: str | None
    timestamp: datetime
    ingested_at: datetime


def _json_load(v: str | None) -> Any:
    import orjson

    return None if v is None else orjson.loads(v)


class _KeyedRows:
    """Rows keyed by (model, id) and inserted idempotently: labels and feedback."""

    table: Any
    id_col: str

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, model: str, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Insert rows (each has the id column); return ``(accepted, duplicates)``."""
        id_col = self.table.c[self.id_col]

        def fn(conn: Connection) -> tuple[int, int]:
            seen = Database.existing(
                conn, id_col, [r[self.id_col] for r in rows], self.table.c.model == model
            )
            new = [{**r, "model": model} for r in rows if r[self.id_col] not in seen]
            self.db.insert_ignore(conn, self.table, new)
            return len(new), len(rows) - len(new)

        return self.db.write(fn)

    def _select(
        self,
        model: str,
        event_ids: Sequence[str] | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
    ) -> Any:
        c = self.table.c
        stmt = select(self.table).where(c.model == model)
        if event_ids is not None:
            stmt = stmt.where(c.event_id.in_(list(event_ids)))
        if since is not None:
            stmt = stmt.where(c.ingested_at >= since)
        if until is not None:
            stmt = stmt.where(c.ingested_at < until)
        stmt = stmt.order_by(c.ingested_at, c[self.id_col])
        if limit is not None:
            stmt = stmt.limit(limit)
        return stmt

    def count(self, model: str) -> int:
        return self.db.read(
            lambda c: c.execute(
                select(func.count()).select_from(self.table).where(self.table.c.model == model)
            ).scalar_one()
        )


class LabelStore(_KeyedRows):
    """Ground-truth labels; several may exist per event (annotators, outcomes, imports)."""

    table = t.labels
    id_col = "label_id"

    def list(
        self,
        model: str,
        *,
        event_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[LabelRecord]:
        stmt = self._select(model, event_ids, since, until, limit)
        rows = self.db.read(lambda c: c.execute(stmt).all())
        return [
            LabelRecord(
                r.label_id,
                r.event_id,
                _json_load(r.value),
                r.source,
                r.annotator,
                r.timestamp,
                r.ingested_at,
                r.time_spent_s,
            )
            for r in rows
        ]


class FeedbackStore(_KeyedRows):
    """Users' signals about events (thumbs, flags, outcomes, comments)."""

    table = t.feedback
    id_col = "feedback_id"

    def list(
        self,
        model: str,
        *,
        event_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[FeedbackRecord]:
        stmt = self._select(model, event_ids, since, until, limit)
        rows = self.db.read(lambda c: c.execute(stmt).all())
        return [
            FeedbackRecord(
                r.feedback_id, r.event_id, r.kind, _json_load(r.value), r.comment, r.timestamp, r.ingested_at
            )
            for r in rows
        ]


SCOPES = ("ingest", "read", "admin")


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        return self.revoked_at is None and (scope in self.scopes or "admin" in self.scopes)


def _hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 is a sound one-way store for them.
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """API keys, stored hashed; the secret is shown once, at creation."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ValidationError(
                f"The 'scopes' of an API key must be a non-empty subset of {list(SCOPES)}; got {list(scopes)}.",
                details=[{"field": "scopes", "reason": f"unknown scopes {bad}" if bad else "empty"}],
            )
        key_id = secrets.token_hex(6)
        token = f"fw_{key_id}_{secrets.token_urlsafe(32)}"
        now = utcnow()
        row = {
            "key_id": key_id,
            "name": name,
            "key_hash": _hash_key(token),
            "scopes": ",".join(scopes),
            "created_at": now,
        }
        self.db.write(lambda c: c.execute(t.api_keys.insert().values(**row)))
        return ApiKey(key_id, name, tuple(scopes), now, None), token

    def verify(self, token: str) -> ApiKey | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "fw":
            return None
        row = self.db.read(
            lambda c: c.execute(select(t.api_keys).where(t.api_keys.c.key_id == parts[1])).first()
        )
        if row is None or not hmac.compare_digest(row.key_hash, _hash_key(token)):
            return None
        return ApiKey(row.key_id, row.name, tuple(row.scopes.split(",")), row.created_at, row.revoked_at)

    def revoke(self, key_id: str) -> None:
        def fn(conn: Connection) -> None:
            res = conn.execute(
                update(t.api_keys)
                .where(t.api_keys.c.key_id == key_id, t.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            if res.rowcount == 0:
                exists = conn.execute(
                    select(t.api_keys.c.key_id).where(t.api_keys.c.key_id == key_id)
                ).first()
                if exists is None:
                    raise NotFound(f"no API key with id {key_id!r}; `flywheel keys list` shows the ids")

        self.db.write(fn)

    def list(self) -> list[ApiKey]:
        rows = self.db.read(lambda c: c.execute(select(t.api_keys).order_by(t.api_keys.c.created_at)).all())
        return [
            ApiKey(r.key_id, r.name, tuple(r.scopes.split(",")), r.created_at, r.revoked_at) for r in rows
        ]
