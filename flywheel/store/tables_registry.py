"""Tables of datasets, model versions, aliases (with their history), evaluations and gate policies."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from flywheel.store.tables import UTCDateTime, metadata

# A dataset snapshot: its rows live in a content-addressed Parquet artifact, the rest here.
datasets = Table(
    "datasets",
    metadata,
    Column("dataset_id", String(32), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(8), nullable=False),  # train | eval
    Column("version", Integer, nullable=False),
    Column("parent_id", String(32)),
    Column("content_hash", String(64), nullable=False),
    Column("rule", Text, nullable=False),
    Column("manifest", Text, nullable=False),
    Column("artifact", String(64), nullable=False),
    Column("num_rows", Integer, nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("model", "name", "version"),
    Index("ix_datasets_model_hash", "model", "content_hash"),
    Index("ix_datasets_model_kind", "model", "kind", "created_at"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("artifact", String(64), nullable=False),
    Column("baseline_artifact", String(64)),
    Column("trainer", String(200), nullable=False),
    Column("params", Text, nullable=False),
    Column("dataset_id", String(32)),
    Column("metrics", Text, nullable=False),
    Column("code_version", String(100), nullable=False),
    Column("parent_version", Integer),
    Column("spec_version", Integer),
    Column("job_id", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Append-only: every move of an alias, never updated or deleted.
alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("alias", String(128), nullable=False),
    Column("action", String(16), nullable=False),  # promote | rollback
    Column("from_version", Integer),
    Column("to_version", Integer, nullable=False),
    Column("who", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("why", Text, nullable=False),
    Column("override_reason", Text),
    Column("evaluation_id", String(32)),
    Index("ix_alias_history_model_alias", "model", "alias", "id"),
)

# One offline evaluation of a candidate against a champion; passed=True is a blessing.
evaluations = Table(
    "evaluations",
    metadata,
    Column("evaluation_id", String(32), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("candidate_version", Integer, nullable=False),
    Column("champion_alias", String(128)),
    Column("champion_version", Integer),
    Column("dataset_id", String(32)),
    Column("eval_sets", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("checks", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("report_artifact", String(64), nullable=False),
    Column("html_artifact", String(64), nullable=False),
    Column("job_id", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_evaluations_model_candidate", "model", "candidate_version"),
)

# The evaluation config of a model (gate policy and expectation tests), versioned.
gate_policies = Table(
    "gate_policies",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("config", Text, nullable=False),
    Column("who", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
