"""Expectation tests catch a model that breaks the declared behaviour, and pass one that keeps it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.errors import ValidationError
from flywheel.evaluate import DirectionalTest, InvarianceTest, run_expectations
from flywheel.schema import ModelSpec

SPEC = ModelSpec(
    name="credit",
    task="binary",
    class_names=["deny", "approve"],
    features=[{"name": "income", "kind": "numeric"}, {"name": "gender", "kind": "categorical"}],
)
FRAME = pd.DataFrame({"income": np.linspace(0, 10, 50), "gender": ["f", "m"] * 25})


class Fair:
    def predict_proba(self, frame):
        p = 1 / (1 + np.exp(-(frame["income"].to_numpy(float) - 5)))
        return np.column_stack([1 - p, p])


class Biased(Fair):
    """Uses gender, and penalises income above 8: breaks both expectations."""

    def predict_proba(self, frame):
        z = frame["income"].to_numpy(float) - 5 + np.where(frame["gender"] == "m", 1.0, 0.0)
        z = np.where(frame["income"].to_numpy(float) > 8, -z, z)
        p = 1 / (1 + np.exp(-z))
        return np.column_stack([1 - p, p])


TESTS = [
    InvarianceTest(name="gender-blind", feature="gender", values=["f", "m"], eps=0.01, class_name="approve"),
    DirectionalTest(name="income-helps", feature="income", delta=0.5, class_name="approve"),
]


def test_a_model_that_keeps_the_expectations_passes() -> None:
    results = run_expectations(Fair(), FRAME, SPEC, TESTS)
    assert [r.passed for r in results] == [True, True]
    assert all(r.n_violations == 0 for r in results)


def test_a_violating_model_is_caught_with_the_rows_that_break_it() -> None:
    inv, direc = run_expectations(Biased(), FRAME, SPEC, TESTS)
    assert not inv.passed and inv.n_violations > 40 and inv.max_change > 0.1
    assert not direc.passed
    broken = FRAME["income"].to_numpy()[direc.example_rows]
    assert (broken > 7).all()  # only rows near the penalised region get lower scores


def test_prediction_invariance_without_eps_and_a_tolerated_violation_rate() -> None:
    strict = InvarianceTest(name="same-label", feature="gender", values=["f", "m"])
    (r,) = run_expectations(Biased(), FRAME, SPEC, [strict])
    assert not r.passed and 0 < r.violation_rate < 0.5  # only rows near the boundary flip
    lenient = InvarianceTest(name="same-label", feature="gender", values=["f", "m"], max_violation_rate=0.5)
    assert run_expectations(Biased(), FRAME, SPEC, [lenient])[0].passed


def test_regression_directional_uses_the_prediction() -> None:
    spec = ModelSpec(name="price", task="regression", features=[{"name": "income", "kind": "numeric"}])

    class Decreasing:
        def predict(self, frame):
            return -frame["income"].to_numpy(float)

    test = DirectionalTest(name="up", feature="income", delta=1.0)
    assert not run_expectations(Decreasing(), FRAME, spec, [test])[0].passed
    down = DirectionalTest(name="down", feature="income", delta=1.0, direction="decrease")
    assert run_expectations(Decreasing(), FRAME, spec, [down])[0].passed


def test_sampling_caps_the_rows_scored() -> None:
    big = pd.concat([FRAME] * 40, ignore_index=True)
    (r,) = run_expectations(Fair(), big, SPEC, TESTS[:1], max_rows=100)
    assert r.n_rows == 100


def test_misdeclared_tests_are_refused_clearly() -> None:
    with pytest.raises(ValidationError, match="'age', which is not among"):
        run_expectations(Fair(), FRAME, SPEC, [InvarianceTest(name="a", feature="age", values=[1])])
    with pytest.raises(ValidationError, match="needs a numeric feature"):
        run_expectations(
            Fair(), FRAME, SPEC, [DirectionalTest(name="d", feature="gender", delta=1, class_name="approve")]
        )
    with pytest.raises(ValidationError, match="must name the class_name"):
        run_expectations(Fair(), FRAME, SPEC, [DirectionalTest(name="d", feature="income", delta=1)])
    with pytest.raises(ValidationError, match="repeated"):
        run_expectations(Fair(), FRAME, SPEC, [TESTS[0], TESTS[0]])
