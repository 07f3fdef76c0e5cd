"""``image-pixels``: small images as pixels and/or a HOG-like descriptor, then a linear model or boosting.

Images come as arrays or nested lists, one per row: (h, w), (h, w, channels) or flat
square vectors, e.g. scikit-learn's 8x8 digits. ``features`` picks pixels, ``hog``
(histograms of gradient orientation per cell) or both; ``model`` a logistic/ridge
regression on standardised features, or histogram gradient boosting.

>>> import pandas as pd
>>> from sklearn.datasets import load_digits
>>> from flywheel.schema import ModelSpec
>>> from flywheel.train.data import TrainingData
>>> digits = load_digits()
>>> spec = ModelSpec(name="digits", task="multiclass", class_names=[str(i) for i in range(10)],
...                  features=[{"name": "image", "kind": "image"}])
>>> frame = pd.DataFrame({"image": list(digits.images[:600])})
>>> model = ImageTrainer().fit(TrainingData(frame, digits.target[:600], spec))
>>> test = pd.DataFrame({"image": list(digits.images[600:900])})
>>> float((model.predict(test).astype(int) == digits.target[600:900]).mean()) > 0.9
True
"""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from flywheel.schema import FeatureKind, ModelSpec
from flywheel.train.base import SklearnTrainer
from flywheel.train.data import features_of_kind
from flywheel.train.params import (
    CategoricalParam,
    FloatParam,
    IntParam,
    SearchSpace,
    check_choice,
    check_range,
)
from flywheel.train.transformers import ImageFeatures


class ImageTrainer(SklearnTrainer):
    name = "image-pixels"
    feature_kinds = frozenset({FeatureKind.image})

    def default_params(self) -> dict[str, Any]:
        return {
            "features": "both",
            "hog_cell": 0,
            "model": "logistic",
            "C": 0.1,
            "learning_rate": 0.1,
            "max_iter": 200,
            "random_state": 0,
            "n_jobs": 1,
        }

    def search_space(self, spec: ModelSpec) -> SearchSpace:
        return {
            "features": CategoricalParam(("pixels", "hog", "both")),
            "model": CategoricalParam(("logistic", "hgb")),
            "C": FloatParam(1e-3, 1e2, log=True),
            "learning_rate": FloatParam(0.02, 0.3, log=True),
            "max_iter": IntParam(50, 400, log=True),
        }

    def build(self, spec: ModelSpec, params: dict[str, Any]) -> Any:
        check_range(self.name, params, "n_jobs", 1, 1024, integer=True)
        mode = check_choice(self.name, params, "features", ("pixels", "hog", "both"))
        kind = check_choice(self.name, params, "model", ("logistic", "hgb"))
        check_range(self.name, params, "hog_cell", 0, 1024, integer=True)
        check_range(self.name, params, "C", 1e-9, 1e9)
        check_range(self.name, params, "learning_rate", 1e-6, 10.0)
        check_range(self.name, params, "max_iter", 1, 100_000, integer=True)
        parts = [
            (f"image_{name}", ImageFeatures(mode=mode, cell=params["hog_cell"] or None, name=name), [name])
            for name in features_of_kind(spec, FeatureKind.image)
        ]
        columns = ColumnTransformer(parts)
        if kind == "logistic":
            model: Any = (
                LogisticRegression(C=params["C"], max_iter=2000)
                if spec.is_classification
                else Ridge(alpha=1.0 / params["C"])
            )
            return Pipeline([("columns", columns), ("scale", StandardScaler()), ("model", model)])
        boost = {
            "learning_rate": params["learning_rate"],
            "max_iter": params["max_iter"],
            "early_stopping": False,
            "random_state": params["random_state"],
        }
        model = (
            HistGradientBoostingClassifier(**boost)
            if spec.is_classification
            else HistGradientBoostingRegressor(**boost)
        )
        return Pipeline([("columns", columns), ("model", model)])
