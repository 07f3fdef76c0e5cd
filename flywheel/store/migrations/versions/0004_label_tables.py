"""label tables

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22 20:28:52.012576
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flywheel.store.tables

revision = "0004"
down_revision = "0001"
branch_labels = ("label",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "curation_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("picked", sa.Integer(), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.Integer(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_curation_runs")),
    )
    with op.batch_alter_table("curation_runs", schema=None) as batch_op:
        batch_op.create_index("ix_curation_runs_model_created", ["model", "created_at"], unique=False)

    op.create_table(
        "curation_schedules",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("last_run_at", flywheel.store.tables.UTCDateTime(), nullable=True),
        sa.Column("last_job_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_curation_schedules")),
    )
    op.create_table(
        "label_assignments",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("annotator", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assigned_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("done_at", flywheel.store.tables.UTCDateTime(), nullable=True),
        sa.Column("label_id", sa.String(length=128), nullable=True),
        sa.Column("time_spent_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("model", "event_id", "annotator", name=op.f("pk_label_assignments")),
    )
    with op.batch_alter_table("label_assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_label_assignments_annotator", ["model", "annotator", "status"], unique=False
        )

    op.create_table(
        "label_error_reviews",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("label_id", sa.String(length=128), nullable=True),
        sa.Column("given", sa.Text(), nullable=False),
        sa.Column("suggested", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("reviewed_at", flywheel.store.tables.UTCDateTime(), nullable=True),
        sa.Column("reviewer", sa.String(length=200), nullable=True),
        sa.Column("new_label_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("model", "event_id", name=op.f("pk_label_error_reviews")),
    )
    with op.batch_alter_table("label_error_reviews", schema=None) as batch_op:
        batch_op.create_index(
            "ix_label_error_reviews_model_status", ["model", "status", "score"], unique=False
        )

    op.create_table(
        "label_queue",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("selector", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("signal", sa.Text(), nullable=False),
        sa.Column("for_evaluation", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("n_labels", sa.Integer(), nullable=False),
        sa.Column("n_skips", sa.Integer(), nullable=False),
        sa.Column("assigned_to", sa.String(length=200), nullable=True),
        sa.Column("event", sa.Text(), nullable=True),
        sa.Column("created_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", flywheel.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model", "event_id", name=op.f("pk_label_queue")),
    )
    with op.batch_alter_table("label_queue", schema=None) as batch_op:
        batch_op.create_index("ix_label_queue_model_created", ["model", "created_at"], unique=False)
        batch_op.create_index(
            "ix_label_queue_model_status", ["model", "status", "created_at", "rank"], unique=False
        )
        batch_op.create_index("ix_label_queue_run", ["run_id", "rank"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("label_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_label_queue_run")
        batch_op.drop_index("ix_label_queue_model_status")
        batch_op.drop_index("ix_label_queue_model_created")

    op.drop_table("label_queue")
    with op.batch_alter_table("label_error_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_label_error_reviews_model_status")

    op.drop_table("label_error_reviews")
    with op.batch_alter_table("label_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_label_assignments_annotator")

    op.drop_table("label_assignments")
    op.drop_table("curation_schedules")
    with op.batch_alter_table("curation_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_curation_runs_model_created")

    op.drop_table("curation_runs")
