"""Turn a pandas or polars frame (or a list of dicts) into rows for ``Flywheel.log_batch``.

Neither library is imported unless the frame is one of theirs, so the SDK stays light.

>>> rows, features = frame_rows([{"x": 1.0, "y_hat": "a"}], "y_hat", None, None, None, None, None)
>>> rows, features
([{'x': 1.0, 'y_hat': 'a'}], ['x'])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from flywheel.errors import ValidationError


def _kind(frame: Any) -> str:
    module = type(frame).__module__.split(".", 1)[0]
    if module == "pandas" and hasattr(frame, "to_dict"):
        return "pandas"
    if module == "polars" and hasattr(frame, "to_dicts"):
        return "polars"
    if module == "polars" and hasattr(frame, "collect"):
        return "lazy"
    return "rows"


def _pandas_rows(frame: Any) -> list[dict[str, Any]]:
    import pandas as pd  # only here: the caller already has pandas loaded

    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"log_batch takes a DataFrame; got a pandas {type(frame).__name__}.")
    if not frame.columns.is_unique:
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ValidationError(f"log_batch needs unique column names; repeated: {dup}.")
    # One vectorised pass turns NaN, None, NA and NaT into None and NumPy scalars into Python ones.
    clean = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in clean.to_dict(orient="records")]


def _polars_rows(frame: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = frame.to_dicts()
    return rows


def _plain_rows(frame: Any) -> list[dict[str, Any]]:
    if isinstance(frame, Mapping) or not isinstance(frame, Iterable):
        raise ValidationError(
            f"log_batch takes a pandas or polars DataFrame or a list of dicts; got {type(frame).__name__}."
        )
    rows = []
    for i, row in enumerate(frame):
        if not isinstance(row, Mapping):
            raise ValidationError(f"log_batch row {i} must be a dict; got {type(row).__name__}.")
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return rows


def frame_rows(
    frame: Any,
    prediction_col: str,
    probability_cols: list[str] | dict[str, str] | None,
    feature_cols: list[str] | None,
    event_id_col: str | None,
    timestamp_col: str | None,
    score_col: str | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows as dicts (missing values as None) and the feature column names.

    Raises ``ValidationError`` naming a column that is asked for but absent.
    """
    kind = _kind(frame)
    if kind == "lazy":
        frame = frame.collect()
        kind = "polars"
    if kind == "pandas":
        columns = [str(c) for c in frame.columns]
        rows = _pandas_rows(frame)
    elif kind == "polars":
        columns = list(frame.columns)
        rows = _polars_rows(frame)
    else:
        rows = _plain_rows(frame)
        columns = list(rows[0]) if rows else []
    if isinstance(probability_cols, dict):
        prob_cols = list(probability_cols.values())
    else:
        prob_cols = list(probability_cols or [])
    special = [prediction_col, *prob_cols, event_id_col, timestamp_col, score_col]
    named = [c for c in special if c is not None]
    if feature_cols is None:
        features = [c for c in columns if c not in set(named)]
    else:
        features = list(feature_cols)
    if rows or kind != "rows":
        missing = [c for c in [*named, *features] if c not in columns]
        if kind == "rows":
            missing = sorted({c for c in [*named, *features] for r in rows if c not in r})
        if missing:
            raise ValidationError(f"log_batch: column(s) {missing} not in the frame; it has {columns}.")
    if not features and rows:
        raise ValidationError(f"log_batch: no feature columns left; the frame has {columns}.")
    return rows, features
