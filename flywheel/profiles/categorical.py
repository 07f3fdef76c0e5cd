"""A mergeable profile of one categorical column: frequent items and a distinct count.

Category counts live in an Apache DataSketches frequent-strings sketch. While the column has fewer
distinct values than about three quarters of the sketch's map (768 at the default
``lg_max_items=10``) every count is exact; beyond that each count is within ``count_error()`` of the
truth (deterministically: the sketch's upper bound minus lower bound). The number of distinct values
comes from a CPC sketch (about 1.5% relative error at ``lg_k=11``), so it stays right for
high-cardinality columns whose tail the frequent-items sketch drops.

>>> a = CategoricalProfile().update(["red", "blue", "red", None])
>>> b = CategoricalProfile().update(["green", "red"])
>>> ab = a.merge(b)
>>> ab.count, ab.nulls, sorted(ab.frequencies().items())
(6, 1, [('blue', 1), ('green', 1), ('red', 3)])
>>> round(ab.distinct_count())
3
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from datasketches import cpc_sketch, cpc_union, frequent_items_error_type, frequent_strings_sketch

from flywheel.profiles._format import Reader, blob, check_int, header
from flywheel.profiles.columns import category_counts

_FIELDS = struct.Struct("<qqII")
_SIZE = struct.Struct("<I")


def _union(sketches: list[Any], lg_k: int) -> Any:
    """CPC union of the non-empty sketches; a lone sketch is copied so that merging with an empty
    profile changes nothing (a one-input union would re-estimate)."""
    live = [s for s in sketches if not s.is_empty()]
    if not live:
        return cpc_sketch(lg_k)
    if len(live) == 1:
        return cpc_sketch.deserialize(live[0].serialize())
    union = cpc_union(lg_k)
    for s in live:
        union.update(s)
    return union.get_result()


class CategoricalProfile:
    """Profile of a categorical column; ``CategoricalProfile()`` is the empty profile."""

    kind = "categorical"

    def __init__(self, lg_max_items: int = 10, lg_k: int = 11) -> None:
        self.lg_max_items = check_int("CategoricalProfile", "lg_max_items", lg_max_items, 3, 20)
        self.lg_k = check_int("CategoricalProfile", "lg_k", lg_k, 4, 26)
        self.count = 0
        self.nulls = 0
        self._items = frequent_strings_sketch(lg_max_items)
        self._cpc: Any = cpc_sketch(lg_k)
        self._cpc_pending: list[bytes] = []

    @property
    def _distinct(self) -> Any:
        # A range query merges hundreds of profiles but rarely asks for the distinct count, so
        # serialised CPC sketches wait here and are unioned on first use.
        if self._cpc_pending:
            pending = [cpc_sketch.deserialize(b) for b in self._cpc_pending]
            self._cpc_pending = []
            self._cpc = _union([self._cpc, *pending], self.lg_k)
        return self._cpc

    @_distinct.setter
    def _distinct(self, value: Any) -> None:
        self._cpc = value
        self._cpc_pending = []

    @classmethod
    def empty(cls, lg_max_items: int = 10, lg_k: int = 11) -> CategoricalProfile:
        return cls(lg_max_items, lg_k)

    def update(self, values: Any) -> CategoricalProfile:
        """Add a batch of values; labels are ``str(value)`` (see ``columns.category_label``)."""
        counts, nulls = category_counts(values)
        self.update_counts(counts, nulls)
        return self

    def update_counts(self, counts: dict[str, int], nulls: int = 0) -> CategoricalProfile:
        """Add pre-aggregated counts per label (what a GROUP BY gives); returns ``self``."""
        items, distinct = self._items, self._distinct
        for label, c in counts.items():
            if c > 0:
                items.update(label, int(c))
                distinct.update(label)
        self.count += sum(counts.values()) + nulls
        self.nulls += nulls
        return self

    def _merge_into(self, other: CategoricalProfile) -> None:
        if not isinstance(other, CategoricalProfile):
            raise TypeError(f"cannot merge a CategoricalProfile with a {type(other).__name__}")
        if not other._items.is_empty():
            self._items.merge(other._items)
        if not other._distinct.is_empty():
            self._distinct = _union([self._distinct, other._distinct], self.lg_k)
        self.count += other.count
        self.nulls += other.nulls

    def copy(self) -> CategoricalProfile:
        return CategoricalProfile.from_bytes(self.to_bytes())

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        """A new profile of both inputs' data; neither input changes."""
        out = self.copy()
        out._merge_into(other)
        return out

    @classmethod
    def merge_all(
        cls, profiles: Iterable[CategoricalProfile], lg_max_items: int = 10, lg_k: int = 11
    ) -> CategoricalProfile:
        """Merge many profiles into one accumulator; the CPC sketches go through one union."""
        out = cls(lg_max_items, lg_k)
        distinct = []
        for p in profiles:
            if not isinstance(p, CategoricalProfile):
                raise TypeError(f"cannot merge a CategoricalProfile with a {type(p).__name__}")
            if not p._items.is_empty():
                out._items.merge(p._items)
            distinct.append(p._distinct)
            out.count += p.count
            out.nulls += p.nulls
        out._distinct = _union(distinct, lg_k)
        return out

    @classmethod
    def merge_serialized(cls, parts: list[tuple[bytes, int]]) -> CategoricalProfile:
        """Merge profiles straight from their bytes: ``(buffer, offset of the profile)`` pairs.

        The distinct-count sketches are kept serialised and unioned only if asked for.
        """
        deserialize = frequent_strings_sketch.deserialize
        unpack_fields, unpack_size = _FIELDS.unpack_from, _SIZE.unpack_from
        out: CategoricalProfile | None = None
        pending: list[bytes] = []
        for buf, off in parts:
            count, nulls, lg_max_items, lg_k = unpack_fields(buf, off + 5)
            at = off + 5 + _FIELDS.size
            (size,) = unpack_size(buf, at)
            items = deserialize(buf[at + 4 : at + 4 + size])
            at += 4 + size
            (size,) = unpack_size(buf, at)
            pending.append(buf[at + 4 : at + 4 + size])
            if out is None:
                out = cls(lg_max_items, lg_k)
                out._items = items
            elif not items.is_empty():
                out._items.merge(items)
            out.count += count
            out.nulls += nulls
        if out is None:
            return cls()
        out._cpc_pending = pending
        return out

    def to_bytes(self) -> bytes:
        fields = _FIELDS.pack(self.count, self.nulls, self.lg_max_items, self.lg_k)
        return header(self.kind) + fields + blob(self._items.serialize()) + blob(self._distinct.serialize())

    @classmethod
    def from_bytes(cls, data: bytes) -> CategoricalProfile:
        r = Reader(data, ("categorical",))
        count, nulls, lg_max_items, lg_k = r.fields(_FIELDS)
        out = cls.__new__(cls)
        out.count, out.nulls, out.lg_max_items, out.lg_k = count, nulls, lg_max_items, lg_k
        out._items = frequent_strings_sketch.deserialize(r.blob())
        out._cpc = cpc_sketch.deserialize(r.blob())
        out._cpc_pending = []
        return out

    # -- reading --------------------------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    @property
    def non_null(self) -> int:
        return self.count - self.nulls

    def frequencies(self) -> dict[str, int]:
        """Estimated count per category the sketch tracks, most frequent first."""
        rows = self._items.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
        return {item: int(est) for item, est, _lb, _ub in rows}

    def count_error(self) -> int:
        """The largest possible error of any count (0 while the sketch is exact)."""
        rows = self._items.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
        return max((int(ub) - int(lb) for _item, _est, lb, ub in rows), default=0)

    @property
    def exact(self) -> bool:
        return self.count_error() == 0

    def distinct_count(self) -> float:
        """Estimated number of distinct non-null values."""
        return float(self._distinct.get_estimate())

    def summary(self) -> dict[str, Any]:
        freq = self.frequencies()
        top = list(freq.items())[:10]
        return {
            "count": self.count,
            "nulls": self.nulls,
            "distinct": self.distinct_count(),
            "top": top,
            "count_error": self.count_error(),
        }

    def __repr__(self) -> str:
        return f"CategoricalProfile(count={self.count}, distinct~{self.distinct_count():.0f})"
