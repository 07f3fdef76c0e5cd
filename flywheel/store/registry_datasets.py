"""Dataset snapshots' metadata, and the snapshot inputs read from the store (labels, feedback as of T)."""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import Connection, String, func, select, type_coerce

from flywheel.errors import Conflict, NotFound
from flywheel.store import tables as t
from flywheel.store.db import Database
from flywheel.store.meta import utcnow
from flywheel.store.tables_registry import datasets


def _dumps(v: Any) -> str:
    return orjson.dumps(v, default=str).decode()


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def _plain(obj: Any) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in asdict(obj).items()}


def _raw(col: Any) -> Any:
    """A stored UTC time column read as the driver gives it (no per-row conversion; see _utc_column)."""
    return type_coerce(col, String).label(col.name)


def _utc_column(values: Sequence[Any]) -> pa.Array:
    """Naive UTC times (SQLite: text, PostgreSQL: datetime) as a UTC timestamp column, in one cast."""
    naive = pa.timestamp("us")
    first = next((v for v in values if v is not None), None)
    arr = pa.array(values, pa.string()).cast(naive) if isinstance(first, str) else pa.array(values, naive)
    return arr.cast(pa.timestamp("us", tz="UTC")) if len(arr) else pa.array([], pa.timestamp("us", tz="UTC"))


@dataclass(frozen=True)
class DatasetRecord:
    dataset_id: str
    model: str
    name: str
    kind: str  # train | eval
    version: int
    parent_id: str | None
    content_hash: str
    rule: dict[str, Any]
    manifest: dict[str, Any]
    artifact: str
    num_rows: int
    as_of: datetime
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self, manifest: bool = True) -> dict[str, Any]:
        d = _plain(self)
        d["ref"] = self.ref
        if not manifest:
            d.pop("manifest")
        return d


def _dataset(r: Any) -> DatasetRecord:
    return DatasetRecord(
        r.dataset_id,
        r.model,
        r.name,
        r.kind,
        r.version,
        r.parent_id,
        r.content_hash,
        orjson.loads(r.rule),
        orjson.loads(r.manifest),
        r.artifact,
        r.num_rows,
        r.as_of,
        r.created_at,
    )


class DatasetStore:
    """Dataset snapshots by model, name and version (rows in the artifact store)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def insert(
        conn: Connection,
        *,
        model: str,
        name: str,
        kind: str,
        content_hash: str,
        rule: dict[str, Any],
        manifest: dict[str, Any],
        artifact: str,
        num_rows: int,
        as_of: datetime,
        parent_id: str | None = None,
        version: int | None = None,
    ) -> DatasetRecord:
        """Insert the next version of ``name`` (or exactly ``version``, which must be the next)."""
        c = datasets.c
        latest = conn.execute(select(func.max(c.version)).where(c.model == model, c.name == name)).scalar()
        nxt = (latest or 0) + 1
        if version is not None and version != nxt:
            raise Conflict(
                f"dataset {name!r} of model {model!r} is at version {latest or 0}; version {version} "
                "cannot be added (another build finished first). Build it again."
            )
        row = {
            "dataset_id": secrets.token_hex(8),
            "model": model,
            "name": name,
            "kind": kind,
            "version": nxt,
            "parent_id": parent_id,
            "content_hash": content_hash,
            "rule": _dumps(rule),
            "manifest": _dumps(manifest),
            "artifact": artifact,
            "num_rows": num_rows,
            "as_of": as_of,
            "created_at": utcnow(),
        }
        conn.execute(datasets.insert().values(**row))
        return _dataset(conn.execute(select(datasets).where(c.dataset_id == row["dataset_id"])).one())

    def get(self, model: str, dataset_id: str) -> DatasetRecord:
        r = self.db.read(
            lambda c: c.execute(
                select(datasets).where(datasets.c.model == model, datasets.c.dataset_id == dataset_id)
            ).first()
        )
        if r is None:
            raise NotFound(
                f"model {model!r} has no dataset {dataset_id!r}; `flywheel dataset list {model}` shows them"
            )
        return _dataset(r)

    def find(self, model: str, ref: str) -> DatasetRecord:
        """A dataset by id, by ``name@version``, or by name (its latest version)."""
        c = datasets.c
        name, _, ver = ref.partition("@")
        stmt = select(datasets).where(c.model == model)
        if ver:
            if not ver.isdigit():
                raise NotFound(f"dataset reference {ref!r}: the version after '@' must be a number")
            stmt = stmt.where(c.name == name, c.version == int(ver))
        else:
            stmt = stmt.where((c.dataset_id == ref) | (c.name == ref)).order_by(
                (c.dataset_id == ref).desc(), c.version.desc()
            )
        r = self.db.read(lambda conn: conn.execute(stmt.limit(1)).first())
        if r is None:
            raise NotFound(
                f"model {model!r} has no dataset {ref!r} (an id, a name, or name@version); "
                f"`flywheel dataset list {model}` shows them"
            )
        return _dataset(r)

    def latest(self, model: str, name: str) -> DatasetRecord | None:
        c = datasets.c
        r = self.db.read(
            lambda conn: conn.execute(
                select(datasets).where(c.model == model, c.name == name).order_by(c.version.desc()).limit(1)
            ).first()
        )
        return None if r is None else _dataset(r)

    def list(
        self, model: str, *, kind: str | None = None, name: str | None = None, limit: int = 500
    ) -> builtins.list[DatasetRecord]:
        c = datasets.c
        stmt = select(datasets).where(c.model == model)
        if kind:
            stmt = stmt.where(c.kind == kind)
        if name:
            stmt = stmt.where(c.name == name)
        stmt = stmt.order_by(c.created_at.desc(), c.name, c.version.desc()).limit(limit)
        return [_dataset(r) for r in self.db.read(lambda conn: conn.execute(stmt).all())]

    def eval_sets(self, model: str) -> builtins.list[DatasetRecord]:
        """The latest version of every eval set of ``model``, by name."""
        c = datasets.c
        newest = (
            select(c.name, func.max(c.version).label("v"))
            .where(c.model == model, c.kind == "eval")
            .group_by(c.name)
            .subquery()
        )
        stmt = (
            select(datasets)
            .join(newest, (c.name == newest.c.name) & (c.version == newest.c.v))
            .where(c.model == model, c.kind == "eval")
            .order_by(c.name)
        )
        return [_dataset(r) for r in self.db.read(lambda conn: conn.execute(stmt).all())]

    # -- the inputs of a snapshot (labels and feedback as they stood at an instant) ----------
    def label_rows(self, model: str, as_of: datetime | None) -> pa.Table:
        """Raw label rows (value as JSON text) that had arrived by ``as_of`` (None: all)."""
        c = t.labels.c
        stmt = select(
            c.label_id, c.event_id, c.value, c.source, _raw(c.timestamp), _raw(c.ingested_at)
        ).where(c.model == model)
        if as_of is not None:
            stmt = stmt.where(c.ingested_at <= as_of)
        rows = self.db.read(lambda conn: conn.execute(stmt.order_by(c.label_id)).all())
        cols = list(zip(*rows, strict=True)) if rows else [()] * 6
        return pa.table(
            {
                "label_id": pa.array(cols[0], pa.string()),
                "event_id": pa.array(cols[1], pa.string()),
                "value": pa.array(cols[2], pa.string()),
                "source": pa.array(cols[3], pa.string()),
                "timestamp": _utc_column(cols[4]),
                "ingested_at": _utc_column(cols[5]),
            }
        )

    def feedback_rows(self, model: str, as_of: datetime | None) -> pa.Table:
        """Feedback (event_id, kind, ingested_at) that had arrived by ``as_of`` (None: all)."""
        c = t.feedback.c
        stmt = select(c.event_id, c.kind, c.ingested_at).where(c.model == model)
        if as_of is not None:
            stmt = stmt.where(c.ingested_at <= as_of)
        rows = self.db.read(lambda conn: conn.execute(stmt.order_by(c.feedback_id)).all())
        return pa.table(
            {
                "event_id": pa.array([r.event_id for r in rows], pa.string()),
                "kind": pa.array([r.kind for r in rows], pa.string()),
                "ingested_at": pa.array([r.ingested_at for r in rows], pa.timestamp("us", tz="UTC")),
            }
        )
