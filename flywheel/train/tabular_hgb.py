"""``tabular-hgb``: scikit-learn's histogram gradient boosting over numeric and categorical features.

Preprocessing follows the spec's feature kinds: numeric features pass through (NaN is
handled natively), categorical features are ordinal-encoded (unknown and missing values
become NaN, rare categories beyond ``max_categories`` are pooled) and marked as native
categorical features, embeddings are flattened into numeric columns.

>>> import numpy as np, pandas as pd
>>> from flywheel.schema import ModelSpec
>>> from flywheel.train.data import TrainingData
>>> spec = ModelSpec(name="m", task="binary", class_names=["lo", "hi"],
...                  features=[{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}])
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(["a", "b"], 200)})
>>> y = np.where(frame.x > 0, "hi", "lo")
>>> model = HGBTrainer().fit(TrainingData(frame, y, spec), {"max_iter": 20})
>>> float((model.predict(frame) == y).mean()) > 0.95
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from flywheel.schema import FeatureKind, ModelSpec
from flywheel.train.base import SklearnTrainer
from flywheel.train.data import features_of_kind
from flywheel.train.params import FloatParam, IntParam, SearchSpace, check_range
from flywheel.train.transformers import ArrayColumns

TABULAR_KINDS = frozenset({FeatureKind.numeric, FeatureKind.categorical, FeatureKind.embedding})


def tabular_columns(spec: ModelSpec, max_categories: int) -> tuple[ColumnTransformer, list[int]]:
    """The column transformer for numeric/categorical/embedding features and the categorical column indexes."""
    numeric = features_of_kind(spec, FeatureKind.numeric)
    categorical = features_of_kind(spec, FeatureKind.categorical)
    embedding = features_of_kind(spec, FeatureKind.embedding)
    parts: list[tuple[str, Any, Any]] = []
    if numeric:
        parts.append(("numeric", "passthrough", numeric))
    if categorical:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=max_categories,
        )
        parts.append(("categorical", encoder, categorical))
    for name in embedding:
        parts.append((f"embedding_{name}", ArrayColumns(name=name), [name]))
    columns = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
    # output order is numeric, categorical, then flattened embeddings
    return columns, list(range(len(numeric), len(numeric) + len(categorical)))


class HGBTrainer(SklearnTrainer):
    name = "tabular-hgb"
    feature_kinds = TABULAR_KINDS

    def default_params(self) -> dict[str, Any]:
        return {
            "learning_rate": 0.1,
            "max_iter": 200,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
            "max_features": 1.0,
            "max_categories": 254,
            "random_state": 0,
            "n_jobs": 1,
        }

    def search_space(self, spec: ModelSpec) -> SearchSpace:
        return {
            "learning_rate": FloatParam(0.01, 0.3, log=True),
            "max_iter": IntParam(50, 500, log=True),
            "max_leaf_nodes": IntParam(8, 128, log=True),
            "min_samples_leaf": IntParam(5, 200, log=True),
            "l2_regularization": FloatParam(1e-6, 10.0, log=True),
            "max_features": FloatParam(0.3, 1.0),
        }

    def build(self, spec: ModelSpec, params: dict[str, Any]) -> Any:
        check_range(self.name, params, "n_jobs", 1, 1024, integer=True)
        check_range(self.name, params, "learning_rate", 1e-6, 10.0)
        check_range(self.name, params, "max_iter", 1, 100_000, integer=True)
        check_range(self.name, params, "max_leaf_nodes", 2, 100_000, integer=True)
        check_range(self.name, params, "min_samples_leaf", 1, 1_000_000, integer=True)
        check_range(self.name, params, "l2_regularization", 0.0, 1e6)
        check_range(self.name, params, "max_features", 1e-6, 1.0)
        check_range(self.name, params, "max_categories", 2, 254, integer=True)
        columns, categorical = tabular_columns(spec, params["max_categories"])
        common: dict[str, Any] = {
            "learning_rate": params["learning_rate"],
            "max_iter": params["max_iter"],
            "max_leaf_nodes": params["max_leaf_nodes"],
            "min_samples_leaf": params["min_samples_leaf"],
            "l2_regularization": params["l2_regularization"],
            "max_features": params["max_features"],
            "early_stopping": False,
            "random_state": params["random_state"],
            "categorical_features": categorical or None,
        }
        model = (
            HistGradientBoostingClassifier(**common)
            if spec.is_classification
            else HistGradientBoostingRegressor(**common)
        )
        return Pipeline([("columns", columns), ("model", model)])
