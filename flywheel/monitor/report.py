"""``flywheel monitor report``: a model's monitoring as one standalone HTML file.

The page holds the time series of :func:`flywheel.monitor.service.monitoring` as charts (drift
heat maps, measured and estimated performance, volume and data quality, feedback) and
tables, and the open alerts. Plotly's JavaScript is read from the installed ``plotly``
package and inlined, so the file opens offline and loads nothing from the network.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import orjson

from flywheel import __version__
from flywheel.monitor import figures
from flywheel.monitor.quality_rules import QualityRule

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def inline_plotly_js() -> str:
    """The minified plotly.js shipped inside the installed ``plotly`` Python package."""
    js = resources.files("plotly").joinpath("package_data/plotly.min.js").read_text(encoding="utf-8")
    return js.replace("</", "<\\/")  # inside <script>, "</" could close the element early


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"])
    )
    env.filters["tojson_attr"] = lambda v: orjson.dumps(v, default=str).decode()
    return env


def headline_metric(ts: dict[str, Any]) -> str:
    """The metric to chart: accuracy for classifiers, MAE for regression."""
    for w in ts.get("windows", []):
        for m in ("accuracy", "mae"):
            if m in w["performance"] or m in w["estimated_performance"]:
                return m
    perf = (ts.get("reference") or {}).get("performance") or {}
    return "mae" if "mae" in perf else "accuracy"


def render_report(
    ts: dict[str, Any], open_alerts: list[dict[str, Any]], *, plotly_js: str | None = None
) -> str:
    """The HTML page for a monitoring time series (``public(monitoring(...))``) and open alerts."""
    metric = headline_metric(ts)
    figs = [
        ("Feature drift", figures.drift_heatmap(ts)),
        ("Output drift", figures.drift_heatmap(ts, outputs=True)),
        ("Performance", figures.performance_chart(ts, metric)),
        ("Volume and data quality", figures.volume_chart(ts)),
        ("Feedback", figures.feedback_chart(ts)),
    ]
    rules = [QualityRule.model_validate(r) for r in ts.get("quality_rules", {}).get("rules", [])]
    violations: dict[str, int] = {}
    for w in ts.get("windows", []):
        for k, v in w["quality"]["violations"].items():
            violations[k] = violations.get(k, 0) + v
    return (
        _env()
        .get_template("report.html")
        .render(
            model=ts.get("model"),
            ts=ts,
            metric=metric,
            figures=figs,
            open_alerts=open_alerts,
            rules=[{**r.model_dump(), "description": r.describe()} for r in rules],
            violations=violations,
            total_rows=sum(w["rows"] for w in ts.get("windows", [])),
            total_violations=sum(violations.values()),
            drifted_windows=sum(1 for w in ts.get("windows", []) if w["drift"]["flagged"]),
            plotly_js=inline_plotly_js() if plotly_js is None else plotly_js,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            version=__version__,
        )
    )


def write_report(
    store: Any,
    model: str,
    out: str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: str = "day",
    exact: bool = False,
) -> dict[str, Any]:
    """Compute the monitoring of ``model`` and write the report to ``out``; returns a summary."""
    from flywheel.monitor.service import monitoring, public

    ts = public(
        monitoring(store, model, since=since, until=until, bucket=bucket, exact=exact, include_slices=True)
    )
    open_alerts = [a.to_dict() for a in store.monitor.open_alerts(model)]
    html = render_report(ts, open_alerts)
    Path(out).write_text(html, encoding="utf-8")
    return {
        "path": str(out),
        "bytes": len(html.encode()),
        "windows": len(ts.get("windows", [])),
        "open_alerts": len(open_alerts),
    }
