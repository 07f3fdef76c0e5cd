"""Label resolution: choose one label per event when several exist, and record how.

Several labels may exist for one event: two annotators disagree, an outcome arrives after an
annotation, an adjudicator settles a dispute. :func:`resolve_labels` applies a
:class:`~flywheel.datasets.rules.LabelPolicy` and returns one row per event with the chosen
value and how it was chosen (``label_how``):

- ``only``: the event had one eligible label;
- ``latest``: the label made last (policy ``latest``);
- ``majority``: the most frequent value won outright;
- ``tie-adjudication``: votes tied and the latest adjudication label decided;
- ``tie-latest``: votes tied and the latest label among the tied values decided;
- ``adjudication``: policy ``adjudicated-first`` took the latest adjudication label;
- ``<source>:<how>``: policy ``source-priority`` voted among the labels of ``<source>`` only.

``label_agreement`` is the share of the event's eligible labels that agree with the chosen value
(1.0 when they all agree) and ``label_count`` how many there were.

"Latest" orders labels by when they were made (``timestamp``, else ``ingested_at``), then by
``ingested_at``, ``label_id`` and value, so the choice never depends on the input row order.

>>> import pandas as pd
>>> labels = pd.DataFrame({
...     "event_id": ["e1", "e1", "e1"],
...     "value": ['"cat"', '"dog"', '"cat"'],
...     "source": ["annotator", "annotator", "annotator"],
...     "ingested_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
... })
>>> row = resolve_labels(labels, "majority").iloc[0]
>>> row.label_key, row.label_how, round(float(row.label_agreement), 3)
('"cat"', 'majority', 0.667)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.datasets.canonical import UTC_US, canonical_type
from flywheel.datasets.rules import LABEL_SOURCES, LabelPolicy, parse_label_policy
from flywheel.errors import ValidationError

RESOLVED_COLUMNS = (
    "event_id",
    "label_key",
    "label_source",
    "label_id",
    "label_made_at",
    "label_ingested_at",
    "label_how",
    "label_count",
    "label_agreement",
)
_NULL_TIME = np.iinfo(np.int64).min


def canonical_key(value: Any) -> str:
    """The canonical JSON text of a decoded label value: equal values give equal keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _keys(raw: pa.ChunkedArray, label_ids: np.ndarray) -> np.ndarray:
    """Canonical keys for a column of JSON-encoded (or already decoded) label values; None for null."""
    values = np.asarray(raw.to_numpy(zero_copy_only=False), dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    is_text = canonical_type(raw.type) == pa.string()
    keys: list[str | None] = []
    for i, v in enumerate(uniques):
        if isinstance(v, str) and is_text:
            try:
                decoded = json.loads(v)
            except ValueError:
                where = label_ids[np.flatnonzero(codes == i)[0]]
                raise ValidationError(
                    f"Label value {v[:60]!r} (label_id {where!r}) is not JSON; label values are stored "
                    f"JSON-encoded, e.g. '\"cat\"' or '1'.",
                    details=[{"field": "value", "reason": "not JSON"}],
                ) from None
        else:
            decoded = v.item() if isinstance(v, np.generic) else v
        keys.append(None if decoded is None else canonical_key(decoded))
    return np.array([None, *keys], dtype=object)[codes + 1]


def _strings(table: pa.Table, name: str, default: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, default, dtype=object)
    out = np.asarray(table.column(name).cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    out[pd.isna(out)] = default
    return out


def micros(col: pa.ChunkedArray) -> np.ndarray:
    t = canonical_type(col.type)
    if t != UTC_US:
        raise ValidationError(f"Label times must be timestamps; got {col.type}.")
    arr = (col.cast(pa.timestamp("us")) if col.type.tz is None else col.cast(UTC_US)).combine_chunks()
    return np.asarray(
        arr.view(pa.int64()).fill_null(_NULL_TIME).to_numpy(zero_copy_only=False), dtype=np.int64
    )


def codes(values: np.ndarray) -> np.ndarray:
    """Dense integer codes in the sort order of the strings ``values`` (for lexsort over strings).

    Arrow ranks UTF-8 bytes, which orders like Python's ``str`` comparison, several times faster
    than sorting Python objects.
    """
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    ranks = pc.rank(pa.array(values, pa.string()), sort_keys="ascending", tiebreaker="dense")
    return np.asarray(ranks.to_numpy(), dtype=np.int64) - 1


@dataclass(frozen=True)
class PreparedLabels:
    """Eligible labels as parallel arrays, sorted by event, then by when made, arrived, label_id, value."""

    event_id: np.ndarray
    key: np.ndarray
    source: np.ndarray
    label_id: np.ndarray
    made_us: np.ndarray
    ingested_us: np.ndarray

    def __len__(self) -> int:
        return len(self.event_id)

    def take(self, idx: np.ndarray) -> PreparedLabels:
        return PreparedLabels(*(np.asarray(getattr(self, f))[idx] for f in self.__dataclass_fields__))


def prepare_labels(
    labels: pd.DataFrame | pa.Table, sources: tuple[str, ...] = LABEL_SOURCES
) -> PreparedLabels:
    """Normalise raw label rows: canonical keys, UTC microseconds, one row per ``label_id``, eligible sources.

    Required columns: ``event_id``, ``value`` (JSON text), ``ingested_at``. Optional: ``label_id``,
    ``source`` (default ``outcome``), ``timestamp`` (when the label was made; default its arrival).
    Labels whose value is JSON ``null`` are dropped.
    """
    table = labels if isinstance(labels, pa.Table) else pa.Table.from_pandas(labels, preserve_index=False)
    missing = [c for c in ("event_id", "value", "ingested_at") if c not in table.column_names]
    if missing:
        raise ValidationError(
            f"The labels table lacks the column(s) {missing}; it needs event_id, value (JSON) and ingested_at.",
            details=[{"field": c, "reason": "missing column"} for c in missing],
        )
    event_id = np.asarray(
        table.column("event_id").cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object
    )
    if table.column("event_id").null_count:
        raise ValidationError(
            "Every label needs an event_id; some are null.", details=[{"field": "event_id", "reason": "null"}]
        )
    ingested = micros(table.column("ingested_at"))
    if (ingested == _NULL_TIME).any():
        raise ValidationError(
            "Every label needs ingested_at (when it arrived); some are null.",
            details=[{"field": "ingested_at", "reason": "null"}],
        )
    made = micros(table.column("timestamp")) if "timestamp" in table.column_names else ingested.copy()
    made = np.where(made == _NULL_TIME, ingested, made)
    source = _strings(table, "source", "outcome")
    unknown = sorted(set(source.tolist()) - set(LABEL_SOURCES))
    if unknown:
        raise ValidationError(
            f"Label sources must be among {list(LABEL_SOURCES)}; got {unknown}.",
            details=[{"field": "source", "reason": f"unknown {u!r}"} for u in unknown],
        )
    label_id = _strings(table, "label_id", "")
    key = _keys(table.column("value"), label_id)
    keep = np.flatnonzero(pd.notna(key) & np.isin(source, list(sources)))
    p = PreparedLabels(event_id, key, source, label_id, made, ingested).take(keep)
    # A retried label (same label_id) counts once: keep its first arrival.
    has_id = p.label_id != ""
    order = np.lexsort((codes(p.key), p.ingested_us, codes(p.label_id)))
    lid = p.label_id[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = lid[1:] != lid[:-1]
    keep_mask = np.zeros(len(p), dtype=bool)
    keep_mask[order[first]] = True
    p = p.take(np.flatnonzero(keep_mask | ~has_id))
    order = np.lexsort(
        (codes(p.source), codes(p.key), codes(p.label_id), p.ingested_us, p.made_us, codes(p.event_id))
    )
    return p.take(order)


def _last_per_event(ev: np.ndarray, pos: np.ndarray, n_events: int) -> np.ndarray:
    """The largest ``pos`` per event code (-1 where none)."""
    out = np.full(n_events, -1, dtype=np.int64)
    np.maximum.at(out, ev, pos)
    return out


def _vote(
    ev: np.ndarray, k: np.ndarray, pos: np.ndarray, n_keys: int, n_events: int
) -> tuple[np.ndarray, ...]:
    """Per event present: the winning value's latest position, how it won, whether votes tied."""
    if len(ev) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=object), np.zeros(0, dtype=bool)
    pair = ev * n_keys + k
    order = np.lexsort((pos, pair))
    ps = pair[order]
    gstart = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    gcount = np.diff(np.r_[gstart, len(ps)])
    glast = pos[order[gstart + gcount - 1]]
    gev = ev[order[gstart]]
    o2 = np.lexsort((glast, gcount, gev))
    best = o2[np.r_[gev[o2][1:] != gev[o2][:-1], True]]  # the top (count, latest) value of each event
    present = gev[best]
    top = np.zeros(n_events, dtype=np.int64)
    top[present] = gcount[best]
    n_top = np.bincount(gev[gcount == top[gev]], minlength=n_events)[present]
    n_labels = np.bincount(ev, minlength=n_events)[present]
    how = np.where(n_labels > 1, "majority", "only").astype(object)
    tied = n_top > 1
    how[tied] = "tie-latest"
    return present, glast[best], how, tied


@dataclass(frozen=True)
class ChosenLabels:
    """One chosen label per event, as parallel arrays sorted by ``event_id``."""

    event_id: np.ndarray
    key: np.ndarray
    source: np.ndarray
    label_id: np.ndarray
    made_us: np.ndarray
    ingested_us: np.ndarray
    how: np.ndarray
    count: np.ndarray
    agreement: np.ndarray

    def __len__(self) -> int:
        return len(self.event_id)

    def take(self, idx: np.ndarray) -> ChosenLabels:
        return ChosenLabels(*(np.asarray(getattr(self, f))[idx] for f in self.__dataclass_fields__))

    def to_pandas(self) -> pd.DataFrame:
        """The chosen labels with the columns :data:`RESOLVED_COLUMNS`."""

        def utc(us: np.ndarray) -> pd.Series:
            return pd.Series(np.asarray(us, dtype=np.int64).astype("datetime64[us]")).dt.tz_localize("UTC")

        return pd.DataFrame(
            {
                "event_id": pd.Series(self.event_id, dtype=object),
                "label_key": pd.Series(self.key, dtype=object),
                "label_source": pd.Series(self.source, dtype=object),
                "label_id": pd.Series(self.label_id, dtype=object),
                "label_made_at": utc(self.made_us),
                "label_ingested_at": utc(self.ingested_us),
                "label_how": pd.Series(self.how, dtype=object),
                "label_count": pd.Series(self.count, dtype=np.int64),
                "label_agreement": pd.Series(self.agreement, dtype=np.float64),
            }
        )


def choose_labels(p: PreparedLabels, policy: LabelPolicy) -> ChosenLabels:
    """Apply ``policy`` to prepared labels (already restricted to the policy's sources)."""
    if not len(p):
        z = np.zeros(0, dtype=np.int64)
        return ChosenLabels(
            p.event_id,
            p.key,
            p.source,
            p.label_id,
            p.made_us,
            p.ingested_us,
            np.zeros(0, dtype=object),
            z,
            np.zeros(0),
        )
    ev, events = pd.factorize(p.event_id)  # rows are sorted by event, so codes follow that order
    k, keys = pd.factorize(p.key)
    n_events, n_keys = len(events), len(keys)
    pos = np.arange(len(p))
    n = np.bincount(ev, minlength=n_events)
    is_adj = p.source == "adjudication"
    chosen = np.zeros(n_events, dtype=np.int64)
    how = np.empty(n_events, dtype=object)
    if policy.policy == "latest":
        chosen = np.cumsum(n) - 1
        how = np.where(n > 1, "latest", "only").astype(object)
    elif policy.policy == "majority":
        _, chosen, how, tied = _vote(ev, k, pos, n_keys, n_events)
        adj_last = _last_per_event(ev[is_adj], pos[is_adj], n_events)
        settle = tied & (adj_last >= 0)
        chosen[settle] = adj_last[settle]
        how[settle] = "tie-adjudication"
    elif policy.policy == "adjudicated-first":
        adj_last = _last_per_event(ev[is_adj], pos[is_adj], n_events)
        chosen[:] = adj_last
        how[:] = "adjudication"
        rest = adj_last[ev] < 0
        present, c_rest, h_rest, _ = _vote(ev[rest], k[rest], pos[rest], n_keys, n_events)
        chosen[present], how[present] = c_rest, h_rest
    else:  # source-priority
        rank = np.array([policy.sources.index(s) for s in p.source], dtype=np.int64)
        best_rank = np.full(n_events, len(policy.sources), dtype=np.int64)
        np.minimum.at(best_rank, ev, rank)
        sel = rank == best_rank[ev]
        _, chosen, sub_how, _ = _vote(ev[sel], k[sel], pos[sel], n_keys, n_events)
        how = p.source[chosen] + ":" + sub_how
    upairs, ucounts = np.unique(ev * n_keys + k, return_counts=True)
    agree = ucounts[np.searchsorted(upairs, ev[chosen] * n_keys + k[chosen])]
    c = p.take(chosen)
    return ChosenLabels(
        c.event_id, c.key, c.source, c.label_id, c.made_us, c.ingested_us, how, n.astype(np.int64), agree / n
    )


def resolve_labels(labels: pd.DataFrame | pa.Table, policy: LabelPolicy | str = "latest") -> pd.DataFrame:
    """One chosen label per event under ``policy``; columns :data:`RESOLVED_COLUMNS`, sorted by event_id.

    ``labels`` is raw label rows (see :func:`prepare_labels`); the caller filters them to what had
    arrived by the snapshot's ``as_of`` first. Events with no eligible label are absent.
    """
    pol = parse_label_policy(policy)
    return choose_labels(prepare_labels(labels, pol.sources), pol).to_pandas()
