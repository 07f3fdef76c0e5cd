"""Server-rendered pages. Every page has a JSON twin: the same URL with ``.json`` (or
``?format=json``) returns exactly the data the page renders.

Stages add their pages by defining a context function and a template; ``page()`` wires both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from flywheel.ingest.read import event_detail, list_events_page

HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
env.filters["tojson_attr"] = lambda v: orjson.dumps(v, default=str).decode()
# Client-made ids may hold any character ('/', '#', '?', '%'): quote them whole in links.
env.filters["urlpart"] = lambda v: quote(str(v), safe="")
env.filters["urlpath"] = lambda v: quote(str(v), safe="/")
NAV: list[tuple[str, str]] = [("Overview", "/")]
# Tabs of a model's pages: (label, path under /models/{model}/). Stages append theirs.
MODEL_TABS: list[tuple[str, str]] = [("Events", "events")]


def render(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    html = env.get_template(template).render(request=request, nav=NAV, model_tabs=MODEL_TABS, **ctx)
    return HTMLResponse(html, status_code=status)


def twin(request: Request, template: str, ctx: dict[str, Any], as_json: bool) -> Response:
    """The page, or its JSON twin."""
    if as_json or request.query_params.get("format") == "json":
        return Response(orjson.dumps(ctx, default=str), media_type="application/json")
    return render(request, template, ctx)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        import plotly

        # Plotly's own bundle, shipped inside the installed package: no CDN, no network.
        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(
            path, media_type="application/javascript", headers={"Cache-Control": "max-age=86400"}
        )


def _store(request: Request) -> Any:
    return request.app.state.store


# -- overview ----------------------------------------------------------------------------
def overview_context(store: Any, hours: int = 24 * 14) -> dict[str, Any]:
    models = []
    for rec in store.models.list():
        counts = store.events.hourly_counts(rec.name)
        last = counts[-1][0] if counts else None
        # The chart spans the last `hours` hours of data, ending at the newest event.
        if counts:
            start = counts[-1][0] - timedelta(hours=hours)
            counts = [(h, n) for h, n in counts if h >= start]
        last_event = store.events.query(rec.name, select="max(timestamp) AS t") if last else None
        models.append(
            {
                "name": rec.name,
                "task": rec.spec.task.value,
                "spec_version": rec.spec_version,
                "features": len(rec.spec.features),
                "events": store.event_index.count(rec.name),
                "labels": store.labels.count(rec.name),
                "feedback": store.feedback.count(rec.name),
                "last_event": last_event.column("t")[0].as_py().isoformat()
                if last_event is not None and last_event.num_rows
                else None,
                "events_per_hour": {
                    "hour": [h.isoformat() for h, _ in counts],
                    "events": [n for _, n in counts],
                },
            }
        )
    return {"title": "Overview", "models": models, "generated_at": datetime.now(UTC).isoformat()}


@router.get("/")
@router.get("/overview.json")
def overview(request: Request) -> Response:
    return twin(
        request, "overview.html", overview_context(_store(request)), request.url.path.endswith(".json")
    )


# -- events explorer -------------------------------------------------------------------------
def explorer_context(store: Any, model: str, params: Any) -> dict[str, Any]:
    rec = store.models.get(model)
    try:
        limit = min(max(int(params.get("limit") or 50), 1), 1000)
    except ValueError:
        limit = 50
    filters = {k: params.get(k) or None for k in ("since", "until", "prediction", "model_version")}
    page = list_events_page(store, model, limit=limit, cursor=params.get("cursor") or None, **filters)
    return {
        "title": f"{model} · events",
        "model": model,
        "class_names": rec.spec.class_names or [],
        "features": [f.name for f in rec.spec.features],
        "filters": {**filters, "limit": limit},
        "events": page["events"],
        "next": page["next"],
    }


@router.get("/models/{model}/events")
@router.get("/models/{model}/events.json")
def events_page(request: Request, model: str) -> Response:
    ctx = explorer_context(_store(request), model, request.query_params)
    return twin(request, "events.html", ctx, request.url.path.endswith(".json"))


@router.get("/models/{model}/events/{event_id:path}")
def event_page(request: Request, model: str, event_id: str) -> Response:
    as_json = event_id.endswith(".json")
    if as_json:
        event_id = event_id[: -len(".json")]
    store = _store(request)
    rec = store.models.get(model)
    ctx = {
        "title": f"{model} · event {event_id}",
        "model": model,
        "spec": rec.spec.model_dump(mode="json"),
        **event_detail(store, model, event_id),
    }
    return twin(request, "event.html", ctx, as_json)
