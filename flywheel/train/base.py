"""The ``Trainer`` protocol and the base classes the built-in trainers share.

A trainer has a ``name``, the ``tasks`` and feature kinds it handles, its
``default_params()`` and its ``search_space(spec)``, and ``fit(data, params) -> FittedModel``.
Any object with these members is a trainer (a user trainer need not subclass anything);
:class:`SklearnTrainer` is the quick way to write one that builds a scikit-learn estimator.

>>> import numpy as np, pandas as pd
>>> from sklearn.linear_model import LogisticRegression
>>> from flywheel.schema import ModelSpec
>>> from flywheel.train.data import TrainingData
>>> class Logistic(SklearnTrainer):
...     name = "my-logistic"
...     def default_params(self): return {"C": 1.0}
...     def build(self, spec, params): return LogisticRegression(C=params["C"])
>>> spec = ModelSpec(name="m", task="binary", class_names=["a", "b"],
...                  features=[{"name": "x", "kind": "numeric"}])
>>> data = TrainingData(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]}), np.array(["a", "a", "b", "b"]), spec)
>>> Logistic().fit(data, {"C": 10.0}).predict(pd.DataFrame({"x": [0.2, 2.8]})).tolist()
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from flywheel.errors import ValidationError
from flywheel.schema import FeatureKind, ModelSpec, Task
from flywheel.train.data import TrainingData, encode_target, prepare_frame
from flywheel.train.model import FittedModel, SklearnModel, thread_limit
from flywheel.train.params import SearchSpace, resolve_params

ALL_TASKS: frozenset[Task] = frozenset(Task)


@runtime_checkable
class Trainer(Protocol):
    """What every trainer provides."""

    name: str

    def default_params(self) -> dict[str, Any]: ...

    def search_space(self, spec: ModelSpec) -> SearchSpace: ...

    def fit(self, data: TrainingData, params: Mapping[str, Any] | None = None) -> FittedModel: ...


class BaseTrainer:
    """Shared checks: the task and the feature kinds, and params merged over defaults."""

    name: str = ""
    tasks: frozenset[Task] = ALL_TASKS
    feature_kinds: frozenset[FeatureKind] = frozenset(FeatureKind)
    #: feature kinds the trainer may ignore rather than refuse
    ignored_kinds: frozenset[FeatureKind] = frozenset()

    def default_params(self) -> dict[str, Any]:
        return {}

    def search_space(self, spec: ModelSpec) -> SearchSpace:
        return {}

    def check_spec(self, spec: ModelSpec) -> None:
        """Raise a ValidationError naming what this trainer cannot handle in ``spec``."""
        if spec.task not in self.tasks:
            raise ValidationError(
                f"trainer {self.name!r} handles {sorted(t.value for t in self.tasks)} models; "
                f"{spec.name!r} is {spec.task.value}."
            )
        allowed = self.feature_kinds | self.ignored_kinds
        bad = [f"{f.name} ({f.kind.value})" for f in spec.features if f.kind not in allowed]
        if bad:
            raise ValidationError(
                f"trainer {self.name!r} handles {sorted(k.value for k in self.feature_kinds)} features; "
                f"{spec.name!r} has {bad}. Choose a trainer for those kinds or drop the features.",
                details=[{"field": b.split(" ")[0], "reason": "feature kind not supported"} for b in bad],
            )
        if not any(f.kind in self.feature_kinds for f in spec.features):
            raise ValidationError(f"trainer {self.name!r} found no feature it can use in {spec.name!r}.")

    def resolve(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        return resolve_params(self.name, self.default_params(), params)

    def fit(self, data: TrainingData, params: Mapping[str, Any] | None = None) -> FittedModel:
        raise NotImplementedError


class SklearnTrainer(BaseTrainer):
    """A trainer whose model is a scikit-learn estimator over the prepared frame.

    Subclasses implement ``build(spec, params)``; the estimator is fitted on class indexes
    (classification) or floats (regression), with ``sample_weight`` routed to the last step
    of a Pipeline, and saved with skops. A param ``n_jobs`` caps native threads in fit and predict.
    """

    def build(self, spec: ModelSpec, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def fit(self, data: TrainingData, params: Mapping[str, Any] | None = None) -> FittedModel:
        self.check_spec(data.spec)
        resolved = self.resolve(params)
        estimator = self.build(data.spec, resolved)
        X = prepare_frame(data.frame, data.spec)
        y = encode_target(data.target, data.spec)
        fit_kw: dict[str, Any] = {}
        if data.sample_weight is not None:
            steps = getattr(estimator, "steps", None)
            key = f"{steps[-1][0]}__sample_weight" if steps else "sample_weight"
            fit_kw[key] = data.sample_weight
        with thread_limit(resolved):
            estimator.fit(X, y, **fit_kw)
        return SklearnModel(estimator, spec=data.spec, trainer=self.name, params=resolved)
