"""Artifacts load only when every type in them is on the allow-list; nothing is unpickled."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from flywheel.schema import ModelSpec
from flywheel.train import ALLOWED_TYPES, SklearnModel, UnsafeArtifact, load_model
from flywheel.train.artifact import MANIFEST, check_trusted

SPEC = ModelSpec(name="m", task="binary", class_names=["a", "b"], features=[{"name": "x", "kind": "numeric"}])
X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
Y = np.array([0, 0, 1, 1])


class Sneaky(ClassifierMixin, BaseEstimator):
    """A classifier defined outside scikit-learn: its type is not on the allow-list."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)


def artifact_of(estimator) -> bytes:
    return SklearnModel(estimator, spec=SPEC, trainer="user", params={}).to_bytes()


def test_artifact_with_a_foreign_class_is_refused_and_names_it() -> None:
    data = artifact_of(Sneaky().fit(X, Y))
    with pytest.raises(UnsafeArtifact, match=r"tests\.train\.test_artifact_safety\.Sneaky"):
        load_model(data)


def test_artifact_with_an_arbitrary_function_is_refused() -> None:
    pipe = Pipeline(
        [("f", FunctionTransformer(func=os.system)), ("m", DummyClassifier())]
    )  # never fitted or run
    with pytest.raises(UnsafeArtifact, match=r"posix\.system|os\.system"):
        load_model(artifact_of(pipe))


def test_caller_may_trust_extra_types_explicitly() -> None:
    data = artifact_of(Sneaky().fit(X, Y))
    model = load_model(data, extra_trusted=["tests.train.test_artifact_safety.Sneaky"])
    assert model.predict_proba(X).shape == (4, 2)


def test_sklearn_estimators_are_trusted_but_not_sklearn_functions_outside_the_list() -> None:
    assert check_trusted(["sklearn.linear_model._logistic.LogisticRegression"]) == [
        "sklearn.linear_model._logistic.LogisticRegression"
    ]
    with pytest.raises(UnsafeArtifact):
        check_trusted(["sklearn.utils._testing.ignore_warnings"])  # a function, not an estimator
    with pytest.raises(UnsafeArtifact):
        check_trusted(["sklearn.nonexistent.Thing"])
    with pytest.raises(UnsafeArtifact):
        check_trusted(["builtins.eval"])
    assert "builtins.eval" not in ALLOWED_TYPES


def test_tampered_payload_is_checked_not_the_manifest() -> None:
    """A manifest cannot vouch for its payload: the skops payload's own types are checked."""
    good = artifact_of(DummyClassifier().fit(X, Y))
    evil_payload = sio.dumps(Sneaky().fit(X, Y))
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w") as dst:
        dst.writestr(MANIFEST, src.read(MANIFEST))
        dst.writestr("model.skops", evil_payload)
    with pytest.raises(UnsafeArtifact):
        load_model(buf.getvalue())


def test_non_artifact_bytes_are_a_clear_error() -> None:
    from flywheel.errors import ValidationError

    with pytest.raises(ValidationError, match="not a Flywheel model artifact"):
        load_model(b"\x80\x04pickle bytes")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            MANIFEST,
            json.dumps(
                {
                    "artifact_version": 1,
                    "format": "pickle",
                    "spec": SPEC.model_dump(mode="json"),
                    "trainer": "x",
                    "params": {},
                }
            ),
        )
    with pytest.raises(ValidationError, match="unknown artifact format 'pickle'"):
        load_model(buf.getvalue())
