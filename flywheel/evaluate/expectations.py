"""Expectation tests: behaviour a model must show, declared in config and run on real rows.

- **invariance**: setting feature F to each of the values V must not change the prediction
  (``eps`` unset), or must move the score by less than ``eps``. The score is the
  probability of ``class_name`` (or, when unset, the largest change over all classes);
  for regression, the predicted value.
- **directional**: increasing numeric feature X by ``delta`` must not lower the score
  (``direction="increase"``) or must not raise it (``"decrease"``), beyond ``tolerance``.

Each test re-scores a seeded sample of rows, perturbed, in one batch, and passes when the
share of violating rows is at most ``max_violation_rate`` (default 0).

>>> import numpy as np, pandas as pd
>>> class Threshold:  # P(yes) rises with x and ignores "colour"
...     def predict_proba(self, frame):
...         p = 1 / (1 + np.exp(-frame["x"].to_numpy(dtype=float)))
...         return np.column_stack([1 - p, p])
>>> from flywheel.schema import ModelSpec
>>> spec = ModelSpec(name="m", task="binary", class_names=["no", "yes"],
...                  features=[{"name": "x", "kind": "numeric"}, {"name": "colour", "kind": "categorical"}])
>>> frame = pd.DataFrame({"x": [-1.0, 0.0, 2.0], "colour": ["red", "blue", "red"]})
>>> tests = [InvarianceTest(name="colour-blind", feature="colour", values=["red", "blue"]),
...          DirectionalTest(name="more-x-more-yes", feature="x", delta=1.0, class_name="yes")]
>>> [r.passed for r in run_expectations(Threshold(), frame, spec, tests)]
[True, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from flywheel.errors import ValidationError
from flywheel.schema import FeatureKind, ModelSpec


class InvarianceTest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["invariance"] = "invariance"
    name: str = Field(min_length=1)
    feature: str
    values: list[Any] = Field(
        min_length=1, description="Each row is re-scored with the feature set to each value."
    )
    eps: float | None = Field(
        default=None, gt=0, description="Allowed score change; unset: the prediction must not change."
    )
    class_name: str | None = Field(
        default=None, description="Whose probability is the score; unset: every class."
    )
    max_violation_rate: float = Field(default=0.0, ge=0, le=1)


class DirectionalTest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["directional"] = "directional"
    name: str = Field(min_length=1)
    feature: str
    delta: float = Field(gt=0, description="How much the numeric feature is increased.")
    direction: Literal["increase", "decrease"] = Field(
        default="increase", description="Where the score may go."
    )
    class_name: str | None = Field(
        default=None, description="Whose probability is the score (classification)."
    )
    tolerance: float = Field(default=0.0, ge=0)
    max_violation_rate: float = Field(default=0.0, ge=0, le=1)


Expectation = Annotated[InvarianceTest | DirectionalTest, Field(discriminator="kind")]


class ExpectationResult(BaseModel):
    name: str
    kind: str
    feature: str
    passed: bool
    n_rows: int
    n_violations: int
    violation_rate: float
    max_change: float
    example_rows: list[int] = Field(
        default_factory=list, description="Positions (in the scored frame) of violating rows."
    )


def _check(test: InvarianceTest | DirectionalTest, spec: ModelSpec) -> int | None:
    """Validate ``test`` against ``spec``; return the class index of the score (None: all / regression)."""
    names = [f.name for f in spec.features]
    if test.feature not in names:
        raise ValidationError(
            f"expectation {test.name!r} uses feature {test.feature!r}, which is not among {names}."
        )
    if isinstance(test, DirectionalTest) and spec.feature(test.feature).kind is not FeatureKind.numeric:
        raise ValidationError(
            f"directional expectation {test.name!r} needs a numeric feature; {test.feature!r} is not."
        )
    if test.class_name is None:
        if isinstance(test, DirectionalTest) and spec.is_classification:
            raise ValidationError(
                f"directional expectation {test.name!r} must name the class_name whose score it watches."
            )
        return None
    if not spec.class_names or test.class_name not in spec.class_names:
        raise ValidationError(
            f"expectation {test.name!r} names class {test.class_name!r}, not among {spec.class_names}."
        )
    return spec.class_names.index(test.class_name)


def _scores(model: Any, frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    if spec.is_classification:
        return np.asarray(model.predict_proba(frame), dtype=np.float64)
    return np.asarray(model.predict(frame), dtype=np.float64)[:, None]


def run_expectation(
    model: Any, frame: pd.DataFrame, spec: ModelSpec, test: InvarianceTest | DirectionalTest
) -> ExpectationResult:
    """Run one test on every row of ``frame``."""
    cls = _check(test, spec)
    n = len(frame)
    base = _scores(model, frame, spec)
    if isinstance(test, InvarianceTest):
        variants = [frame.assign(**{test.feature: [v] * n}) for v in test.values]
    else:
        shifted = pd.to_numeric(frame[test.feature], errors="coerce") + test.delta
        variants = [frame.assign(**{test.feature: shifted})]
    scored = _scores(model, pd.concat(variants, ignore_index=True), spec).reshape(len(variants), n, -1)
    change = scored - base[None]  # (variants, n, k)
    if isinstance(test, InvarianceTest):
        if test.eps is None:
            moved = (
                np.argmax(scored, axis=2) != np.argmax(base, axis=1)[None]
                if spec.is_classification
                else change[..., 0] != 0
            )
            size = np.abs(change).max(axis=2)
        else:
            size = np.abs(change[..., cls]) if cls is not None else np.abs(change).max(axis=2)
            moved = size >= test.eps
        violated = moved.any(axis=0)
        worst = size.max(axis=0)
    else:
        signed = change[0, :, cls if cls is not None else 0]
        wrong = -signed if test.direction == "increase" else signed
        violated = wrong > test.tolerance
        worst = np.maximum(wrong, 0.0)
    n_bad = int(violated.sum())
    rate = n_bad / n if n else 0.0
    return ExpectationResult(
        name=test.name,
        kind=test.kind,
        feature=test.feature,
        passed=rate <= test.max_violation_rate,
        n_rows=n,
        n_violations=n_bad,
        violation_rate=rate,
        max_change=float(worst.max()) if n else 0.0,
        example_rows=np.flatnonzero(violated)[:10].tolist(),
    )


def run_expectations(
    model: Any,
    frame: pd.DataFrame,
    spec: ModelSpec,
    tests: Sequence[InvarianceTest | DirectionalTest],
    *,
    max_rows: int = 1000,
    seed: int = 0,
) -> list[ExpectationResult]:
    """Run every test on a seeded sample of at most ``max_rows`` rows of ``frame``."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ValidationError(
            f"The 'max_rows' parameter of run_expectations must be a positive int; got {max_rows!r}."
        )
    names = [t.name for t in tests]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValidationError(f"expectation names must be unique; repeated: {dup}.")
    if len(frame) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
        frame = frame.iloc[rows]
    frame = frame.reset_index(drop=True)
    return [run_expectation(model, frame, spec, t) for t in tests]
