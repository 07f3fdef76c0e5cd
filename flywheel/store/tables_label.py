"""Tables of curation and labelling: runs, the labelling queue, assignments, label-error reviews.

Labels themselves live in the core ``labels`` table (annotators write ``source="annotator"``,
adjudicators and label-error reviewers ``source="adjudication"``); these tables hold the
work around them. ``label_queue`` is keyed by ``(model, event_id)``, so an event is queued
at most once per model, whatever runs race.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from flywheel.store.tables import UTCDateTime, metadata

curation_runs = Table(
    "curation_runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("config", Text, nullable=False),  # the curation request, JSON
    Column("budget", Integer, nullable=False),  # the budget the run could spend
    Column("picked", Integer, nullable=False),  # events it queued
    Column("candidates", Integer, nullable=False),
    Column("excluded", Integer, nullable=False),  # already labelled or queued
    Column("k", Integer, nullable=False),
    Column("trigger", String(16), nullable=False),  # manual | schedule
    Column("notes", Text, nullable=False),  # JSON list of what the policy decided
    Column("context", Text, nullable=False),  # JSON: window, feature ranges shown to annotators
    Column("job_id", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_curation_runs_model_created", "model", "created_at"),
)

label_queue = Table(
    "label_queue",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("run_id", String(32), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("selector", String(64), nullable=False),
    Column("score", Float),
    Column("signal", Text, nullable=False),
    Column("for_evaluation", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # queued|assigned|labelled|skipped|adjudicating
    Column("k", Integer, nullable=False),  # annotators wanted
    Column("n_labels", Integer, nullable=False),
    Column("n_skips", Integer, nullable=False),
    Column("assigned_to", String(200)),  # the annotator most recently given the item
    Column("event", Text),  # snapshot of the event (inputs, prediction, probabilities), JSON
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_label_queue_model_status", "model", "status", "created_at", "rank"),
    Index("ix_label_queue_model_created", "model", "created_at"),
    Index("ix_label_queue_run", "run_id", "rank"),
)

# One row per (item, annotator): the primary key is what makes "never the same item twice
# to one person" hold under concurrent requests.
label_assignments = Table(
    "label_assignments",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("annotator", String(200), primary_key=True),
    Column("status", String(16), nullable=False),  # assigned | labelled | skipped
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Column("label_id", String(128)),
    Column("time_spent_s", Float),
    Index("ix_label_assignments_annotator", "model", "annotator", "status"),
)

label_error_reviews = Table(
    "label_error_reviews",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("label_id", String(128)),  # the suspected label row
    Column("given", Text, nullable=False),  # JSON value
    Column("suggested", Text, nullable=False),  # JSON value
    Column("score", Float, nullable=False),
    Column("status", String(16), nullable=False),  # open | relabelled | confirmed
    Column("method", String(32), nullable=False),
    Column("job_id", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("reviewed_at", UTCDateTime),
    Column("reviewer", String(200)),
    Column("new_label_id", String(128)),
    Index("ix_label_error_reviews_model_status", "model", "status", "score"),
)

curation_schedules = Table(
    "curation_schedules",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("interval_s", Integer, nullable=False),
    Column("config", Text, nullable=False),  # the curation request each run uses, JSON
    Column("enabled", Boolean, nullable=False),
    Column("next_run_at", UTCDateTime, nullable=False),
    Column("last_run_at", UTCDateTime),
    Column("last_job_id", String(32)),
    Column("updated_at", UTCDateTime, nullable=False),
)
