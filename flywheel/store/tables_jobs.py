"""Tables of durable jobs: one row per job, and its log lines."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from flywheel.store.tables import UTCDateTime, metadata

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("model", String(128)),
    Column("params", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("message", Text),
    Column("result", Text),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("worker", String(200)),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Index("ix_jobs_status_created", "status", "created_at"),
    Index("ix_jobs_model_created", "model", "created_at"),
)

job_logs = Table(
    "job_logs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("line", Text, nullable=False),
)
