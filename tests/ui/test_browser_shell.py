"""The UI shell in a real browser: overview, events explorer, drill-down, and their JSON twins.

Headless Chromium (Playwright) against a live server seeded through the HTTP API with 300
events, labels and feedback (``tests/ui/conftest.py``).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.ui.conftest import MODEL, N_EVENTS, Seeded

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EVENTS = f"/models/{MODEL}/events"


def overview_model(doc: dict[str, Any], name: str = MODEL) -> dict[str, Any]:
    (model,) = [m for m in doc["models"] if m["name"] == name]
    return model


def get_json(seeded: Seeded, path: str, **params: Any) -> Any:
    r = httpx.get(seeded.url + path, params=params, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def row_ids(page: Any) -> list[str]:
    return page.locator("table.events a.event-link").all_inner_texts()


def wait_for_chart(page: Any, scope: str = "") -> Any:
    chart = page.locator(f'{scope} .plot[data-rendered="1"]'.strip()).first
    chart.wait_for()
    chart.locator("svg.main-svg").first.wait_for()
    return chart


# -- overview ---------------------------------------------------------------------------------
def test_overview_card_shows_the_models_counts_and_last_event(
    page: Any, seeded: Seeded, screenshot: Any
) -> None:
    page.goto("/")
    card = page.locator(f'section.model[data-model="{MODEL}"]')
    assert card.locator("h2 a").inner_text() == MODEL
    assert card.locator(".n-events").inner_text() == str(N_EVENTS)
    assert card.locator(".n-labels").inner_text() == str(len(seeded.labels))
    assert card.locator(".n-feedback").inner_text() == str(len(seeded.feedback))
    newest = max(e["timestamp"] for e in seeded.events)
    assert card.locator(".last-event").inner_text() == newest[:19].replace("T", " ") + " UTC"
    wait_for_chart(page, f'section.model[data-model="{MODEL}"]')
    screenshot("overview")


def test_overview_chart_draws_one_bar_per_hour_with_events(page: Any, seeded: Seeded) -> None:
    twin = overview_model(get_json(seeded, "/overview.json"))["events_per_hour"]
    assert sum(twin["events"]) == N_EVENTS
    page.goto("/")
    chart = wait_for_chart(page, f'section.model[data-model="{MODEL}"]')
    bars = chart.locator("g.trace.bars g.point")
    assert bars.count() == len(twin["hour"]) > 20  # 300 events over 30 hours
    # The figure handed to Plotly is the twin's data, bar for bar.
    drawn = page.evaluate("el => el.data[0].y", chart.element_handle())
    assert drawn == twin["events"]


def test_overview_json_twin_holds_the_numbers_the_page_shows(seeded: Seeded) -> None:
    doc = get_json(seeded, "/overview.json")
    same = get_json(seeded, "/", format="json")
    assert {**same, "generated_at": None} == {**doc, "generated_at": None}
    model = overview_model(doc)
    assert model["task"] == "binary" and model["spec_version"] == 1
    assert (model["events"], model["labels"], model["feedback"]) == (
        N_EVENTS,
        len(seeded.labels),
        len(seeded.feedback),
    )
    assert model["last_event"].startswith(max(e["timestamp"] for e in seeded.events)[:19])


def test_overview_links_to_the_events_explorer(page: Any) -> None:
    page.goto("/")
    page.locator(f'section.model[data-model="{MODEL}"] a.explore').click()
    page.wait_for_url(re.compile(re.escape(EVENTS) + "$"))
    assert page.locator("h1").inner_text() == f"{MODEL} · events"


# -- events explorer --------------------------------------------------------------------------
def test_explorer_lists_the_first_page_of_events_in_time_order(
    page: Any, seeded: Seeded, screenshot: Any
) -> None:
    page.goto(EVENTS)
    assert row_ids(page) == seeded.ids()[:50]
    first = seeded.events[0]
    row = page.locator("table.events tbody tr").first
    assert row.locator("td.prediction").inner_text() == first["prediction"]
    cells = row.locator("td").all_inner_texts()
    assert cells[3] == f"{max(first['probabilities'].values()):.2f}"
    assert cells[4:7] == [
        f"{first['inputs']['age']:.4g}",
        first["inputs"]["plan"],
        first["inputs"]["country"],
    ]
    screenshot("events")


def test_filtering_by_prediction_narrows_the_rows(page: Any, seeded: Seeded, screenshot: Any) -> None:
    page.goto(EVENTS + "?limit=200")
    assert len(row_ids(page)) == 200
    page.select_option("select[name=prediction]", "churn")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"prediction=churn"))
    churn = seeded.ids("churn")
    assert len(churn) < 200
    assert row_ids(page) == churn
    assert set(page.locator("table.events td.prediction").all_inner_texts()) == {"churn"}
    assert page.locator("select[name=prediction]").input_value() == "churn"
    assert page.locator("a.next").count() == 0
    screenshot("events-filtered")


def test_next_page_link_walks_every_event_exactly_once(page: Any, seeded: Seeded) -> None:
    page.goto(EVENTS + "?limit=120")
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        seen += row_ids(page)
        nxt = page.locator("a.next")
        if nxt.count() == 0:
            break
        before = page.url
        nxt.click()
        page.wait_for_url(lambda url, before=before: url != before)
        assert "limit=120" in page.url
    assert pages == 3
    assert seen == seeded.ids()


def test_next_page_keeps_the_filter(page: Any, seeded: Seeded) -> None:
    page.goto(EVENTS + "?prediction=stay&limit=150")
    first = row_ids(page)
    page.locator("a.next").click()
    page.wait_for_url(re.compile(r"cursor="))
    assert "prediction=stay" in page.url
    assert first + row_ids(page) == seeded.ids("stay")


def test_explorer_json_twin_returns_the_rows_and_cursor_of_the_page(page: Any, seeded: Seeded) -> None:
    twin = get_json(seeded, EVENTS + ".json", limit=50, prediction="stay")
    assert [e["event_id"] for e in twin["events"]] == seeded.ids("stay")[:50]
    assert twin["filters"]["prediction"] == "stay" and twin["next"]
    page.goto(EVENTS + "?limit=50&prediction=stay")
    assert row_ids(page) == [e["event_id"][:12] for e in twin["events"]]
    assert f"cursor={twin['next']}" in (page.locator("a.next").get_attribute("href") or "")
    sent = {e["event_id"]: e for e in seeded.events}
    for ev in twin["events"]:
        assert ev["inputs"] == sent[ev["event_id"]]["inputs"]
        assert ev["prediction"] == sent[ev["event_id"]]["prediction"]


# -- drill-down -------------------------------------------------------------------------------
def labelled_with_feedback(seeded: Seeded) -> dict[str, Any]:
    for ev in seeded.events[1:]:
        if ev["event_id"] in seeded.labels and ev["event_id"] in seeded.feedback:
            return ev
    raise AssertionError("the seed has no event with both a label and feedback")


def test_clicking_an_event_opens_its_drill_down_with_inputs_labels_and_feedback(
    page: Any, seeded: Seeded, screenshot: Any
) -> None:
    ev = labelled_with_feedback(seeded)
    eid = ev["event_id"]
    page.goto(EVENTS + "?limit=200")
    page.locator("table.events a.event-link", has_text=eid).click()
    page.wait_for_url(re.compile(re.escape(f"{EVENTS}/{eid}") + "$"))
    assert page.locator(".event-id").inner_text() == eid
    assert page.locator(".big.prediction").inner_text() == ev["prediction"]
    inputs = {
        row.locator("th").inner_text().split()[0]: row.locator("td").inner_text()
        for row in page.locator("table.inputs tr").all()
    }
    assert inputs == {
        "age": str(ev["inputs"]["age"]),
        "plan": ev["inputs"]["plan"],
        "country": ev["inputs"]["country"],
    }
    label = seeded.labels[eid]
    assert page.locator("table.labels td.label-value").all_inner_texts() == [label["label"]]
    assert label["annotator"] in page.locator("table.labels tbody tr").inner_text()
    fb = seeded.feedback[eid]
    (item,) = page.locator("ul.feedback li").all_inner_texts()
    assert fb["kind"] in item and fb["comment"] in item
    wait_for_chart(page)  # the probabilities bar chart
    screenshot("event")


def test_drill_down_of_an_event_without_labels_says_so(page: Any, seeded: Seeded) -> None:
    eid = next(e for e in seeded.ids() if e not in seeded.labels and e not in seeded.feedback)
    page.goto(f"{EVENTS}/{eid}")
    assert page.locator(".event-id").inner_text() == eid
    assert page.locator("p.empty").all_inner_texts() == ["No label yet.", "No feedback."]


def test_event_json_twin_returns_the_event_its_labels_and_feedback(seeded: Seeded) -> None:
    ev = labelled_with_feedback(seeded)
    eid = ev["event_id"]
    doc = get_json(seeded, f"{EVENTS}/{eid}.json")
    assert doc == get_json(seeded, f"{EVENTS}/{eid}", format="json")
    assert doc["event"]["event_id"] == eid
    assert doc["event"]["inputs"] == ev["inputs"]
    assert doc["event"]["prediction"] == ev["prediction"]
    assert doc["event"]["probabilities"] == ev["probabilities"]
    assert doc["event"]["model_version"] == ev["model_version"]
    assert [(lb["value"], lb["annotator"]) for lb in doc["labels"]] == [
        (seeded.labels[eid]["label"], seeded.labels[eid]["annotator"])
    ]
    assert [(f["kind"], f["comment"]) for f in doc["feedback"]] == [
        (seeded.feedback[eid]["kind"], seeded.feedback[eid]["comment"])
    ]


def test_unknown_event_page_is_a_404(page: Any) -> None:
    resp = page.goto(f"{EVENTS}/no-such-event")
    assert resp is not None and resp.status == 404


def test_json_link_in_the_header_opens_the_twin(page: Any, seeded: Seeded) -> None:
    page.goto(EVENTS + "?prediction=churn&limit=10")
    href = page.locator("a.twin").get_attribute("href")
    assert href is not None
    doc = httpx.get(seeded.url + href, timeout=30).json()
    assert [e["event_id"] for e in doc["events"]] == seeded.ids("churn")[:10]


ODD_IDS = ["order/7", "q?x=1", "hash#1", "pct%41", "sp ace & more"]


def test_drill_down_works_for_event_ids_with_url_characters(page: Any, seeded: Seeded) -> None:
    # Event ids are made by clients and may hold '/', '?', '#', '%' or spaces.
    spec = {
        "name": "odd-ids",
        "task": "binary",
        "features": [{"name": "x", "kind": "numeric"}],
        "class_names": ["a", "b"],
    }
    ts = min(e["timestamp"] for e in seeded.events)
    events = [
        {"event_id": eid, "timestamp": ts, "inputs": {"x": float(i)}, "prediction": "a"}
        for i, eid in enumerate(ODD_IDS)
    ]
    with httpx.Client(base_url=seeded.url, timeout=30) as client:
        assert client.post("/v1/models", json=spec).status_code in (200, 201)
        assert client.post("/v1/models/odd-ids/events", json={"events": events}).status_code == 200
    for eid in ODD_IDS:
        page.goto("/models/odd-ids/events")
        page.locator("table.events a.event-link", has_text=eid[:12]).click()
        page.wait_for_load_state()
        assert page.locator(".event-id").inner_text() == eid
        twin_href = page.locator("a.twin").get_attribute("href")
        assert twin_href is not None
        doc = httpx.get(seeded.url + twin_href, timeout=30).json()
        assert doc["event"]["event_id"] == eid
