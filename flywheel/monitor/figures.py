"""Plotly figures (plain dicts) of a monitoring time series, shared by the web pages and the
standalone HTML report, so both draw the same numbers the API returns.

>>> ts = {"windows": [{"start": "2024-01-01T00:00:00+00:00", "rows": 10, "drift": {"features": [
...     {"name": "age", "score": 2.0, "flagged": True, "metric": "psi"}], "outputs": []},
...     "performance": {}, "estimated_performance": {}, "quality": {"total": 0}, "feedback": {"rate": None}}]}
>>> drift_heatmap(ts)["data"][0]["z"]
[[2.0]]
"""

from __future__ import annotations

from typing import Any

MEASURED = "#1f77b4"
ESTIMATED = "#ff7f0e"
LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
    "height": 320,
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": -0.18},
}


def _x(ts: dict[str, Any]) -> list[str]:
    return [w["start"] for w in ts.get("windows", [])]


def drift_heatmap(ts: dict[str, Any], outputs: bool = False) -> dict[str, Any]:
    """Feature × time: each cell is the largest metric/threshold ratio (1 = at the threshold)."""
    key = "outputs" if outputs else "features"
    windows = ts.get("windows", [])
    names: list[str] = []
    for w in windows:
        for e in w["drift"][key]:
            if e["name"] not in names:
                names.append(e["name"])
    z, text = [], []
    for name in names:
        row, tip = [], []
        for w in windows:
            e = next((e for e in w["drift"][key] if e["name"] == name), None)
            row.append(None if e is None else round(e["score"] or 0.0, 3))
            tip.append("" if e is None else f"{e.get('metric') or ''}{' · flagged' if e['flagged'] else ''}")
        z.append(row)
        text.append(tip)
    return {
        "data": [
            {
                "type": "heatmap",
                "x": _x(ts),
                "y": names,
                "z": z,
                "text": text,
                "zmin": 0,
                "zmax": 3,
                "colorscale": [[0, "#f7fbff"], [0.33, "#fdd49e"], [0.66, "#fc8d59"], [1, "#b30000"]],
                "colorbar": {"title": {"text": "× threshold"}},
                "hovertemplate": "%{y} · %{x}<br>%{z}× threshold %{text}<extra></extra>",
            }
        ],
        "layout": {
            **LAYOUT,
            "hovermode": "closest",
            "height": max(220, 40 + 28 * len(names)),
            "title": {"text": ("Output" if outputs else "Feature") + " drift (effect ÷ threshold)"},
        },
    }


def _band(
    name: str, xs: list[str], vals: list[dict[str, Any] | None], color: str, dash: str
) -> list[dict[str, Any]]:
    y = [None if v is None else v.get("value") for v in vals]
    lo = [None if v is None else v.get("lower") for v in vals]
    hi = [None if v is None else v.get("upper") for v in vals]
    return [
        {
            "type": "scatter",
            "x": xs,
            "y": hi,
            "mode": "lines",
            "line": {"width": 0},
            "showlegend": False,
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": xs,
            "y": lo,
            "mode": "lines",
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": color + "33",
            "showlegend": False,
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": xs,
            "y": y,
            "mode": "lines+markers",
            "name": name,
            "line": {"color": color, "dash": dash},
        },
    ]


def performance_chart(ts: dict[str, Any], metric: str = "accuracy") -> dict[str, Any]:
    """Measured (labels) and estimated (CBPE) ``metric`` over time, with their intervals."""
    xs = _x(ts)
    windows = ts.get("windows", [])
    measured = [w["performance"].get(metric) for w in windows]
    estimated = [w["estimated_performance"].get(metric) for w in windows]
    data = _band(f"measured {metric}", xs, measured, MEASURED, "solid")
    data += _band(f"estimated {metric}", xs, estimated, ESTIMATED, "dot")
    ref = ((ts.get("reference") or {}).get("performance") or {}).get(metric)
    shapes = []
    if ref is not None and xs:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": ref,
                "y1": ref,
                "line": {"dash": "dash", "color": "#888"},
            }
        )
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "title": {"text": f"{metric}: measured and estimated (dashed line: reference)"},
            "shapes": shapes,
        },
    }


def volume_chart(ts: dict[str, Any]) -> dict[str, Any]:
    """Rows, labelled rows and data-quality violations per window."""
    xs = _x(ts)
    windows = ts.get("windows", [])
    return {
        "data": [
            {"type": "bar", "x": xs, "y": [w["rows"] for w in windows], "name": "events"},
            {"type": "bar", "x": xs, "y": [w.get("labelled", 0) for w in windows], "name": "labelled"},
            {
                "type": "scatter",
                "x": xs,
                "y": [w["quality"]["total"] for w in windows],
                "name": "quality violations",
                "yaxis": "y2",
                "mode": "lines+markers",
                "line": {"color": "#c62828"},
            },
        ],
        "layout": {
            **LAYOUT,
            "barmode": "group",
            "title": {"text": "Events, labels and data-quality violations"},
            "yaxis2": {
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "title": {"text": "violations"},
            },
        },
    }


def feedback_chart(ts: dict[str, Any]) -> dict[str, Any]:
    xs = _x(ts)
    rates = [w["feedback"]["rate"] for w in ts.get("windows", [])]
    return {
        "data": [{"type": "scatter", "x": xs, "y": rates, "mode": "lines+markers", "name": "feedback rate"}],
        "layout": {
            **LAYOUT,
            "title": {"text": "Share of events with feedback"},
            "yaxis": {"tickformat": ".1%"},
        },
    }


def column_drift_chart(ts: dict[str, Any], name: str) -> dict[str, Any]:
    """Every metric of one feature over time."""
    xs = _x(ts)
    series: dict[str, list[float | None]] = {}
    windows = ts.get("windows", [])
    for i, w in enumerate(windows):
        e = next((e for e in w["drift"]["features"] + w["drift"]["outputs"] if e["name"] == name), None)
        for m, v in (e or {}).get("metrics", {}).items():
            series.setdefault(m, [None] * len(windows))[i] = v
    data = [
        {"type": "scatter", "x": xs, "y": ys, "mode": "lines+markers", "name": m}
        for m, ys in series.items()
        if m not in ("chi2", "new_categories")
    ]
    return {"data": data, "layout": {**LAYOUT, "title": {"text": f"Drift metrics of {name}"}}}


def distribution_chart(dist: dict[str, Any]) -> dict[str, Any]:
    """Reference against current shares, per bin or category."""
    if dist.get("kind") == "categorical":
        x: list[Any] = dist.get("categories", [])
    else:
        # Bin centres; the two open tails sit one bin width outside the grid.
        inner = [e for e in dist.get("edges", []) if e is not None]
        w = (inner[1] - inner[0]) if len(inner) > 1 else 1.0
        x = [inner[0] - w / 2] + [(a + b) / 2 for a, b in zip(inner[:-1], inner[1:], strict=False)]
        x = x + [inner[-1] + w / 2] if inner else []
    data = []
    for name, color in (("reference", "#7f7f7f"), ("current", MEASURED)):
        if dist.get(name):
            data.append({"type": "bar", "x": x, "y": dist[name], "name": name, "marker": {"color": color}})
    unit = f" ({dist['unit']})" if dist.get("unit") else ""
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "barmode": "group",
            "hovermode": "closest",
            "title": {"text": f"{dist.get('column', '')}{unit}: reference against current"},
            "yaxis": {"tickformat": ".0%"},
        },
    }
