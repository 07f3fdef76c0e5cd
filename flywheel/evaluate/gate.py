"""The offline gate: does the candidate earn promotion? A refusal says where and by how much.

:class:`GatePolicy` is config (pydantic; it lives in the retraining strategy YAML):

- ``min_improvement``: the candidate must beat the champion on the primary metric of the
  primary eval set by at least this much (in the metric's "better" direction).
- ``max_regression``: on every eval set and every slice with at least ``min_slice_size``
  rows, no regression metric may get worse than the champion's by more than this. With
  ``significant_only``, a drop counts only when the paired bootstrap interval of the change
  lies wholly on the worse side of zero.
- ``required_eval_sets``: eval sets that must be in the report, non-empty.
- ``required_expectations``: expectation tests the candidate must pass ("all" by default).
- ``must_beat_baseline``: the candidate must beat the baseline by ``baseline_margin``.

Without a champion (the first model) the champion checks pass, saying so.

>>> import numpy as np, pandas as pd
>>> from flywheel.evaluate.report import EvalSet, build_report
>>> from flywheel.schema import ModelSpec
>>> class Always:
...     def __init__(self, p): self.p = p
...     def predict_proba(self, frame): return np.tile([1 - self.p, self.p], (len(frame), 1))
>>> spec = ModelSpec(name="m", task="binary", class_names=["no", "yes"], features=[{"name": "x", "kind": "numeric"}])
>>> holdout = EvalSet(pd.DataFrame({"x": np.arange(40.0)}), np.array(["yes"] * 30 + ["no"] * 10))
>>> report = build_report(spec, Always(0.2), {"holdout": holdout}, champion=Always(0.8), n_boot=50)
>>> result = gate(report, GatePolicy())
>>> result.passed
False
>>> print(result.reasons[1])  # doctest: +ELLIPSIS
eval set 'holdout': accuracy worse by 0.5000 (candidate 0.2500 vs champion 0.7500, 40 rows; 95% CI of the gain [...]); the policy allows a loss of at most 0.0100
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flywheel.errors import ValidationError
from flywheel.evaluate.report import EvalSetResult, EvaluationReport, MetricValue, SliceResult


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary_metric: str | None = Field(default=None, description="Default: the report's primary metric.")
    primary_eval_set: str | None = Field(default=None, description="Default: the report's first eval set.")
    min_improvement: float = Field(
        default=0.0, description="Least gain over the champion on the primary metric."
    )
    max_regression: float = Field(
        default=0.01, ge=0, description="Largest loss allowed on any slice or eval set."
    )
    regression_metrics: list[str] | None = Field(
        default=None, description="Metrics watched for regressions; default the primary."
    )
    significant_only: bool = Field(
        default=False, description="Count a regression only if its bootstrap interval excludes 0."
    )
    min_slice_size: int = Field(default=30, ge=1, description="Slices with fewer rows are not judged.")
    required_eval_sets: list[str] = Field(default_factory=list)
    required_expectations: list[str] | Literal["all"] = "all"
    must_beat_baseline: bool = True
    baseline_margin: float = 0.0


class GateCheck(BaseModel):
    check: str
    subject: str
    metric: str | None = None
    passed: bool
    value: float | None = None
    threshold: float | None = None
    detail: str


class GateResult(BaseModel):
    passed: bool
    reasons: list[str] = Field(description="One line per failed check: what, where, the numbers.")
    checks: list[GateCheck]
    policy: GatePolicy


def _gain(delta: MetricValue, higher: bool) -> tuple[float | None, float | None, float | None]:
    """(value, lo, hi) of the change oriented so that positive is better."""
    if delta.value is None:
        return None, None, None
    if higher:
        return delta.value, delta.lo, delta.hi
    lo = None if delta.hi is None else -delta.hi
    hi = None if delta.lo is None else -delta.lo
    return -delta.value, lo, hi


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _where(es: EvalSetResult, sl: SliceResult | None) -> str:
    return f"eval set {es.name!r}" if sl is None else f"slice {sl.name!r} of eval set {es.name!r}"


def gate(report: EvaluationReport, policy: GatePolicy) -> GateResult:
    """Judge ``report`` by ``policy``; see the module docstring."""
    primary = policy.primary_metric or report.primary_metric
    watched = policy.regression_metrics or [primary]
    for m in [primary, *watched]:
        if m not in report.metrics:
            raise ValidationError(
                f"gate policy names metric {m!r}, which the report lacks; it has {report.metrics}."
            )
    names = [e.name for e in report.eval_sets]
    main_name = policy.primary_eval_set or names[0]
    if main_name not in names:
        raise ValidationError(
            f"gate policy's primary_eval_set {main_name!r} is not in the report; it has {names}."
        )
    main = report.eval_set(main_name)
    has_champion = "champion" in report.models
    checks: list[GateCheck] = []
    conf = f"{report.confidence:.0%}"

    for req in policy.required_eval_sets:
        present = req in names and report.eval_set(req).n > 0
        checks.append(
            GateCheck(
                check="required_eval_set",
                subject=f"eval set {req!r}",
                passed=present,
                detail="present"
                if present
                else f"required eval set {req!r} is missing or empty in the report",
            )
        )

    if has_champion:
        higher = report.higher_is_better[primary]
        gain, lo, hi = _gain(main.overall.deltas["champion"][primary], higher)
        ok = gain is not None and gain >= policy.min_improvement
        cand = main.overall.models["candidate"].metrics[primary].value
        champ = main.overall.models["champion"].metrics[primary].value
        checks.append(
            GateCheck(
                check="min_improvement",
                subject=f"eval set {main.name!r}",
                metric=primary,
                passed=ok,
                value=gain,
                threshold=policy.min_improvement,
                detail=f"{primary} gain over the champion {_fmt(gain)} (candidate {_fmt(cand)} vs champion {_fmt(champ)}; "
                f"{conf} CI [{_fmt(lo)}, {_fmt(hi)}]); the policy requires at least {policy.min_improvement:.4f}",
            )
        )
        for es in report.eval_sets:
            for sl in [None, *es.slices]:
                res = es.overall if sl is None else sl
                for m in watched:
                    checks.append(_regression_check(report, policy, es, sl, res, m, conf))
    else:
        checks.append(
            GateCheck(
                check="min_improvement",
                subject="champion",
                passed=True,
                detail="no champion to compare with (first version); champion checks skipped",
            )
        )

    if policy.must_beat_baseline and "baseline" in report.models:
        higher = report.higher_is_better[primary]
        gain, lo, hi = _gain(main.overall.deltas["baseline"][primary], higher)
        ok = gain is not None and gain >= policy.baseline_margin
        checks.append(
            GateCheck(
                check="beats_baseline",
                subject=f"eval set {main.name!r}",
                metric=primary,
                passed=ok,
                value=gain,
                threshold=policy.baseline_margin,
                detail=f"{primary} gain over the baseline {_fmt(gain)} ({conf} CI [{_fmt(lo)}, {_fmt(hi)}]); "
                f"the policy requires at least {policy.baseline_margin:.4f}",
            )
        )

    results = {r.name: r for r in report.expectations.get("candidate", [])}
    required = list(results) if policy.required_expectations == "all" else policy.required_expectations
    for name in required:
        r = results.get(name)
        if r is None:
            checks.append(
                GateCheck(
                    check="expectation",
                    subject=f"expectation {name!r}",
                    passed=False,
                    detail=f"required expectation {name!r} was not run in this report",
                )
            )
            continue
        checks.append(
            GateCheck(
                check="expectation",
                subject=f"expectation {name!r}",
                passed=r.passed,
                value=r.violation_rate,
                detail=f"{r.kind} on {r.feature!r}: {r.n_violations} of {r.n_rows} rows violate it "
                f"(rate {r.violation_rate:.4f}, largest change {r.max_change:.4f})",
            )
        )

    failed = [c for c in checks if not c.passed]
    reasons = [f"{c.subject}: {c.detail}" for c in failed]
    return GateResult(passed=not failed, reasons=reasons, checks=checks, policy=policy)


def _regression_check(
    report: EvaluationReport,
    policy: GatePolicy,
    es: EvalSetResult,
    sl: SliceResult | None,
    res: SliceResult,
    metric: str,
    conf: str,
) -> GateCheck:
    where = _where(es, sl)
    if res.n < policy.min_slice_size:
        return GateCheck(
            check="max_regression",
            subject=where,
            metric=metric,
            passed=True,
            detail=f"{res.n} rows, fewer than min_slice_size {policy.min_slice_size}: not judged",
        )
    gain, lo, hi = _gain(res.deltas["champion"][metric], report.higher_is_better[metric])
    cand = res.models["candidate"].metrics[metric].value
    champ = res.models["champion"].metrics[metric].value
    if gain is None:
        return GateCheck(
            check="max_regression",
            subject=where,
            metric=metric,
            passed=True,
            detail=f"{metric} is undefined here: not judged",
        )
    too_far = gain < -policy.max_regression
    significant = hi is not None and hi < 0
    ok = not too_far or (policy.significant_only and not significant)
    detail = (
        f"{metric} {'worse' if gain < 0 else 'better'} by {abs(gain):.4f} (candidate {_fmt(cand)} vs champion "
        f"{_fmt(champ)}, {res.n} rows; {conf} CI of the gain [{_fmt(lo)}, {_fmt(hi)}]); the policy allows a loss "
        f"of at most {policy.max_regression:.4f}"
    )
    if too_far and ok:
        detail += " (not significant, so allowed)"
    return GateCheck(
        check="max_regression",
        subject=where,
        metric=metric,
        passed=ok,
        value=gain,
        threshold=-policy.max_regression,
        detail=detail,
    )
