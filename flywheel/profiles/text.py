"""A mergeable profile of one text column: length in characters and in tokens.

Text drift that matters to a model usually shows first in its shape (empty strings, truncated
inputs, a different language or template), so each text is profiled as two numbers: its length in
Unicode characters and its count of whitespace-separated tokens, each in a ``NumericProfile``.
Semantic drift needs an embedding: profile the embedded text with ``EmbeddingProfile``.

>>> p = TextProfile().update(["a short text", "", None, "another one"])
>>> p.count, p.nulls, p.chars.mean, p.tokens.max
(4, 1, 7.666666666666667, 3.0)
>>> TextProfile.from_bytes(p.to_bytes()).tokens.finite
3
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from flywheel.profiles._format import Reader, blob, header
from flywheel.profiles.columns import text_stats
from flywheel.profiles.numeric import NumericProfile

_FIELDS = struct.Struct("<qq")


class TextProfile:
    """Profile of a text column; ``TextProfile()`` is the empty profile (merge identity)."""

    kind = "text"

    def __init__(self, k: int = 200) -> None:
        self.chars = NumericProfile(k)
        self.tokens = NumericProfile(k)
        self.k = k
        self.count = 0
        self.nulls = 0

    @classmethod
    def empty(cls, k: int = 200) -> TextProfile:
        return cls(k)

    def update(self, values: Any) -> TextProfile:
        """Add a batch of strings; returns ``self``."""
        chars, tokens, nulls = text_stats(values)
        self.chars.update(chars)
        self.tokens.update(tokens)
        self.count += chars.shape[0] + nulls
        self.nulls += nulls
        return self

    def _merge_into(self, other: TextProfile) -> None:
        if not isinstance(other, TextProfile):
            raise TypeError(f"cannot merge a TextProfile with a {type(other).__name__}")
        self.chars._merge_into(other.chars)
        self.tokens._merge_into(other.tokens)
        self.count += other.count
        self.nulls += other.nulls

    def copy(self) -> TextProfile:
        return TextProfile.from_bytes(self.to_bytes())

    def merge(self, other: TextProfile) -> TextProfile:
        """A new profile of both inputs' data; neither input changes."""
        out = self.copy()
        out._merge_into(other)
        return out

    @classmethod
    def merge_all(cls, profiles: Iterable[TextProfile], k: int = 200) -> TextProfile:
        out = cls(k)
        for p in profiles:
            out._merge_into(p)
        return out

    def to_bytes(self) -> bytes:
        return (
            header(self.kind)
            + _FIELDS.pack(self.count, self.nulls)
            + blob(self.chars.to_bytes())
            + blob(self.tokens.to_bytes())
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TextProfile:
        r = Reader(data, ("text",))
        count, nulls = r.fields(_FIELDS)
        out = cls.__new__(cls)
        out.count, out.nulls = count, nulls
        out.chars = NumericProfile.from_bytes(r.blob())
        out.tokens = NumericProfile.from_bytes(r.blob())
        out.k = out.chars.k
        return out

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "nulls": self.nulls,
            "chars": self.chars.summary(),
            "tokens": self.tokens.summary(),
        }

    def __repr__(self) -> str:
        return f"TextProfile(count={self.count}, mean_chars={self.chars.mean:.4g})"
