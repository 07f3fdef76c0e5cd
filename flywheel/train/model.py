"""Fitted models: the one interface every trainer returns, and its scikit-learn implementation.

A :class:`FittedModel` predicts from a pandas frame whose columns are named by the spec's
features. For classification, ``predict_proba`` has one column per ``spec.class_names`` in
that order (a class absent from the training data gets probability 0) and ``predict``
returns class names. ``to_bytes()`` writes a safe artifact (see ``artifact.py``).

>>> from sklearn.dummy import DummyClassifier
>>> from flywheel.schema import ModelSpec
>>> spec = ModelSpec(name="m", task="binary", class_names=["no", "yes"],
...                  features=[{"name": "x", "kind": "numeric"}])
>>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
>>> est = DummyClassifier().fit(X, [1, 1, 0])
>>> SklearnModel(est, spec=spec, trainer="baseline", params={}).predict(X).tolist()
['yes', 'yes', 'yes']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flywheel.errors import ValidationError
from flywheel.schema import ModelSpec
from flywheel.train.data import prepare_frame


def thread_limit(params: dict[str, Any]) -> AbstractContextManager[Any]:
    """Cap native threads (OpenMP, BLAS) at ``params["n_jobs"]`` when set.

    Unbounded OpenMP threads on a busy machine make small fits tens of times slower.
    """
    n = params.get("n_jobs")
    if not n:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n))


class FittedModel(ABC):
    """A trained model: predictions from a frame, and a safe artifact."""

    #: the artifact payload format, ``"skops"`` or ``"lightgbm"``
    format: str = ""

    def __init__(self, *, spec: ModelSpec, trainer: str, params: dict[str, Any]) -> None:
        self.spec = spec
        self.trainer = trainer
        self.params = dict(params)

    @property
    def class_names(self) -> list[str] | None:
        """The classes, in the order of ``predict_proba``'s columns; None for regression."""
        return list(self.spec.class_names) if self.spec.class_names else None

    @abstractmethod
    def _raw_predict(self, X: pd.DataFrame) -> np.ndarray:
        """Regression values from a prepared frame."""

    @abstractmethod
    def _raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        """(n, len(class_names)) probabilities from a prepared frame."""

    @abstractmethod
    def payload(self) -> dict[str, bytes]:
        """The files of the artifact besides the manifest."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.spec.is_classification:
            raise ValidationError(
                f"predict_proba is only for classification; {self.spec.name!r} is a regression model."
            )
        return self._raw_proba(prepare_frame(frame, self.spec))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class names (classification, the most probable class) or values (regression)."""
        if self.spec.is_classification:
            proba = self.predict_proba(frame)
            names = np.asarray(self.class_names, dtype=object)
            return names[np.argmax(proba, axis=1)]
        return self._raw_predict(prepare_frame(frame, self.spec))

    def to_bytes(self) -> bytes:
        from flywheel.train.artifact import dump_model

        return dump_model(self)

    def save(self, path: str | Path) -> None:
        """Write the artifact to ``path`` (via a temporary name, so it is whole or absent)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(trainer={self.trainer!r}, model={self.spec.name!r}, params={self.params!r})"


class SklearnModel(FittedModel):
    """A scikit-learn estimator (usually a Pipeline) fitted on prepared frames.

    For classification the estimator was fitted on class indexes (positions in
    ``spec.class_names``), so its ``classes_`` maps straight onto output columns.
    """

    format = "skops"

    def __init__(self, estimator: Any, *, spec: ModelSpec, trainer: str, params: dict[str, Any]) -> None:
        super().__init__(spec=spec, trainer=trainer, params=params)
        self.estimator = estimator

    def _raw_predict(self, X: pd.DataFrame) -> np.ndarray:
        with thread_limit(self.params):
            return np.asarray(self.estimator.predict(X), dtype=np.float64)

    def _raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        assert self.spec.class_names is not None
        k = len(self.spec.class_names)
        with thread_limit(self.params):
            proba = np.asarray(self.estimator.predict_proba(X), dtype=np.float64)
        classes = np.asarray(self.estimator.classes_, dtype=np.int64)
        out = np.zeros((len(X), k), dtype=np.float64)
        out[:, classes] = proba
        return out

    def payload(self) -> dict[str, bytes]:
        import skops.io as sio

        return {"model.skops": sio.dumps(self.estimator)}
