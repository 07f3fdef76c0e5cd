"""The arithmetic of formation rules and splits, over plain arrays.

These functions pick rows (window, stratified sample), weight them (recency) and split them
(by time or at random). They take NumPy/pandas arrays and return NumPy arrays; the snapshot
builder feeds them the labelled events that had arrived by ``as_of``.

Random choices are made by a seeded hash of the event id rather than a random stream: an
event's draw does not depend on which other events are present, so a sample or a random split
taken again a week later keeps the same old events where it can.

>>> import numpy as np
>>> ids = np.array([f"e{i}" for i in range(10)], dtype=object)
>>> strata = np.array(["a"] * 8 + ["b"] * 2, dtype=object)
>>> keep = stratified_sample(ids, strata, n=5, seed=0)
>>> int(keep.sum()), int(keep[:8].sum()), int(keep[8:].sum())
(5, 4, 1)
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from flywheel.datasets.canonical import instant_us
from flywheel.datasets.rules import Split
from flywheel.errors import ValidationError
from flywheel.schema import Slice

_US_PER_DAY = 86_400 * 1_000_000


def seeded_keys(event_ids: np.ndarray, seed: int) -> np.ndarray:
    """A uint64 pseudo-random key per event id, fixed by ``seed`` and the id alone."""
    prefix = f"{seed}:".encode()
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(prefix + str(e).encode(), digest_size=8).digest(), "little")
            for e in event_ids
        ],
        dtype=np.uint64,
    )


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def allocate(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over strata of ``sizes`` in proportion, by largest remainder.

    Each stratum gets ``floor(q)`` or ``floor(q) + 1`` of its exact quota ``q = total * size / sum``,
    so every share is within one row of exact; ties in remainder go to the earlier stratum.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n = int(sizes.sum())
    if n == 0 or total <= 0:
        return np.zeros_like(sizes)
    total = min(total, n)
    quota = sizes * (total / n)
    base = np.minimum(np.floor(quota).astype(np.int64), sizes)
    left = total - int(base.sum())
    if left > 0:
        remainder = np.where(base < sizes, quota - base, -1.0)
        order = np.lexsort((np.arange(len(sizes)), -remainder))
        base[order[:left]] += 1
    return base


def stratified_sample(
    event_ids: np.ndarray,
    strata: np.ndarray | None,
    *,
    n: int | None = None,
    fraction: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """A boolean mask keeping ``n`` rows (or ``fraction`` of them) with each stratum's share kept.

    Within a stratum the rows with the smallest seeded keys are kept. ``strata=None`` samples plainly.
    """
    ids = np.asarray(event_ids, dtype=object)
    size = len(ids)
    keep = np.zeros(size, dtype=bool)
    if size == 0:
        return keep
    total = min(n, size) if n is not None else _round_half_up((fraction or 0.0) * size)
    codes = (
        np.zeros(size, dtype=np.int64)
        if strata is None
        else pd.factorize(np.asarray(strata, dtype=object), sort=True)[0]
    )
    sizes = np.bincount(codes)
    take = allocate(sizes, total)
    keys = seeded_keys(ids, seed)
    order = np.lexsort((ids.astype(str), keys, codes))  # by stratum, then key, then id
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(size, dtype=np.int64)
    rank[order] = np.arange(size) - np.repeat(starts, sizes)
    keep = rank < take[codes]
    return keep


def window_mask(
    timestamps_us: np.ndarray, event_ids: np.ndarray, as_of: datetime, *, days: float | None, rows: int | None
) -> np.ndarray:
    """Rows in the last ``days`` days (event time in ``(as_of - days, as_of]``), or the ``rows`` latest."""
    ts = np.asarray(timestamps_us, dtype=np.int64)
    if days is not None:
        end = instant_us(as_of)
        return (ts > end - int(round(days * _US_PER_DAY))) & (ts <= end)
    keep = np.zeros(len(ts), dtype=bool)
    order = np.lexsort((np.asarray(event_ids, dtype=object).astype(str), ts))
    keep[order[max(0, len(ts) - int(rows or 0)) :]] = True
    return keep


def recency_weights(timestamps_us: np.ndarray, as_of: datetime, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age / half_life)`` with age in days from ``as_of`` (an event after ``as_of`` has age 0)."""
    age = np.maximum(instant_us(as_of) - np.asarray(timestamps_us, dtype=np.int64), 0) / _US_PER_DAY
    return np.power(0.5, age / half_life_days)


def time_buckets(timestamps_us: np.ndarray, bucket: str) -> np.ndarray:
    """The UTC bucket each event time falls in, as a sortable string (``hour``/``day``/``week``/``month``)."""
    ts = pd.to_datetime(np.asarray(timestamps_us, dtype=np.int64), unit="us", utc=True)
    if bucket == "hour":
        out = ts.floor("h").strftime("%Y-%m-%dT%H")
    elif bucket == "day":
        out = ts.floor("D").strftime("%Y-%m-%d")
    elif bucket == "week":
        out = (ts.floor("D") - pd.to_timedelta(ts.day_of_week, unit="D")).strftime("%Y-%m-%d")
    elif bucket == "month":
        out = ts.strftime("%Y-%m")
    else:
        raise ValidationError(
            f"The 'time_bucket' must be one of ['hour', 'day', 'week', 'month']; got {bucket!r}."
        )
    return np.asarray(out, dtype=object)


def _slice_column(table: pa.Table, feature: str) -> pd.Series:
    for name in (f"in.{feature}", feature):
        if name in table.column_names:
            return pd.Series(table.column(name).to_pandas(), dtype=object)
    raise ValidationError(
        f"The slice uses feature {feature!r}, but the events have no column 'in.{feature}'.",
        details=[{"field": "slice", "reason": f"no column in.{feature}"}],
    )


def slice_values(table: pa.Table, expr: str) -> np.ndarray:
    """The slice each row falls in, as text: the feature's value for ``"country"``, or
    ``"true"``/``"false"`` for a condition such as ``"age < 30"``; ``"null"`` where the value is missing.
    """
    feature, op, value = Slice(name=expr, expr=expr).parse()
    col = _slice_column(table, feature)
    missing = col.isna().to_numpy()
    if op is None:
        out = np.array([str(v) for v in col.to_numpy()], dtype=object)
    else:
        ops: dict[str, Any] = {
            "<": lambda s: s < value,
            "<=": lambda s: s <= value,
            ">": lambda s: s > value,
            ">=": lambda s: s >= value,
            "==": lambda s: s == value,
            "!=": lambda s: s != value,
            "in": lambda s: s.isin(value if isinstance(value, list) else [value]),
        }
        hit = np.zeros(len(col), dtype=bool)
        present = col[~missing]
        if len(present):
            present = pd.Series(present.tolist())  # native types, so comparisons follow Python's rules
        try:
            hit[~missing] = np.asarray(ops[op](present), dtype=bool)
        except TypeError as exc:
            raise ValidationError(
                f"The slice {expr!r} cannot compare feature {feature!r} with {value!r}: {exc}"
            ) from exc
        out = np.where(hit, "true", "false").astype(object)
    out[missing] = "null"
    return out


def assign_split(event_ids: np.ndarray, timestamps_us: np.ndarray, split: Split) -> np.ndarray:
    """``train``/``validation``/``holdout`` per row: the most recent rows held out (by time) or seeded draws."""
    size = len(event_ids)
    out = np.full(size, "train", dtype=object)
    if size == 0 or split.by == "none":
        return out
    n_hold = _round_half_up(split.holdout * size)
    n_val = _round_half_up(split.validation * size)
    ids = np.asarray(event_ids, dtype=object).astype(str)
    if split.by == "time":
        order = np.lexsort((ids, np.asarray(timestamps_us, dtype=np.int64)))[::-1]  # newest first
    else:
        order = np.lexsort((ids, seeded_keys(ids, split.seed)))
    out[order[:n_hold]] = "holdout"
    out[order[n_hold : n_hold + n_val]] = "validation"
    return out
