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

from flywheel.datasets.canonical import UTC_US, instant_us, normalise_table
from flywheel.datasets.labels import resolve_labels
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
    labels: pd.DataFrame
    label: pa.Array
    label_type: str
    as_of: datetime
    counts: dict[str, int]


def as_table(data: pa.Table | pd.DataFrame, what: str) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
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
    if table.column("event_id").null_count or table.column("ingested_at").null_count:
        raise ValidationError(
            "Every event needs an event_id and an ingested_at; some are null.",
            details=[{"field": "event_id/ingested_at", "reason": "null"}],
        )
    return table


def _us(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return np.asarray(arr.view(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy(zero_copy_only=False))


def latest_arrival(events: pa.Table, labels: pd.DataFrame) -> datetime:
    """The latest ``ingested_at`` among events and labels: the default ``as_of`` (the epoch if both are empty)."""
    candidates = []
    if events.num_rows:
        candidates.append(int(_us(events.column("ingested_at")).max()))
    if len(labels):
        candidates.append(instant_us(pd.to_datetime(labels["ingested_at"], utc=True).max()))
    if not candidates:
        return _EPOCH
    return pd.Timestamp(max(candidates), unit="us", tz="UTC").to_pydatetime()


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
    lb = as_table(labels, "labels").to_pandas() if isinstance(labels, pa.Table) else labels
    if "ingested_at" not in lb.columns:
        raise ValidationError("The labels table lacks the column 'ingested_at' (when each label arrived).")
    at = latest_arrival(ev, lb) if as_of is None else as_of
    at_us = instant_us(at)

    ev_arrived = _us(ev.column("ingested_at")) <= at_us
    ids = np.asarray(ev.column("event_id").to_numpy(zero_copy_only=False), dtype=object)
    first = (
        pd.DataFrame({"id": ids, "ing": _us(ev.column("ingested_at")), "row": np.arange(ev.num_rows)})[
            ev_arrived
        ]
        .sort_values(["id", "ing", "row"], kind="stable")
        .drop_duplicates("id")
    )
    lb_ing = pd.to_datetime(lb["ingested_at"], utc=True).astype("datetime64[us, UTC]")
    lb_arrived_mask = (lb_ing <= pd.Timestamp(at_us, unit="us", tz="UTC")).to_numpy()
    lb_arrived = lb[lb_arrived_mask]
    known = lb_arrived["event_id"].isin(set(first["id"])).to_numpy()
    resolved = resolve_labels(lb_arrived[known], policy)

    joined = first.merge(resolved, left_on="id", right_on="event_id", how="inner", sort=True)
    table = ev.take(pa.array(joined["row"].to_numpy(), pa.int64()))
    resolved = joined[list(resolved.columns)].reset_index(drop=True)
    label, label_type = typed_labels(list(resolved["label_key"]), spec)
    counts = {
        "events_input": ev.num_rows,
        "events_not_arrived": int((~ev_arrived).sum()),
        "events_arrived": len(first),
        "events_labelled": len(resolved),
        "events_unlabelled": len(first) - len(resolved),
        "labels_input": len(lb),
        "labels_not_arrived": int((~lb_arrived_mask).sum()),
        "labels_orphaned": int((~known).sum()),
        "labels_used": int(resolved["label_count"].sum()),
        "labels_conflicting_events": int((resolved["label_agreement"] < 1.0).sum()),
    }
    return Pool(events=table, labels=resolved, label=label, label_type=label_type, as_of=at, counts=counts)


def time_us(table: pa.Table, column: str = "timestamp") -> np.ndarray:
    """A timestamp column as int64 microseconds since the epoch (null: the smallest int64)."""
    return _us(table.column(column))


def describe(value: Any) -> str:
    """A label value as the text a class-balance key uses."""
    if isinstance(value, str):
        return value
    return json.dumps(value)
