"""The byte layout shared by every profile: a versioned header, then fixed fields and blobs.

Header: ``b"FWP"``, one byte of format version, one byte of kind. Everything after it is
little-endian ``struct`` fields and length-prefixed blobs (the DataSketches' own serialisations).
A reader refuses bytes that are not a profile, or written by a newer format than it knows.
"""

from __future__ import annotations

import struct

from flywheel.errors import ValidationError

MAGIC = b"FWP"
FORMAT_VERSION = 1
KIND_CODES = {"numeric": 1, "categorical": 2, "text": 3, "embedding": 4, "image": 5, "dataset": 9}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}
_BLOB = struct.Struct("<I")


def header(kind: str) -> bytes:
    return MAGIC + bytes((FORMAT_VERSION, KIND_CODES[kind]))


def blob(data: bytes) -> bytes:
    return _BLOB.pack(len(data)) + data


def peek_kind(data: bytes) -> str:
    """The kind named in a profile's header, after checking magic and version."""
    if len(data) < 5 or data[:3] != MAGIC:
        raise ValidationError("These bytes are not a Flywheel profile (bad magic); was the blob truncated?")
    version = data[3]
    if version > FORMAT_VERSION:
        raise ValidationError(
            f"This profile has format version {version}, newer than the {FORMAT_VERSION} this Flywheel "
            "reads; upgrade Flywheel to read it."
        )
    kind = KIND_NAMES.get(data[4])
    if kind is None:
        raise ValidationError(f"Unknown profile kind code {data[4]} in the profile header.")
    return kind


class Reader:
    """Reads fields and blobs from profile bytes, checking the header on the way in."""

    def __init__(self, data: bytes, kinds: tuple[str, ...]) -> None:
        kind = peek_kind(data)
        if kind not in kinds:
            raise ValidationError(
                f"Expected a {' or '.join(kinds)} profile; these bytes hold a {kind} profile."
            )
        self.kind = kind
        self.data = memoryview(data)
        self.pos = 5

    def fields(self, layout: struct.Struct) -> tuple:
        try:
            out = layout.unpack_from(self.data, self.pos)
        except struct.error as exc:
            raise ValidationError("The profile bytes are truncated.") from exc
        self.pos += layout.size
        return out

    def blob(self) -> bytes:
        (size,) = self.fields(_BLOB)
        end = self.pos + size
        if end > len(self.data):
            raise ValidationError("The profile bytes are truncated.")
        out = bytes(self.data[self.pos : end])
        self.pos = end
        return out


def check_int(owner: str, name: str, value: object, lo: int, hi: int) -> int:
    """Validate an integer constructor argument with a scikit-learn style message."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationError(
            f"The {name!r} parameter of {owner} must be an int in [{lo}, {hi}]; got {value!r}."
        )
    return value
