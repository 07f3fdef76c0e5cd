"""A profile of a whole table: one column profile per column, chosen by the column's kind.

This is the unit stored per model, model version and hour. It merges column by column, so the
profile of any time range is the merge of its hours.

>>> import pyarrow as pa
>>> t = pa.table({"age": [31, 45, None], "country": ["fr", "de", "fr"]})
>>> p = DatasetProfile.from_table(t, {"age": "numeric", "country": "categorical"})
>>> q = DatasetProfile.from_bytes(p.merge(p).to_bytes())
>>> q["age"].count, q["country"].frequencies()["fr"]
(6, 4)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from flywheel.errors import ValidationError
from flywheel.profiles._format import Reader, blob, header, peek_kind
from flywheel.profiles.categorical import CategoricalProfile
from flywheel.profiles.columns import get_column
from flywheel.profiles.embedding import EmbeddingProfile
from flywheel.profiles.numeric import NumericProfile
from flywheel.profiles.text import TextProfile

Profile = NumericProfile | CategoricalProfile | TextProfile | EmbeddingProfile
KINDS = ("numeric", "categorical", "text", "embedding", "image")
_COUNT = struct.Struct("<I")


def new_profile(kind: str, *, projection: Any = None, k: int = 200, lg_max_items: int = 10) -> Profile:
    """An empty profile for a column of ``kind`` (embedding and image need a ``projection``)."""
    if kind == "numeric":
        return NumericProfile(k)
    if kind == "categorical":
        return CategoricalProfile(lg_max_items)
    if kind == "text":
        return TextProfile(k)
    if kind in ("embedding", "image"):
        if projection is None:
            raise ValidationError(
                f"A {kind} column is profiled through a projection matrix; pass projections={{column: matrix}}."
            )
        return EmbeddingProfile(projection, k, kind=kind)
    raise ValidationError(f"Unknown column kind {kind!r}; expected one of {list(KINDS)}.")


def profile_from_bytes(data: bytes, projection: Any = None) -> Profile:
    """Load any column profile, dispatching on the kind in its header."""
    kind = peek_kind(data)
    if kind == "numeric":
        return NumericProfile.from_bytes(data)
    if kind == "categorical":
        return CategoricalProfile.from_bytes(data)
    if kind == "text":
        return TextProfile.from_bytes(data)
    if kind in ("embedding", "image"):
        return EmbeddingProfile.from_bytes(data, projection=projection)
    raise ValidationError(f"Expected a column profile; these bytes hold a {kind} profile.")


def _body(buf: bytes, off: int) -> bytes:
    """The bytes of the column profile that starts at ``off`` (its length precedes it)."""
    (size,) = _COUNT.unpack_from(buf, off - 4)
    return bytes(buf[off : off + size])


class DatasetProfile(Mapping[str, Profile]):
    """Column name -> column profile. ``DatasetProfile({})`` is the empty profile of no columns."""

    kind = "dataset"

    def __init__(self, columns: Mapping[str, Profile]) -> None:
        self.columns: dict[str, Profile] = dict(columns)

    @classmethod
    def empty(
        cls,
        kinds: Mapping[str, str],
        *,
        projections: Mapping[str, Any] | None = None,
        k: int = 200,
        lg_max_items: int = 10,
    ) -> DatasetProfile:
        """Empty profiles for the given ``{column: kind}``."""
        projections = projections or {}
        return cls(
            {
                name: new_profile(kind, projection=projections.get(name), k=k, lg_max_items=lg_max_items)
                for name, kind in kinds.items()
            }
        )

    @classmethod
    def from_table(
        cls,
        table: Any,
        kinds: Mapping[str, str],
        *,
        projections: Mapping[str, Any] | None = None,
        k: int = 200,
        lg_max_items: int = 10,
    ) -> DatasetProfile:
        """Profile the ``kinds`` columns of a pyarrow Table, pandas/polars DataFrame or dict of columns."""
        return cls.empty(kinds, projections=projections, k=k, lg_max_items=lg_max_items).update(table)

    def update(self, table: Any) -> DatasetProfile:
        """Add a batch (a table with at least this profile's columns); returns ``self``."""
        for name, prof in self.columns.items():
            prof.update(get_column(table, name))
        return self

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        """Column-wise merge; a column present on one side only is carried over unchanged."""
        return DatasetProfile.merge_all([self, other])

    @classmethod
    def merge_all(cls, profiles: Iterable[DatasetProfile]) -> DatasetProfile:
        """Merge many dataset profiles with one accumulator per column (no intermediate copies)."""
        groups: dict[str, list[Profile]] = {}
        for p in profiles:
            for name, prof in p.columns.items():
                groups.setdefault(name, []).append(prof)
        out: dict[str, Profile] = {}
        for name, items in groups.items():
            first = items[0]
            if isinstance(first, NumericProfile):
                out[name] = NumericProfile.merge_all(items, k=first.k)  # type: ignore[arg-type]
            elif isinstance(first, CategoricalProfile):
                out[name] = CategoricalProfile.merge_all(items, first.lg_max_items, first.lg_k)  # type: ignore[arg-type]
            elif isinstance(first, TextProfile):
                out[name] = TextProfile.merge_all(items, k=first.k)  # type: ignore[arg-type]
            else:
                out[name] = EmbeddingProfile.merge_all(items)  # type: ignore[arg-type]
        return cls(out)

    @classmethod
    def merge_bytes(
        cls, blobs: Iterable[bytes], projections: Mapping[str, Any] | None = None
    ) -> DatasetProfile:
        """The merge of many serialised dataset profiles, read straight from their bytes.

        Equivalent to ``merge_all(from_bytes(b) for b in blobs)`` but without building one object
        per column per blob: numeric and categorical columns merge from the bytes directly. This is
        the path of a range query over hundreds of hourly profiles.
        """
        groups: dict[bytes, list[tuple[bytes, int]]] = {}
        unpack = _COUNT.unpack_from
        for data in blobs:  # a tight loop: this runs once per column per hour of the range
            if peek_kind(data) != "dataset":
                raise ValidationError("Expected dataset profiles in merge_bytes.")
            try:
                (n,) = unpack(data, 5)
                pos = 9
                for _ in range(n):
                    (size,) = unpack(data, pos)
                    key = data[pos + 4 : pos + 4 + size]
                    pos += 4 + size
                    (size,) = unpack(data, pos)
                    groups.setdefault(key, []).append((data, pos + 4))
                    pos += 4 + size
            except struct.error as exc:
                raise ValidationError("The profile bytes are truncated.") from exc
            if pos > len(data):
                raise ValidationError("The profile bytes are truncated.")
        projections = projections or {}
        out: dict[str, Profile] = {}
        for raw_name, parts in groups.items():
            name = raw_name.decode("utf-8")
            kind = peek_kind(bytes(parts[0][0][parts[0][1] : parts[0][1] + 5]))
            if any(buf[off + 4] != parts[0][0][parts[0][1] + 4] for buf, off in parts):
                raise ValidationError(
                    f"Column {name!r} is profiled as different kinds in different profiles."
                )
            if kind == "numeric":
                out[name] = NumericProfile.merge_serialized(parts)
            elif kind == "categorical":
                out[name] = CategoricalProfile.merge_serialized(parts)
            else:
                loaded = [profile_from_bytes(_body(buf, off), projections.get(name)) for buf, off in parts]
                out[name] = cls.merge_all([cls({name: p}) for p in loaded])[name]
        return cls(out)

    def to_bytes(self) -> bytes:
        parts = [header(self.kind), _COUNT.pack(len(self.columns))]
        for name, prof in self.columns.items():
            parts.append(blob(name.encode("utf-8")))
            parts.append(blob(prof.to_bytes()))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, projections: Mapping[str, Any] | None = None) -> DatasetProfile:
        r = Reader(data, ("dataset",))
        (n,) = r.fields(_COUNT)
        projections = projections or {}
        cols: dict[str, Profile] = {}
        for _ in range(n):
            name = r.blob().decode("utf-8")
            cols[name] = profile_from_bytes(r.blob(), projection=projections.get(name))
        return cls(cols)

    @property
    def kinds(self) -> dict[str, str]:
        return {name: prof.kind for name, prof in self.columns.items()}

    def __getitem__(self, name: str) -> Profile:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"no profile for column {name!r}; columns: {list(self.columns)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return f"DatasetProfile({self.kinds})"
