"""monitor tables

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 20:08:22.388286
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flywheel.store.tables

revision = "0003"
down_revision = "0001"
branch_labels = ("monitor",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column("delivery_id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_alert_deliveries")),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_alert_deliveries_alert", ["alert_id", "at"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("monitor", sa.String(length=300), nullable=False),
        sa.Column("slice", sa.String(length=200), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("window_start", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("window_end", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sample_event_ids", sa.Text(), nullable=False),
        sa.Column("opened_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("closed_at", flywheel.store.tables.UTCDateTime(), nullable=True),
        sa.Column("open_key", sa.String(length=440), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("open_key", name=op.f("uq_alerts_open_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_model_opened", ["model", "opened_at"], unique=False)

    op.create_table(
        "monitor_configs",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("quality_rules", sa.Text(), nullable=True),
        sa.Column("updated_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_monitor_configs")),
    )
    op.create_table(
        "monitor_references",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("labelled", sa.BigInteger(), nullable=False),
        sa.Column("profile_artifact", sa.String(length=64), nullable=False),
        sa.Column("sample_artifact", sa.String(length=64), nullable=True),
        sa.Column("cbpe_artifact", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model", "model_version", name=op.f("pk_monitor_references")),
    )
    op.create_table(
        "profiles",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("column_name", sa.String(length=200), nullable=False),
        sa.Column("hour", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model", "model_version", "column_name", "hour", name=op.f("pk_profiles")),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.create_index("ix_profiles_model_hour", ["model", "hour"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_profiles_model_hour")
    op.drop_table("profiles")
    op.drop_table("monitor_references")
    op.drop_table("monitor_configs")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_model_opened")
    op.drop_table("alerts")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_deliveries_alert")
    op.drop_table("alert_deliveries")
