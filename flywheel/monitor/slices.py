"""Slices: boolean row masks from a model's slice definitions, and metrics per slice.

A :class:`flywheel.schema.Slice` is either a comparison (``"age < 30"``,
``"country in ['DE', 'FR']"``) — one mask labelled with the slice's name — or a bare
feature name (``"country"``), a group-by — one mask per distinct value, labelled
``"country=DE"``. Nulls never satisfy a comparison (``!=`` included, as in SQL); in a
group-by they form their own slice ``"<name>=<null>"``. A group-by over a column with many
values keeps the ``max_groups`` most frequent and pools the rest into ``"<name>=<other>"``,
so a slice list never explodes with the data.

>>> import pandas as pd
>>> from flywheel.schema import Slice
>>> frame = pd.DataFrame({"age": [25, 40, 31, None], "country": ["DE", "FR", "DE", "FR"]})
>>> masks = slice_masks([Slice(name="young", expr="age < 30"), Slice(name="country", expr="country")], frame)
>>> {k: v.tolist() for k, v in masks.items()}
{'young': [True, False, False, False], 'country=DE': [True, False, True, False], 'country=FR': [False, True, False, True]}
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from flywheel.errors import ValidationError
from flywheel.schema import ModelSpec, Slice

T = TypeVar("T")

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
NULL_LABEL = "<null>"
OTHER_LABEL = "<other>"


def _column(frame: pd.DataFrame, feature: str, s: Slice) -> pd.Series:
    if feature not in frame.columns:
        raise ValidationError(
            f"Slice {s.name!r} uses the column {feature!r}, which the frame lacks; "
            f"columns are {list(map(str, frame.columns))}."
        )
    return frame[feature]


def _comparison(col: pd.Series, op: str, value: Any, s: Slice) -> np.ndarray:
    present = col.notna().to_numpy()
    if op == "in":
        if not isinstance(value, list):
            raise ValidationError(f"Slice {s.name!r}: 'in' needs a list such as ['a', 'b']; got {value!r}.")
        hit = col.isin(value).to_numpy()
    else:
        if isinstance(value, list | dict):
            raise ValidationError(f"Slice {s.name!r}: {op!r} needs a single value; got {value!r}.")
        try:
            hit = np.asarray(_OPS[op](col, value), dtype=bool)
        except TypeError as exc:
            raise ValidationError(
                f"Slice {s.name!r}: cannot compare column {col.name!r} ({col.dtype}) with {value!r} using {op!r}."
            ) from exc
    return hit & present


def _group_by(col: pd.Series, s: Slice, max_groups: int) -> dict[str, np.ndarray]:
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    order = sorted(range(len(uniques)), key=lambda i: (-counts[i], str(uniques[i])))
    keep = order[:max_groups]
    out: dict[str, np.ndarray] = {}
    for i in sorted(keep, key=lambda i: str(uniques[i])):
        out[f"{s.name}={uniques[i]}"] = codes == i
    if len(order) > max_groups:
        out[f"{s.name}={OTHER_LABEL}"] = np.isin(codes, order[max_groups:])
    if (codes < 0).any():
        out[f"{s.name}={NULL_LABEL}"] = codes < 0
    return out


def slice_masks(
    slices: ModelSpec | Sequence[Slice], frame: pd.DataFrame, *, max_groups: int = 50
) -> dict[str, np.ndarray]:
    """Boolean masks over the rows of ``frame``, one per slice label, in definition order.

    ``slices`` is a :class:`ModelSpec` (its ``slices``) or a list of :class:`Slice`.
    Raises :class:`ValidationError` when a slice names a missing column or compares values
    of incompatible types.
    """
    if isinstance(max_groups, bool) or not isinstance(max_groups, int) or not 1 <= max_groups <= 10_000:
        raise ValidationError(
            f"The 'max_groups' parameter of slice_masks must be an int in [1, 10000]; got {max_groups!r}."
        )
    defs = slices.slices if isinstance(slices, ModelSpec) else list(slices)
    out: dict[str, np.ndarray] = {}
    for s in defs:
        try:
            feature, op, value = s.parse()
        except ValueError as exc:
            raise ValidationError(f"Slice {s.name!r}: cannot read the value in {s.expr!r} ({exc}).") from exc
        col = _column(frame, feature, s)
        if op is None:
            out.update(_group_by(col, s, max_groups))
        else:
            out[s.name] = _comparison(col, op, value, s)
    return out


def per_slice(
    masks: Mapping[str, np.ndarray],
    fn: Callable[..., T],
    *arrays: np.ndarray | None,
    min_rows: int = 1,
    **kwargs: Any,
) -> dict[str, T]:
    """Apply ``fn`` to the rows of each slice: ``fn(*(a[mask] for a in arrays), **kwargs)``.

    ``None`` arrays pass through as ``None``. Slices with fewer than ``min_rows`` rows are
    left out (with ``min_rows=0`` every slice is kept; the metric functions define what an
    empty window gives).

    >>> import numpy as np
    >>> from flywheel.monitor.performance import classification_metrics
    >>> y = np.array([0, 1, 1, 0]); pred = np.array([0, 1, 0, 0])
    >>> res = per_slice({"a": np.array([1, 1, 0, 0], bool)}, classification_metrics, y, pred, classes=[0, 1])
    >>> res["a"]["accuracy"].value
    1.0
    """
    out: dict[str, T] = {}
    for label, mask in masks.items():
        m = np.asarray(mask, dtype=bool)
        if int(m.sum()) < min_rows:
            continue
        out[label] = fn(*(None if a is None else np.asarray(a)[m] for a in arrays), **kwargs)
    return out
