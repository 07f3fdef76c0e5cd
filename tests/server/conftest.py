"""Fixtures for the server tests: an in-process app per backend, shared by a module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from flywheel.server.app import create_app
from flywheel.settings import Settings
from flywheel.store import Store
from tests.conftest import backend_params, shared_settings
from tests.ingest.cases import SPEC_DICT, good_events


@dataclass
class Api:
    client: TestClient
    app: FastAPI
    settings: Settings

    @property
    def store(self) -> Store:
        return self.app.state.store  # type: ignore[no-any-return]

    def variant(self, **changes: Any) -> TestClient:
        """Another app over the same store with some settings changed (limits, auth)."""
        return TestClient(create_app(self.settings.model_copy(update=changes), store=self.store))


@pytest.fixture(scope="module", params=backend_params())
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An app (auth off) with model 'churn' registered and three events, for the whole module."""
    with shared_settings(request.param, tmp_path_factory.mktemp("server")) as settings:
        app = create_app(settings)
        with TestClient(app) as client:
            assert client.post("/v1/models", json=SPEC_DICT).status_code == 201
            r = client.post("/v1/models/churn/events", json={"events": good_events(3, prefix="ok")})
            assert r.status_code == 200
            yield Api(client, app, settings)
