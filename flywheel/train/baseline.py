"""``baseline``: the reference every candidate must beat.

``kind="majority"`` predicts the training class frequencies (classification) or the mean
(regression); ``kind="linear"`` fits a logistic regression or a ridge regression on the
numeric (median-imputed, standardised) and categorical (one-hot) features. Text, image and
embedding features are ignored. Search always trains this trainer alongside the candidate.

>>> import numpy as np, pandas as pd
>>> from flywheel.schema import ModelSpec
>>> from flywheel.train.data import TrainingData
>>> spec = ModelSpec(name="m", task="multiclass", class_names=["a", "b", "c"],
...                  features=[{"name": "x", "kind": "numeric"}])
>>> data = TrainingData(pd.DataFrame({"x": [0.0, 1.0, 2.0]}), np.array(["b", "b", "a"]), spec)
>>> BaselineTrainer().fit(data).predict_proba(pd.DataFrame({"x": [5.0]})).round(3).tolist()
[[0.333, 0.667, 0.0]]
"""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from flywheel.errors import ValidationError
from flywheel.schema import FeatureKind, ModelSpec
from flywheel.train.base import SklearnTrainer
from flywheel.train.data import features_of_kind
from flywheel.train.params import CategoricalParam, FloatParam, SearchSpace, check_choice, check_range


def linear_parts(spec: ModelSpec, min_frequency: int = 1) -> list[tuple[str, Any, list[str]]]:
    """ColumnTransformer parts for a linear model: scaled numerics and one-hot categoricals."""
    parts: list[tuple[str, Any, list[str]]] = []
    numeric = features_of_kind(spec, FeatureKind.numeric)
    categorical = features_of_kind(spec, FeatureKind.categorical)
    if numeric:
        scaled = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        parts.append(("numeric", scaled, numeric))
    if categorical:
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency)
        parts.append(("categorical", onehot, categorical))
    return parts


class BaselineTrainer(SklearnTrainer):
    name = "baseline"

    def default_params(self) -> dict[str, Any]:
        return {"kind": "majority", "C": 1.0, "n_jobs": 1}

    def search_space(self, spec: ModelSpec) -> SearchSpace:
        return {"kind": CategoricalParam(("majority", "linear")), "C": FloatParam(1e-3, 1e2, log=True)}

    def build(self, spec: ModelSpec, params: dict[str, Any]) -> Any:
        check_range(self.name, params, "n_jobs", 1, 1024, integer=True)
        kind = check_choice(self.name, params, "kind", ("majority", "linear"))
        check_range(self.name, params, "C", 1e-9, 1e9)
        if kind == "majority":
            return (
                DummyClassifier(strategy="prior")
                if spec.is_classification
                else DummyRegressor(strategy="mean")
            )
        parts = linear_parts(spec)
        if not parts:
            raise ValidationError(
                f"the linear baseline needs numeric or categorical features; {spec.name!r} has none. Use kind='majority'."
            )
        model = (
            LogisticRegression(C=params["C"], max_iter=1000)
            if spec.is_classification
            else Ridge(alpha=1.0 / params["C"])
        )
        return Pipeline([("columns", ColumnTransformer(parts)), ("model", model)])
