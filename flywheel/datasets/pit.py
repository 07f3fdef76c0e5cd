"""Point-in-time join: the labelled events as they stood at an instant ``as_of``.

An event counts if it had *arrived* (``ingested_at <= as_of``); a label counts if it had arrived
too, and the label of an event is chosen only among the labels that had. Event time plays no
part here (windows use it later): a label that arrives tomorrow for last month's event is not in
a snapshot "as of today", so a backtest never trains on labels it could not have had.

:func:`labelled_pool` does the join and returns a :class:`Pool`: the labelled events (one row per
``event_id``, the first arrival of a retried event, sorted by ``event_id``), their chosen labels,
and the counts a manifest reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.datasets.canonical import UTC_US, instant_us, normalise_table
from flywheel.datasets.labels import ChosenLabels, choose_labels, codes, micros, prepare_labels
from flywheel.datasets.rules import LabelPolicy
from flywheel.errors import ValidationError
from flywheel.schema import ModelSpec

#: Columns a snapshot adds; an event table must not carry them already.
ADDED_COLUMNS = (
    "label",
    "label_source",
    "label_how",
    "label_count",
    "label_agreement",
    "label_ingested_at",
    "weight",
    "split",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Pool:
    """Labelled events as of ``as_of``, aligned row by row with ``labels`` and ``label``."""

    events: pa.Table
    labels: ChosenLabels
    label: pa.Array
    label_type: str
    as_of: datetime
    counts: dict[str, int]


def as_table(data: pa.Table | pd.DataFrame, what: str) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pd.DataFrame):
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValidationError(f"The {what} frame has a column Arrow cannot type: {exc}") from exc
    raise ValidationError(
        f"The {what} must be a pyarrow.Table or a pandas.DataFrame; got {type(data).__name__}."
    )


def normalise_events(events: pa.Table | pd.DataFrame) -> pa.Table:
    """The event table with canonical types, checked for the columns a snapshot needs."""
    table = normalise_table(as_table(events, "events"))
    missing = [c for c in ("event_id", "timestamp", "ingested_at") if c not in table.column_names]
    if missing:
        raise ValidationError(
            f"The events table lacks the column(s) {missing}; it needs event_id, timestamp and ingested_at.",
            details=[{"field": c, "reason": "missing column"} for c in missing],
        )
    clash = [c for c in ADDED_COLUMNS if c in table.column_names]
    if clash:
        raise ValidationError(
            f"The events table has column(s) {clash}, which a snapshot adds itself; rename them (inputs go in 'in.<feature>').",
            details=[{"field": c, "reason": "reserved column"} for c in clash],
        )
    for c in ("timestamp", "ingested_at"):
        if table.schema.field(c).type != UTC_US:
            raise ValidationError(
                f"The events column {c!r} must be a timestamp; got {table.schema.field(c).type}.",
                details=[{"field": c, "reason": "not a timestamp"}],
            )
    if table.schema.field("event_id").type != pa.string():
        i = table.column_names.index("event_id")
        table = table.set_column(i, "event_id", table.column(i).cast(pa.string()))
    nulls = [c for c in ("event_id", "timestamp", "ingested_at") if table.column(c).null_count]
    if nulls:
        raise ValidationError(
            f"Every event needs an event_id, a timestamp and an ingested_at; {nulls} have nulls.",
            details=[{"field": c, "reason": "null"} for c in nulls],
        )
    return table


def _us(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return np.asarray(arr.view(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy(zero_copy_only=False))


def latest_arrival(*arrivals_us: np.ndarray) -> datetime:
    """The latest of the given arrival times (int64 microseconds): the default ``as_of``; the epoch if none."""
    latest = max((int(a.max()) for a in arrivals_us if len(a)), default=None)
    if latest is None:
        return _EPOCH
    return pd.Timestamp(latest, unit="us", tz="UTC").to_pydatetime()


def typed_labels(keys: list[str], spec: ModelSpec | None) -> tuple[pa.Array, str]:
    """The label column from canonical label keys: class names for a classifier, floats for a regressor,
    else the narrowest of bool, int64, float64, string; mixed values stay JSON text (type ``json``)."""
    decoded = {k: json.loads(k) for k in set(keys)}
    if spec is not None and spec.is_classification:
        as_name = {k: (v if isinstance(v, str) else k) for k, v in decoded.items()}
        unknown = sorted(n for n in as_name.values() if n not in set(spec.class_names or []))
        if unknown:
            raise ValidationError(
                f"Labels {unknown[:5]} are not among the class_names {spec.class_names} of model {spec.name!r}.",
                details=[{"field": "label", "reason": f"unknown class {u!r}"} for u in unknown[:20]],
            )
        return pa.array([as_name[k] for k in keys], pa.string()), "string"
    values = list(decoded.values())
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if spec is not None:  # regression
        if not numeric:
            bad = [v for v in values if not (isinstance(v, int | float) and not isinstance(v, bool))][:5]
            raise ValidationError(
                f"Model {spec.name!r} is a regressor, so labels must be numbers; got {bad}."
            )
        return pa.array([float(decoded[k]) for k in keys], pa.float64()), "float64"
    if values and all(isinstance(v, bool) for v in values):
        return pa.array([decoded[k] for k in keys], pa.bool_()), "bool"
    if values and numeric and all(isinstance(v, int) for v in values):
        return pa.array([decoded[k] for k in keys], pa.int64()), "int64"
    if values and numeric:
        return pa.array([float(decoded[k]) for k in keys], pa.float64()), "float64"
    if all(isinstance(v, str) for v in values):
        return pa.array([decoded[k] for k in keys], pa.string()), "string"
    return pa.array(keys, pa.string()), "json"


def labelled_pool(
    events: pa.Table | pd.DataFrame,
    labels: pa.Table | pd.DataFrame,
    as_of: datetime | None,
    policy: LabelPolicy,
    spec: ModelSpec | None = None,
) -> Pool:
    """Join events and labels as they stood at ``as_of`` (None: the latest arrival in the inputs)."""
    ev = normalise_events(events)
    lt = as_table(labels, "labels")
    prepared = prepare_labels(lt, policy.sources)  # checks the label columns
    raw_ids = np.asarray(lt.column("event_id").cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    raw_ing = micros(lt.column("ingested_at"))
    ev_ing = _us(ev.column("ingested_at"))
    at = latest_arrival(ev_ing, raw_ing) if as_of is None else as_of
    at_us = instant_us(at)

    # The first arrival of each event that had arrived by as_of, sorted by event_id.
    ids = np.asarray(ev.column("event_id").to_numpy(zero_copy_only=False), dtype=object)
    ev_arrived = ev_ing <= at_us
    rows = np.flatnonzero(ev_arrived)
    rows = rows[np.lexsort((rows, ev_ing[rows], codes(ids[rows])))]
    first = np.r_[True, ids[rows][1:] != ids[rows][:-1]] if len(rows) else np.zeros(0, dtype=bool)
    first_rows, first_ids = rows[first], ids[rows[first]]
    arrived = pa.array(first_ids, pa.string())

    def position(values: np.ndarray) -> np.ndarray:  # index in first_ids, -1 if absent
        found = pc.index_in(pa.array(values, pa.string()), value_set=arrived)
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    lb_arrived = raw_ing <= at_us
    known = position(raw_ids) >= 0
    usable = (prepared.ingested_us <= at_us) & (position(prepared.event_id) >= 0)
    chosen = choose_labels(prepared.take(np.flatnonzero(usable)), policy)
    table = ev.take(pa.array(first_rows[position(chosen.event_id)], pa.int64()))
    label, label_type = typed_labels(list(chosen.key), spec)
    counts = {
        "events_input": ev.num_rows,
        "events_not_arrived": int((~ev_arrived).sum()),
        "events_arrived": len(first_ids),
        "events_labelled": len(chosen),
        "events_unlabelled": len(first_ids) - len(chosen),
        "labels_input": lt.num_rows,
        "labels_not_arrived": int((~lb_arrived).sum()),
        "labels_orphaned": int((lb_arrived & ~known).sum()),
        "labels_used": int(chosen.count.sum()),
        "labels_conflicting_events": int((chosen.agreement < 1.0).sum()),
    }
    return Pool(events=table, labels=chosen, label=label, label_type=label_type, as_of=at, counts=counts)


def time_us(table: pa.Table, column: str = "timestamp") -> np.ndarray:
    """A timestamp column as int64 microseconds since the epoch (null: the smallest int64)."""
    return _us(table.column(column))


def describe(value: Any) -> str:
    """A label value as the text a class-balance key uses."""
    if isinstance(value, str):
        return value
    return json.dumps(value)
