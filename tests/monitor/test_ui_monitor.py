"""Monitoring pages in a real browser (headless Chromium through Playwright).

A live server gets four days of a churn model's traffic through the HTTP API — drift injected on
the fourth day (older ages, a new plan "gold", the true relation flipped) — with labels,
feedback, a reference (the first day) and one ``check`` that opens alerts. The tests follow
the links from each number down to the events behind it. Set ``FLYWHEEL_UI_SCREENSHOTS=DIR`` to
keep a screenshot of each page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_live_server
from tests.monitor import seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("FLYWHEEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DRIFT_DAY = seed.START + timedelta(days=3)
MON = "/models/churn/monitoring"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_live_server(tmp_path_factory.mktemp("ui-monitor") / "data")
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            assert c.post("/v1/models", json=seed.SPEC).status_code == 201
            events, truth = seed.events(96, 10, drift_at=72)
            for i in range(0, len(events), 500):
                assert (
                    c.post("/v1/models/churn/events", json={"events": events[i : i + 500]}).status_code == 200
                )
            assert (
                c.post("/v1/models/churn/labels", json={"labels": seed.labels(truth, 0.7)}).status_code == 200
            )
            fb = [{"event_id": e["event_id"], "kind": "thumbs_down"} for e in events[::20]]
            assert c.post("/v1/models/churn/feedback", json={"feedback": fb}).status_code == 200
            ref = {"since": seed.START.isoformat(), "until": (seed.START + timedelta(days=1)).isoformat()}
            assert c.post("/v1/models/churn/reference", json=ref).status_code == 201
            r = c.post(
                "/v1/models/churn/monitors/check",
                params={"until": (DRIFT_DAY + timedelta(days=1)).isoformat()},
            )
            assert r.status_code == 200 and r.json()["opened"], r.text
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
        out = os.environ.get("FLYWHEEL_UI_SCREENSHOTS")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=str(Path(out) / f"{request.node.name}.png"), full_page=True)
        assert errors == [], f"JavaScript errors on the page: {errors}"
    finally:
        context.close()


def api(server: LiveServer, path: str, **params: Any) -> Any:
    r = httpx.get(server.url + path, params=params, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def charts(page: Any, n: int) -> None:
    page.locator('.plot[data-rendered="1"] svg.main-svg').first.wait_for()
    assert page.locator('.plot[data-rendered="1"]').count() == n


def test_health_page_numbers_lead_to_their_events(page: Any, server: LiveServer) -> None:
    page.goto(MON)
    charts(page, 4)
    open_alerts = api(server, "/v1/models/churn/alerts", status="open")["alerts"]
    assert page.locator("#open-alerts").inner_text() == str(len(open_alerts))
    assert page.locator("#latest-rows").inner_text() == "240"
    assert page.locator("nav a", has_text="Monitoring").get_attribute("aria-current") == "page"
    page.locator("#latest-rows").click()
    page.wait_for_url("**/models/churn/events?since=*")
    first = page.locator("table.events tbody tr td").first.inner_text()
    assert first.startswith(DRIFT_DAY.strftime("%Y-%m-%d"))


def test_a_drifted_column_leads_to_its_distribution_and_the_events_behind_it(page: Any) -> None:
    page.goto(MON)
    row = page.locator(f'table.windows tr[data-window="{DRIFT_DAY.isoformat()}"]')
    row.locator("a.drift-link", has_text="plan").click()
    page.wait_for_url("**/monitoring/features/plan?*")
    assert page.locator("#drift-verdict").inner_text() == "flagged"
    charts(page, 2)
    page.locator("#events-behind").click()
    page.wait_for_url("**/monitoring/events?kind=drift*")
    plans = page.locator("table.events tbody tr td:nth-child(6)").all_inner_texts()
    assert plans and set(plans) == {"gold"}
    eid = page.locator("a.event-link").first.inner_text()
    page.locator("a.event-link").first.click()
    page.wait_for_url(f"**/models/churn/events/{eid}*")
    assert eid in page.content()


def test_the_drift_heat_map_marks_drifted_cells_and_opens_them_on_click(page: Any) -> None:
    page.goto(f"{MON}/drift")
    charts(page, 2)
    cells = page.locator('table.heat tr[data-column="plan"] td.cell')
    assert cells.count() == 4
    assert "flagged" in (cells.nth(3).get_attribute("class") or "")
    assert "flagged" not in (cells.nth(0).get_attribute("class") or "")
    # A click on the heat map (as Plotly reports it) opens that column in that window.
    point = {"x": DRIFT_DAY.isoformat(), "y": "age"}
    page.evaluate("p => document.getElementById('plot-heatmap').emit('plotly_click', {points: [p]})", point)
    page.wait_for_url("**/monitoring/features/age?*")
    assert page.locator("#drift-verdict").inner_text() == "flagged"


def test_performance_page_shows_measured_and_estimated_and_slices(page: Any, server: LiveServer) -> None:
    page.goto(f"{MON}/performance")
    charts(page, 4)
    ts = api(server, "/v1/models/churn/monitoring", bucket="day")
    row = page.locator(f'table.perf tr[data-window="{DRIFT_DAY.isoformat()}"]')
    want = ts["windows"][3]["performance"]["accuracy"]["value"]
    assert row.locator("a.measured").first.inner_text() == f"{want:.3f}"
    assert row.locator("a.estimated").first.inner_text() != ""
    page.locator('table.slices tr[data-slice="country=DE"] a.slice-link').click()
    page.wait_for_url("**slice=country%3DDE*")
    assert page.locator("input[name=slice]").input_value() == "country=DE"
    charts(page, 4)


def test_quality_violations_lead_to_the_rows_that_break_the_rule(page: Any) -> None:
    page.goto(f"{MON}/quality")
    row = page.locator('table.quality tr[data-rule="allowed_categories:in.plan"]')
    link = row.locator("a.violation")
    assert link.count() == 1
    n = int(link.inner_text())
    link.click()
    page.wait_for_url("**/monitoring/events?kind=quality*")
    assert page.locator("table.events tbody tr").count() == n
    assert set(page.locator("table.events tbody tr td:nth-child(6)").all_inner_texts()) == {"gold"}


def test_alerts_page_lists_alerts_and_their_sample_events(page: Any, server: LiveServer) -> None:
    alerts = api(server, "/v1/models/churn/alerts")["alerts"]
    page.goto("/models/churn/alerts")
    assert page.locator("table.alerts tr.alert").count() == len(alerts)
    assert page.locator("#n-open").inner_text() == str(sum(a["status"] == "open" for a in alerts))
    row = page.locator('tr.alert[data-monitor="quality:allowed_categories:in.plan"]')
    sample = row.locator("a.sample-event").first
    eid_prefix = sample.inner_text()
    sample.click()
    page.wait_for_url("**/models/churn/events/*")
    assert eid_prefix in page.content() and "gold" in page.content()


def test_json_twins_hold_the_numbers_the_api_returns(server: LiveServer) -> None:
    twin = api(server, f"{MON}.json")
    ts = api(server, "/v1/models/churn/monitoring")
    assert [w["rows"] for w in twin["ts"]["windows"]] == [w["rows"] for w in ts["windows"]]
    assert [w["drift"]["flagged"] for w in twin["ts"]["windows"]] == [
        w["drift"]["flagged"] for w in ts["windows"]
    ]
    drift = api(server, f"{MON}/drift.json")
    assert [r["name"] for r in drift["grid"]][:3] == ["age", "plan", "country"]
    alerts = api(server, "/models/churn/alerts.json")
    assert len(alerts["alerts"]) == len(api(server, "/v1/models/churn/alerts")["alerts"])
