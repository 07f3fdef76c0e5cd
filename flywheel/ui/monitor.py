"""Monitoring pages: health overview, drift heat map, a feature's distribution, performance
(measured and estimated, per slice), data quality, alerts, and the events behind any number.

Every page has its JSON twin (``.json`` or ``?format=json``) holding the data it renders; every
figure links to the events behind it (the drill-down page, and from there the events explorer).
The monitoring modules are imported on first use, so the server starts fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from flywheel.errors import ValidationError
from flywheel.ingest.read import parse_time_param
from flywheel.monitor import figures
from flywheel.ui import pages

router = APIRouter(include_in_schema=False)
pages.MODEL_TABS.append(("Monitoring", "monitoring"))
pages.MODEL_TABS.append(("Alerts", "alerts"))
SUBPAGES = [
    ("Health", ""),
    ("Drift", "/drift"),
    ("Performance", "/performance"),
    ("Data quality", "/quality"),
]


def _store(request: Request) -> Any:
    return request.app.state.store


def _filters(request: Request, model: str) -> dict[str, Any]:
    from flywheel.monitor.service import BUCKETS, default_range

    q = request.query_params
    bucket = q.get("bucket") or "day"
    if bucket not in BUCKETS:
        raise ValidationError(
            f"The 'bucket' parameter must be one of {list(BUCKETS)}; got {bucket!r}.",
            details=[{"field": "bucket", "reason": "unknown bucket"}],
        )
    since, until = parse_time_param(q.get("since"), "since"), parse_time_param(q.get("until"), "until")
    if since is None or until is None:
        rng = default_range(_store(request), model, bucket)
        now = datetime.now(UTC)
        rng = rng or (now - timedelta(days=1), now)
        since, until = since or rng[0], until or rng[1]
    return {
        "since": since,
        "until": until,
        "bucket": bucket,
        "exact": q.get("exact") in ("1", "true", "on"),
        "slice": q.get("slice") or None,
        "model_version": q.get("model_version") or None,
    }


def _query(f: dict[str, Any], **extra: Any) -> str:
    base = {
        "since": f["since"].isoformat(),
        "until": f["until"].isoformat(),
        "bucket": f["bucket"],
        "exact": "1" if f["exact"] else None,
        "slice": f["slice"],
        "model_version": f["model_version"],
    }
    base.update(extra)
    return urlencode({k: v for k, v in base.items() if v not in (None, "")})


def drill(model: str, kind: str, start: str, end: str, **extra: Any) -> str:
    args = {"kind": kind, "window_start": start, "window_end": end, **extra}
    return f"/models/{model}/monitoring/events?" + urlencode({k: v for k, v in args.items() if v})


def _series(request: Request, model: str, f: dict[str, Any], **kw: Any) -> dict[str, Any]:
    from flywheel.monitor.service import monitoring, public

    return public(
        monitoring(
            _store(request),
            model,
            since=f["since"],
            until=f["until"],
            bucket=f["bucket"],
            exact=f["exact"],
            slice=f["slice"],
            model_version=f["model_version"],
            **kw,
        )
    )


def _base(request: Request, model: str, title: str, f: dict[str, Any], sub: str) -> dict[str, Any]:
    store = _store(request)
    rec = store.models.get(model)
    return {
        "title": f"{model} · {title}",
        "model": model,
        "task": rec.spec.task.value,
        "slices_defined": [s.name for s in rec.spec.slices],
        "filters": {**f, "since": f["since"].isoformat(), "until": f["until"].isoformat()},
        "query": _query(f),
        "subpages": SUBPAGES,
        "sub": sub,
        "open_alerts": [a.to_dict() for a in store.monitor.open_alerts(model)],
    }


def _links(model: str, w: dict[str, Any], metric: str) -> dict[str, str]:
    from flywheel.monitor.drilldown import explore_link

    s, e = w["start"], w["end"]
    return {
        "events": explore_link(model, datetime.fromisoformat(s), datetime.fromisoformat(e)),
        "performance": drill(model, "performance", s, e),
        "estimated": drill(model, "estimated", s, e),
        "feedback": drill(model, "feedback", s, e),
    }


def _twin(request: Request, template: str, ctx: dict[str, Any]) -> Response:
    return pages.twin(request, template, ctx, request.url.path.endswith(".json"))


# -- health overview -------------------------------------------------------------------------
@router.get("/models/{model}/monitoring")
@router.get("/models/{model}/monitoring.json")
def health(request: Request, model: str) -> Response:
    from flywheel.monitor.report import headline_metric

    f = _filters(request, model)
    ts = _series(request, model, f)
    metric = headline_metric(ts)
    for w in ts["windows"]:
        w["links"] = _links(model, w, metric)
    latest = ts["windows"][-1] if ts["windows"] else None
    ctx = {
        **_base(request, model, "monitoring", f, ""),
        "metric": metric,
        "ts": ts,
        "latest": latest,
        "figures": {
            "features": figures.drift_heatmap(ts),
            "outputs": figures.drift_heatmap(ts, outputs=True),
            "performance": figures.performance_chart(ts, metric),
            "volume": figures.volume_chart(ts),
        },
    }
    return _twin(request, "monitor_health.html", ctx)


# -- drift ------------------------------------------------------------------------------------
@router.get("/models/{model}/monitoring/drift")
@router.get("/models/{model}/monitoring/drift.json")
def drift(request: Request, model: str) -> Response:
    f = _filters(request, model)
    ts = _series(request, model, f)
    names: list[str] = []
    for w in ts["windows"]:
        for e in w["drift"]["features"] + w["drift"]["outputs"]:
            if e["name"] not in names:
                names.append(e["name"])
    grid = []
    for name in names:
        cells = []
        for w in ts["windows"]:
            e = next((e for e in w["drift"]["features"] + w["drift"]["outputs"] if e["name"] == name), None)
            cells.append(
                {
                    "score": None if e is None else e["score"],
                    "flagged": bool(e and e["flagged"]),
                    "reason": None if e is None else e["reason"],
                    "href": f"/models/{model}/monitoring/features/{name}?"
                    + _query(f, window_start=w["start"], window_end=w["end"]),
                }
            )
        grid.append({"name": name, "cells": cells})
    ctx = {
        **_base(request, model, "drift", f, "/drift"),
        "windows": [w["start"] for w in ts["windows"]],
        "grid": grid,
        "importance": ts.get("importance", {}),
        "figures": {
            "features": figures.drift_heatmap(ts),
            "outputs": figures.drift_heatmap(ts, outputs=True),
        },
        "click": f"/models/{model}/monitoring/features/{{y}}?" + _query(f) + "&window_start={x}",
    }
    return _twin(request, "monitor_drift.html", ctx)


@router.get("/models/{model}/monitoring/features/{column}")
def feature(request: Request, model: str, column: str) -> Response:
    from flywheel.monitor.distribution import distribution
    from flywheel.monitor.drilldown import explore_link
    from flywheel.monitor.reference import implicit_reference, load_reference

    as_json = column.endswith(".json")
    column = column[: -len(".json")] if as_json else column
    f = _filters(request, model)
    store = _store(request)
    ts = _series(request, model, f)
    q = request.query_params
    ws = parse_time_param(q.get("window_start"), "window_start")
    we = parse_time_param(q.get("window_end"), "window_end")
    chosen = None
    for w in ts["windows"]:
        if ws is not None and datetime.fromisoformat(w["start"]) == ws.astimezone(UTC):
            chosen = w
    chosen = chosen or (ts["windows"][-1] if ts["windows"] else None)
    if chosen is not None and (ws is None or we is None):
        ws, we = datetime.fromisoformat(chosen["start"]), datetime.fromisoformat(chosen["end"])
    ws, we = ws or f["since"], we or f["until"]
    ref = load_reference(store, model, f["model_version"]) or implicit_reference(store, model)
    dist = distribution(
        store, model, column, since=ws, until=we, reference=ref, model_version=f["model_version"]
    )
    entry = None
    if chosen is not None:
        entry = next(
            (e for e in chosen["drift"]["features"] + chosen["drift"]["outputs"] if e["name"] == column), None
        )
    ctx = {
        **_base(request, model, f"feature {column}", f, "/drift"),
        "column": column,
        "window_start": ws.isoformat(),
        "window_end": we.isoformat(),
        "windows": [{"start": w["start"], "end": w["end"]} for w in ts["windows"]],
        "distribution": dist,
        "drift": entry,
        "events_href": drill(model, "drift", ws.isoformat(), we.isoformat(), column=column),
        "explore_href": explore_link(model, ws, we),
        "figures": {
            "distribution": figures.distribution_chart(dist),
            "metrics": figures.column_drift_chart(ts, column),
        },
    }
    return pages.twin(request, "monitor_feature.html", ctx, as_json)


# -- performance ------------------------------------------------------------------------------
@router.get("/models/{model}/monitoring/performance")
@router.get("/models/{model}/monitoring/performance.json")
def performance(request: Request, model: str) -> Response:
    from flywheel.monitor.report import headline_metric

    f = _filters(request, model)
    ts = _series(request, model, f, include_slices=True)
    metric = headline_metric(ts)
    metrics = ["accuracy", "f1", "roc_auc"] if metric == "accuracy" else ["mae", "rmse", "r2"]
    if metric == "accuracy" and not any(
        "f1" in w["performance"] or "f1" in w["estimated_performance"] for w in ts["windows"]
    ):
        metrics = ["accuracy", "f1_macro", "roc_auc_macro"]
    for w in ts["windows"]:
        w["links"] = _links(model, w, metric)
    slices = [
        {"label": label, **s, "href": f"/models/{model}/monitoring/performance?" + _query(f, slice=label)}
        for label, s in ts.get("slices", {}).items()
    ]
    ctx = {
        **_base(request, model, "performance", f, "/performance"),
        "metric": metric,
        "metrics": metrics,
        "ts": ts,
        "slices": slices,
        "reference_performance": (ts.get("reference") or {}).get("performance") or {},
        "figures": {m: figures.performance_chart(ts, m) for m in metrics}
        | {"feedback": figures.feedback_chart(ts)},
    }
    return _twin(request, "monitor_performance.html", ctx)


# -- data quality -------------------------------------------------------------------------------
@router.get("/models/{model}/monitoring/quality")
@router.get("/models/{model}/monitoring/quality.json")
def quality(request: Request, model: str) -> Response:
    from flywheel.monitor.config import quality_rules_for
    from flywheel.monitor.reference import implicit_reference, load_reference

    f = _filters(request, model)
    store = _store(request)
    ts = _series(request, model, f)
    ref = load_reference(store, model, f["model_version"]) or implicit_reference(store, model)
    rules, source = quality_rules_for(store, model, ref)
    rows = []
    for r in rules:
        cells = []
        for w in ts["windows"]:
            n = w["quality"]["violations"].get(r.id)
            cells.append({"n": n, "href": drill(model, "quality", w["start"], w["end"], rule=r.id)})
        rows.append(
            {
                **r.model_dump(),
                "description": r.describe(),
                "cells": cells,
                "total": sum(c["n"] or 0 for c in cells),
            }
        )
    ctx = {
        **_base(request, model, "data quality", f, "/quality"),
        "source": source,
        "windows": [w["start"] for w in ts["windows"]],
        "rules": rows,
        "figures": {"volume": figures.volume_chart(ts)},
    }
    return _twin(request, "monitor_quality.html", ctx)


# -- alerts ---------------------------------------------------------------------------------------
@router.get("/models/{model}/alerts")
@router.get("/models/{model}/alerts.json")
def alerts_page(request: Request, model: str) -> Response:
    from flywheel.monitor.drilldown import explore_link

    store = _store(request)
    store.models.get(model)
    status = request.query_params.get("status") or "all"
    found = store.monitor.alerts(model, status=None if status == "all" else status, limit=500)
    items = []
    for a in found:
        d = a.to_dict()
        d["events_href"] = explore_link(model, a.window_start, a.window_end)
        d["deliveries"] = [
            x.to_dict() for x in store.monitor.deliveries(model, alert_id=a.alert_id, limit=20)
        ]
        items.append(d)
    ctx = {
        "title": f"{model} · alerts",
        "model": model,
        "status": status,
        "alerts": items,
        "open": sum(1 for a in found if a.is_open),
    }
    return _twin(request, "monitor_alerts.html", ctx)


# -- the events behind a number ------------------------------------------------------------------
@router.get("/models/{model}/monitoring/events")
@router.get("/models/{model}/monitoring/events.json")
def events(request: Request, model: str) -> Response:
    from flywheel.monitor.drilldown import KINDS as DRILL_KINDS
    from flywheel.monitor.drilldown import events_behind

    q = request.query_params
    ws = parse_time_param(q.get("window_start"), "window_start")
    we = parse_time_param(q.get("window_end"), "window_end")
    if ws is None or we is None:
        raise ValidationError(
            "The 'window_start' and 'window_end' parameters are required.",
            details=[{"field": "window_start", "reason": "is required"}],
        )
    store = _store(request)
    spec = store.models.get(model).spec
    found = events_behind(
        store,
        model,
        kind=q.get("kind") or "events",
        window_start=ws,
        window_end=we,
        column=q.get("column") or None,
        rule=q.get("rule") or None,
        limit=min(max(int(q.get("limit") or 100), 1), 1000),
        model_version=q.get("model_version") or None,
    )
    ctx = {
        "title": f"{model} · {found['what']}",
        "model": model,
        "kinds": DRILL_KINDS,
        "features": [f.name for f in spec.features][:6],
        **found,
    }
    return _twin(request, "monitor_events.html", ctx)
