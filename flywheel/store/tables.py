"""SQL tables of the metadata store (SQLAlchemy Core), one ``MetaData`` for every domain.

Each stage that keeps metadata declares its tables here or in a sibling ``tables_<stage>.py``
module that uses the same ``metadata``; Alembic migrations under ``migrations/versions``
create them, and a test asserts that upgrading from empty gives exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC and returned timezone-aware, the same on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value  # type: ignore[no-any-return]

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


models = Table(
    "models",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("spec_version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

model_specs = Table(
    "model_specs",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("spec_json", Text, nullable=False),
    Column("spec_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row per stored event: the server's answer to "have I seen this event?" without a scan
# of the Parquet log. The log stays the source of truth; readers dedupe regardless. The key
# leads with the event time (a retry carries the same time), so events arriving in time order
# append at the end of the B-tree instead of dirtying one random page each.
event_index = Table(
    "event_index",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("ts_us", BigInteger, primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("ingested_at", UTCDateTime, nullable=False),
    sqlite_with_rowid=False,
)

feedback = Table(
    "feedback",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("feedback_id", String(128), primary_key=True),
    Column("event_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("value", Text),
    Column("comment", Text),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("ingested_at", UTCDateTime, nullable=False),
    Index("ix_feedback_model_event", "model", "event_id"),
)

labels = Table(
    "labels",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("label_id", String(128), primary_key=True),
    Column("event_id", String(128), nullable=False),
    Column("value", Text, nullable=False),
    Column("source", String(32), nullable=False),
    Column("annotator", String(200)),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("ingested_at", UTCDateTime, nullable=False),
    Column("time_spent_s", Float),
    Index("ix_labels_model_event", "model", "event_id"),
    Index("ix_labels_model_ingested", "model", "ingested_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)
