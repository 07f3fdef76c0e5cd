"""API keys with scopes: 401 without or with a dead key, 403 with the wrong scope; loopback-only no-auth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flywheel.errors import ValidationError
from flywheel.server.app import create_app
from flywheel.settings import Settings
from tests.ingest.cases import good_events
from tests.server.conftest import Api


@pytest.fixture(scope="module")
def auth(api: Api) -> Iterator[TestClient]:
    with api.variant(auth=True) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(api: Api) -> dict[str, str]:
    return {scope: api.store.keys.create(f"{scope}-key", [scope])[1] for scope in ("ingest", "read", "admin")}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


ROUTES: list[tuple[str, str, str, Any]] = [
    ("ingest", "post", "/v1/models/churn/events", {"json": {"events": good_events(1, prefix="auth")}}),
    (
        "ingest",
        "post",
        "/v1/models/churn/labels",
        {"json": {"labels": [{"event_id": "ok-0", "label": "stay"}]}},
    ),
    (
        "ingest",
        "post",
        "/v1/models/churn/feedback",
        {"json": {"feedback": [{"event_id": "ok-0", "kind": "flag"}]}},
    ),
    ("read", "get", "/v1/models", {}),
    ("read", "get", "/v1/models/churn", {}),
    ("read", "get", "/v1/models/churn/events", {}),
    ("read", "get", "/v1/models/churn/events/ok-0", {}),
    ("admin", "post", "/v1/models", {"json": {"name": "x"}}),
    ("admin", "get", "/v1/keys", {}),
    ("admin", "post", "/v1/keys", {"json": {"name": "k", "scopes": ["read"]}}),
]
IDS = [f"{m}-{p}" for _, m, p, _ in ROUTES]


@pytest.mark.parametrize(("scope", "method", "path", "kw"), ROUTES, ids=IDS)
def test_a_request_without_a_key_is_401(
    auth: TestClient, scope: str, method: str, path: str, kw: Any
) -> None:
    r = getattr(auth, method)(path, **kw)
    assert r.status_code == 401, r.text
    assert scope in r.json()["error"]["message"]


@pytest.mark.parametrize(("scope", "method", "path", "kw"), ROUTES, ids=IDS)
def test_a_key_without_the_scope_is_403_and_with_it_passes(
    auth: TestClient, tokens: dict[str, str], scope: str, method: str, path: str, kw: Any
) -> None:
    for other in ("ingest", "read"):
        if other == scope:
            continue
        r = getattr(auth, method)(path, headers=bearer(tokens[other]), **kw)
        assert r.status_code == 403, r.text
        assert f"'{scope}'" in r.json()["error"]["message"]
    # The right scope, and admin, get past auth (validation may still refuse the body).
    for ok in (scope, "admin"):
        r = getattr(auth, method)(path, headers=bearer(tokens[ok]), **kw)
        assert r.status_code not in (401, 403), r.text


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer fw_abc_def"},
        {"authorization": "Bearer "},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"x-api-key": "garbage"},
    ],
    ids=["unknown", "empty", "basic", "garbage-x-api-key"],
)
def test_an_unknown_key_is_401(auth: TestClient, headers: dict[str, str]) -> None:
    assert auth.get("/v1/models", headers=headers).status_code == 401


def test_the_x_api_key_header_works_like_bearer(auth: TestClient, tokens: dict[str, str]) -> None:
    assert auth.get("/v1/models", headers={"x-api-key": tokens["read"]}).status_code == 200


def test_an_admin_creates_lists_and_revokes_keys(auth: TestClient, tokens: dict[str, str]) -> None:
    admin = bearer(tokens["admin"])
    r = auth.post("/v1/keys", json={"name": "ci-ingest", "scopes": ["ingest"]}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["scopes"] == ["ingest"] and created["key"].startswith("fw_")
    new = bearer(created["key"])
    r = auth.post("/v1/models/churn/events", json={"events": good_events(2, prefix="newkey")}, headers=new)
    assert (r.status_code, r.json()) == (200, {"accepted": 2, "duplicates": 0})
    assert auth.get("/v1/models", headers=new).status_code == 403

    listed = auth.get("/v1/keys", headers=admin)
    assert created["key"] not in listed.text
    assert {
        "key_id": created["key_id"],
        "name": "ci-ingest",
        "scopes": ["ingest"],
        "revoked": False,
    } in listed.json()["keys"]

    assert auth.delete(f"/v1/keys/{created['key_id']}", headers=admin).status_code == 204
    r = auth.post("/v1/models/churn/events", json={"events": good_events(1, prefix="revoked")}, headers=new)
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]["message"]
    listed = auth.get("/v1/keys", headers=admin).json()["keys"]
    assert next(k for k in listed if k["key_id"] == created["key_id"])["revoked"] is True


def test_only_an_admin_creates_keys(auth: TestClient, tokens: dict[str, str]) -> None:
    for scope in ("ingest", "read"):
        r = auth.post("/v1/keys", json={"name": "sneaky", "scopes": ["admin"]}, headers=bearer(tokens[scope]))
        assert r.status_code == 403


def test_health_and_metrics_answer_without_a_key(auth: TestClient) -> None:
    assert auth.get("/healthz").status_code == 200
    assert auth.get("/metrics").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_auth_off_on_a_non_loopback_host_refuses_to_start(tmp_path: Path, host: str) -> None:
    settings = Settings(data_dir=tmp_path / "d", auth=False, host=host)
    with pytest.raises(ValidationError, match="loopback"):
        create_app(settings)
    assert not (tmp_path / "d").exists(), "nothing may be created before refusing"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_auth_off_on_loopback_starts(api: Api, host: str) -> None:
    app = create_app(api.settings.model_copy(update={"auth": False, "host": host}), store=api.store)
    with TestClient(app) as client:
        assert client.get("/v1/models").status_code == 200


def test_auth_on_may_bind_anywhere(api: Api, tokens: dict[str, str]) -> None:
    app = create_app(api.settings.model_copy(update={"auth": True, "host": "0.0.0.0"}), store=api.store)
    with TestClient(app) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers=bearer(tokens["read"])).status_code == 200
