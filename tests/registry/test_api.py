"""The registry's HTTP API in-process: datasets, eval sets, training and evaluation jobs, aliases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from flywheel.deploy.registry import Registry
from flywheel.jobs import run_worker
from flywheel.server.app import create_app
from flywheel.settings import Settings
from flywheel.train import TrainingData, get_trainer

from .helpers import populate


def _error(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.slow
def test_dataset_to_promotion_through_the_api(backend_settings: Settings) -> None:
    with TestClient(create_app(backend_settings)) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        populate(store, n=120)
        base = "/v1/models/m"

        r = client.post(f"{base}/datasets", json={"rule": {"kind": "window", "rows": 100}})
        assert r.status_code == 201, r.text
        ds = r.json()
        assert ds["ref"] == "training@1" and ds["created"] and ds["num_rows"] == 100
        again = client.post(f"{base}/datasets", json={"rule": {"kind": "window", "rows": 100}})
        assert again.status_code == 200 and again.json()["dataset_id"] == ds["dataset_id"]
        assert client.post(f"{base}/datasets", json={}).status_code == 201  # all rows: training@2
        listed = client.get(f"{base}/datasets").json()["datasets"]
        assert [d["ref"] for d in listed] == ["training@2", "training@1"] and "manifest" not in listed[0]
        shown = client.get(f"{base}/datasets/training@1", params={"rows": 3, "split": "holdout"}).json()
        assert len(shown["rows"]) == 3 and {r["split"] for r in shown["rows"]} == {"holdout"}
        assert shown["manifest"]["counts"]["rows"] == 100
        d = client.get(f"{base}/datasets/diff", params={"a": "training@1", "b": "training@2"}).json()
        assert d["counts"]["added"] == 20 and d["counts"]["removed"] == 0
        pq = client.get(f"{base}/datasets/{ds['dataset_id']}/parquet")
        assert pq.status_code == 200 and pq.content[:4] == b"PAR1"
        assert client.post(f"{base}/datasets/training@1/verify").json()["same_bytes"] is True

        golden = {"name": "golden", "rule": {"kind": "golden", "event_ids": ["e0001", "e0002"]}}
        assert client.post(f"{base}/eval-sets", json=golden).status_code == 201
        assert client.post(f"{base}/eval-sets", json=golden).status_code == 200
        assert client.post(f"{base}/eval-sets/slices", json={}).status_code == 200
        names = [e["name"] for e in client.get(f"{base}/eval-sets").json()["eval_sets"]]
        assert names == ["golden", "slice-country-A", "slice-country-B"]

        for _ in range(2):
            r = client.post(f"{base}/train", json={"dataset": "training@2", "n_trials": 0})
            assert r.status_code == 202 and r.json()["kind"] == "train" and r.json()["status"] == "queued"
        assert run_worker(backend_settings, once=True) == 2
        versions = client.get(f"{base}/versions").json()
        assert [v["version"] for v in versions["versions"]] == [2, 1] and versions["aliases"] == {}
        assert client.get(f"{base}/versions/v1/artifact").content[:2] == b"PK"

        client.put(f"{base}/gate-policy", json={"gate": {"must_beat_baseline": True}, "n_boot": 50})
        assert client.get(f"{base}/gate-policy").json()["config"]["n_boot"] == 50
        r = client.post(f"{base}/evaluations", json={"candidate": 1})
        assert r.status_code == 202
        assert run_worker(backend_settings, once=True) == 1
        job = client.get(f"/v1/jobs/{r.json()['job_id']}").json()
        assert job["status"] == "succeeded", job
        ev_id = job["result"]["evaluation_id"]
        ev = client.get(f"{base}/evaluations/{ev_id}").json()
        assert ev["passed"] and ev["candidate_version"] == 1
        report = client.get(f"{base}/evaluations/{ev_id}/report").json()
        assert report["gate"]["passed"] and [e["name"] for e in report["report"]["eval_sets"]][0] == "holdout"
        html = client.get(f"{base}/evaluations/{ev_id}/report.html")
        assert html.headers["content-type"].startswith("text/html") and "<script" in html.text

        _error(
            client.post(f"{base}/aliases/champion/promote", json={"version": 2, "why": "x"}),
            409,
            "gate_refused",
        )
        moved = client.post(
            f"{base}/aliases/champion/promote", json={"version": 1, "why": "blessed", "who": "ann"}
        )
        assert (
            moved.status_code == 200
            and moved.json()["evaluation_id"] == ev_id
            and moved.json()["who"] == "ann"
        )
        forced = {"version": 2, "why": "urgent", "override_reason": "hotfix"}
        assert (
            client.post(f"{base}/aliases/champion/promote", json=forced).json()["override_reason"] == "hotfix"
        )
        back = client.post(f"{base}/aliases/champion/rollback", json={"why": "regret"}).json()
        assert (back["from_version"], back["to_version"]) == (2, 1)
        hist = client.get(f"{base}/aliases/champion/history").json()["history"]
        assert [(h["action"], h["to_version"]) for h in hist] == [
            ("promote", 1),
            ("promote", 2),
            ("rollback", 1),
        ]
        assert client.get(f"{base}/aliases/champion").json()["version"] == 1
        assert len(client.get(f"{base}/history").json()["history"]) == 3


def test_api_errors_have_the_one_shape_and_name_the_problem(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        populate(client.app.state.store, n=20)  # type: ignore[attr-defined]
        base = "/v1/models/m"
        err = _error(client.get(f"{base}/datasets/nope"), 404, "not_found")
        assert "flywheel dataset list" in err["message"]
        err = _error(client.post(f"{base}/train", json={"trainer": "os:system"}), 422, "invalid_request")
        assert err["details"][0]["field"] == "trainer"
        _error(client.post(f"{base}/train", json={"n_trials": -1}), 422, "invalid_request")
        _error(client.post(f"{base}/evaluations", json={"candidate": 7}), 404, "not_found")
        _error(client.post(f"{base}/datasets", json={"rule": {"kind": "window"}}), 422, "invalid_request")
        _error(
            client.put(f"{base}/gate-policy", json={"gate": {"max_regression": -1}}), 422, "invalid_request"
        )
        _error(client.post(f"{base}/aliases/champion/rollback", json={"why": "x"}), 409, "conflict")
        _error(client.get("/v1/models/ghost/versions"), 404, "not_found")


def test_writes_need_admin_and_the_history_names_the_key(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data", auth=True)
    with TestClient(create_app(s)) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        populate(store, n=30)
        _, reader = store.keys.create("reader", ["read"])
        _, admin = store.keys.create("release-bot", ["admin"])
        spec = store.models.get("m").spec
        frame = pd.DataFrame({"x": [0.0, 1.0], "country": ["A", "A"]})
        fitted = get_trainer("baseline").fit(TrainingData(frame, np.array(["no", "yes"]), spec))
        Registry(store).register("m", fitted)
        body = {"version": 1, "why": "go", "override_reason": "first", "who": "someone else"}
        url = "/v1/models/m/aliases/champion/promote"
        _error(client.post(url, json=body), 401, "unauthorized")
        _error(client.post(url, json=body, headers={"Authorization": f"Bearer {reader}"}), 403, "forbidden")
        ok = client.post(url, json=body, headers={"Authorization": f"Bearer {admin}"})
        assert ok.status_code == 200 and ok.json()["who"] == "key:release-bot"
        hist = client.get("/v1/models/m/history", headers={"Authorization": f"Bearer {reader}"})
        assert hist.json()["history"][0]["who"] == "key:release-bot"
