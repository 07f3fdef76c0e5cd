"""Immutable, versioned dataset snapshots.

:func:`build_snapshot` forms a training snapshot from an event table and a label table, both
passed in by the caller (the store reads them; nothing here does I/O):

1. keep the events and labels that had arrived by ``as_of`` (:mod:`flywheel.datasets.pit`);
2. choose one label per event under the label policy (:mod:`flywheel.datasets.labels`);
3. apply the formation rule (window, sample, recency weights) and the split
   (:mod:`flywheel.datasets.formation`);
4. lay the rows out canonically (sorted by ``event_id``, fixed column order and types) and write
   a :class:`Manifest` recording the rule, the policy, ``as_of``, the parent, counts, class balance
   and schema, with ``rows_hash`` (SHA-256 of the rows).

``content_hash`` is the SHA-256 of the manifest's canonical JSON, so it covers the rows and
everything that formed them, and nothing that varies between runs (no wall-clock time).

>>> import pandas as pd
>>> t = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True)
>>> events = pd.DataFrame({"event_id": ["a", "b", "c"], "timestamp": t, "ingested_at": t,
...                        "in.x": [1.0, 2.0, 3.0]})
>>> labels = pd.DataFrame({"event_id": ["a", "b", "c"], "value": ['"no"', '"yes"', '"no"'],
...                        "source": "annotator", "ingested_at": t})
>>> snap = build_snapshot(events, labels, {"kind": "all"}, "latest", {"by": "time", "holdout": 0.34})
>>> snap.table.column("split").to_pylist(), snap.manifest.class_balance
(['train', 'train', 'holdout'], {'no': 2, 'yes': 1})
>>> snap.content_hash == build_snapshot(events[::-1], labels, {"kind": "all"}, "latest",
...                                     {"by": "time", "holdout": 0.34}).content_hash
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from flywheel.datasets.canonical import UTC_US, canonical_json, table_digest
from flywheel.datasets.formation import (
    assign_split,
    recency_weights,
    slice_values,
    stratified_sample,
    time_buckets,
    window_mask,
)
from flywheel.datasets.pit import Pool, describe, labelled_pool, time_us
from flywheel.datasets.rules import (
    LabelPolicy,
    RecencyRule,
    SampleRule,
    Split,
    WindowRule,
    parse_label_policy,
    parse_rule,
    parse_split,
)
from flywheel.errors import ValidationError
from flywheel.schema import NAME_RE, ModelSpec

SNAPSHOT_FORMAT = "flywheel.snapshot/1"

#: The leading columns of every snapshot, in order; the event's other columns follow, sorted by name.
HEAD_COLUMNS = (
    "event_id",
    "timestamp",
    "ingested_at",
    "label",
    "label_source",
    "label_how",
    "label_count",
    "label_agreement",
    "label_ingested_at",
    "weight",
    "split",
)


class Manifest(BaseModel):
    """Everything about a snapshot except its rows: enough, with the same inputs, to rebuild it exactly.

    ``rule`` is the formation (or eval-set) rule with ``as_of`` filled in; ``parent`` the content
    hash of the snapshot this one succeeds. ``counts`` describe the labelled pool as of ``as_of``
    (before the rule picked rows) and the result:

    - ``events_input`` / ``events_not_arrived`` / ``events_arrived`` (distinct ids) /
      ``events_labelled`` / ``events_unlabelled``;
    - ``labels_input`` / ``labels_not_arrived`` / ``labels_orphaned`` (arrived, but their event had
      not) / ``labels_used`` (eligible labels of labelled events) / ``labels_conflicting_events``
      (events whose labels disagree);
    - ``rows`` and ``dropped_by_rule``; eval sets add ``ids_requested``/``ids_missing`` (golden) or
      ``selected_unlabelled`` (edge cases).

    ``class_balance`` counts rows per label (as text); a float label has ``label_stats`` instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = SNAPSHOT_FORMAT
    kind: Literal["training", "eval"]
    name: str | None = None
    version: int | None = None
    rule: dict[str, Any]
    label_policy: dict[str, Any]
    split: dict[str, Any] | None
    as_of: datetime
    parent: str | None = None
    spec_hash: str | None = None
    label_type: str
    num_rows: int
    rows_hash: str
    counts: dict[str, int]
    split_counts: dict[str, int]
    class_balance: dict[str, int] | None
    class_balance_by_split: dict[str, dict[str, int]] | None
    label_stats: dict[str, float] | None
    columns: list[dict[str, str]]

    def canonical_json(self) -> str:
        """Compact, key-sorted JSON: the text the content hash is taken over."""
        return canonical_json(self.model_dump(mode="json"))

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """An immutable dataset: the rows (``table``), the ``manifest`` and the ``content_hash`` over both."""

    table: pa.Table
    manifest: Manifest
    content_hash: str

    @classmethod
    def from_parts(cls, table: pa.Table, manifest: Manifest) -> Snapshot:
        """A snapshot from stored rows and manifest, checking that the rows are the ones the manifest hashed."""
        digest = table_digest(table)
        if digest != manifest.rows_hash or table.num_rows != manifest.num_rows:
            raise ValidationError(
                f"The snapshot's rows do not match its manifest (rows hash {digest[:12]}, manifest says "
                f"{manifest.rows_hash[:12]}); the stored copy is damaged or was altered."
            )
        return cls(table=table, manifest=manifest, content_hash=manifest.content_hash())

    @property
    def id(self) -> str:
        """The snapshot's identity: its content hash."""
        return self.content_hash

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def rows(self, split: str | None = None) -> pa.Table:
        """The rows, or only those of one split (``train``, ``validation``, ``holdout``, ``eval``)."""
        if split is None:
            return self.table
        mask = pc.equal(self.table.column("split"), split)
        return self.table.filter(mask)

    def to_pandas(self, split: str | None = None) -> pd.DataFrame:
        return self.rows(split).to_pandas()


def _balance(labels: pa.Array) -> dict[str, int]:
    counts = pc.value_counts(labels).to_pylist()
    return dict(sorted((describe(c["values"]), int(c["counts"])) for c in counts))


def assemble(
    pool: Pool,
    index: np.ndarray,
    weights: np.ndarray,
    splits: np.ndarray,
    *,
    kind: Literal["training", "eval"],
    rule: dict[str, Any],
    policy: LabelPolicy,
    split: Split | None,
    parent: Snapshot | str | None,
    spec: ModelSpec | None,
    name: str | None = None,
    version: int | None = None,
    extra_counts: dict[str, int] | None = None,
) -> Snapshot:
    """Lay out the chosen rows of ``pool`` canonically and write their manifest."""
    idx = pa.array(np.asarray(index, dtype=np.int64), pa.int64())
    ev = pool.events.take(idx)
    lab = pool.labels.take(np.asarray(index, dtype=np.int64))
    label = pool.label.take(idx)
    added: dict[str, pa.Array] = {
        "label": label,
        "label_source": pa.array(lab.source, pa.string()),
        "label_how": pa.array(lab.how, pa.string()),
        "label_count": pa.array(lab.count, pa.int64()),
        "label_agreement": pa.array(lab.agreement, pa.float64()),
        "label_ingested_at": pa.array(lab.ingested_us, pa.int64()).view(UTC_US),
        "weight": pa.array(np.asarray(weights, dtype=np.float64), pa.float64()),
        "split": pa.array([str(s) for s in splits], pa.string()),
    }
    names, arrays = [], []
    for c in HEAD_COLUMNS:
        names.append(c)
        arrays.append(added[c] if c in added else ev.column(c).combine_chunks())
    for c in sorted(set(ev.column_names) - set(HEAD_COLUMNS)):
        names.append(c)
        arrays.append(ev.column(c).combine_chunks())
    table = pa.Table.from_arrays(arrays, names=names)

    split_col = table.column("split")
    split_names = sorted(set(pc.unique(split_col).to_pylist()))
    numeric = pool.label_type == "float64"
    stats = None
    if numeric and len(label):
        x = label.to_numpy(zero_copy_only=False)
        stats = {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}
    by_split = {s: _balance(label.filter(pc.equal(split_col, s).combine_chunks())) for s in split_names}
    split_counts = {s: int(pc.sum(pc.equal(split_col, s)).as_py()) for s in split_names}
    counts = dict(pool.counts)
    counts.update(extra_counts or {})
    counts["rows"] = table.num_rows
    counts["dropped_by_rule"] = pool.events.num_rows - table.num_rows
    manifest = Manifest(
        kind=kind,
        name=name,
        version=version,
        rule=rule,
        label_policy=policy.canonical(),
        split=None if split is None else split.canonical(),
        as_of=pool.as_of,
        parent=parent.content_hash if isinstance(parent, Snapshot) else parent,
        spec_hash=None if spec is None else spec.spec_hash(),
        label_type=pool.label_type,
        num_rows=table.num_rows,
        rows_hash=table_digest(table),
        counts=counts,
        split_counts=split_counts,
        class_balance=None if numeric else _balance(label),
        class_balance_by_split=None if numeric else by_split,
        label_stats=stats,
        columns=[{"name": f.name, "type": str(f.type)} for f in table.schema],
    )
    return Snapshot(table=table, manifest=manifest, content_hash=manifest.content_hash())


def _strata(pool: Pool, rule: SampleRule, ts: np.ndarray) -> np.ndarray | None:
    if rule.stratify == "class":
        return np.asarray(pool.label.to_numpy(zero_copy_only=False), dtype=object)
    if rule.stratify == "slice":
        return slice_values(pool.events, rule.slice or "")
    if rule.stratify == "time":
        return time_buckets(ts, rule.time_bucket)
    return None


def build_snapshot(
    events: pa.Table | pd.DataFrame,
    labels: pa.Table | pd.DataFrame,
    rule: Any = None,
    label_policy: LabelPolicy | str | dict[str, Any] = "latest",
    split: Split | str | dict[str, Any] | None = None,
    parent: Snapshot | str | None = None,
    *,
    spec: ModelSpec | None = None,
    name: str | None = None,
) -> Snapshot:
    """Form a training snapshot of the labelled events as of ``rule.as_of``.

    ``rule`` is a formation rule or its JSON (default ``{"kind": "all"}``); ``label_policy`` a
    :class:`LabelPolicy` or its name; ``split`` a :class:`Split`, ``"time"``/``"random"``/``"none"``
    or None (by time, 20% held out). ``parent`` is the snapshot (or its id) this one succeeds.
    With ``spec``, labels are checked against the model's classes (or must be numbers for a
    regressor) and the spec's hash is recorded; slices for ``stratify='slice'`` read ``in.<feature>``.
    """
    if name is not None and not NAME_RE.match(name):
        raise ValidationError(f"The snapshot name {name!r} must match {NAME_RE.pattern}.")
    r = parse_rule({"kind": "all"} if rule is None else rule)
    policy = parse_label_policy(label_policy)
    sp = parse_split(split)
    pool = labelled_pool(events, labels, r.as_of, policy, spec)
    ts = time_us(pool.events)
    ids = np.asarray(pool.events.column("event_id").to_numpy(zero_copy_only=False), dtype=object)
    keep = np.ones(len(ids), dtype=bool)
    weights = np.ones(len(ids), dtype=np.float64)
    if isinstance(r, WindowRule):
        keep = window_mask(ts, ids, pool.as_of, days=r.days, rows=r.rows)
    elif isinstance(r, SampleRule):
        keep = stratified_sample(ids, _strata(pool, r, ts), n=r.n, fraction=r.fraction, seed=r.seed)
    elif isinstance(r, RecencyRule):
        weights = recency_weights(ts, pool.as_of, r.half_life_days)
    index = np.flatnonzero(keep)
    splits = assign_split(ids[index], ts[index], sp)
    return assemble(
        pool,
        index,
        weights[index],
        splits,
        kind="training",
        rule=r.model_copy(update={"as_of": pool.as_of}).canonical(),
        policy=policy,
        split=sp,
        parent=parent,
        spec=spec,
        name=name,
    )
