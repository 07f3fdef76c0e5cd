"""Profiles at ingest: every accepted batch lands in the hourly profiles, exactly once, on every path."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from flywheel.ingest.service import IngestService
from flywheel.monitor.ingest_hook import ProfileListener, install, merge_rows, profile_kinds, rebuild_profiles
from flywheel.schema import ModelSpec
from flywheel.settings import Settings
from flywheel.store import Store
from tests.monitor import seed

T0 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)


def _events(n: int, *, start: int = 0, hour: int = 0, version: str | None = "v1") -> list[dict[str, Any]]:
    rng = np.random.default_rng(start)
    return [
        {
            "event_id": f"ev-{start + i}",
            "timestamp": (T0 + timedelta(hours=hour, seconds=i)).isoformat(),
            "inputs": {
                "age": float(rng.normal(40, 10)) if i % 10 else None,
                "plan": ["a", "b", "c"][i % 3],
                "country": ["DE", "FR"][i % 2],
            },
            "prediction": "churn" if i % 4 == 0 else "stay",
            "score": float(rng.random()),
            "model_version": version,
        }
        for i in range(n)
    ]


@pytest.fixture
def svc(store: Store) -> IngestService:
    s = IngestService(store)
    s.register_model(seed.SPEC)
    install(s)
    return s


def test_install_is_idempotent(svc: IngestService) -> None:
    first = install(svc)
    assert install(svc) is first
    assert sum(isinstance(x, ProfileListener) for x in svc.listeners) == 1


def test_stored_profiles_equal_the_profile_of_every_row_per_version_and_hour(
    svc: IngestService, store: Store
) -> None:
    batches = [
        _events(120, start=0, hour=0),
        _events(80, start=1000, hour=0),  # same hour, merged on write
        _events(50, start=2000, hour=1),
        _events(30, start=3000, hour=1, version=None),
    ]
    for b in batches:
        svc.ingest_events("churn", b)
    rows = store.monitor.profiles("churn")
    keys = {(r.model_version, r.hour) for r in rows}
    assert keys == {("v1", T0), ("v1", T0 + timedelta(hours=1)), ("", T0 + timedelta(hours=1))}
    assert {r.column for r in rows} == {"in.age", "in.plan", "in.country", "prediction", "score"}

    first_hour = [r for r in rows if r.model_version == "v1" and r.hour == T0]
    prof = merge_rows(first_hour)
    sent = batches[0] + batches[1]
    ages = np.array([e["inputs"]["age"] for e in sent if e["inputs"]["age"] is not None])
    assert prof["in.age"].count == len(sent)
    assert prof["in.age"].nulls == len(sent) - len(ages)
    assert prof["in.age"].mean == pytest.approx(ages.mean(), rel=1e-12)
    assert prof["in.age"].min == ages.min() and prof["in.age"].max == ages.max()
    plans = [e["inputs"]["plan"] for e in sent]
    assert prof["in.plan"].frequencies() == {p: plans.count(p) for p in set(plans)}
    preds = [e["prediction"] for e in sent]
    assert prof["prediction"].frequencies() == {p: preds.count(p) for p in set(preds)}
    assert all(r.rows == len(sent) for r in first_hour)


def test_a_resent_batch_is_profiled_once(svc: IngestService, store: Store) -> None:
    batch = _events(60)
    assert svc.ingest_events("churn", batch)["accepted"] == 60
    assert svc.ingest_events("churn", batch)["duplicates"] == 60
    half = batch[30:] + _events(10, start=500)
    svc.ingest_events("churn", half)
    prof = merge_rows(store.monitor.profiles("churn"))
    assert prof["prediction"].count == 70


def test_concurrent_batches_lose_no_counts(svc: IngestService, store: Store) -> None:
    def send(t: int) -> None:
        for k in range(4):
            svc.ingest_events("churn", _events(25, start=t * 1000 + k * 100))

    threads = [threading.Thread(target=send, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    prof = merge_rows(store.monitor.profiles("churn"))
    assert prof["prediction"].count == 6 * 4 * 25
    assert prof["in.plan"].count == 600


def test_a_failing_profile_never_fails_the_batch_and_rebuild_repairs_it(
    svc: IngestService, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.ingest_events("churn", _events(40))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(store.monitor, "merge_profiles", broken)
    assert svc.ingest_events("churn", _events(40, start=100))["accepted"] == 40
    listener = next(x for x in svc.listeners if isinstance(x, ProfileListener))
    assert listener.errors == 1 and "disk on fire" in (listener.last_error or "")
    monkeypatch.undo()
    assert merge_rows(store.monitor.profiles("churn"))["prediction"].count == 40
    assert rebuild_profiles(store, "churn") == {"hours": 1, "rows": 80}
    assert merge_rows(store.monitor.profiles("churn"))["prediction"].count == 80


def test_rebuild_gives_the_profiles_ingest_gave(svc: IngestService, store: Store) -> None:
    for h in range(3):
        svc.ingest_events("churn", _events(70, start=h * 100, hour=h))
    before = {(r.model_version, r.column, r.hour): r for r in store.monitor.profiles("churn")}
    rebuild_profiles(store, "churn")
    after = {(r.model_version, r.column, r.hour): r for r in store.monitor.profiles("churn")}
    assert before.keys() == after.keys()
    for key, r in before.items():
        a, b = merge_rows([r])[r.column], merge_rows([after[key]])[r.column]
        assert a.count == b.count and a.nulls == b.nulls
        if a.kind == "numeric":
            assert a.mean == pytest.approx(b.mean, rel=1e-12)


def test_every_spec_column_kind_is_profiled(store: Store) -> None:
    spec = {
        "name": "mixed",
        "task": "multiclass",
        "class_names": ["x", "y", "z"],
        "features": [
            {"name": "n", "kind": "numeric"},
            {"name": "t", "kind": "text"},
            {"name": "e", "kind": "embedding", "dim": 4},
            {"name": "img", "kind": "image"},
        ],
    }
    svc = IngestService(store)
    svc.register_model(spec)
    install(svc)
    rng = np.random.default_rng(0)
    events = [
        {
            "event_id": f"m{i}",
            "timestamp": T0.isoformat(),
            "inputs": {
                "n": float(i),
                "t": "some words here",
                "e": rng.normal(size=4).tolist(),
                "img": "aGVsbG8=",
            },
            "prediction": "x",
            "probabilities": {"x": 0.5, "y": 0.3, "z": 0.2},
        }
        for i in range(20)
    ]
    svc.ingest_events("mixed", events)
    prof = merge_rows(store.monitor.profiles("mixed"))
    kinds = profile_kinds(ModelSpec.model_validate(spec))
    assert set(prof.kinds) == set(kinds) - {"score"}  # no event carried a score
    assert prof["in.e"].kind == "embedding" and prof["in.e"].count == 20
    assert prof["in.t"].tokens.mean == 3.0
    assert prof["proba.y"].mean == pytest.approx(0.3)


def test_the_server_and_the_embedded_sdk_both_profile(tmp_path: Path) -> None:
    from flywheel.client.embedded import InProcessTransport

    settings = Settings(data_dir=tmp_path / "srv", auth=False)
    with TestClient(create_app(settings)) as c:
        assert c.post("/v1/models", json=seed.SPEC).status_code == 201
        assert c.post("/v1/models/churn/events", json={"events": _events(30)}).status_code == 200
        store = c.app.state.store  # type: ignore[attr-defined]
        assert merge_rows(store.monitor.profiles("churn"))["prediction"].count == 30

    transport = InProcessTransport(tmp_path / "embedded")
    try:
        transport.send("model", "churn", [seed.SPEC])
        transport.send("events", "churn", _events(25))
        store = transport.service.store
        assert merge_rows(store.monitor.profiles("churn"))["prediction"].count == 25
    finally:
        transport.close()


def create_app(settings: Settings) -> Any:
    from flywheel.server.app import create_app as make

    return make(settings)
