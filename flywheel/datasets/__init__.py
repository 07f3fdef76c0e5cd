"""Immutable, versioned dataset snapshots and the rules that form them; eval sets.

Pure code over Arrow tables and pandas frames handed in by the caller: no store, no server.

- :func:`build_snapshot` forms a training snapshot (formation rule, label policy, split, as-of);
- :func:`build_eval_set` / :func:`slice_eval_sets` form named, versioned eval sets;
- :func:`diff` compares two snapshots;
- :func:`write_parquet` / :func:`read_parquet` store one, byte for byte reproducibly.
"""

from flywheel.datasets.diff import Relabel, SnapshotDiff, diff
from flywheel.datasets.evalsets import (
    EdgeCaseRule,
    EvalRule,
    GoldenRule,
    SliceRule,
    build_eval_set,
    parse_eval_rule,
    slice_eval_sets,
    slice_set_name,
)
from flywheel.datasets.labels import resolve_labels
from flywheel.datasets.parquet import read_parquet, to_parquet_bytes, write_parquet
from flywheel.datasets.rules import (
    AllRule,
    FormationRule,
    LabelPolicy,
    RecencyRule,
    SampleRule,
    Split,
    WindowRule,
    parse_label_policy,
    parse_rule,
    parse_split,
)
from flywheel.datasets.snapshot import HEAD_COLUMNS, Manifest, Snapshot, build_snapshot

__all__ = [
    "HEAD_COLUMNS",
    "AllRule",
    "EdgeCaseRule",
    "EvalRule",
    "FormationRule",
    "GoldenRule",
    "LabelPolicy",
    "Manifest",
    "RecencyRule",
    "Relabel",
    "SampleRule",
    "SliceRule",
    "Snapshot",
    "SnapshotDiff",
    "Split",
    "WindowRule",
    "build_eval_set",
    "build_snapshot",
    "diff",
    "parse_eval_rule",
    "parse_label_policy",
    "parse_rule",
    "parse_split",
    "read_parquet",
    "resolve_labels",
    "slice_eval_sets",
    "slice_set_name",
    "to_parquet_bytes",
    "write_parquet",
]
