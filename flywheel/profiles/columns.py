"""Turning the column containers Flywheel accepts into plain arrays, without importing pandas.

Shared by the profiles (at ingest) and by drift computed from raw values, so that both read a
column the same way: the same values are dropped as missing and categories get the same labels.

Accepted: NumPy arrays, lists, PyArrow ``Array``/``ChunkedArray``, pandas and polars ``Series``;
tables: PyArrow ``Table``, pandas/polars ``DataFrame``, or a mapping of column name to any of the
above. pandas is never imported here: a pandas object that reaches us means it is loaded already.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from flywheel.errors import ValidationError


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def column_names(table: Any) -> list[str]:
    """The column names of a table-like object."""
    if isinstance(table, Mapping):
        return [str(k) for k in table]
    names = getattr(table, "column_names", None)
    if names is not None:
        return list(names)
    cols = getattr(table, "columns", None)
    if cols is not None:
        return [str(c) for c in cols]
    raise ValidationError(
        f"Expected a table (pyarrow.Table, pandas/polars DataFrame or a dict of columns); got {type(table).__name__}."
    )


def get_column(table: Any, name: str) -> Any:
    """One column of a table-like object, in its native container."""
    try:
        if isinstance(table, Mapping):
            return table[name]
        if _module(table) == "pyarrow":
            return table.column(name)
        return table[name]
    except (KeyError, IndexError) as exc:
        raise ValidationError(
            f"Column {name!r} is missing from the table; it has {column_names(table)}."
        ) from exc
    except Exception as exc:
        if type(exc).__name__ in ("ColumnNotFoundError", "ArrowInvalid", "ArrowKeyError"):
            raise ValidationError(
                f"Column {name!r} is missing from the table; it has {column_names(table)}."
            ) from exc
        raise


def _arrow_to_numpy(arr: Any) -> np.ndarray:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        chunks = [c for c in arr.chunks if len(c)]
        if not chunks:
            return np.empty(0, dtype=np.float64)
        parts = [_arrow_to_numpy(c) for c in chunks]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
    if arr.null_count:
        arr = arr.drop_null()
    if pa.types.is_boolean(arr.type):
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.uint8)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def numeric_array(values: Any) -> tuple[np.ndarray, int]:
    """Return ``(values as a 1-D numeric array, number of nulls)``; NaN and inf are kept.

    A null is a missing value (Arrow null, ``None``); for pandas input NaN is missing too, as pandas
    itself treats it. Zero-copy where the input allows it (NumPy, Arrow without nulls).
    """
    mod = _module(values)
    nulls = 0
    if mod == "pyarrow":
        nulls = int(values.null_count)
        arr = _arrow_to_numpy(values)
    elif mod == "pandas" and isinstance(values.dtype, np.dtype) and values.dtype.kind in "iub":
        arr = values.to_numpy()  # plain integers stay integers (no missing values possible)
    elif mod == "pandas":
        arr = values.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(arr)
        nulls = int(missing.sum())
        if nulls:
            arr = arr[~missing]
    elif mod == "polars":
        nulls = int(values.null_count())
        arr = values.drop_nulls().to_numpy()
    else:
        arr = np.asarray(values)
        if arr.dtype == object:
            flat = arr.ravel()
            kept = [v for v in flat if v is not None]
            nulls = len(flat) - len(kept)
            try:
                arr = np.array(kept, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValidationError("A numeric column must hold numbers; got non-numeric values.") from exc
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    kind = arr.dtype.kind
    if kind == "b":
        arr = arr.astype(np.uint8)
    elif kind not in "iuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"A numeric column must hold numbers; got values of dtype {arr.dtype}."
            ) from exc
    return arr, nulls


def numeric_values(values: Any) -> tuple[np.ndarray, int]:
    """Return ``(finite values as a 1-D numeric array, how many were null, NaN or infinite)``."""
    arr, nulls = numeric_array(values)
    # One cheap reduction tells whether any NaN/inf is present; only then pay for a mask.
    if arr.dtype.kind == "f" and arr.size and not math.isfinite(float(np.add.reduce(arr, dtype=np.float64))):
        finite = arr[np.isfinite(arr)]
        return finite, nulls + arr.shape[0] - finite.shape[0]
    return arr, nulls


def numeric_chunks(values: Any) -> tuple[list[np.ndarray], int]:
    """Like ``numeric_values`` but keeps an Arrow ``ChunkedArray``'s chunks apart (no concatenation).

    Consumers that copy the values anyway (the drift kernel) save a full copy of the column.
    """
    if _module(values) == "pyarrow" and hasattr(values, "chunks"):
        parts = [numeric_values(c) for c in values.chunks if len(c)]
        return [p for p, _ in parts if p.shape[0]], sum(d for _, d in parts)
    arr, dropped = numeric_values(values)
    return ([arr] if arr.shape[0] else []), dropped


def category_label(value: Any) -> str:
    """The label a category value is counted under: ``str(value)``, with integral floats as ints.

    ``3``, ``3.0`` and ``"3"`` are one category, so a column read as floats from one source and as
    strings from another still compares.
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _add_counts(out: dict[str, int], labels: list[Any], counts: Any) -> None:
    for label, count in zip(labels, counts, strict=True):
        c = int(count)
        if c:
            key = category_label(label)
            out[key] = out.get(key, 0) + c


def _arrow_counts(arr: Any, out: dict[str, int]) -> int:
    """Add the category counts of an Arrow array to ``out``; return its null count."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        return sum(_arrow_counts(c, out) for c in arr.chunks)
    nulls = arr.null_count
    if pa.types.is_dictionary(arr.type):
        idx = arr.indices.drop_null() if nulls else arr.indices
        codes = np.asarray(idx.to_numpy(zero_copy_only=False))
        counts: Any = np.bincount(codes, minlength=len(arr.dictionary)) if codes.size else []
        _add_counts(out, arr.dictionary.to_pylist(), counts)
        return int(nulls)
    import pyarrow.compute as pc  # not needed above: importing it costs ~0.07 CPU-s

    vc = pc.value_counts(arr)
    labels = vc.field("values").to_pylist()
    counts = vc.field("counts").to_pylist()
    keep = [(lab, c) for lab, c in zip(labels, counts, strict=True) if lab is not None]
    _add_counts(out, [k for k, _ in keep], [c for _, c in keep])
    return int(nulls)


def category_counts(values: Any) -> tuple[dict[str, int], int]:
    """Return ``(count per category label, number of nulls)`` for one column.

    Dictionary-encoded Arrow columns and pandas categoricals are counted from their integer codes
    with one ``bincount``; other inputs through Arrow's ``value_counts``.

    >>> category_counts(["a", "b", None, "a"])
    ({'a': 2, 'b': 1}, 1)
    """
    out: dict[str, int] = {}
    mod = _module(values)
    if mod == "pyarrow":
        return out, _arrow_counts(values, out)
    if mod == "pandas":
        if str(values.dtype) == "category":
            codes = np.asarray(values.cat.codes.to_numpy(), dtype=np.int64)
            counts = np.bincount(codes + 1, minlength=len(values.cat.categories) + 1)
            _add_counts(out, list(values.cat.categories), counts[1:])
            return out, int(counts[0])
        vc = values.value_counts(dropna=True)
        _add_counts(out, list(vc.index), vc.to_numpy())
        return out, int(len(values) - int(vc.sum()))
    if mod == "polars":
        return out, _arrow_counts(values.to_arrow(), out)
    arr = np.asarray(values) if not isinstance(values, list | tuple) else None
    if arr is not None and arr.dtype.kind in "iub":
        labels, counts = np.unique(arr.ravel(), return_counts=True)
        _add_counts(out, labels.tolist(), counts)
        return out, 0
    if arr is not None and arr.dtype.kind == "f":
        flat = arr.ravel()
        nan = np.isnan(flat)
        labels, counts = np.unique(flat[~nan], return_counts=True)
        _add_counts(out, labels.tolist(), counts)
        return out, int(nan.sum())
    import pyarrow as pa

    if arr is not None and arr.dtype.kind in "US":  # fixed-width strings: NumPy counts them fastest
        labels, counts = np.unique(arr.ravel(), return_counts=True)
        _add_counts(out, labels.tolist(), counts)
        return out, 0
    seq = list(values) if arr is None else arr.ravel().tolist()
    try:
        parr = pa.array(seq)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        parr = pa.array([None if v is None else category_label(v) for v in seq], type=pa.string())
    return out, _arrow_counts(parr, out)


def text_stats(values: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Return ``(characters per text, whitespace-separated tokens per text, number of nulls)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mod = _module(values)
    if mod == "pyarrow":
        arr = values
    elif mod == "pandas":
        arr = pa.Array.from_pandas(values.astype("object"))
    elif mod == "polars":
        arr = values.to_arrow()
    else:
        arr = pa.array(
            list(np.asarray(values, dtype=object).ravel()) if not isinstance(values, list) else values
        )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        if pa.types.is_null(arr.type):
            arr = arr.cast(pa.string())
        else:
            raise ValidationError(f"A text column must hold strings; got Arrow type {arr.type}.")
    nulls = int(arr.null_count)
    if nulls:
        arr = arr.drop_null()
    chars = np.asarray(pc.utf8_length(arr).to_numpy(zero_copy_only=False), dtype=np.float64)
    tokens = np.asarray(
        pc.count_substring_regex(arr, r"\S+").to_numpy(zero_copy_only=False), dtype=np.float64
    )
    return chars, tokens, nulls


def vectors(values: Any, dim: int | None = None) -> tuple[np.ndarray, int]:
    """Return ``(rows as a 2-D float64 array, number of null rows)`` for an embedding/image column.

    Accepts a 2-D (or higher: images are flattened per row) NumPy array, a list of vectors (``None``
    for a missing row), an Arrow list/fixed-size-list column, or a pandas/polars Series of vectors.
    """
    mod = _module(values)
    if mod == "pyarrow" or mod == "polars":
        values = (values.to_arrow() if mod == "polars" else values).to_pylist()
    elif mod == "pandas":
        values = values.tolist()
    if isinstance(values, np.ndarray) and values.dtype != object:
        arr = values.reshape(values.shape[0], -1) if values.ndim >= 2 else values.reshape(1, -1)
        nulls = 0
    else:
        rows = [v for v in values if v is not None]
        nulls = len(values) - len(rows)
        if rows:
            arr = np.stack([np.asarray(r, dtype=np.float64).ravel() for r in rows])
        else:
            arr = np.empty((0, dim or 0))
    arr = np.asarray(arr, dtype=np.float64)
    if dim is not None and arr.shape[0] and arr.shape[1] != dim:
        raise ValidationError(f"Expected vectors of length {dim}; got length {arr.shape[1]}.")
    return arr, nulls
