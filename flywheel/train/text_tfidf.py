"""``text-tfidf``: TF-IDF over each text feature plus a linear model.

Each text feature gets its own TF-IDF vectoriser (word n-grams); numeric and categorical
features, if any, are added scaled and one-hot encoded. The model is a logistic regression
(or ridge for regression), or an SGD linear model for large corpora.

>>> import numpy as np, pandas as pd
>>> from flywheel.schema import ModelSpec
>>> from flywheel.train.data import TrainingData
>>> spec = ModelSpec(name="m", task="binary", class_names=["neg", "pos"],
...                  features=[{"name": "text", "kind": "text"}])
>>> frame = pd.DataFrame({"text": ["good great", "great fun", "bad awful", "awful dull"] * 5})
>>> y = np.array(["pos", "pos", "neg", "neg"] * 5)
>>> model = TfidfTrainer().fit(TrainingData(frame, y, spec), {"C": 10.0})
>>> model.predict(pd.DataFrame({"text": ["great", "awful"]})).tolist()
['pos', 'neg']
"""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from sklearn.pipeline import Pipeline

from flywheel.errors import ValidationError
from flywheel.schema import FeatureKind, ModelSpec
from flywheel.train.base import SklearnTrainer
from flywheel.train.baseline import linear_parts
from flywheel.train.data import features_of_kind
from flywheel.train.params import (
    CategoricalParam,
    FloatParam,
    IntParam,
    SearchSpace,
    check_choice,
    check_range,
)


class TfidfTrainer(SklearnTrainer):
    name = "text-tfidf"
    feature_kinds = frozenset({FeatureKind.text, FeatureKind.numeric, FeatureKind.categorical})

    def default_params(self) -> dict[str, Any]:
        return {
            "max_features": 50_000,
            "ngram_max": 2,
            "min_df": 1,
            "sublinear_tf": True,
            "model": "logistic",
            "C": 4.0,
            "alpha": 1e-5,
            "random_state": 0,
            "n_jobs": 1,
        }

    def search_space(self, spec: ModelSpec) -> SearchSpace:
        return {
            "max_features": IntParam(1_000, 200_000, log=True),
            "ngram_max": IntParam(1, 3),
            "min_df": IntParam(1, 5),
            "sublinear_tf": CategoricalParam((True, False)),
            "C": FloatParam(1e-2, 1e3, log=True),
        }

    def build(self, spec: ModelSpec, params: dict[str, Any]) -> Any:
        check_range(self.name, params, "n_jobs", 1, 1024, integer=True)
        texts = features_of_kind(spec, FeatureKind.text)
        if not texts:
            raise ValidationError(
                f"trainer {self.name!r} needs at least one text feature; {spec.name!r} has none."
            )
        check_range(self.name, params, "max_features", 1, 10_000_000, integer=True)
        check_range(self.name, params, "ngram_max", 1, 5, integer=True)
        check_range(self.name, params, "min_df", 1, 1_000_000, integer=True)
        check_range(self.name, params, "C", 1e-9, 1e9)
        check_range(self.name, params, "alpha", 1e-12, 1e3)
        kind = check_choice(self.name, params, "model", ("logistic", "sgd"))
        check_choice(self.name, params, "sublinear_tf", (True, False))
        parts: list[tuple[str, Any, Any]] = []
        for name in texts:
            vectorizer = TfidfVectorizer(
                max_features=params["max_features"],
                ngram_range=(1, params["ngram_max"]),
                min_df=params["min_df"],
                sublinear_tf=params["sublinear_tf"],
            )
            parts.append((f"text_{name}", vectorizer, name))  # a column name (not a list) gives 1-d strings
        parts.extend(linear_parts(spec))
        model: Any
        if spec.is_classification:
            if kind == "logistic":
                model = LogisticRegression(C=params["C"], max_iter=2000)
            else:
                model = SGDClassifier(
                    loss="log_loss", alpha=params["alpha"], random_state=params["random_state"]
                )
        else:
            model = (
                Ridge(alpha=1.0 / params["C"])
                if kind == "logistic"
                else SGDRegressor(alpha=params["alpha"], random_state=params["random_state"])
            )
        return Pipeline([("columns", ColumnTransformer(parts)), ("model", model)])
