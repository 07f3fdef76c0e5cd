"""The monitoring HTTP API in-process: time series, reference, monitors, rules, alerts, drill-down,
cascades, the error shape and the scopes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from flywheel.server.app import create_app
from flywheel.settings import Settings
from tests.monitor import seed

M = "/v1/models/churn"
DRIFT_DAY = seed.START + timedelta(days=3)


def _iso(t: datetime) -> str:
    return t.isoformat()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("api") / "data", auth=False)
    with TestClient(create_app(settings)) as c:
        assert c.post("/v1/models", json=seed.SPEC).status_code == 201
        events, truth = seed.events(96, 10, drift_at=72)
        for i in range(0, len(events), 500):
            r = c.post(f"{M}/events", json={"events": events[i : i + 500]})
            assert r.status_code == 200, r.text
        assert c.post(f"{M}/labels", json={"labels": seed.labels(truth, 0.8)}).status_code == 200
        yield c


def _error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def test_without_a_stored_reference_the_first_day_is_used(client: TestClient) -> None:
    r = client.get(f"{M}/reference")
    assert r.status_code == 200
    assert r.json()["stored"] is False and r.json()["reference"]["source"]["kind"] == "implicit"


def test_set_the_reference_from_a_window(client: TestClient) -> None:
    r = client.post(
        f"{M}/reference", json={"since": _iso(seed.START), "until": _iso(seed.START + timedelta(days=1))}
    )
    assert r.status_code == 201, r.text
    ref = r.json()["reference"]
    assert ref["rows"] == 240 and ref["source"]["kind"] == "window" and ref["estimated_performance"]
    got = client.get(f"{M}/reference").json()
    assert got["stored"] is True and got["references"][0]["rows"] == 240
    err = _error(
        client.post(
            f"{M}/reference", json={"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}
        ),
        422,
    )
    assert "no events" in err["message"]
    assert (
        _error(client.post(f"{M}/reference", json={"until": "2020-01-02T00:00:00Z"}), 422)["details"][0][
            "field"
        ]
        == "since"
    )


def test_upload_a_versions_reference_as_parquet(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "age": rng.normal(40, 10, 300),
            "plan": rng.choice(["a", "b", "c"], 300),
            "country": rng.choice(["DE", "FR", "US"], 300),
            "label": rng.choice(["stay", "churn"], 300),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = client.post(
        f"{M}/reference?for_version=v7",
        content=buf.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["reference"]["rows"] == 300 and r.json()["reference"]["model_version"] == "v7"
    assert (
        client.get(f"{M}/reference", params={"model_version": "v7"}).json()["reference"]["source"]["kind"]
        == "upload"
    )
    buf = io.BytesIO()
    pq.write_table(table.drop_columns(["plan"]), buf)
    err = _error(
        client.post(
            f"{M}/reference",
            content=buf.getvalue(),
            headers={"content-type": "application/vnd.apache.parquet"},
        ),
        422,
    )
    assert err["details"] == [{"field": "plan", "reason": "missing"}]


def test_monitoring_time_series(client: TestClient) -> None:
    r = client.get(f"{M}/monitoring", params={"bucket": "day"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [w["rows"] for w in doc["windows"]] == [240] * 4
    assert {"age", "plan"} <= set(doc["windows"][3]["drift"]["flagged"])
    assert doc["windows"][0]["drift"]["flagged"] == []
    assert "_results" not in doc and "_reference" not in doc
    exact = client.get(f"{M}/monitoring", params={"bucket": "day", "exact": "true", "slices": "true"}).json()
    assert exact["exact"] and set(exact["slices"]) >= {"young", "country=DE"}
    hourly = client.get(
        f"{M}/monitoring",
        params={"bucket": "hour", "since": _iso(DRIFT_DAY), "until": _iso(DRIFT_DAY + timedelta(hours=3))},
    ).json()
    assert [w["rows"] for w in hourly["windows"]] == [10, 10, 10]


def test_bad_parameters_get_the_one_error_shape(client: TestClient) -> None:
    assert (
        _error(client.get(f"{M}/monitoring", params={"bucket": "month"}), 422)["details"][0]["field"]
        == "bucket"
    )
    assert (
        _error(client.get(f"{M}/monitoring", params={"since": "yesterday"}), 422)["code"] == "invalid_request"
    )
    assert _error(client.get("/v1/models/nope/monitoring"), 404)["code"] == "not_found"
    assert (
        _error(client.get(f"{M}/monitoring/events", params={"kind": "drift"}), 422)["details"][0]["field"]
        == "window_start"
    )
    w = {"window_start": _iso(DRIFT_DAY), "window_end": _iso(DRIFT_DAY + timedelta(days=1))}
    assert (
        _error(client.get(f"{M}/monitoring/events", params={"kind": "magic", **w}), 422)["details"][0][
            "field"
        ]
        == "kind"
    )
    assert _error(client.get(f"{M}/monitoring/events", params={"kind": "drift", "column": "zzz", **w}), 422)
    assert _error(client.get(f"{M}/alerts", params={"status": "maybe"}), 422)


def test_drill_down_and_distribution(client: TestClient) -> None:
    w = {"window_start": _iso(DRIFT_DAY), "window_end": _iso(DRIFT_DAY + timedelta(days=1))}
    r = client.get(f"{M}/monitoring/events", params={"kind": "drift", "column": "plan", "limit": 5, **w})
    assert r.status_code == 200
    doc = r.json()
    assert len(doc["events"]) == 5 and {e["inputs"]["plan"] for e in doc["events"]} == {"gold"}
    assert doc["event_ids"] == [e["event_id"] for e in doc["events"]]
    d = client.get(
        f"{M}/monitoring/distribution",
        params={"column": "plan", "since": w["window_start"], "until": w["window_end"]},
    )
    assert d.status_code == 200 and "gold" in d.json()["categories"]


def test_monitors_config_round_trip_and_validation(client: TestClient) -> None:
    got = client.get(f"{M}/monitors").json()
    assert got["stored"] is False and got["config"]["check_bucket"] == "day"
    assert got["config"]["policy"]["performance_drop"] == 0.05
    body = {
        "policy": {"performance_drop": 0.1},
        "drift": {"alpha": 0.01},
        "webhooks": [{"url": "https://example.com/h"}],
    }
    r = client.put(f"{M}/monitors", json=body)
    assert r.status_code == 200, r.text
    cfg = client.get(f"{M}/monitors").json()
    assert (
        cfg["stored"]
        and cfg["config"]["policy"]["performance_drop"] == 0.1
        and cfg["config"]["drift"]["alpha"] == 0.01
    )
    assert cfg["config"]["webhooks"][0]["format"] == "json"
    err = _error(client.put(f"{M}/monitors", json={"policy": {"performance_drop": 3}}), 422)
    assert err["details"][0]["field"] == "policy.performance_drop"
    assert _error(client.put(f"{M}/monitors", json={"webhooks": [{"url": "not a url"}]}), 422)["details"][0][
        "field"
    ].startswith("webhooks")
    assert _error(client.put(f"{M}/monitors", json={"surprise": 1}), 422)
    assert client.put(f"{M}/monitors", json={}).status_code == 200  # back to the defaults


def test_quality_rules_edit_and_reset(client: TestClient) -> None:
    inferred = client.get(f"{M}/quality-rules").json()
    assert inferred["source"] == "inferred"
    assert {"range:in.age", "allowed_categories:in.plan"} <= {r["id"] for r in inferred["rules"]}
    assert all(r["description"] for r in inferred["rules"])
    tight = [{"kind": "range", "column": "in.age", "min": 30, "max": 50}]
    r = client.put(f"{M}/quality-rules", json={"rules": tight})
    assert (
        r.status_code == 200
        and r.json()["source"] == "edited"
        and [x["id"] for x in r.json()["rules"]] == ["range:in.age"]
    )
    ts = client.get(f"{M}/monitoring", params={"bucket": "day"}).json()
    assert list(ts["windows"][0]["quality"]["violations"]) == ["range:in.age"]
    assert ts["windows"][0]["quality"]["total"] > 0
    w = {"window_start": ts["windows"][0]["start"], "window_end": ts["windows"][0]["end"]}
    rows = client.get(
        f"{M}/monitoring/events", params={"kind": "quality", "rule": "range:in.age", "limit": 1000, **w}
    ).json()
    assert rows["events"] and all(not 30 <= e["inputs"]["age"] <= 50 for e in rows["events"])
    assert _error(
        client.put(f"{M}/quality-rules", json={"rules": [{"kind": "range", "column": "in.age"}]}), 422
    )
    assert _error(client.put(f"{M}/quality-rules", json={"rules": tight + tight}), 422)["message"].startswith(
        "rule ids"
    )
    assert _error(client.put(f"{M}/quality-rules", json={"nope": []}), 422)
    assert client.put(f"{M}/quality-rules", json={"rules": None}).json()["source"] == "inferred"


def test_check_then_list_alerts(client: TestClient) -> None:
    r = client.post(f"{M}/monitors/check", params={"until": _iso(DRIFT_DAY + timedelta(days=1))})
    assert r.status_code == 200, r.text
    opened = r.json()["opened"]
    assert opened and all(a["status"] == "open" for a in opened)
    listed = client.get(f"{M}/alerts", params={"status": "open"}).json()["alerts"]
    assert {a["alert_id"] for a in listed} == {a["alert_id"] for a in opened}
    one = client.get(f"{M}/alerts/{opened[0]['alert_id']}").json()
    assert one["monitor"] == opened[0]["monitor"] and one["deliveries"] == []
    assert _error(client.get(f"{M}/alerts/deadbeef"), 404)
    job = client.post(f"{M}/monitors/check", params={"job": "true"})
    assert (
        job.status_code == 202 and job.json()["kind"] == "monitor-check" and job.json()["status"] == "queued"
    )
    rebuild = client.post(f"{M}/profiles/rebuild")
    assert rebuild.status_code == 202 and rebuild.json()["kind"] == "monitor-rebuild"


def test_a_cascade_names_the_model_that_shifted_first(client: TestClient) -> None:
    """``ocr`` feeds ``churn``'s inputs; ocr's inputs shift a day before churn's."""
    spec = {"name": "ocr", "task": "regression", "features": [{"name": "blur", "kind": "numeric"}]}
    assert client.post("/v1/models", json=spec).status_code == 201
    rng = np.random.default_rng(5)
    events, _ = seed.events(96, 10, drift_at=72)
    upstream, downstream = [], []
    for i, e in enumerate(events):
        ts = datetime.fromisoformat(e["timestamp"])
        early = ts >= seed.START + timedelta(days=2)  # the upstream shift starts a day earlier
        blur = float(rng.normal(3.0 if early else 1.0, 0.3))
        upstream.append(
            {
                "event_id": f"ocr-{i}",
                "timestamp": (ts - timedelta(seconds=1)).isoformat(),
                "inputs": {"blur": blur},
                "prediction": blur * 2,
                "trace_id": f"t-{i}",
            }
        )
        downstream.append({**e, "event_id": f"c2-{i}", "trace_id": f"t-{i}", "parent_event_id": f"ocr-{i}"})
    assert client.post("/v1/models/ocr/events", json={"events": upstream}).status_code == 200
    assert client.post(f"{M}/events", json={"events": downstream}).status_code == 200
    r = client.get(
        f"{M}/cascade",
        params={"since": _iso(seed.START), "until": _iso(seed.START + timedelta(days=4)), "bucket": "day"},
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["edges"] == [["ocr", "churn"]]
    assert doc["first"] == "ocr" and doc["summary"].startswith("ocr shifted first")
    by = {m["model"]: m for m in doc["models"]}
    assert by["ocr"]["first_input_drift"]["window_start"] == _iso(seed.START + timedelta(days=2))
    assert by["churn"]["first_input_drift"]["window_start"] == _iso(DRIFT_DAY)
    assert by["ocr"]["downstream"] == ["churn"] and by["churn"]["upstream"] == ["ocr"]


def test_scopes(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = Settings(data_dir=tmp_path_factory.mktemp("auth") / "data", auth=True)
    with TestClient(create_app(settings)) as c:
        store = c.app.state.store  # type: ignore[attr-defined]
        _, admin = store.keys.create("admin", ["admin"])
        _, reader = store.keys.create("reader", ["read"])
        assert (
            c.post("/v1/models", json=seed.SPEC, headers={"authorization": f"Bearer {admin}"}).status_code
            == 201
        )
        rd = {"authorization": f"Bearer {reader}"}
        assert _error(c.get(f"{M}/monitoring"), 401)["code"] == "unauthorized"
        assert c.get(f"{M}/monitoring", headers=rd).status_code == 200
        assert c.get(f"{M}/alerts", headers=rd).status_code == 200
        assert _error(c.put(f"{M}/monitors", json={}, headers=rd), 403)["code"] == "forbidden"
        assert _error(c.put(f"{M}/quality-rules", json={"rules": None}, headers=rd), 403)
        assert _error(c.post(f"{M}/monitors/check", headers=rd), 403)
        assert (
            c.put(f"{M}/monitors", json={}, headers={"authorization": f"Bearer {admin}"}).status_code == 200
        )
        assert c.get("/models/churn/monitoring").status_code == 401
        assert c.get("/models/churn/monitoring", headers=rd).status_code == 200


def test_openapi_lists_the_monitoring_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/v1/models/{name}/monitoring",
        "/v1/models/{name}/monitoring/events",
        "/v1/models/{name}/reference",
        "/v1/models/{name}/monitors",
        "/v1/models/{name}/quality-rules",
        "/v1/models/{name}/alerts",
        "/v1/models/{name}/cascade",
    ):
        assert p in paths
    assert (
        "application/vnd.apache.parquet"
        in paths["/v1/models/{name}/reference"]["post"]["requestBody"]["content"]
    )


def test_without_a_default_the_newest_versions_reference_applies(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(data_dir=tmp_path_factory.mktemp("versions") / "data", auth=False)
    rng = np.random.default_rng(1)
    with TestClient(create_app(settings)) as c:
        assert c.post("/v1/models", json=seed.SPEC).status_code == 201
        events, _ = seed.events(30, 10)
        assert c.post(f"{M}/events", json={"events": events}).status_code == 200
        for version, mean in (("v1", 40.0), ("v2", 70.0)):
            table = pa.table({"age": rng.normal(mean, 10, 200), "plan": ["a"] * 200, "country": ["DE"] * 200})
            buf = io.BytesIO()
            pq.write_table(table, buf)
            headers = {"content-type": "application/vnd.apache.parquet"}
            assert (
                c.post(
                    f"{M}/reference?for_version={version}", content=buf.getvalue(), headers=headers
                ).status_code
                == 201
            )
        got = c.get(f"{M}/reference").json()
        assert got["stored"] is True and got["reference"]["model_version"] == "v2"
        ts = c.get(f"{M}/monitoring", params={"bucket": "day"}).json()
        assert ts["reference"]["model_version"] == "v2"
        assert "age" in ts["windows"][0]["drift"]["flagged"]  # served ages ~40, v2 trained on ~70
        v1 = c.get(f"{M}/monitoring", params={"bucket": "day", "model_version": "v1"}).json()
        assert v1["reference"]["model_version"] == "v1"
