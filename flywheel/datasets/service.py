"""The dataset service: snapshots of the store's events and labels, stored and versioned.

The pure builders (:func:`~flywheel.datasets.build_snapshot`, :func:`~flywheel.datasets.build_eval_set`)
take tables; this service reads those tables from the store *as they stood at* ``as_of`` (events,
labels and feedback whose ``ingested_at`` is at or before it, so later arrivals can change neither
the rows nor the manifest; ``as_of`` defaults to the moment the build starts), stores the snapshot as a content-addressed Parquet artifact and records it in
the ``datasets`` table, versioned per name.

Building again from the same inputs changes nothing: when the new snapshot has the same rows,
rule, label policy, split and spec as the latest version of its name, that version is returned
(``created=False``) rather than a copy. :meth:`DatasetService.rebuild` forms a stored snapshot
again from its manifest, which must give the same content hash and the same Parquet bytes.
"""

from __future__ import annotations

import builtins
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection

from flywheel.datasets.diff import diff as snapshot_diff
from flywheel.datasets.evalsets import build_eval_set, parse_eval_rule, slice_eval_sets
from flywheel.datasets.parquet import read_parquet, to_parquet_bytes
from flywheel.datasets.rules import parse_label_policy, parse_rule, parse_split, to_utc
from flywheel.datasets.snapshot import Manifest, Snapshot, build_snapshot
from flywheel.errors import Conflict, ValidationError
from flywheel.ingest.validate import event_schema
from flywheel.schema import ModelSpec
from flywheel.store import Store
from flywheel.store.registry_datasets import DatasetRecord, DatasetStore

#: The event columns a snapshot keeps besides the inputs (``in.<feature>``).
EVENT_COLUMNS = ("event_id", "timestamp", "ingested_at", "model_version")
DEFAULT_TRAINING_NAME = "training"


@dataclass(frozen=True)
class PreparedDataset:
    """A snapshot built in memory, not stored yet; ``existing`` is the stored version it equals, if any."""

    model: str
    kind: str  # train | eval
    snapshot: Snapshot
    parent: DatasetRecord | None
    existing: DatasetRecord | None


@dataclass(frozen=True)
class BuildResult:
    record: DatasetRecord
    created: bool
    snapshot: Snapshot

    def to_dict(self) -> dict[str, Any]:
        return {**self.record.to_dict(), "created": self.created}


def _ts_literal(dt: datetime) -> str:
    utc = to_utc(dt)
    assert utc is not None
    return "TIMESTAMPTZ '" + utc.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00'"


def _instant(given: datetime | None, in_rule: datetime | None) -> datetime:
    """The ``as_of`` of a build: the one given, else the rule's, else now (when the build starts)."""
    at = to_utc(given) if given is not None else in_rule
    return at if at is not None else datetime.now(UTC)


def _same_content(new: Manifest, old: dict[str, Any]) -> bool:
    """Same rows under the same rule (at any ``as_of``), label policy, split and spec."""
    mine = new.model_dump(mode="json")

    def rule(m: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in m["rule"].items() if k != "as_of"}

    return (
        mine["rows_hash"] == old.get("rows_hash")
        and rule(mine) == rule(old)
        and all(mine[k] == old.get(k) for k in ("label_policy", "split", "spec_hash", "name", "kind"))
    )


class DatasetService:
    """Build, store, version, show and compare dataset snapshots of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def records(self) -> DatasetStore:
        return self.store.registry.datasets

    # -- reading the inputs ---------------------------------------------------------------
    def events(self, model: str, spec: ModelSpec, as_of: datetime | None) -> pa.Table:
        """The model's events that had arrived by ``as_of``: metadata and ``in.<feature>`` columns.

        A feature no stored event has (the spec gained it later) comes back as nulls.
        """
        import duckdb

        schema = event_schema(spec)
        wanted = list(EVENT_COLUMNS) + [f"in.{f.name}" for f in spec.features]
        where = [] if as_of is None else [f"ingested_at <= {_ts_literal(as_of)}"]

        def read(cols: list[str]) -> pa.Table:
            return self.store.events.query(model, where=where, select=", ".join(f'"{c}"' for c in cols))

        try:
            table = read(wanted)
        except duckdb.BinderException:  # some column is in no file: read those that exist
            present = set(self.store.events.query(model, limit=0).column_names)
            table = read([c for c in wanted if c in present]) if "event_id" in present else pa.table({})
        n = table.num_rows
        arrays = [
            table.column(c) if c in table.column_names else pa.nulls(n, schema.field(c).type) for c in wanted
        ]
        return pa.Table.from_arrays(arrays, names=wanted)

    def _spec(self, model: str, spec_hash: str | None = None) -> ModelSpec:
        if spec_hash is not None:
            for _, spec, _ in reversed(self.store.models.spec_history(model)):
                if spec.spec_hash() == spec_hash:
                    return spec
        return self.store.models.get(model).spec

    # -- training snapshots ---------------------------------------------------------------
    def prepare(
        self,
        model: str,
        *,
        name: str = DEFAULT_TRAINING_NAME,
        rule: Any = None,
        label_policy: Any = "latest",
        split: Any = None,
        as_of: datetime | None = None,
    ) -> PreparedDataset:
        """Form a training snapshot in memory (see :meth:`build`); nothing is stored."""
        spec = self._spec(model)
        r = parse_rule({"kind": "all"} if rule is None else rule)
        r = r.model_copy(update={"as_of": _instant(as_of, r.as_of)})
        parent = self.records.latest(model, name)
        if parent is not None and parent.kind != "train":
            raise Conflict(f"{name!r} is an eval set of model {model!r}; give the training set another name")
        snap = build_snapshot(
            self.events(model, spec, r.as_of),
            self.records.label_rows(model, r.as_of),
            r,
            parse_label_policy(label_policy),
            parse_split(split),
            parent=None if parent is None else parent.content_hash,
            spec=spec,
            name=name,
        )
        if snap.num_rows == 0:
            raise ValidationError(
                f"model {model!r} has no labelled events as of {snap.manifest.as_of.isoformat()} under this rule; "
                "ingest labels first (POST /v1/models/{model}/labels) or widen the rule."
            )
        existing = parent if parent is not None and _same_content(snap.manifest, parent.manifest) else None
        return PreparedDataset(model, "train", snap, parent, existing)

    def put_artifact(self, prepared: PreparedDataset) -> str:
        """Write the snapshot's Parquet file to the artifact store; return its digest."""
        return self.store.artifacts.put(to_parquet_bytes(prepared.snapshot))

    @staticmethod
    def insert(conn: Connection, prepared: PreparedDataset, digest: str) -> DatasetRecord:
        """Add the row of a prepared snapshot whose artifact is stored, in ``conn``'s transaction."""
        snap = prepared.snapshot
        m = snap.manifest
        return DatasetStore.insert(
            conn,
            model=prepared.model,
            name=m.name or DEFAULT_TRAINING_NAME,
            kind=prepared.kind,
            content_hash=snap.content_hash,
            rule=m.rule,
            manifest=m.model_dump(mode="json"),
            artifact=digest,
            num_rows=snap.num_rows,
            as_of=m.as_of,
            parent_id=None if prepared.parent is None else prepared.parent.dataset_id,
            version=m.version if prepared.kind == "eval" else None,
        )

    def save(self, prepared: PreparedDataset) -> BuildResult:
        """Store a prepared snapshot: its Parquet artifact first, then its row."""
        if prepared.existing is not None:
            return BuildResult(prepared.existing, False, prepared.snapshot)
        digest = self.put_artifact(prepared)
        record = self.store.db.write(lambda c: self.insert(c, prepared, digest))
        return BuildResult(record, True, prepared.snapshot)

    def build(
        self,
        model: str,
        *,
        name: str = DEFAULT_TRAINING_NAME,
        rule: Any = None,
        label_policy: Any = "latest",
        split: Any = None,
        as_of: datetime | None = None,
    ) -> BuildResult:
        """Build and store the training snapshot ``name`` of ``model`` as of ``as_of``.

        ``rule`` is a formation rule or its JSON (default all labelled events); ``as_of``
        overrides the rule's; ``split`` defaults to a time split holding out the newest 20%.
        The new snapshot's parent is the latest version of ``name``.
        """
        return self.save(
            self.prepare(model, name=name, rule=rule, label_policy=label_policy, split=split, as_of=as_of)
        )

    # -- eval sets --------------------------------------------------------------------------
    def _previous_eval(self, model: str, name: str) -> tuple[DatasetRecord | None, Snapshot | None]:
        rec = self.records.latest(model, name)
        if rec is None:
            return None, None
        if rec.kind != "eval":
            raise Conflict(f"{name!r} is a training set of model {model!r}; give the eval set another name")
        return rec, self.load_record(rec)

    def _save_eval(self, model: str, snap: Snapshot, prev: DatasetRecord | None) -> BuildResult:
        if prev is not None and snap.content_hash == prev.content_hash:
            return BuildResult(prev, False, snap)
        if snap.num_rows == 0:
            raise ValidationError(
                f"eval set {snap.manifest.name!r} of model {model!r} would hold no labelled events "
                f"(as of {snap.manifest.as_of.isoformat()}); label its events first.",
                details=[{"field": "rule", "reason": f"counts {snap.manifest.counts}"}],
            )
        return self.save(PreparedDataset(model, "eval", snap, prev, None))

    def build_eval_set(
        self, model: str, name: str, rule: Any, *, label_policy: Any = "latest", as_of: datetime | None = None
    ) -> BuildResult:
        """Build (or refresh) the pinned eval set ``name``: a new version only if its rows or labels changed."""
        spec = self._spec(model)
        r = parse_eval_rule(rule)
        r = r.model_copy(update={"as_of": _instant(as_of, r.as_of)})
        prev, prev_snap = self._previous_eval(model, name)
        feedback = self.records.feedback_rows(model, r.as_of) if r.kind == "edge-cases" else None
        snap = build_eval_set(
            self.events(model, spec, r.as_of),
            self.records.label_rows(model, r.as_of),
            r,
            name=name,
            label_policy=label_policy,
            feedback=feedback,
            spec=spec,
            previous=prev_snap,
        )
        return self._save_eval(model, snap, prev)

    def build_slice_sets(
        self, model: str, *, label_policy: Any = "latest", as_of: datetime | None = None
    ) -> builtins.list[BuildResult]:
        """One eval set per slice of the model's spec (per value of a group-by slice)."""
        spec = self._spec(model)
        if not spec.slices:
            raise ValidationError(
                f"model {model!r} declares no slices in its spec; there are no slice sets to build."
            )
        at = _instant(as_of, None)
        previous: dict[str, Snapshot] = {}
        records: dict[str, DatasetRecord] = {}
        for rec in self.records.eval_sets(model):
            records[rec.name] = rec
            previous[rec.name] = self.load_record(rec)
        sets = slice_eval_sets(
            self.events(model, spec, at),
            self.records.label_rows(model, at),
            spec,
            as_of=at,
            label_policy=label_policy,
            previous=previous,
        )
        return [
            self._save_eval(model, snap, records.get(name)) for name, snap in sets.items() if snap.num_rows
        ]

    # -- reading back -----------------------------------------------------------------------
    def get(self, model: str, ref: str) -> DatasetRecord:
        return self.records.find(model, ref)

    def list(self, model: str, *, kind: str | None = None) -> builtins.list[DatasetRecord]:
        self.store.models.get(model)
        return self.records.list(model, kind=kind)

    def eval_sets(self, model: str) -> builtins.list[DatasetRecord]:
        """The pinned eval sets of ``model``: the latest version of each name."""
        return self.records.eval_sets(model)

    def load_record(self, rec: DatasetRecord) -> Snapshot:
        """The stored snapshot, its rows checked against the manifest's hash."""
        return read_parquet(self.store.artifacts.get(rec.artifact))

    def load(self, model: str, ref: str) -> Snapshot:
        return self.load_record(self.get(model, ref))

    def show(self, model: str, ref: str, *, rows: int = 0, split: str | None = None) -> dict[str, Any]:
        """The dataset's record and manifest, and its first ``rows`` rows (of ``split``)."""
        rec = self.get(model, ref)
        out = rec.to_dict()
        if rows > 0:
            table = self.load_record(rec).rows(split).slice(0, rows)
            out["rows"] = table.to_pylist()
        return out

    def diff(self, model: str, a: str, b: str, *, limit: int | None = 100) -> dict[str, Any]:
        """Rows added, removed and relabelled from ``a`` to ``b``, and the class balance of each."""
        ra, rb = self.get(model, a), self.get(model, b)
        d = snapshot_diff(self.load_record(ra), self.load_record(rb)).to_dict(limit=limit)
        return {**d, "a_ref": ra.ref, "b_ref": rb.ref, "a_id": ra.dataset_id, "b_id": rb.dataset_id}

    def rebuild(self, model: str, ref: str) -> Snapshot:
        """Form the stored snapshot ``ref`` again from the store, by its manifest."""
        rec = self.get(model, ref)
        m = Manifest.model_validate(rec.manifest)
        spec = self._spec(model, m.spec_hash)
        as_of = m.as_of
        events = self.events(model, spec, as_of)
        labels = self.records.label_rows(model, as_of)
        if rec.kind == "train":
            return build_snapshot(
                events, labels, m.rule, m.label_policy, m.split, parent=m.parent, spec=spec, name=m.name
            )
        previous = None
        if m.parent is not None:
            prev = next(
                (r for r in self.records.list(model, name=rec.name) if r.content_hash == m.parent), None
            )
            previous = None if prev is None else self.load_record(prev)
        rule = parse_eval_rule(m.rule)
        feedback = self.records.feedback_rows(model, as_of) if rule.kind == "edge-cases" else None
        return build_eval_set(
            events,
            labels,
            rule,
            name=rec.name,
            label_policy=m.label_policy,
            feedback=feedback,
            spec=spec,
            previous=previous,
        )

    def verify(self, model: str, ref: str) -> dict[str, Any]:
        """Rebuild ``ref`` and compare: the content hash and the Parquet artifact must match."""
        rec = self.get(model, ref)
        snap = self.rebuild(model, ref)
        parquet_sha = hashlib.sha256(to_parquet_bytes(snap)).hexdigest()
        return {
            "dataset_id": rec.dataset_id,
            "ref": rec.ref,
            "content_hash": rec.content_hash,
            "rebuilt_content_hash": snap.content_hash,
            "same_content": snap.content_hash == rec.content_hash,
            "same_bytes": parquet_sha == rec.artifact,
        }
