"""``tabular-lgbm``: LightGBM over numeric, categorical and embedding features.

Categorical features are mapped to integer codes (the most frequent ``max_categories``
values seen in training; unknown and missing values become NaN, which LightGBM sends down
its missing-value branch) and declared categorical. The model is saved in LightGBM's own
text format with a JSON sidecar holding the category lists, never pickled.

>>> import numpy as np, pandas as pd
>>> from flywheel.schema import ModelSpec
>>> from flywheel.train.data import TrainingData
>>> spec = ModelSpec(name="m", task="regression",
...                  features=[{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}])
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["a", "b"], 300)})
>>> y = 2 * frame.x + (frame.c == "a")
>>> model = LightGBMTrainer().fit(TrainingData(frame, y.to_numpy(), spec), {"n_estimators": 50})
>>> float(np.abs(model.predict(frame) - y).mean()) < 0.3
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from flywheel.schema import FeatureKind, ModelSpec, Task
from flywheel.train.base import BaseTrainer
from flywheel.train.data import TrainingData, encode_target, features_of_kind, prepare_frame
from flywheel.train.model import FittedModel
from flywheel.train.params import FloatParam, IntParam, SearchSpace, check_range
from flywheel.train.tabular_hgb import TABULAR_KINDS
from flywheel.train.transformers import stack_cells


def fit_preprocess(X: pd.DataFrame, spec: ModelSpec, max_categories: int) -> dict[str, Any]:
    """The JSON-able preprocessing state: feature lists, category lists, embedding sizes."""
    categories: dict[str, list[str]] = {}
    for name in features_of_kind(spec, FeatureKind.categorical):
        counts = pd.Series(X[name]).dropna().value_counts(sort=False)
        # most frequent first, ties by value, so the mapping does not depend on row order
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        categories[name] = [str(k) for k, _ in ranked[:max_categories]]
    embedding = {
        name: int(stack_cells(X[name], name).reshape(len(X), -1).shape[1])
        for name in features_of_kind(spec, FeatureKind.embedding)
    }
    return {
        "numeric": features_of_kind(spec, FeatureKind.numeric),
        "categories": categories,
        "embedding": embedding,
    }


def apply_preprocess(X: pd.DataFrame, pre: Mapping[str, Any]) -> tuple[np.ndarray, list[int]]:
    """(n, d) float matrix and the indexes of its categorical columns."""
    cols: list[np.ndarray] = [X[name].to_numpy(dtype=np.float64) for name in pre["numeric"]]
    cat_idx: list[int] = []
    for name, cats in pre["categories"].items():
        codes = pd.Series(X[name]).map({c: float(i) for i, c in enumerate(cats)})
        cat_idx.append(len(cols))
        cols.append(codes.to_numpy(dtype=np.float64, na_value=np.nan))
    parts = [np.column_stack(cols)] if cols else []
    for name, dim in pre["embedding"].items():
        arr = stack_cells(X[name], name).reshape(len(X), -1) if len(X) else np.zeros((0, dim))
        parts.append(arr)
    return (np.hstack(parts) if parts else np.zeros((len(X), 0))), cat_idx


class LightGBMModel(FittedModel):
    format = "lightgbm"

    def __init__(
        self,
        booster: Any,
        preprocess: dict[str, Any],
        *,
        spec: ModelSpec,
        trainer: str,
        params: dict[str, Any],
    ) -> None:
        super().__init__(spec=spec, trainer=trainer, params=params)
        self.booster = booster
        self.preprocess = preprocess

    @classmethod
    def from_files(
        cls,
        model_text: str,
        preprocess: dict[str, Any],
        *,
        spec: ModelSpec,
        trainer: str,
        params: dict[str, Any],
    ) -> LightGBMModel:
        import lightgbm as lgb

        return cls(lgb.Booster(model_str=model_text), preprocess, spec=spec, trainer=trainer, params=params)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return apply_preprocess(X, self.preprocess)[0]

    def _raw_predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(self._matrix(X)), dtype=np.float64)

    def _raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.asarray(self.booster.predict(self._matrix(X)), dtype=np.float64)
        if self.spec.task is Task.binary:
            return np.column_stack([1.0 - p, p])
        return p.reshape(len(X), -1)

    def payload(self) -> dict[str, bytes]:
        import json

        return {
            "model.lgbm.txt": self.booster.model_to_string().encode(),
            "preprocess.json": json.dumps(self.preprocess, sort_keys=True).encode(),
        }


class LightGBMTrainer(BaseTrainer):
    name = "tabular-lgbm"
    feature_kinds = TABULAR_KINDS

    def default_params(self) -> dict[str, Any]:
        return {
            "learning_rate": 0.1,
            "n_estimators": 200,
            "num_leaves": 31,
            "min_child_samples": 20,
            "feature_fraction": 1.0,
            "bagging_fraction": 1.0,
            "lambda_l2": 0.0,
            "max_categories": 254,
            "n_jobs": 1,
            "random_state": 0,
        }

    def search_space(self, spec: ModelSpec) -> SearchSpace:
        return {
            "learning_rate": FloatParam(0.01, 0.3, log=True),
            "n_estimators": IntParam(50, 500, log=True),
            "num_leaves": IntParam(8, 128, log=True),
            "min_child_samples": IntParam(5, 200, log=True),
            "feature_fraction": FloatParam(0.4, 1.0),
            "bagging_fraction": FloatParam(0.5, 1.0),
            "lambda_l2": FloatParam(1e-6, 10.0, log=True),
        }

    def fit(self, data: TrainingData, params: Mapping[str, Any] | None = None) -> FittedModel:
        import lightgbm as lgb

        spec = data.spec
        self.check_spec(spec)
        p = self.resolve(params)
        check_range(self.name, p, "learning_rate", 1e-6, 10.0)
        check_range(self.name, p, "n_estimators", 1, 100_000, integer=True)
        check_range(self.name, p, "num_leaves", 2, 131_072, integer=True)
        check_range(self.name, p, "min_child_samples", 1, 1_000_000, integer=True)
        check_range(self.name, p, "feature_fraction", 1e-6, 1.0)
        check_range(self.name, p, "bagging_fraction", 1e-6, 1.0)
        check_range(self.name, p, "lambda_l2", 0.0, 1e6)
        check_range(self.name, p, "max_categories", 2, 100_000, integer=True)
        check_range(self.name, p, "n_jobs", 1, 1024, integer=True)
        X = prepare_frame(data.frame, spec)
        y = encode_target(data.target, spec)
        pre = fit_preprocess(X, spec, p["max_categories"])
        matrix, cat_idx = apply_preprocess(X, pre)
        lgb_params: dict[str, Any] = {
            "learning_rate": p["learning_rate"],
            "num_leaves": p["num_leaves"],
            "min_child_samples": p["min_child_samples"],
            "feature_fraction": p["feature_fraction"],
            "bagging_fraction": p["bagging_fraction"],
            "bagging_freq": 1 if p["bagging_fraction"] < 1.0 else 0,
            "lambda_l2": p["lambda_l2"],
            "num_threads": p["n_jobs"],
            "seed": p["random_state"],
            "deterministic": True,
            "verbosity": -1,
        }
        if spec.task is Task.binary:
            lgb_params["objective"] = "binary"
        elif spec.task is Task.multiclass:
            assert spec.class_names is not None
            lgb_params.update(objective="multiclass", num_class=len(spec.class_names))
        else:
            lgb_params["objective"] = "regression"
        dataset = lgb.Dataset(
            matrix,
            label=y,
            weight=data.sample_weight,
            categorical_feature=cat_idx or "auto",
            feature_name=[f"f{i}" for i in range(matrix.shape[1])],
            params={"verbosity": -1},
        )
        booster = lgb.train(lgb_params, dataset, num_boost_round=p["n_estimators"])
        return LightGBMModel(booster, pre, spec=spec, trainer=self.name, params=p)
