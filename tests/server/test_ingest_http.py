"""Ingest over HTTP: status codes, row-and-field errors, limits, bulk uploads, idempotent re-sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from tests.ingest.bulk_helpers import ARROW_STREAM, PARQUET, bulk_columns, encode, to_table
from tests.ingest.cases import CASES, SPEC_DICT, Case, good_events, good_feedback, good_labels
from tests.server.conftest import Api
from tests.store.helpers import snapshot

JSON = {"content-type": "application/json"}


def _all_events(api: Api, model: str = "churn", limit: int = 1000) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = api.client.get(f"/v1/models/{model}/events", params=params)
        assert r.status_code == 200, r.text
        out += r.json()["events"]
        cursor = r.json()["next"]
        if cursor is None:
            return out


def _assert_names(body: dict[str, Any], problems: frozenset[tuple[int, str]]) -> None:
    err = body["error"]
    assert err["code"] == "invalid_batch"
    assert {(d["row"], d["field"]) for d in err["details"]} == problems
    row, field = sorted(problems)[0]
    assert f"row {row}" in err["message"] and f"'{field}'" in err["message"]


JSON_CASES = [c for c in CASES if c.json_ok]


@pytest.mark.parametrize("case", JSON_CASES, ids=[c.id for c in JSON_CASES])
def test_a_bad_batch_gets_422_naming_row_and_field_and_stores_nothing(api: Api, case: Case) -> None:
    before = snapshot(api.store)
    r = api.client.post(
        f"/v1/models/churn/{case.kind}", content=orjson.dumps({case.kind: case.batch()}), headers=JSON
    )
    assert r.status_code == 422, r.text
    _assert_names(r.json(), case.problems)
    assert snapshot(api.store) == before


@pytest.mark.parametrize("kind", ["events", "labels", "feedback"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"%s": [{"event_id": "n", "inputs": {"age": NaN}}]}', "body"),
        (b'{"%s": [{"event_id": "n", "inputs": {"age": Infinity}}]}', "body"),
        (b'{"%s": [', "body"),
        (b"", "body"),
        (b'{"items%s": []}', "%s"),
        (b'[{"%s": []}]', "%s"),
    ],
    ids=["nan-token", "infinity-token", "truncated", "empty", "missing-key", "not-an-object"],
)
def test_a_body_that_is_not_a_batch_gets_422_naming_it(api: Api, kind: str, body: bytes, field: str) -> None:
    before = snapshot(api.store)
    raw = body.replace(b"%s", kind.encode()) if b"%s" in body else body
    r = api.client.post(f"/v1/models/churn/{kind}", content=raw, headers=JSON)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["details"][0]["field"] == field.replace("%s", kind)
    assert err["details"][0]["row"] == -1
    assert snapshot(api.store) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/models/ghost/events"),
        ("post", "/v1/models/ghost/labels"),
        ("post", "/v1/models/ghost/feedback"),
        ("post", "/v1/models/ghost/events/bulk"),
        ("get", "/v1/models/ghost/events"),
        ("get", "/v1/models/ghost"),
        ("get", "/v1/models/ghost/events/e1"),
    ],
)
def test_an_unknown_model_is_404_naming_it(api: Api, method: str, path: str) -> None:
    before = snapshot(api.store)
    kind = path.rsplit("/", 1)[-1]
    kw: dict[str, Any] = {}
    if method == "post" and kind == "bulk":
        kw = {"content": encode(to_table(bulk_columns(2)), PARQUET), "headers": {"content-type": PARQUET}}
    elif method == "post":
        kw = {
            "json": {kind: {"events": good_events, "labels": good_labels, "feedback": good_feedback}[kind]()}
        }
    r = getattr(api.client, method)(path, **kw)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"
    assert "'ghost'" in r.json()["error"]["message"]
    assert snapshot(api.store) == before


def test_an_unknown_event_of_a_known_model_is_404(api: Api) -> None:
    r = api.client.get("/v1/models/churn/events/never-sent")
    assert r.status_code == 404 and "never-sent" in r.json()["error"]["message"]


@pytest.fixture
def small_body(api: Api) -> Iterator[Any]:
    with api.variant(max_body_bytes=2000, max_bulk_bytes=3000, max_batch_rows=4) as client:
        yield client


@pytest.mark.parametrize("kind", ["events", "labels", "feedback"])
def test_a_body_over_the_size_limit_is_413(api: Api, small_body: Any, kind: str) -> None:
    before = snapshot(api.store)
    batch = {"events": good_events, "labels": good_labels, "feedback": good_feedback}[kind](4)
    for item in batch:
        item["event_id"] = item["event_id"] + "x" * 600
    body = orjson.dumps({kind: batch})
    assert len(body) > 2000
    r = small_body.post(f"/v1/models/churn/{kind}", content=body, headers=JSON)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    # Without a Content-Length (chunked), the limit holds while the body streams in.
    r = small_body.post(f"/v1/models/churn/{kind}", content=iter([body[:1500], body[1500:]]), headers=JSON)
    assert r.status_code == 413, r.text
    assert snapshot(api.store) == before


@pytest.mark.parametrize("kind", ["events", "labels", "feedback"])
def test_a_batch_with_too_many_rows_is_413(api: Api, small_body: Any, kind: str) -> None:
    before = snapshot(api.store)
    batch = {"events": good_events, "labels": good_labels, "feedback": good_feedback}[kind](5)
    r = small_body.post(f"/v1/models/churn/{kind}", json={kind: batch})
    assert r.status_code == 413, r.text
    assert "at most 4" in r.json()["error"]["message"]
    assert snapshot(api.store) == before


def test_a_bulk_upload_over_its_size_limit_is_413(api: Api, small_body: Any) -> None:
    before = snapshot(api.store)
    body = encode(to_table(bulk_columns(200, "big")), ARROW_STREAM)
    assert len(body) > 3000
    r = small_body.post("/v1/models/churn/events/bulk", content=body, headers={"content-type": ARROW_STREAM})
    assert r.status_code == 413
    assert snapshot(api.store) == before


@pytest.mark.parametrize("ctype", [ARROW_STREAM, PARQUET])
def test_bulk_uploads_in_arrow_and_parquet_are_stored_once(api: Api, ctype: str) -> None:
    prefix = "http" + ctype.rsplit(".", 1)[-1]
    body = encode(to_table(bulk_columns(25, prefix)), ctype)
    r = api.client.post("/v1/models/churn/events/bulk", content=body, headers={"content-type": ctype})
    assert (r.status_code, r.json()) == (200, {"accepted": 25, "duplicates": 0})
    r = api.client.post("/v1/models/churn/events/bulk", content=body, headers={"content-type": ctype})
    assert (r.status_code, r.json()) == (200, {"accepted": 0, "duplicates": 25})
    ids = [e["event_id"] for e in _all_events(api) if e["event_id"].startswith(prefix + "-")]
    assert sorted(ids) == sorted(f"{prefix}-{i}" for i in range(25))


@pytest.mark.parametrize("ctype", ["application/json", "text/csv", "application/octet-stream"])
def test_bulk_with_a_wrong_content_type_is_415(api: Api, ctype: str) -> None:
    before = snapshot(api.store)
    body = encode(to_table(bulk_columns(3, "ct")), PARQUET)
    r = api.client.post("/v1/models/churn/events/bulk", content=body, headers={"content-type": ctype})
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert snapshot(api.store) == before


def test_bulk_with_bad_rows_is_422_with_their_indices(api: Api) -> None:
    before = snapshot(api.store)
    cols = bulk_columns(6, "badbulk")
    cols["prediction"][4] = "maybe"
    cols["age"][1] = float("nan")
    body = encode(to_table(cols), PARQUET)
    r = api.client.post("/v1/models/churn/events/bulk", content=body, headers={"content-type": PARQUET})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_batch"
    assert {(d["row"], d["field"]) for d in err["details"]} == {(1, "inputs.age"), (4, "prediction")}
    assert snapshot(api.store) == before


def test_a_resent_batch_is_stored_once(api: Api) -> None:
    items = good_events(6, prefix="resend")
    r1 = api.client.post("/v1/models/churn/events", json={"events": items})
    r2 = api.client.post("/v1/models/churn/events", json={"events": items})
    r3 = api.client.post(
        "/v1/models/churn/events", json={"events": items + good_events(2, prefix="resend-new")}
    )
    assert r1.json() == {"accepted": 6, "duplicates": 0}
    assert r2.json() == {"accepted": 0, "duplicates": 6}
    assert r3.json() == {"accepted": 2, "duplicates": 6}
    ids = [e["event_id"] for e in _all_events(api, limit=7) if e["event_id"].startswith("resend")]
    assert sorted(ids) == sorted([f"resend-{i}" for i in range(6)] + ["resend-new-0", "resend-new-1"])
    stored = {e["event_id"]: e for e in _all_events(api)}
    assert stored["resend-2"]["inputs"]["age"] == 32.0
    assert stored["resend-2"]["probabilities"] == {"stay": 0.8, "churn": 0.2}


def test_labels_and_feedback_without_ids_resent_are_stored_once(api: Api) -> None:
    counts = api.client.get("/v1/models/churn").json()["counts"]
    labels = {"labels": [{"event_id": "ok-1", "label": "churn"}, {"event_id": "ok-2", "label": "stay"}]}
    feedback = {
        "feedback": [{"event_id": "ok-1", "kind": "thumbs_down"}, {"event_id": "ok-2", "kind": "flag"}]
    }
    for _ in range(2):
        r = api.client.post("/v1/models/churn/labels", json=labels)
        assert r.status_code == 200
        f = api.client.post("/v1/models/churn/feedback", json=feedback)
        assert f.status_code == 200
    assert r.json() == {"accepted": 0, "duplicates": 2}
    assert f.json() == {"accepted": 0, "duplicates": 2}
    after = api.client.get("/v1/models/churn").json()["counts"]
    assert after["labels"] == counts["labels"] + 2
    assert after["feedback"] == counts["feedback"] + 2
    detail = api.client.get("/v1/models/churn/events/ok-1").json()
    assert [lbl["value"] for lbl in detail["labels"]] == ["churn"]
    assert [fb["kind"] for fb in detail["feedback"]] == ["thumbs_down"]


def test_event_pages_walk_every_event_once_and_a_bad_cursor_is_422(api: Api) -> None:
    every = _all_events(api)
    assert len({e["event_id"] for e in every}) == len(every)
    assert len(every) > 8
    paged = _all_events(api, limit=len(every) // 4)
    assert [e["event_id"] for e in paged] == [e["event_id"] for e in every]
    r = api.client.get("/v1/models/churn/events", params={"cursor": "not-a-cursor"})
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [{"field": "cursor", "reason": "malformed"}]


def test_registering_a_model_answers_201_then_200_then_a_new_version(api: Api) -> None:
    spec = {**SPEC_DICT, "name": "reg"}
    first = api.client.post("/v1/models", json=spec)
    again = api.client.post("/v1/models", json=spec)
    changed = api.client.post("/v1/models", json={**spec, "class_names": ["no", "yes"]})
    assert (first.status_code, first.json()["spec_version"]) == (201, 1)
    assert (again.status_code, again.json()["spec_version"]) == (200, 1)
    assert (changed.status_code, changed.json()["spec_version"]) == (201, 2)
    got = api.client.get("/v1/models/reg").json()
    assert got["spec"]["class_names"] == ["no", "yes"]
    assert [h["version"] for h in got["spec_history"]] == [1, 2]
    assert "reg" in [m["name"] for m in api.client.get("/v1/models").json()["models"]]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({**SPEC_DICT, "task": "ranking"}, "task"),
        ({**SPEC_DICT, "class_names": None}, "class_names"),
        ({**SPEC_DICT, "features": []}, "features"),
        ({**SPEC_DICT, "colour": 1}, "colour"),
        ({**SPEC_DICT, "name": "bad name!"}, "name"),
    ],
    ids=["bad-task", "no-classes", "no-features", "unknown-field", "bad-name"],
)
def test_an_invalid_spec_is_422_naming_the_field(api: Api, spec: dict[str, Any], field: str) -> None:
    before = snapshot(api.store)
    r = api.client.post("/v1/models", json={**spec, "name": spec["name"] if field == "name" else "badspec"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_request"
    assert field in err["message"] or any(field in d["field"] or field in d["reason"] for d in err["details"])
    assert snapshot(api.store) == before


@pytest.mark.parametrize("event_id", ["it's ünïcode", "a/b/c", "with space", "x?y#z"])
def test_any_accepted_event_id_can_be_fetched_back(api: Api, event_id: str) -> None:
    items = good_events(1, prefix="odd")
    items[0]["event_id"] = event_id
    assert api.client.post("/v1/models/churn/events", json={"events": items}).status_code == 200
    r = api.client.get(f"/v1/models/churn/events/{quote(event_id, safe='')}")
    assert r.status_code == 200, r.text
    assert r.json()["event"]["event_id"] == event_id
