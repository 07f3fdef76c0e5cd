"""Canonical forms: the types a snapshot stores and a content digest of an Arrow table.

A snapshot's hash must not depend on how its inputs happened to be laid out: chunking, string
vs large_string, nanosecond vs microsecond timestamps, pandas metadata. :func:`normalise_table`
maps a table to one canonical set of types, and :func:`table_digest` hashes the values column by
column (names, type names, validity, values), reading Arrow buffers directly so a wide table
hashes in one pass without going through Python objects.

>>> import pyarrow as pa
>>> a = pa.table({"x": pa.array([1.0, None]), "s": pa.array(["a", "b"], pa.large_string())})
>>> b = pa.table({"x": pa.chunked_array([[1.0], [None]]), "s": pa.array(["a", "b"])})
>>> table_digest(normalise_table(a)) == table_digest(normalise_table(b))
True
"""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

UTC_US = pa.timestamp("us", tz="UTC")


def instant_us(t: datetime | pd.Timestamp) -> int:
    """Microseconds since the epoch of an instant (a naive one is read as UTC)."""
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return int((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "us"))


def canonical_type(t: pa.DataType) -> pa.DataType:
    """The type a snapshot stores for ``t``: small offsets, microsecond UTC timestamps, no dictionaries."""
    if pa.types.is_dictionary(t):
        return canonical_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return UTC_US
    if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.list_(canonical_type(t.value_type))
    if pa.types.is_list(t):
        return pa.list_(canonical_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, canonical_type(f.type)) for f in t])
    return t


def normalise_table(table: pa.Table) -> pa.Table:
    """``table`` with canonical types, one chunk per column and no schema metadata."""
    cols = []
    fields = []
    for field, col in zip(table.schema, table.columns, strict=True):
        target = canonical_type(field.type)
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            # A naive timestamp is read as UTC: cast to the naive microsecond type, then label it UTC.
            col = col.cast(pa.timestamp("us")).cast(target)
        elif target != field.type:
            col = col.cast(target)
        cols.append(col.combine_chunks() if col.num_chunks != 1 else col.chunk(0))
        fields.append(pa.field(field.name, target))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _u64(n: int) -> bytes:
    return struct.pack("<q", n)


def _json_default(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def _hash_array(h: Any, arr: pa.Array) -> None:
    """Feed ``arr``'s validity and values to ``h`` in a layout-independent way."""
    t = arr.type
    h.update(_u64(len(arr)))
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    h.update(np.packbits(valid).tobytes())
    if pa.types.is_null(t) or len(arr) == 0:
        return
    if pa.types.is_boolean(t):
        h.update(arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8).tobytes())
    elif pa.types.is_floating(t):
        x = arr.to_numpy(zero_copy_only=False).astype(np.float64)
        x = np.where(valid, x, 0.0)
        x[np.isnan(x) & valid] = np.nan  # one NaN bit pattern
        h.update(x.astype("<f8").tobytes())
    elif pa.types.is_integer(t) or (pa.types.is_temporal(t) and t.bit_width in (32, 64)):
        as_int = arr if pa.types.is_integer(t) else arr.view(pa.int64() if t.bit_width == 64 else pa.int32())
        x = as_int.fill_null(0).to_numpy(zero_copy_only=False).astype("<i8", copy=False)
        h.update(x.tobytes())
    elif (
        pa.types.is_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_string(t)
        or pa.types.is_large_binary(t)
    ):
        b = pa.concat_arrays([arr.cast(pa.large_binary())]).fill_null(b"")
        buffers = b.buffers()
        offsets = np.frombuffer(buffers[1], dtype="<i8")[b.offset : b.offset + len(b) + 1]
        h.update(np.diff(offsets).astype("<i8").tobytes())
        if buffers[2] is not None:
            h.update(memoryview(buffers[2])[int(offsets[0]) : int(offsets[-1])])
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        lengths = pc.list_value_length(arr).fill_null(-1).to_numpy(zero_copy_only=False)
        h.update(lengths.astype("<i8").tobytes())
        _hash_array(h, arr.flatten())
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            h.update(t.field(i).name.encode())
            _hash_array(h, pc.struct_field(arr, [i]))
    else:  # decimals, maps, unions: rare here; their Python values are exact
        text = json.dumps(arr.to_pylist(), sort_keys=True, default=_json_default)
        h.update(text.encode())


def table_digest(table: pa.Table) -> str:
    """SHA-256 (hex) of a table's column names, types and values, in column and row order."""
    h = hashlib.sha256()
    h.update(b"flywheel-table-v1")
    h.update(_u64(table.num_rows))
    h.update(_u64(table.num_columns))
    for field, col in zip(table.schema, table.columns, strict=True):
        h.update(field.name.encode() + b"\x00" + str(field.type).encode() + b"\x00")
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        _hash_array(h, arr)
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    """Compact JSON with sorted keys: the text a manifest is hashed as."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
