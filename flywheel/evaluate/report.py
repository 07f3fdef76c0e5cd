"""The offline evaluation report: a candidate against the champion and the baseline.

For every eval set (the time holdout first, then pinned sets such as a golden set) and
every slice of the model's spec, the report holds each model's task metrics with seeded
bootstrap confidence intervals and, for the candidate against each other model, the paired
difference with its interval. Overall, it also holds confusion matrices, per-class metrics
and reliability bins. Expectation tests run on the first eval set. The report is a pydantic
model: ``to_json()``/``from_json()`` round-trip it, and ``flywheel.evaluate.html`` renders it.

>>> import numpy as np, pandas as pd
>>> from flywheel.schema import ModelSpec
>>> class Always:
...     def __init__(self, p): self.p = p
...     def predict_proba(self, frame): return np.tile([1 - self.p, self.p], (len(frame), 1))
>>> spec = ModelSpec(name="m", task="binary", class_names=["no", "yes"],
...                  features=[{"name": "x", "kind": "numeric"}])
>>> holdout = EvalSet(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), np.array(["yes", "yes", "yes", "no"]))
>>> report = build_report(spec, Always(0.9), {"holdout": holdout}, champion=Always(0.1), n_boot=50)
>>> report.eval_set("holdout").overall.deltas["champion"]["accuracy"].value
0.5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from flywheel.errors import ValidationError
from flywheel.evaluate.bootstrap import Interval, bootstrap
from flywheel.evaluate.expectations import (
    DirectionalTest,
    ExpectationResult,
    InvarianceTest,
    run_expectations,
)
from flywheel.evaluate.metrics import (
    check_metric,
    default_metric,
    higher_is_better,
    metric_names,
    per_class,
    reliability,
)
from flywheel.monitor.slices import slice_masks
from flywheel.schema import ModelSpec
from flywheel.train.data import encode_target

ROLES = ("candidate", "champion", "baseline")


@dataclass(frozen=True)
class EvalSet:
    """Rows to evaluate on: a frame with the spec's feature columns and the true labels."""

    frame: pd.DataFrame
    target: np.ndarray


class MetricValue(BaseModel):
    """A value with its bootstrap interval; None where undefined (e.g. AUC with one class)."""

    value: float | None
    lo: float | None = None
    hi: float | None = None


class CalibrationBin(BaseModel):
    lo: float
    hi: float
    count: int
    confidence: float
    accuracy: float


class ClassMetrics(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class ModelResult(BaseModel):
    metrics: dict[str, MetricValue]
    confusion: list[list[int]] | None = None
    per_class: dict[str, ClassMetrics] | None = None
    calibration: list[CalibrationBin] | None = None


class SliceResult(BaseModel):
    name: str
    n: int
    models: dict[str, ModelResult]
    deltas: dict[str, dict[str, MetricValue]] = Field(
        default_factory=dict,
        description="other role -> metric -> candidate minus that model (paired bootstrap).",
    )


class EvalSetResult(BaseModel):
    name: str
    n: int
    overall: SliceResult
    slices: list[SliceResult] = Field(default_factory=list)


class EvaluationReport(BaseModel):
    model: str
    task: str
    class_names: list[str] | None
    primary_metric: str
    metrics: list[str]
    higher_is_better: dict[str, bool]
    models: dict[str, str] = Field(description="role -> label of the model playing it (e.g. a version).")
    n_boot: int
    confidence: float
    seed: int
    created_at: datetime
    eval_sets: list[EvalSetResult]
    expectations: dict[str, list[ExpectationResult]] = Field(default_factory=dict)

    def eval_set(self, name: str) -> EvalSetResult:
        for e in self.eval_sets:
            if e.name == name:
                return e
        raise KeyError(name)

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> EvaluationReport:
        return cls.model_validate_json(text)


def _mv(iv: Interval) -> MetricValue:
    def clean(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    return MetricValue(value=clean(iv[0]), lo=clean(iv[1]), hi=clean(iv[2]))


def _outputs(model: Any, frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    if spec.is_classification:
        proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
        k = len(spec.class_names or [])
        if proba.shape != (len(frame), k):
            raise ValidationError(
                f"predict_proba gave shape {proba.shape}; expected ({len(frame)}, {k}) in class_names order."
            )
        return proba
    return np.asarray(model.predict(frame), dtype=np.float64)


def _slice_result(
    name: str,
    task: str,
    y: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    metrics: Sequence[str],
    *,
    n_boot: int,
    seed: int,
    confidence: float,
) -> SliceResult:
    res = bootstrap(
        task,
        y,
        outputs,
        names=metrics,
        reference="candidate",
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )
    models = {r: ModelResult(metrics={m: _mv(iv) for m, iv in res.values[r].items()}) for r in outputs}
    # bootstrap gives other - candidate; the report states candidate - other
    deltas = {r: {m: _mv((-v, -hi, -lo)) for m, (v, lo, hi) in d.items()} for r, d in res.deltas.items()}
    return SliceResult(name=name, n=len(y), models=models, deltas=deltas)


def build_report(
    spec: ModelSpec,
    candidate: Any,
    eval_sets: Mapping[str, EvalSet | tuple[pd.DataFrame, np.ndarray]],
    *,
    champion: Any | None = None,
    baseline: Any | None = None,
    labels: Mapping[str, str] | None = None,
    expectations: Sequence[InvarianceTest | DirectionalTest] = (),
    primary_metric: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_slice_rows: int = 1,
    max_groups: int = 50,
    max_expectation_rows: int = 1000,
) -> EvaluationReport:
    """Evaluate ``candidate`` (and ``champion``, ``baseline`` when given) on each eval set.

    Models need ``predict_proba(frame)`` (classification, columns in ``spec.class_names``
    order) or ``predict(frame)`` (regression). Slices come from ``spec.slices``; a slice
    with fewer than ``min_slice_rows`` rows in an eval set is left out of that set.
    """
    if not eval_sets:
        raise ValidationError("build_report needs at least one eval set (the time holdout, usually).")
    task = spec.task.value
    primary = check_metric(task, primary_metric or default_metric(task))
    metrics = metric_names(task)
    players = {r: m for r, m in zip(ROLES, (candidate, champion, baseline), strict=True) if m is not None}
    labels = dict(labels or {})
    results: list[EvalSetResult] = []
    for name, es in eval_sets.items():
        frame, target = (es.frame, es.target) if isinstance(es, EvalSet) else es
        frame = frame.reset_index(drop=True)
        y = encode_target(np.asarray(target), spec)
        outputs = {r: _outputs(m, frame, spec) for r, m in players.items()}
        kw: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "confidence": confidence}
        overall = _slice_result("overall", task, y, outputs, metrics, **kw)
        if spec.is_classification and len(y):
            assert spec.class_names is not None
            for r, proba in outputs.items():
                cm, pc = per_class(y, proba, spec.class_names)
                bins, _ = reliability(y, proba)
                res = overall.models[r]
                res.confusion = cm
                res.per_class = {c: ClassMetrics.model_validate(v) for c, v in pc.items()}
                res.calibration = [CalibrationBin.model_validate(b) for b in bins]
        slices = []
        if spec.slices and len(frame):
            for label, mask in slice_masks(spec, frame, max_groups=max_groups).items():
                if int(mask.sum()) < max(min_slice_rows, 1):
                    continue
                sub = {r: o[mask] for r, o in outputs.items()}
                slices.append(_slice_result(label, task, y[mask], sub, metrics, **kw))
        results.append(EvalSetResult(name=name, n=len(y), overall=overall, slices=slices))
    first = next(iter(eval_sets.values()))
    first_frame = first.frame if isinstance(first, EvalSet) else first[0]
    expect = (
        {
            r: run_expectations(m, first_frame, spec, expectations, max_rows=max_expectation_rows, seed=seed)
            for r, m in players.items()
        }
        if expectations
        else {}
    )
    return EvaluationReport(
        model=spec.name,
        task=task,
        class_names=list(spec.class_names) if spec.class_names else None,
        primary_metric=primary,
        metrics=metrics,
        higher_is_better={m: higher_is_better(m) for m in metrics},
        models={r: labels.get(r, r) for r in players},
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        created_at=datetime.now(UTC),
        eval_sets=results,
        expectations=expect,
    )
