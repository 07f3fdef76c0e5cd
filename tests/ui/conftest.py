"""Fixtures for the browser tests: one seeded live server and one headless Chromium per module.

The server is a real ``uvicorn`` process (``tests.conftest.start_live_server``); the data goes
in through the HTTP API, as production traffic would. Set ``FLYWHEEL_UI_SCREENSHOTS=DIR`` to
have the tests save a screenshot of each page they check into ``DIR``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_live_server

CHROMIUM = os.environ.get("FLYWHEEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MODEL = "churn"
SPEC: dict[str, Any] = {
    "name": MODEL,
    "task": "binary",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
        {"name": "country", "kind": "categorical"},
    ],
    "class_names": ["stay", "churn"],
}
N_EVENTS = 300
PLANS = ["basic", "pro", "team"]
COUNTRIES = ["fr", "de", "us", "br"]


@dataclass
class Seeded:
    """What was sent to the server, to compare the pages against."""

    url: str
    events: list[dict[str, Any]]  # in (timestamp, event_id) order, as the explorer lists them
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # event_id -> label sent
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)  # event_id -> feedback sent

    def ids(self, prediction: str | None = None) -> list[str]:
        return [e["event_id"] for e in self.events if prediction in (None, e["prediction"])]


def make_events(now: datetime) -> list[dict[str, Any]]:
    """300 events six minutes apart over the last 30 hours; every third one predicts churn."""
    events = []
    for i in range(N_EVENTS):
        p_churn = 0.55 + (i % 40) / 100 if i % 3 == 0 else 0.05 + (i % 40) / 100
        events.append(
            {
                "event_id": f"ev-{i:04d}",
                "timestamp": (now - timedelta(minutes=6 * (N_EVENTS - i))).isoformat(),
                "inputs": {
                    "age": float(18 + (7 * i) % 60),
                    "plan": PLANS[i % 3],
                    "country": COUNTRIES[i % 4],
                },
                "prediction": "churn" if i % 3 == 0 else "stay",
                "probabilities": {"stay": round(1 - p_churn, 2), "churn": round(p_churn, 2)},
                "model_version": "v1" if i < N_EVENTS // 2 else "v2",
            }
        )
    return events


def seed(url: str) -> Seeded:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    data = Seeded(url, make_events(now))
    for i, ev in enumerate(data.events):
        eid = ev["event_id"]
        if i % 7 == 0:
            data.labels[eid] = {
                "event_id": eid,
                "label": "stay" if i % 2 else "churn",
                "source": "annotator",
                "annotator": "ana",
                "label_id": f"lbl-{i}",
            }
        if i % 11 == 0:
            data.feedback[eid] = {
                "event_id": eid,
                "kind": "thumbs_down" if i % 2 else "flag",
                "comment": f"looks wrong for {eid}",
                "feedback_id": f"fb-{i}",
            }
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/v1/models", json=SPEC).status_code == 201
        for start in range(0, N_EVENTS, 100):
            r = client.post(f"/v1/models/{MODEL}/events", json={"events": data.events[start : start + 100]})
            assert r.status_code == 200 and r.json()["accepted"] == 100, r.text
        r = client.post(f"/v1/models/{MODEL}/labels", json={"labels": list(data.labels.values())})
        assert r.status_code == 200 and r.json()["accepted"] == len(data.labels), r.text
        r = client.post(f"/v1/models/{MODEL}/feedback", json={"feedback": list(data.feedback.values())})
        assert r.status_code == 200 and r.json()["accepted"] == len(data.feedback), r.text
    return data


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Seeded]]:
    """A live server holding model 'churn' with 300 events, some labels and some feedback."""
    srv = start_live_server(tmp_path_factory.mktemp("ui") / "data")
    try:
        yield srv, seed(srv.url)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def seeded(ui_server: tuple[LiveServer, Seeded]) -> Seeded:
    return ui_server[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FLYWHEEL_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def browser_context(browser: Any, seeded: Seeded) -> Iterator[Any]:
    """One context per module, so Plotly's bundle is fetched once and then cached."""
    context = browser.new_context(base_url=seeded.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)  # the CI machine may be busy
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A fresh browser page whose relative URLs go to the seeded server; fails on JS errors."""
    pg = browser_context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
        assert errors == [], f"JavaScript errors on the page: {errors}"
    finally:
        pg.close()


@pytest.fixture
def screenshot(page: Any, request: pytest.FixtureRequest) -> Any:
    """``screenshot(name)`` saves the page into $FLYWHEEL_UI_SCREENSHOTS when that is set."""
    out = os.environ.get("FLYWHEEL_UI_SCREENSHOTS")

    def take(name: str) -> None:
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(out) / f"{name}.png"), full_page=True)

    return take
