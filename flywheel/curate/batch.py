"""The unit of work for selectors: a batch of candidate events, already featurised.

A curation run reads unlabelled events from the store, featurises them, and hands the
selectors one :class:`CandidateBatch`. Every per-event field is an array of length ``n``
aligned with ``event_ids``; every field but ``event_ids`` is optional, and a selector that
needs a missing field says so through :meth:`Selector.applicable`.

Classes are column indices: ``probabilities[:, j]`` is the probability of class ``j``,
``predicted`` and ``labels`` hold class indices (``-1`` for "no label"), and
``class_names[j]`` names class ``j`` in the reasons shown to people.

>>> import numpy as np
>>> batch = CandidateBatch(["a", "b"], probabilities=[[0.9, 0.1], [0.55, 0.45]])
>>> len(batch), batch.predicted.tolist()
(2, [0, 0])
>>> batch.take([1]).event_ids.tolist()
['b']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from flywheel.errors import ValidationError

# Fields with one row per candidate; ``take`` slices these and keeps the rest whole.
_ROW_FIELDS = ("X", "probabilities", "predicted", "timestamps", "flagged", "feedback", "labels")


@dataclass(frozen=True, eq=False)
class CandidateBatch:
    """Candidate events for a curation run, one row per event.

    Attributes:
        event_ids: ``(n,)`` event ids (strings), unique within the batch.
        X: ``(n, d)`` float features or embeddings, already featurised and scaled.
        probabilities: ``(n, k)`` the serving (champion) model's class probabilities.
        predicted: ``(n,)`` predicted class index; derived from ``probabilities`` when omitted.
        slices: slice name -> ``(n,)`` slice value per event (e.g. ``{"country": [...]}``).
        timestamps: ``(n,)`` event times as seconds since the epoch or ``datetime64``.
        flagged: ``(n,)`` bool, true where a user flagged the prediction or gave a thumbs-down.
        feedback: ``(n,)`` the feedback kind behind a flag (``"flag"``, ``"thumbs_down"``), for reasons.
        challenger_probabilities: model name -> ``(n, k)`` probabilities of a challenger or shadow.
        reference_X: ``(m, d)`` the training data (same featurisation as ``X``), for novelty.
        labels: ``(n,)`` labels already given (class index, ``-1`` where none), for label errors.
        class_names: names of the ``k`` classes, used in reasons.
        slice_drift: ``"slice=value"`` -> drift score of slices the monitor found drifting.
        exemplars: event id -> ``(d,)`` vector, for "more like this" exemplars outside the batch.
    """

    event_ids: Any
    X: Any = None
    probabilities: Any = None
    predicted: Any = None
    slices: Mapping[str, Any] = field(default_factory=dict)
    timestamps: Any = None
    flagged: Any = None
    feedback: Any = None
    challenger_probabilities: Mapping[str, Any] = field(default_factory=dict)
    reference_X: Any = None
    labels: Any = None
    class_names: Sequence[str] | None = None
    slice_drift: Mapping[str, float] = field(default_factory=dict)
    exemplars: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = np.asarray(self.event_ids, dtype=object).reshape(-1)
        n = len(ids)
        _set(self, "event_ids", ids)
        if len(set(ids.tolist())) != n:
            raise ValidationError("CandidateBatch.event_ids must be unique within a batch.")
        if self.X is not None:
            _set(self, "X", _matrix("X", self.X, n))
        if self.probabilities is not None:
            p = _matrix("probabilities", self.probabilities, n)
            if p.shape[1] < 2 and n:
                raise ValidationError("CandidateBatch.probabilities needs at least 2 class columns.")
            _set(self, "probabilities", p)
        if self.predicted is not None:
            _set(self, "predicted", _vector("predicted", self.predicted, n, np.int64))
        elif self.probabilities is not None:
            _set(self, "predicted", np.argmax(self.probabilities, axis=1) if n else np.zeros(0, np.int64))
        if self.timestamps is not None:
            t = np.asarray(self.timestamps)
            if np.issubdtype(t.dtype, np.datetime64):
                t = t.astype("datetime64[ns]").astype(np.int64) / 1e9
            _set(self, "timestamps", _vector("timestamps", t, n, np.float64))
        if self.flagged is not None:
            _set(self, "flagged", _vector("flagged", self.flagged, n, bool))
        if self.feedback is not None:
            _set(self, "feedback", _vector("feedback", self.feedback, n, object))
        if self.labels is not None:
            _set(self, "labels", _vector("labels", self.labels, n, np.int64))
        _set(
            self, "slices", {str(k): _vector(f"slices[{k!r}]", v, n, object) for k, v in self.slices.items()}
        )
        k = None if self.probabilities is None else self.probabilities.shape[1]
        challengers = {}
        for name, probs in self.challenger_probabilities.items():
            c = _matrix(f"challenger_probabilities[{name!r}]", probs, n)
            if k is not None and c.shape[1] != k:
                raise ValidationError(
                    f"CandidateBatch.challenger_probabilities[{name!r}] has {c.shape[1]} classes; "
                    f"the champion's probabilities have {k}."
                )
            challengers[str(name)] = c
        _set(self, "challenger_probabilities", challengers)
        if self.reference_X is not None:
            ref = np.asarray(self.reference_X, dtype=np.float64)
            if ref.ndim != 2 or (self.X is not None and ref.shape[1] != self.X.shape[1]):
                raise ValidationError(
                    "CandidateBatch.reference_X must be a 2-D array with as many columns as X."
                )
            _set(self, "reference_X", ref)
        _set(
            self,
            "exemplars",
            {str(k): np.asarray(v, dtype=np.float64).reshape(-1) for k, v in self.exemplars.items()},
        )
        _set(self, "slice_drift", {str(k): float(v) for k, v in self.slice_drift.items()})

    def __len__(self) -> int:
        return len(self.event_ids)

    @property
    def n_classes(self) -> int | None:
        return None if self.probabilities is None else int(self.probabilities.shape[1])

    def class_name(self, j: int) -> str:
        """The display name of class ``j``."""
        if self.class_names is not None and 0 <= j < len(self.class_names):
            return str(self.class_names[j])
        return str(j)

    def take(self, indices: Any) -> CandidateBatch:
        """The rows at ``indices`` (in that order); batch-wide fields are kept whole."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        changes: dict[str, Any] = {"event_ids": self.event_ids[idx]}
        for name in _ROW_FIELDS:
            value = getattr(self, name)
            if value is not None:
                changes[name] = value[idx]
        changes["slices"] = {k: v[idx] for k, v in self.slices.items()}
        changes["challenger_probabilities"] = {k: v[idx] for k, v in self.challenger_probabilities.items()}
        return replace(self, **changes)


def _set(obj: CandidateBatch, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _matrix(name: str, value: Any, n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"CandidateBatch.{name} must be a numeric matrix.") from exc
    if n == 0 and arr.size == 0:
        return arr.reshape(0, arr.shape[1] if arr.ndim == 2 else 0)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValidationError(f"CandidateBatch.{name} must have shape (n, ...) with n={n}; got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"CandidateBatch.{name} holds NaN or infinite values; impute before curation.")
    return arr


def _vector(name: str, value: Any, n: int, dtype: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=dtype).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"CandidateBatch.{name} must be a 1-D array of {np.dtype(dtype).name}."
        ) from exc
    if arr.shape[0] != n:
        raise ValidationError(f"CandidateBatch.{name} must have length {n}; got {arr.shape[0]}.")
    return arr
