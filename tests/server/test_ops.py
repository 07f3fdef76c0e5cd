"""/healthz and Prometheus /metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from flywheel import __version__
from tests.ingest.cases import good_events
from tests.server.conftest import Api


def _samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(r.text)
        for s in fam.samples
    }


def _get(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_says_ok_with_the_version(api: Api) -> None:
    r = api.client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok", "version": __version__})


def test_metrics_count_ingested_and_duplicate_events(api: Api) -> None:
    before = _samples(api)
    items = good_events(7, prefix="metrics")
    api.client.post("/v1/models/churn/events", json={"events": items})
    api.client.post("/v1/models/churn/events", json={"events": items})
    api.client.post("/v1/models/churn/labels", json={"labels": [{"event_id": "metrics-0", "label": "stay"}]})
    after = _samples(api)

    def delta(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert delta("flywheel_ingested_items_total", kind="events", model="churn") == 7
    assert delta("flywheel_ingest_duplicates_total", kind="events", model="churn") == 7
    assert delta("flywheel_ingested_items_total", kind="labels", model="churn") == 1
    route = "/v1/models/{name}/events"
    assert (
        delta("flywheel_http_request_duration_seconds_count", method="POST", route=route, status="200") == 2
    )


def test_metrics_count_errors_by_code(api: Api) -> None:
    before = _samples(api)
    bad = good_events(1, prefix="metrics-bad")
    bad[0]["prediction"] = "maybe"
    api.client.post("/v1/models/churn/events", json={"events": bad})
    api.client.get("/v1/models/ghost")
    after = _samples(api)
    for code in ("invalid_batch", "not_found"):
        assert (
            _get(after, "flywheel_errors_total", code=code) - _get(before, "flywheel_errors_total", code=code)
            == 1
        )
