"""Every built-in trainer fits, predicts, and survives a save/load round trip unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from flywheel.errors import ValidationError
from flywheel.schema import ModelSpec
from flywheel.train import TrainingData, get_trainer, load_model, read_manifest, trainer_names
from flywheel.train.search import score

N = 240
KINDS = {"x": "numeric", "z": "numeric", "c": "categorical", "t": "text", "e": "embedding", "img": "image"}


def make_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    c = rng.choice(["red", "green", "blue"], n)
    words = np.select([x < -0.5, x < 0, x < 0.5], ["rainy cold", "cloudy cool", "cloudy mild"], "sunny warm")
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=n),
            "c": c,
            "t": [f"{w} day {i % 7}" for i, w in enumerate(words)],
            "e": [np.array([v, -v, 0.5]) for v in x],
            "img": list(load_digits().images[:n]),
        }
    )


def make_target(frame: pd.DataFrame, task: str) -> np.ndarray:
    x = frame["x"].to_numpy()
    if task == "binary":
        return np.where(x > 0, "yes", "no")
    if task == "multiclass":
        return np.select([x < -0.5, x < 0.5], ["low", "mid"], "high")
    return 3.0 * x + (frame["c"] == "red").to_numpy()


CLASSES = {"binary": ["no", "yes"], "multiclass": ["low", "mid", "high"], "regression": None}
FEATURES = {
    "tabular-hgb": ["x", "z", "c", "e"],
    "tabular-lgbm": ["x", "z", "c", "e"],
    "text-tfidf": ["t", "c"],
    "baseline": ["x", "c"],
}


def spec_for(task: str, features: list[str]) -> ModelSpec:
    return ModelSpec(
        name="toy",
        task=task,
        class_names=CLASSES[task],
        features=[{"name": f, "kind": KINDS[f]} for f in features],
    )


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize(
    ("trainer", "params"),
    [
        ("tabular-hgb", {"max_iter": 30}),
        ("tabular-lgbm", {"n_estimators": 30}),
        ("text-tfidf", {}),
        ("text-tfidf", {"model": "sgd"}),
        ("baseline", {}),
        ("baseline", {"kind": "linear"}),
    ],
)
def test_trainer_learns_and_round_trips_to_identical_predictions(
    trainer: str, params: dict, task: str
) -> None:
    frame = make_frame()
    spec = spec_for(task, FEATURES[trainer])
    data = TrainingData(frame, make_target(frame, task), spec)
    model = get_trainer(trainer).fit(data, params)
    test = make_frame(80, seed=1)
    loaded = load_model(model.to_bytes())
    if task == "regression":
        np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    else:
        proba = model.predict_proba(test)
        assert proba.shape == (80, len(CLASSES[task]))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(loaded.predict_proba(test), proba)
        assert set(model.predict(test)) <= set(CLASSES[task])
        assert loaded.class_names == CLASSES[task]
    assert loaded.params == model.params and loaded.trainer == trainer
    test_data = TrainingData(test, make_target(test, task), spec)
    if not (trainer == "baseline" and params.get("kind") != "linear"):
        # every real learner beats chance on this easy signal
        metric = "rmse" if task == "regression" else "accuracy"
        value = score(model, test_data, metric)
        assert value < 1.5 if task == "regression" else value > 0.7


def test_image_trainer_reads_sklearn_digits_as_arrays_and_nested_lists() -> None:
    digits = load_digits()
    spec = ModelSpec(
        name="digits",
        task="multiclass",
        class_names=[str(i) for i in range(10)],
        features=[{"name": "img", "kind": "image"}],
    )
    train = TrainingData(pd.DataFrame({"img": list(digits.images[:500])}), digits.target[:500], spec)
    test = pd.DataFrame({"img": [im.tolist() for im in digits.images[500:800]]})  # nested lists
    cases = [
        ({"features": "both"}, 0.85),
        ({"features": "hog"}, 0.85),
        ({"features": "pixels", "model": "hgb", "max_iter": 20}, 0.7),
    ]
    for params, floor in cases:
        model = get_trainer("image-pixels").fit(train, params)
        accuracy = (model.predict(test).astype(int) == digits.target[500:800]).mean()
        assert accuracy > floor, params
        np.testing.assert_array_equal(
            load_model(model.to_bytes()).predict_proba(test), model.predict_proba(test)
        )


def test_classes_absent_from_training_get_zero_probability_in_spec_order() -> None:
    frame = make_frame()
    spec = spec_for("multiclass", ["x"])
    y = np.where(frame["x"] > 0, "high", "low")  # "mid" never seen
    for trainer in ("tabular-hgb", "tabular-lgbm"):
        proba = get_trainer(trainer).fit(TrainingData(frame, y, spec), {}).predict_proba(frame)
        assert trainer == "tabular-lgbm" or np.all(proba[:, 1] == 0.0)
        assert proba[:, 1].max() < 0.05
        assert (proba[frame["x"].to_numpy() > 1, 2] > 0.5).all()


def test_integer_targets_map_onto_string_class_names() -> None:
    frame = make_frame()
    spec = ModelSpec(
        name="toy", task="binary", class_names=["0", "1"], features=[{"name": "x", "kind": "numeric"}]
    )
    y = (frame["x"] > 0).astype(float).to_numpy()  # 0.0 / 1.0 -> "0" / "1"
    model = get_trainer("tabular-hgb").fit(TrainingData(frame, y, spec), {"max_iter": 10})
    assert set(model.predict(frame)) == {"0", "1"}


def test_unknown_target_label_is_refused_naming_it() -> None:
    frame = make_frame()
    spec = spec_for("binary", ["x"])
    y = np.where(frame["x"] > 0, "yes", "maybe")
    with pytest.raises(ValidationError, match="maybe"):
        get_trainer("tabular-hgb").fit(TrainingData(frame, y, spec), {})


def test_sample_weights_change_the_fit() -> None:
    frame = make_frame()
    spec = spec_for("binary", ["x"])
    y = np.where(frame["x"] > 0, "yes", "no")
    w = np.where(y == "yes", 10.0, 0.1)
    for trainer in ("tabular-hgb", "tabular-lgbm", "baseline"):
        plain = get_trainer(trainer).fit(TrainingData(frame, y, spec), {})
        weighted = get_trainer(trainer).fit(TrainingData(frame, y, spec, sample_weight=w), {})
        assert weighted.predict_proba(frame)[:, 1].mean() > plain.predict_proba(frame)[:, 1].mean()


def test_unseen_category_and_missing_values_are_predicted_without_error() -> None:
    frame = make_frame()
    spec = spec_for("binary", ["x", "c"])
    y = np.where(frame["x"] > 0, "yes", "no")
    test = pd.DataFrame({"x": [1.0, np.nan, -1.0], "c": ["purple", None, "red"]})
    for trainer in ("tabular-hgb", "tabular-lgbm", "baseline"):
        model = get_trainer(trainer).fit(
            TrainingData(frame, y, spec), {"kind": "linear"} if trainer == "baseline" else {}
        )
        assert model.predict_proba(test).shape == (3, 2)


def test_unknown_param_is_refused_listing_the_known_ones() -> None:
    frame = make_frame()
    data = TrainingData(frame, make_target(frame, "binary"), spec_for("binary", ["x"]))
    with pytest.raises(ValidationError, match="'max_depht'.*learning_rate"):
        get_trainer("tabular-hgb").fit(data, {"max_depht": 3})
    with pytest.raises(
        ValidationError, match="The 'learning_rate' parameter of tabular-hgb must be a number"
    ):
        get_trainer("tabular-hgb").fit(data, {"learning_rate": -1.0})


def test_trainer_refuses_feature_kinds_it_cannot_use() -> None:
    frame = make_frame()
    data = TrainingData(frame, make_target(frame, "binary"), spec_for("binary", ["x", "t"]))
    with pytest.raises(ValidationError, match=r"t \(text\)"):
        get_trainer("tabular-hgb").fit(data, {})
    with pytest.raises(ValidationError, match="at least one text feature"):
        get_trainer("text-tfidf").fit(
            TrainingData(frame, make_target(frame, "binary"), spec_for("binary", ["x"])), {}
        )


def test_missing_feature_column_is_named() -> None:
    frame = make_frame().drop(columns=["z"])
    with pytest.raises(ValidationError, match=r"\['z'\]"):
        TrainingData(frame, make_target(frame, "binary"), spec_for("binary", ["x", "z"]))


def test_artifact_is_deterministic_and_lightgbm_is_plain_text() -> None:
    frame = make_frame()
    data = TrainingData(frame, make_target(frame, "binary"), spec_for("binary", ["x", "c"]))
    a = get_trainer("tabular-lgbm").fit(data, {"n_estimators": 10}).to_bytes()
    b = get_trainer("tabular-lgbm").fit(data, {"n_estimators": 10}).to_bytes()
    assert a == b
    manifest = read_manifest(a)
    assert manifest["format"] == "lightgbm" and manifest["trainer"] == "tabular-lgbm"
    assert manifest["spec"]["name"] == "toy"


def test_save_and_load_through_a_file(tmp_path) -> None:
    frame = make_frame()
    data = TrainingData(frame, make_target(frame, "regression"), spec_for("regression", ["x"]))
    model = get_trainer("tabular-hgb").fit(data, {"max_iter": 10})
    model.save(tmp_path / "m.fwm")
    np.testing.assert_array_equal(load_model(tmp_path / "m.fwm").predict(frame), model.predict(frame))


def test_builtin_trainers_declare_defaults_inside_their_own_validation() -> None:
    spec = spec_for("binary", ["x"])
    assert set(trainer_names()) >= {"tabular-hgb", "tabular-lgbm", "text-tfidf", "image-pixels", "baseline"}
    for name in trainer_names():
        trainer = get_trainer(name)
        defaults = trainer.default_params()
        assert set(trainer.search_space(spec)) <= set(defaults), name
