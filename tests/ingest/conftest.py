"""Fixtures for the ingest tests: a service whose (migrated) store lives for a whole module, per backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flywheel.ingest.service import IngestService
from flywheel.store import open_store
from tests.conftest import backend_params, shared_settings
from tests.ingest.cases import SPEC, good_events


@pytest.fixture(scope="module", params=backend_params())
def shared_svc(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IngestService]:
    """A registered model with a little data, shared by tests that must leave it unchanged."""
    with shared_settings(request.param, tmp_path_factory.mktemp("ingest")) as settings:
        store = open_store(settings)
        try:
            svc = IngestService(store, settings)
            svc.register_model(SPEC)
            svc.ingest_events("churn", good_events(3, prefix="ok"))
            svc.ingest_labels("churn", [{"event_id": "ok-0", "label": "stay", "label_id": "l-keep"}])
            svc.ingest_feedback("churn", [{"event_id": "ok-0", "kind": "flag", "feedback_id": "f-keep"}])
            yield svc
        finally:
            store.close()
