"""Tables of monitoring: hourly column profiles, references, monitor config, alerts, deliveries."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from flywheel.store.tables import UTCDateTime, metadata

# One mergeable profile per model x model version x column x hour, updated at ingest by
# read-merge-write in one writer transaction. ``model_version`` is '' for events without one.
profiles = Table(
    "profiles",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("model_version", String(128), primary_key=True),
    Column("column_name", String(200), primary_key=True),
    Column("hour", UTCDateTime, primary_key=True),
    Column("rows", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_profiles_model_hour", "model", "hour"),
)

# What a model's traffic is compared with: per model version ('' = the model's default).
# The profile, a sample of raw rows and the fitted CBPE are content-addressed artifacts.
monitor_references = Table(
    "monitor_references",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("model_version", String(128), primary_key=True),
    Column("source", Text, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("labelled", BigInteger, nullable=False),
    Column("profile_artifact", String(64), nullable=False),
    Column("sample_artifact", String(64)),
    Column("cbpe_artifact", String(64)),
    Column("summary", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Per-model monitor configuration (thresholds, alerting monitors, webhooks) and edited
# data-quality rules (NULL: the rules inferred from the reference apply).
monitor_configs = Table(
    "monitor_configs",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("config", Text, nullable=False),
    Column("quality_rules", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Alerts. ``open_key`` is set while the alert is open and NULL once closed; its unique
# constraint keeps one open alert per model and monitor on every backend.
alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(32), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("monitor", String(300), nullable=False),
    Column("slice", String(200)),
    Column("severity", String(16), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("sample_event_ids", Text, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("open_key", String(440), unique=True),
    Index("ix_alerts_model_opened", "model", "opened_at"),
)

# One row per webhook delivery attempt.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("delivery_id", String(32), primary_key=True),
    Column("alert_id", String(32), nullable=False),
    Column("model", String(128), nullable=False),
    Column("event", String(16), nullable=False),
    Column("target", String(300), nullable=False),
    Column("format", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_alert_deliveries_alert", "alert_id", "at"),
)
