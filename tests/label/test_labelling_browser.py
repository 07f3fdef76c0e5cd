"""The labelling UI in a real browser, driven by the keyboard only.

A live ``uvicorn`` server is seeded through the HTTP API (the churn events of the UI tests,
plus an image model and a text model); curation runs through the API; then headless
Chromium works through the queue with ``page.keyboard`` alone — no clicks — and the tests
check what the store holds afterwards: labels with annotator, source and time spent, and
the queue statuses.
"""

from __future__ import annotations

import base64
import json
import statistics
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits

from tests.conftest import LiveServer, start_live_server
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DIGITS = {
    "name": "digits",
    "task": "multiclass",
    "features": [{"name": "pixels", "kind": "image"}],
    "class_names": [str(d) for d in range(10)],
}
TICKETS = {
    "name": "tickets",
    "task": "multiclass",
    "features": [{"name": "body", "kind": "text"}, {"name": "age", "kind": "numeric"}],
    "class_names": ["bug", "feature", "question"],
}
LONG_TEXT = "The export button crashes the app.\nSteps: open a report, press export.\n" + "More detail. " * 40


def _events_digits() -> list[dict[str, Any]]:
    X, y = load_digits(return_X_y=True)
    out = []
    for i in range(40):
        probs = np.full(10, 0.2 / 9)
        probs[y[i]] = 0.8
        out.append(
            {
                "event_id": f"dg-{i:03d}",
                "timestamp": f"2026-03-01T10:{i:02d}:00Z",
                "inputs": {"pixels": X[i].reshape(8, 8).astype(int).tolist()},
                "prediction": str(y[i]),
                "probabilities": {str(c): float(p) for c, p in enumerate(probs)},
            }
        )
    return out


def _events_tickets() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(40):
        out.append(
            {
                "event_id": f"tk-{i:03d}",
                "timestamp": f"2026-03-01T11:{i:02d}:00Z",
                "inputs": {
                    "body": f"ticket {i}: " + ("crash" if i % 2 else "how do I"),
                    "age": float(rng.normal(40, 3)),
                },
                "prediction": "bug" if i % 2 else "question",
                "probabilities": {"bug": 0.6, "feature": 0.1, "question": 0.3}
                if i % 2
                else {"bug": 0.2, "feature": 0.1, "question": 0.7},
            }
        )
    out.append(
        {
            "event_id": "tk-outlier",
            "timestamp": "2026-03-01T11:59:00Z",
            "inputs": {"body": LONG_TEXT, "age": 150.0},
            "prediction": "feature",
            "probabilities": {"bug": 0.3, "feature": 0.4, "question": 0.3},
        }
    )
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_live_server(tmp_path_factory.mktemp("labelling") / "data")
    try:
        seed(srv.url)  # model 'churn': 300 events, some labels and feedback
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            for spec, events in ((DIGITS, _events_digits()), (TICKETS, _events_tickets())):
                assert c.post("/v1/models", json=spec).status_code == 201
                r = c.post(f"/v1/models/{spec['name']}/events", json={"events": events})
                assert r.status_code == 200, r.text
            r = c.post(
                "/v1/models/tickets/feedback", json={"feedback": [{"event_id": "tk-outlier", "kind": "flag"}]}
            )
            assert r.status_code == 200
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
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
        assert errors == [], f"JavaScript errors on the page: {errors}"
    finally:
        context.close()


def api(server: LiveServer, method: str, path: str, **kw: Any) -> Any:
    r = httpx.request(method, server.url + path, timeout=60, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def ready_count(page: Any) -> int:
    return int(page.evaluate("window.flywheelLabeller.log.filter(e => e.event === 'ready').length"))


def press_and_wait(page: Any, *keys: str) -> None:
    """Press keys; wait until the labeller has shown a fresh item (or said it is done)."""
    before = ready_count(page)
    for key in keys:
        page.keyboard.press(key)
    page.wait_for_function(
        "n => window.flywheelLabeller.log.filter(e => e.event === 'ready').length > n"
        " || !document.getElementById('done').hidden",
        arg=before,
    )


def current(page: Any) -> str:
    return str(page.evaluate("document.getElementById('labeller').dataset.ready"))


def start_as(page: Any, path: str, name: str) -> None:
    page.goto(path)
    page.locator("#annotator").wait_for()
    page.keyboard.type(name)  # the name field has the focus on a first visit
    page.keyboard.press("Enter")
    page.wait_for_function("window.flywheelLabeller && window.flywheelLabeller.log.length > 0")


def test_an_annotator_works_through_twenty_items_with_the_keyboard_only(
    page: Any, server: LiveServer
) -> None:
    run = api(server, "POST", "/v1/models/churn/curation/runs", json={"policy": {"budget": 30}, "k": 1})
    assert run["picked"] == 30
    start_as(page, f"/models/churn/labelling/label?run={run['run_id']}", "ana")
    expected: dict[str, Any] = {}  # event -> final label, or None for a skip
    guesses: dict[str, str] = {}
    undone: dict[str, str] = {}
    for step in range(20):
        eid = current(page)
        guess = page.locator("#guess-label").inner_text()
        guesses[eid] = guess
        assert page.locator(f'#choices button[data-label="{guess}"]').get_attribute("aria-checked") == "true"
        if step % 5 == 3:
            press_and_wait(page, "s")
            expected[eid] = None
        elif step % 5 == 1:
            other = "churn" if guess == "stay" else "stay"
            page.keyboard.press("2" if other == "churn" else "1")
            assert (
                page.locator(f'#choices button[data-label="{other}"]').get_attribute("aria-checked") == "true"
            )
            press_and_wait(page, "Enter")
            expected[eid] = other
        elif step == 7:
            # Label, change one's mind: U brings the item back with the answer given, then fix it.
            press_and_wait(page, "Enter")
            press_and_wait(page, "u")
            assert current(page) == eid
            assert (
                page.locator(f'#choices button[data-label="{guess}"]').get_attribute("aria-checked") == "true"
            )
            fixed = "churn" if guess == "stay" else "stay"
            page.keyboard.press("2" if fixed == "churn" else "1")
            press_and_wait(page, "Enter")
            undone[eid] = guess
            expected[eid] = fixed
        else:
            press_and_wait(page, "Enter")
            expected[eid] = guess
    assert len(expected) == 20
    assert page.locator("#progress-text").inner_text() == "20 done · 10 left"

    text = httpx.get(
        server.url + "/v1/models/churn/labels/export", params={"format": "jsonl", "source": "annotator"}
    ).text
    stored = [json.loads(line) for line in text.splitlines()]
    by_event = {row["event_id"]: row for row in stored if row["event_id"] in expected}
    # One label per labelled item, none for skips, and the undone answer is gone.
    assert set(by_event) == {e for e, v in expected.items() if v is not None}
    assert len([r for r in stored if r["event_id"] in expected]) == len(by_event)
    for eid, row in by_event.items():
        assert row["label"] == expected[eid]
        assert row["annotator"] == "ana" and row["source"] == "annotator"
        assert 0 < row["time_spent_s"] < 60
    queue = api(server, "GET", "/v1/models/churn/queue", params={"run_id": run["run_id"], "limit": 100})
    status = {i["event_id"]: i["status"] for i in queue["items"]}
    for eid, value in expected.items():
        assert status[eid] == ("skipped" if value is None else "labelled"), eid
    # The 21st item is on screen, so it is assigned to ana.
    assert queue["counts"] == {"queued": 9, "assigned": 1, "labelled": 16, "skipped": 4, "adjudicating": 0}
    assert all(i["assigned_to"] == "ana" for i in queue["items"] if i["event_id"] in expected)
    # The page measured page-ready -> stored for every accepted guess.
    log = page.evaluate("window.flywheelLabeller.log")
    ready_at = {}
    spans = []
    for entry in log:
        if entry["event"] == "ready":
            ready_at[entry["event_id"]] = entry["at"]
        elif entry["event"] == "stored" and entry["accepted"]:
            spans.append(entry["at"] - ready_at[entry["event_id"]])
    assert len(spans) >= 10 and statistics.median(spans) > 0


def test_the_help_dialog_opens_and_closes_from_the_keyboard(page: Any, server: LiveServer) -> None:
    api(server, "POST", "/v1/models/churn/curation/runs", json={"policy": {"budget": 5}})
    start_as(page, "/models/churn/labelling/label", "bo")
    dialog = page.locator("dialog#keys")
    assert not dialog.is_visible()
    page.keyboard.press("?")
    assert dialog.is_visible()
    assert "skip this item" in dialog.inner_text()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()


def test_image_items_show_a_png_of_the_stored_pixels_and_digit_keys_pick_by_class_name(
    page: Any, server: LiveServer
) -> None:
    api(server, "POST", "/v1/models/digits/curation/runs", json={"policy": {"budget": 6}})
    start_as(page, "/models/digits/labelling/label", "cy")
    eid = current(page)
    src = page.locator("#inputs img").get_attribute("src")
    assert src and src.startswith("data:image/png;base64,")
    width, height, grey = _decode_png(base64.b64decode(src.split(",", 1)[1]))
    assert (width, height) == (128, 128)  # 8x8 shown 16x larger
    stored_pixels = api(server, "GET", f"/v1/models/digits/events/{eid}")["event"]["inputs"]["pixels"]
    pixels = np.array(json.loads(stored_pixels))  # pixel lists are stored as their JSON text
    small = grey[::16, ::16].astype(float)
    expected = np.round((pixels - pixels.min()) / (pixels.max() - pixels.min()) * 255)
    assert np.array_equal(small, expected)
    assert page.evaluate("document.querySelector('#inputs img').naturalWidth") == 128
    page.keyboard.press("7")
    assert page.locator('#choices button[data-label="7"]').get_attribute("aria-checked") == "true"
    press_and_wait(page, "Enter")
    stored = api(server, "GET", f"/v1/models/digits/events/{eid}")["labels"]
    assert [(lb["value"], lb["annotator"], lb["source"]) for lb in stored] == [("7", "cy", "annotator")]


def test_text_is_shown_whole_and_out_of_range_values_are_marked(page: Any, server: LiveServer) -> None:
    api(server, "POST", "/v1/models/tickets/curation/runs", json={"policy": {"budget": 8}})
    start_as(page, "/models/tickets/labelling/label", "dee")
    for _ in range(8):
        if current(page) == "tk-outlier":
            break
        press_and_wait(page, "s")
    assert current(page) == "tk-outlier", "the flagged event was not queued"
    assert page.locator('#inputs .text[data-feature="body"]').text_content() == LONG_TEXT
    age = page.locator('#inputs tr[data-feature="age"] td')
    assert age.get_attribute("class") == "out-of-range"
    assert "outside the usual range" in (age.get_attribute("title") or "")
    assert "flag by user" in page.locator("#item-reason").inner_text()


def test_disagreements_are_adjudicated_with_the_keyboard(page: Any, server: LiveServer) -> None:
    run = api(server, "POST", "/v1/models/digits/curation/runs", json={"policy": {"budget": 2}, "k": 2})
    ids = []
    for who, answer in (("p1", "3"), ("p2", "5")):
        for _ in range(2):
            nxt = api(
                server,
                "POST",
                "/v1/models/digits/queue/next",
                params={"annotator": who, "run_id": run["run_id"]},
            )
            eid = nxt["item"]["event_id"]
            ids.append(eid)
            api(
                server,
                "POST",
                "/v1/models/digits/annotations",
                json={"event_id": eid, "annotator": who, "label": answer},
            )
    counts = api(server, "GET", "/v1/models/digits/queue", params={"run_id": run["run_id"]})["counts"]
    assert counts["adjudicating"] == 2
    start_as(page, "/models/digits/labelling/adjudicate", "judge")
    eid = current(page)
    assert (
        "p1: 3" in page.locator("#disputed").inner_text()
        and "p2: 5" in page.locator("#disputed").inner_text()
    )
    page.keyboard.press("5")
    press_and_wait(page, "Enter")
    labels = api(server, "GET", f"/v1/models/digits/events/{eid}")["labels"]
    final = [lb for lb in labels if lb["source"] == "adjudication"]
    assert [(lb["value"], lb["annotator"]) for lb in final] == [("5", "judge")]
    item = api(server, "GET", f"/v1/models/digits/queue/{eid}")
    assert item["status"] == "labelled"


def test_queue_page_shows_counts_and_why_items_were_queued_like_its_twin(
    page: Any, server: LiveServer
) -> None:
    twin = api(server, "GET", "/models/churn/labelling.json")
    page.goto("/models/churn/labelling")
    for status, n in twin["counts"].items():
        assert page.locator(f'li.count[data-status="{status}"] .n').inner_text() == str(n)
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == len(twin["items"])
    first = twin["items"][0]
    row = page.locator(f'table.queue tr[data-event="{first["event_id"]}"]')
    assert row.locator("td.signal").inner_text().startswith(first["signal"])
    assert row.locator("td.status").inner_text() == first["status"]
    page.goto("/models/churn/labelling?status=skipped")
    assert set(page.locator("table.queue td.status").all_inner_texts()) == {"skipped"}


def test_regression_items_take_a_typed_number(page: Any, server: LiveServer) -> None:
    spec = {"name": "price", "task": "regression", "features": [{"name": "rooms", "kind": "numeric"}]}
    evs = [
        {
            "event_id": f"p{i}",
            "timestamp": f"2026-03-02T10:{i:02d}:00Z",
            "inputs": {"rooms": float(i % 6 + 1)},
            "prediction": 100.0 + i,
        }
        for i in range(12)
    ]
    api(server, "POST", "/v1/models", json=spec)
    api(server, "POST", "/v1/models/price/events", json={"events": evs})
    api(server, "POST", "/v1/models/price/curation/runs", json={"policy": {"budget": 3}})
    start_as(page, "/models/price/labelling/label", "eve")
    eid = current(page)
    box = page.locator("#number-input")
    predicted = api(server, "GET", f"/v1/models/price/events/{eid}")["event"]["prediction"]
    assert float(box.input_value()) == predicted
    page.keyboard.press("Control+A")
    page.keyboard.type("250.5")
    press_and_wait(page, "Enter")
    stored = api(server, "GET", f"/v1/models/price/events/{eid}")["labels"]
    assert [(lb["value"], lb["annotator"]) for lb in stored] == [(250.5, "eve")]
    nxt = current(page)
    press_and_wait(page, "Enter")  # accept the pre-filled prediction
    assert api(server, "GET", f"/v1/models/price/events/{nxt}")["labels"][0]["value"] == float(
        api(server, "GET", f"/v1/models/price/events/{nxt}")["event"]["prediction"]
    )


def _decode_png(data: bytes) -> tuple[int, int, np.ndarray]:
    """Width, height and grey levels of an 8-bit greyscale PNG without filters (what present.py writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    rows = [raw[i * (width + 1) + 1 : (i + 1) * (width + 1)] for i in range(height)]
    return width, height, np.array([list(r) for r in rows])
