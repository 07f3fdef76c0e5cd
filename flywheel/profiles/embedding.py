"""A mergeable profile of an embedding or image column, through a fixed linear projection.

A 384-dimensional embedding cannot be sketched per dimension for every hour at a useful size, and
most of its drift lives in a few directions. The caller gives a fixed projection matrix ``P``
(``d x c``: for instance the top principal components of the reference set, or a random
projection); each row ``x`` is profiled as the ``c`` numbers ``x @ P`` plus its Euclidean norm, each
in a ``NumericProfile``. Images are flattened per row first (kind ``"image"``).

The matrix itself is not stored in the bytes (it would dwarf the profile); a fingerprint of it is,
and profiles with different fingerprints refuse to merge. Pass the matrix back to ``from_bytes`` to
keep updating a loaded profile; merging and reading need no matrix.

>>> import numpy as np
>>> proj = np.eye(4)[:, :2]                   # keep the first two dimensions
>>> p = EmbeddingProfile(proj).update(np.ones((10, 4)))
>>> [round(c.mean, 3) for c in p.components], round(p.norm.mean, 3)
([1.0, 1.0], 2.0)
>>> EmbeddingProfile.from_bytes(p.to_bytes()).fingerprint == p.fingerprint
True
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.profiles._format import Reader, blob, header
from flywheel.profiles.columns import vectors
from flywheel.profiles.numeric import NumericProfile

_FIELDS = struct.Struct("<qqII16s")
KINDS = ("embedding", "image")


def projection_fingerprint(projection: np.ndarray) -> bytes:
    """16 bytes identifying a projection matrix (shape and float64 values)."""
    p = np.ascontiguousarray(projection, dtype=np.float64)
    h = hashlib.sha256(repr(p.shape).encode() + p.tobytes())
    return h.digest()[:16]


def _check_projection(projection: Any) -> np.ndarray:
    p = np.asarray(projection, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or not 1 <= p.shape[1] <= 256:
        raise ValidationError(
            "The 'projection' parameter of EmbeddingProfile must be a 2-D matrix of shape "
            f"(dim, components) with 1 to 256 components; got shape {p.shape}."
        )
    if not np.isfinite(p).all():
        raise ValidationError("The 'projection' parameter of EmbeddingProfile must hold finite numbers only.")
    return p


class EmbeddingProfile:
    """Profile of an embedding/image column as ``c`` projected components and the row norm."""

    def __init__(self, projection: Any, k: int = 200, kind: str = "embedding") -> None:
        if kind not in KINDS:
            raise ValidationError(
                f"The 'kind' parameter of EmbeddingProfile must be one of {list(KINDS)}; got {kind!r}."
            )
        self.projection: np.ndarray | None = _check_projection(projection)
        self.kind = kind
        self.k = k
        self.dim = int(self.projection.shape[0])
        self.fingerprint = projection_fingerprint(self.projection)
        self.count = 0
        self.nulls = 0
        self.components = [NumericProfile(k) for _ in range(self.projection.shape[1])]
        self.norm = NumericProfile(k)

    def update(self, values: Any) -> EmbeddingProfile:
        """Add a batch of vectors (2-D array, list of vectors, Arrow list column); returns ``self``."""
        if self.projection is None:
            raise ValidationError(
                "This EmbeddingProfile was loaded without its projection matrix; "
                "pass projection= to from_bytes to update it."
            )
        x, nulls = vectors(values, self.dim)
        self.count += x.shape[0] + nulls
        self.nulls += nulls
        if x.shape[0]:
            z = x @ self.projection
            for j, comp in enumerate(self.components):
                comp.update(z[:, j])
            self.norm.update(np.sqrt(np.einsum("ij,ij->i", x, x)))
        return self

    def _merge_into(self, other: EmbeddingProfile) -> None:
        if not isinstance(other, EmbeddingProfile):
            raise TypeError(f"cannot merge an EmbeddingProfile with a {type(other).__name__}")
        if other.fingerprint != self.fingerprint:
            raise ValidationError("Cannot merge embedding profiles made with different projection matrices.")
        for mine, theirs in zip(self.components, other.components, strict=True):
            mine._merge_into(theirs)
        self.norm._merge_into(other.norm)
        self.count += other.count
        self.nulls += other.nulls

    def copy(self) -> EmbeddingProfile:
        return EmbeddingProfile.from_bytes(self.to_bytes(), projection=self.projection)

    def merge(self, other: EmbeddingProfile) -> EmbeddingProfile:
        """A new profile of both inputs' data; neither input changes."""
        out = self.copy()
        out._merge_into(other)
        return out

    @classmethod
    def merge_all(cls, profiles: Iterable[EmbeddingProfile]) -> EmbeddingProfile:
        items = list(profiles)
        if not items:
            raise ValidationError(
                "merge_all needs at least one EmbeddingProfile (the projection comes from it)."
            )
        out = items[0].copy()
        for p in items[1:]:
            out._merge_into(p)
        return out

    def to_bytes(self) -> bytes:
        fields = _FIELDS.pack(self.count, self.nulls, self.dim, len(self.components), self.fingerprint)
        parts = [header(self.kind), fields, blob(self.norm.to_bytes())]
        parts.extend(blob(c.to_bytes()) for c in self.components)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, projection: Any = None) -> EmbeddingProfile:
        r = Reader(data, KINDS)
        count, nulls, dim, n_comp, fingerprint = r.fields(_FIELDS)
        out = cls.__new__(cls)
        out.kind = r.kind
        out.count, out.nulls, out.dim, out.fingerprint = count, nulls, dim, fingerprint
        out.norm = NumericProfile.from_bytes(r.blob())
        out.components = [NumericProfile.from_bytes(r.blob()) for _ in range(n_comp)]
        out.k = out.norm.k
        out.projection = None
        if projection is not None:
            p = _check_projection(projection)
            if projection_fingerprint(p) != fingerprint:
                raise ValidationError(
                    "The projection given to from_bytes is not the one this profile was built with."
                )
            out.projection = p
        return out

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "nulls": self.nulls,
            "norm": self.norm.summary(),
            "components": [c.summary() for c in self.components],
        }

    def __repr__(self) -> str:
        return f"EmbeddingProfile(kind={self.kind!r}, count={self.count}, components={len(self.components)})"
