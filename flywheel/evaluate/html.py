"""Render an evaluation report (and its gate result) as one standalone HTML page.

The page has the candidate and the champion side by side: metric tables with intervals,
per-slice charts, the paired changes, confusion matrices, reliability diagrams and the
expectation tests. Charts are Plotly; its JavaScript is read from the installed ``plotly``
package and inlined, so the page opens offline and loads nothing from the network.

>>> import numpy as np, pandas as pd
>>> from flywheel.evaluate.report import EvalSet, build_report
>>> from flywheel.schema import ModelSpec
>>> class Half:
...     def predict_proba(self, frame): return np.full((len(frame), 2), 0.5)
>>> spec = ModelSpec(name="m", task="binary", class_names=["no", "yes"], features=[{"name": "x", "kind": "numeric"}])
>>> report = build_report(spec, Half(), {"holdout": EvalSet(pd.DataFrame({"x": [1.0, 2.0]}), np.array(["no", "yes"]))}, n_boot=10)
>>> page = render_html(report, plotly_js="")
>>> page.startswith("<!doctype html>") and "holdout" in page
True
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from flywheel.evaluate.gate import GateResult
from flywheel.evaluate.report import EvalSetResult, EvaluationReport

TEMPLATES = Path(__file__).parent / "templates"
COLORS = {"candidate": "#1f77b4", "champion": "#ff7f0e", "baseline": "#7f7f7f"}


@lru_cache(maxsize=1)
def inline_plotly_js() -> str:
    """The minified plotly.js shipped inside the installed ``plotly`` Python package."""
    return resources.files("plotly").joinpath("package_data/plotly.min.js").read_text(encoding="utf-8")


def _script_safe(text: str) -> str:
    # inside <script>, "</" could close the element early
    return text.replace("</", "<\\/")


def _err(mv: Any) -> dict[str, Any]:
    return {
        "plus": None if mv.hi is None or mv.value is None else mv.hi - mv.value,
        "minus": None if mv.lo is None or mv.value is None else mv.value - mv.lo,
    }


def _bar_by_slice(report: EvaluationReport, es: EvalSetResult, metric: str) -> dict[str, Any]:
    rows = [es.overall, *es.slices]
    data = []
    for role in report.models:
        vals = [r.models[role].metrics[metric] for r in rows]
        errs = [_err(v) for v in vals]
        data.append(
            {
                "type": "bar",
                "name": f"{role}: {report.models[role]}" if report.models[role] != role else role,
                "x": [r.name for r in rows],
                "y": [v.value for v in vals],
                "marker": {"color": COLORS.get(role)},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [e["plus"] for e in errs],
                    "arrayminus": [e["minus"] for e in errs],
                },
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {"text": f"{metric} by slice ({report.confidence:.0%} bootstrap CI)"},
            "barmode": "group",
            "yaxis": {"title": {"text": metric}},
            "height": 380,
        },
    }


def _delta_by_slice(
    report: EvaluationReport, es: EvalSetResult, metric: str, other: str, gate: GateResult | None
) -> dict[str, Any]:
    rows = [es.overall, *es.slices]
    vals = [r.deltas[other][metric] for r in rows]
    errs = [_err(v) for v in vals]
    shapes = []
    if gate is not None and report.higher_is_better.get(metric, True):
        limit = -gate.policy.max_regression
    elif gate is not None:
        limit = gate.policy.max_regression
    else:
        limit = None
    if limit is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": limit,
                "y1": limit,
                "line": {"color": "#d62728", "dash": "dash"},
            }
        )
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"candidate − {other}",
                "x": [r.name for r in rows],
                "y": [v.value for v in vals],
                "marker": {"size": 10, "color": COLORS["candidate"]},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [e["plus"] for e in errs],
                    "arrayminus": [e["minus"] for e in errs],
                },
            }
        ],
        "layout": {
            "title": {
                "text": f"{metric}: candidate − {other} per slice (paired CI; dashed: largest loss allowed)"
            },
            "yaxis": {"title": {"text": "change"}, "zeroline": True},
            "shapes": shapes,
            "height": 340,
        },
    }


def _confusion(report: EvaluationReport, es: EvalSetResult, role: str) -> dict[str, Any] | None:
    cm = es.overall.models[role].confusion
    if cm is None:
        return None
    names = report.class_names or []
    return {
        "data": [
            {
                "type": "heatmap",
                "z": cm,
                "x": names,
                "y": names,
                "colorscale": "Blues",
                "reversescale": True,
                "showscale": False,
                "text": cm,
                "texttemplate": "%{text}",
            }
        ],
        "layout": {
            "title": {"text": f"{role}: confusion (rows true, columns predicted)"},
            "height": 340,
            "xaxis": {"title": {"text": "predicted"}},
            "yaxis": {"title": {"text": "true"}, "autorange": "reversed"},
        },
    }


def _reliability(report: EvaluationReport, es: EvalSetResult) -> dict[str, Any] | None:
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "perfect",
            "x": [0, 1],
            "y": [0, 1],
            "line": {"color": "#bbb", "dash": "dot"},
        }
    ]
    for role in report.models:
        bins = es.overall.models[role].calibration
        if bins is None:
            return None
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": role,
                "x": [b.confidence for b in bins],
                "y": [b.accuracy for b in bins],
                "text": [f"{b.count} rows" for b in bins],
                "marker": {"color": COLORS.get(role)},
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {"text": "reliability (top-label confidence vs accuracy)"},
            "height": 360,
            "xaxis": {"title": {"text": "confidence"}, "range": [0, 1]},
            "yaxis": {"title": {"text": "accuracy"}, "range": [0, 1]},
        },
    }


def _figures(report: EvaluationReport, es: EvalSetResult, gate: GateResult | None) -> dict[str, Any]:
    metric = (
        gate.policy.primary_metric
        if gate is not None and gate.policy.primary_metric
        else report.primary_metric
    )
    figs: dict[str, Any] = {"by_slice": _bar_by_slice(report, es, metric)}
    if "champion" in report.models:
        figs["delta"] = _delta_by_slice(report, es, metric, "champion", gate)
    for role in ("candidate", "champion"):
        if role in report.models and (fig := _confusion(report, es, role)) is not None:
            figs[f"confusion_{role}"] = fig
    if (fig := _reliability(report, es)) is not None:
        figs["reliability"] = fig
    return figs


def render_html(
    report: EvaluationReport, gate: GateResult | None = None, *, plotly_js: str | None = None
) -> str:
    """The standalone page. ``plotly_js`` overrides the inlined library (tests pass "")."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    figures = {es.name: _figures(report, es, gate) for es in report.eval_sets}
    return env.get_template("report.html").render(
        report=report,
        gate=gate,
        figures_json=_script_safe(json.dumps(figures, allow_nan=False, default=str)),
        plotly_js=_script_safe(inline_plotly_js() if plotly_js is None else plotly_js),
        fmt=lambda v, d=4: "–" if v is None else f"{v:.{d}f}",
    )
