"""Every error the API returns has one shape: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.ingest.bulk_helpers import PARQUET, bulk_columns, encode, to_table
from tests.ingest.cases import good_events
from tests.server.conftest import Api

Call = Callable[[Api, dict[str, TestClient]], Any]


def _bad_batch() -> dict[str, Any]:
    items = good_events(2, prefix="shape")
    items[1]["prediction"] = "maybe"
    return {"events": items}


CALLS: list[tuple[str, int, str, Call]] = [
    ("unknown-route", 404, "not_found", lambda a, c: a.client.get("/v1/no/such/route")),
    ("unknown-page", 404, "not_found", lambda a, c: a.client.get("/no-such-page")),
    ("unknown-model", 404, "not_found", lambda a, c: a.client.get("/v1/models/ghost")),
    ("unknown-key", 404, "not_found", lambda a, c: a.client.delete("/v1/keys/nope")),
    ("wrong-method", 405, "method_not_allowed", lambda a, c: a.client.delete("/v1/models")),
    ("invalid-spec", 422, "invalid_request", lambda a, c: a.client.post("/v1/models", json={"name": "x"})),
    (
        "spec-not-json",
        422,
        "invalid_request",
        lambda a, c: a.client.post("/v1/models", content=b"{", headers={"content-type": "application/json"}),
    ),
    (
        "invalid-batch",
        422,
        "invalid_batch",
        lambda a, c: a.client.post("/v1/models/churn/events", json=_bad_batch()),
    ),
    (
        "batch-not-json",
        422,
        "invalid_request",
        lambda a, c: a.client.post(
            "/v1/models/churn/labels", content=b"nope", headers={"content-type": "application/json"}
        ),
    ),
    ("bad-query-param", 422, "invalid_request", lambda a, c: a.client.get("/v1/models/churn/events?limit=0")),
    (
        "bad-cursor",
        422,
        "invalid_request",
        lambda a, c: a.client.get("/v1/models/churn/events?cursor=%25%25"),
    ),
    (
        "bad-since",
        422,
        "invalid_request",
        lambda a, c: a.client.get("/v1/models/churn/events?since=tomorrow"),
    ),
    ("bad-key-request", 422, "invalid_request", lambda a, c: a.client.post("/v1/keys", json={"name": ""})),
    (
        "bad-key-scopes",
        422,
        "invalid_request",
        lambda a, c: a.client.post("/v1/keys", json={"name": "k", "scopes": ["root"]}),
    ),
    (
        "body-too-large",
        413,
        "payload_too_large",
        lambda a, c: c["small"].post("/v1/models/churn/events", json={"events": good_events(50)}),
    ),
    (
        "too-many-rows",
        413,
        "payload_too_large",
        lambda a, c: c["rows"].post("/v1/models/churn/events", json={"events": good_events(3)}),
    ),
    (
        "wrong-media-type",
        415,
        "unsupported_media_type",
        lambda a, c: a.client.post(
            "/v1/models/churn/events/bulk",
            content=encode(to_table(bulk_columns(2)), PARQUET),
            headers={"content-type": "text/csv"},
        ),
    ),
    ("no-key", 401, "unauthorized", lambda a, c: c["auth"].get("/v1/models")),
    (
        "revoked-or-unknown-key",
        401,
        "unauthorized",
        lambda a, c: c["auth"].get("/v1/models", headers={"authorization": "Bearer fw_0_nope"}),
    ),
    (
        "wrong-scope",
        403,
        "forbidden",
        lambda a, c: c["auth"].post("/v1/models/churn/events", json=_bad_batch(), headers=c["read_hdr"]),
    ),  # type: ignore[dict-item]
    ("unexpected-failure", 500, "internal_error", lambda a, c: c["broken"].get("/v1/models")),
]


@pytest.fixture(scope="module")
def clients(api: Api) -> Any:
    _, read_token = api.store.keys.create("reader", ["read"])
    small = api.variant(max_body_bytes=500)
    rows = api.variant(max_batch_rows=2)
    auth = api.variant(auth=True)
    broken = TestClient(api.app, raise_server_exceptions=False)
    with small, rows, auth:
        yield {
            "small": small,
            "rows": rows,
            "auth": auth,
            "broken": broken,
            "read_hdr": {"authorization": f"Bearer {read_token}"},
        }


@pytest.mark.parametrize(("name", "status", "code", "call"), CALLS, ids=[c[0] for c in CALLS])
def test_every_error_has_the_one_json_shape(
    api: Api, clients: Any, monkeypatch: pytest.MonkeyPatch, name: str, status: int, code: str, call: Call
) -> None:
    if name == "unexpected-failure":

        def boom() -> None:
            raise RuntimeError("secret internals /etc/passwd")

        monkeypatch.setattr(api.store.models, "list", boom)
    r = call(api, clients)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["error"]
    err = body["error"]
    assert set(err) <= {"code", "message", "details"} and {"code", "message"} <= set(err)
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"].strip()
    if "details" in err:
        assert isinstance(err["details"], list) and err["details"]
        assert all(isinstance(d, dict) and isinstance(d.get("field", ""), str) for d in err["details"])
    if status == 500:
        assert "secret internals" not in r.text


def test_the_shape_test_covers_every_status_the_api_uses() -> None:
    assert {c[1] for c in CALLS} >= {401, 403, 404, 405, 413, 415, 422, 500}
