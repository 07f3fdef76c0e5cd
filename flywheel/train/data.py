"""What a trainer receives: inputs, target, optional weights and times, and the model spec.

``prepare_frame`` is the one place where a frame's columns are put in the spec's order and
cast to the type their feature kind implies; every fitted model calls it before predicting,
so training and serving see identical inputs.

>>> from flywheel.schema import ModelSpec
>>> spec = ModelSpec(name="m", task="binary", class_names=["no", "yes"],
...                  features=[{"name": "x", "kind": "numeric"}])
>>> data = TrainingData(pd.DataFrame({"x": [1.0, 2.0]}), np.array(["no", "yes"]), spec)
>>> encode_target(data.target, spec).tolist()
[0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from flywheel.errors import ValidationError
from flywheel.schema import FeatureKind, ModelSpec


@dataclass(frozen=True)
class TrainingData:
    """Training rows for one model.

    ``frame`` holds one column per spec feature (extra columns are ignored); ``target`` the
    label per row (class names, or values whose string form is a class name, for
    classification; numbers for regression). ``times``, when given, orders the rows for
    time-based validation; otherwise the row order is taken as time order.
    """

    frame: pd.DataFrame
    target: np.ndarray
    spec: ModelSpec
    sample_weight: np.ndarray | None = None
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.frame)
        target = np.asarray(self.target)
        object.__setattr__(self, "target", target)
        if target.ndim != 1 or len(target) != n:
            raise ValidationError(
                f"target must be 1-d with one value per row ({n}); got shape {target.shape}."
            )
        for name in ("sample_weight", "times"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v)
                object.__setattr__(self, name, v)
                if v.shape != (n,):
                    raise ValidationError(
                        f"{name} must be 1-d with one value per row ({n}); got shape {v.shape}."
                    )
        if self.sample_weight is not None and (
            not np.all(np.isfinite(self.sample_weight)) or np.any(self.sample_weight < 0)
        ):
            raise ValidationError("sample_weight must be finite and non-negative.")
        missing = [f.name for f in self.spec.features if f.name not in self.frame.columns]
        if missing:
            raise ValidationError(
                f"The training frame lacks feature column(s) {missing} declared in the spec of {self.spec.name!r}.",
                details=[{"field": m, "reason": "missing column"} for m in missing],
            )
        if pd.isna(pd.Series(target, dtype=object)).any():
            raise ValidationError("target holds nulls; drop unlabelled rows before training.")

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, index: np.ndarray) -> TrainingData:
        """The rows at ``index`` (positions), keeping everything aligned."""
        index = np.asarray(index)
        return replace(
            self,
            frame=self.frame.iloc[index].reset_index(drop=True),
            target=self.target[index],
            sample_weight=None if self.sample_weight is None else self.sample_weight[index],
            times=None if self.times is None else self.times[index],
        )

    def time_order(self) -> np.ndarray:
        """Row positions from oldest to newest (stable, so ties keep row order)."""
        if self.times is None:
            return np.arange(len(self))
        return np.argsort(self.times, kind="stable")


def _class_key(v: Any) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, np.generic):
        v = v.item()
    return str(v)


def encode_target(target: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Class indexes (positions in ``spec.class_names``) for classification; floats for regression."""
    target = np.asarray(target)
    if not spec.is_classification:
        try:
            y = target.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"a regression target must be numeric; got values like {target[:3].tolist()}."
            ) from exc
        if not np.all(np.isfinite(y)):
            raise ValidationError("a regression target must be finite.")
        return y
    assert spec.class_names is not None
    index = {c: i for i, c in enumerate(spec.class_names)}
    keys = [_class_key(v) for v in target.tolist()]
    bad = sorted({k for k in keys if k not in index})
    if bad:
        raise ValidationError(
            f"target holds label(s) {bad[:10]} that are not among the class_names {spec.class_names} of {spec.name!r}.",
            details=[{"field": "target", "reason": f"unknown class {b!r}"} for b in bad[:10]],
        )
    return np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))


def features_of_kind(spec: ModelSpec, *kinds: FeatureKind) -> list[str]:
    return [f.name for f in spec.features if f.kind in kinds]


def prepare_frame(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The spec's feature columns in spec order, cast by kind.

    numeric -> float64 (null -> NaN); categorical -> object of str (null -> NaN);
    text -> object of str (null -> ""); image and embedding -> object column, unchanged.
    """
    missing = [f.name for f in spec.features if f.name not in frame.columns]
    if missing:
        raise ValidationError(
            f"The frame lacks feature column(s) {missing} declared in the spec of {spec.name!r}.",
            details=[{"field": m, "reason": "missing column"} for m in missing],
        )
    out: dict[str, Any] = {}
    for f in spec.features:
        col = frame[f.name]
        if f.kind is FeatureKind.numeric:
            try:
                out[f.name] = pd.to_numeric(col, errors="raise").astype(np.float64).to_numpy()
            except (TypeError, ValueError) as exc:
                raise ValidationError(
                    f"numeric feature {f.name!r} holds non-numeric values.",
                    details=[{"field": f.name, "reason": "not numeric"}],
                ) from exc
        elif f.kind is FeatureKind.categorical:
            values = col.astype(object).to_numpy()
            null = pd.isna(col).to_numpy()
            cast = np.array([_class_key(v) for v in values], dtype=object)
            cast[null] = np.nan
            out[f.name] = cast
        elif f.kind is FeatureKind.text:
            out[f.name] = col.astype(object).where(~pd.isna(col), "").astype(str).to_numpy(dtype=object)
        else:
            out[f.name] = col.to_numpy(dtype=object)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
