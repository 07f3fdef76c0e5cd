"""The registry's pages in headless Chromium: jobs refreshing live, versions, the side-by-side report."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.jobs.runner import run_job
from flywheel.settings import Settings
from flywheel.store import open_store
from tests.conftest import LiveServer, start_live_server

from . import scenario

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, scenario.Scenario]]:
    built = scenario.build(tmp_path_factory.mktemp("registry-ui") / "data")
    srv = start_live_server(built.data_dir)
    try:
        yield srv, built
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, served: tuple[LiveServer, scenario.Scenario]) -> Iterator[Any]:
    context = browser.new_context(base_url=served[0].url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
        assert errors == [], f"JavaScript errors on the page: {errors}"
    finally:
        context.close()


def test_the_jobs_page_moves_a_running_jobs_progress_bar_without_a_reload(
    page: Any, served: tuple[LiveServer, scenario.Scenario]
) -> None:
    _, built = served
    settings = Settings(data_dir=built.data_dir, auth=False)
    store = open_store(settings)
    try:
        job = store.jobs.submit("sleep", {"seconds": 8, "steps": 16}, model="m")
        page.goto("/jobs")
        row = page.locator(f'tr[data-job="{job.job_id}"]')
        assert row.locator(".status").inner_text() == "queued"
        page.evaluate("window.__same_page = true")
        claimed = store.jobs.claim("browser-test", job_id=job.job_id)
        runner = threading.Thread(target=run_job, args=(store, settings, claimed))
        runner.start()
        page.wait_for_function(
            f"""() => {{
                const r = document.querySelector('tr[data-job="{job.job_id}"]');
                return r && r.dataset.status === "running" && r.querySelector("progress").value >= 0.25;
            }}"""
        )
        assert page.evaluate("window.__same_page") is True  # updated in place
        assert row.locator(".message").inner_text().startswith("step ")
        runner.join(timeout=60)
        page.wait_for_function(
            f"""() => {{
                const r = document.querySelector('tr[data-job="{job.job_id}"]');
                return r && r.dataset.status === "succeeded";
            }}"""
        )
        assert page.locator(f'tr[data-job="{job.job_id}"] progress').get_attribute("value") == "1.0"
    finally:
        store.close()


def test_from_versions_to_the_refusal_with_candidate_and_champion_side_by_side(
    page: Any, served: tuple[LiveServer, scenario.Scenario]
) -> None:
    _, built = served
    page.goto("/models/m/versions")
    assert page.locator('span.alias[data-alias="champion"]').inner_text() == "champion → v1"
    row = page.locator('tr[data-version="2"]')
    assert row.locator("td").nth(6).inner_text().startswith("refused")
    row.locator("a.fail").click()
    page.wait_for_url(f"**/models/m/evaluations/{built.refused}")
    assert page.locator("#verdict").inner_text().startswith("Refused")
    holdout = page.locator('section.evalset[data-eval-set="holdout"]')
    headers = holdout.locator("table.metrics thead th").all_inner_texts()
    assert headers[:3] == ["Metric", "candidate", "champion"]
    bad = holdout.locator('tr[data-slice="country=B"]')
    assert "failed" in (bad.get_attribute("class") or "")
    assert bad.locator("td").last.inner_text() == "refused"
    assert any("country=B" in r for r in page.locator("ul.reasons li").all_inner_texts())
    chart = holdout.locator('.plot[data-rendered="1"]')
    chart.wait_for()
    chart.locator("svg.main-svg").first.wait_for()
    href = page.locator("#standalone").get_attribute("href")
    assert httpx.get(served[0].url + href, timeout=30).text.startswith("<!doctype html>")


def test_the_dataset_page_shows_its_manifest_and_chart(
    page: Any, served: tuple[LiveServer, scenario.Scenario]
) -> None:
    srv, built = served
    page.goto("/models/m/datasets")
    page.locator('tr[data-ref="training@1"] a').click()
    page.wait_for_url("**/models/m/datasets/training@1")
    doc = httpx.get(f"{srv.url}/models/m/datasets/training@1.json", timeout=30).json()
    assert page.locator(".content-hash").inner_text() == doc["dataset"]["content_hash"]
    assert page.locator("#num-rows").inner_text() == "300"
    page.locator('.plot[data-rendered="1"] svg.main-svg').first.wait_for()
    assert page.locator("table.rows tbody tr").count() == 20
