"""Offline evaluation: the candidate-vs-champion report, expectation tests and the gate."""

from flywheel.evaluate.bootstrap import BootstrapResult, bootstrap
from flywheel.evaluate.expectations import (
    DirectionalTest,
    Expectation,
    ExpectationResult,
    InvarianceTest,
    run_expectations,
)
from flywheel.evaluate.gate import GateCheck, GatePolicy, GateResult, gate
from flywheel.evaluate.html import render_html
from flywheel.evaluate.metrics import default_metric, higher_is_better, metric_names, point_metrics
from flywheel.evaluate.report import EvalSet, EvaluationReport, build_report

__all__ = [
    "BootstrapResult",
    "DirectionalTest",
    "EvalSet",
    "EvaluationReport",
    "Expectation",
    "ExpectationResult",
    "GateCheck",
    "GatePolicy",
    "GateResult",
    "InvarianceTest",
    "bootstrap",
    "build_report",
    "default_metric",
    "gate",
    "higher_is_better",
    "metric_names",
    "point_metrics",
    "render_html",
    "run_expectations",
]
