"""The app factory: ``create_app(settings)`` gives the whole server (API, pages, metrics).

``uvicorn --factory flywheel.server.app:create_app`` reads its settings from ``FLYWHEEL_*``
environment variables; ``flywheel serve`` passes them explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from flywheel import __version__
from flywheel.errors import ValidationError
from flywheel.ingest.service import IngestService
from flywheel.jobs.local import LocalWorkers
from flywheel.monitor.ingest_hook import install as install_profiling
from flywheel.server import errors
from flywheel.server.api import router as api_router
from flywheel.server.api_jobs import router as jobs_router
from flywheel.server.api_label import router as label_router
from flywheel.server.api_monitor import router as monitor_router
from flywheel.server.api_registry import router as registry_router
from flywheel.server.auth import COOKIE, require
from flywheel.server.metrics import LatencyMiddleware, Metrics
from flywheel.settings import Settings, is_loopback
from flywheel.store import Store, open_store
from flywheel.ui import label as label_pages
from flywheel.ui import monitor as monitor_pages
from flywheel.ui import pages
from flywheel.ui import registry as registry_pages

log = logging.getLogger("flywheel.server")


def check_auth_setting(settings: Settings) -> None:
    if not settings.auth and not is_loopback(settings.host):
        raise ValidationError(
            f"authentication may be off only when bound to a loopback address; host is {settings.host!r}. "
            "Create a key with `flywheel keys create` and drop --no-auth, or bind to 127.0.0.1."
        )


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or Settings()
    check_auth_setting(settings)
    owns_store = store is None
    store = store or open_store(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.auth:
            log.warning(
                "authentication is OFF: the server is bound to %s only and accepts requests without keys",
                settings.host,
            )
        # Job workers run in their own processes beside the server (none by default in tests).
        workers = LocalWorkers(settings, settings.workers)
        workers.start()
        try:
            yield
        finally:
            workers.stop()
            if owns_store:
                store.close()

    app = FastAPI(
        title="Flywheel",
        version=__version__,
        description="Log predictions and feedback, monitor, curate, label, retrain, evaluate and deploy: one loop.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.ingest = IngestService(store, settings)
    install_profiling(app.state.ingest)
    errors.install(app)
    app.add_middleware(LatencyMiddleware, metrics=metrics)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        store.db.read(lambda c: c.exec_driver_sql("SELECT 1").scalar())
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request) -> Response:
        return pages.render(request, "login.html", {"title": "Sign in", "error": None})

    @app.post("/login", include_in_schema=False)
    def login(request: Request, key: str = Form(...)) -> Response:
        found = store.keys.verify(key)
        if found is None or not found.allows("read"):
            return pages.render(
                request,
                "login.html",
                {"title": "Sign in", "error": "That key is unknown, revoked, or lacks the 'read' scope."},
                401,
            )
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, key, httponly=True, samesite="strict")
        return resp

    app.include_router(api_router)
    app.include_router(jobs_router)
    app.include_router(monitor_router)
    app.include_router(registry_router)
    app.include_router(label_router)
    app.include_router(pages.router, dependencies=[Depends(require("read"))])
    app.include_router(label_pages.router, dependencies=[Depends(require("read"))])
    app.include_router(monitor_pages.router, dependencies=[Depends(require("read"))])
    app.include_router(registry_pages.router, dependencies=[Depends(require("read"))])
    pages.mount_static(app)
    return app
