"""Prometheus metrics of one app: ingest counts, request latencies, errors."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingested = Counter(
            "flywheel_ingested_items",
            "Items accepted by ingest (duplicates not counted).",
            ["model", "kind"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "flywheel_ingest_duplicates",
            "Items ingest had already stored (re-sent).",
            ["model", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "flywheel_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.errors = Counter(
            "flywheel_errors", "Error responses by error code.", ["code"], registry=self.registry
        )


class LatencyMiddleware:
    """Plain ASGI middleware (cheaper than BaseHTTPMiddleware) that times every request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.latency.labels(scope["method"], path, str(status["code"])).observe(
                time.perf_counter() - start
            )
