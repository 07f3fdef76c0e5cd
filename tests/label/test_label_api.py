"""The labelling HTTP API in process, on every backend: curation runs, the queue, annotations,
undo, adjudication, agreement, label errors, import/export, schedules, error shapes and scopes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.metrics import cohen_kappa_score

from flywheel.server.app import create_app
from flywheel.settings import Settings

T0 = datetime(2026, 2, 1, tzinfo=UTC)
SPEC = {
    "name": "churn",
    "task": "binary",
    "features": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
    "class_names": ["stay", "churn"],
}


def events(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        p = round(0.05 + 0.9 * ((i * 29) % 100) / 100, 3)
        out.append(
            {
                "event_id": f"e{i:03d}",
                "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
                "inputs": {"age": float(18 + i % 60), "plan": ["basic", "pro", "team"][i % 3]},
                "prediction": "churn" if p > 0.5 else "stay",
                "probabilities": {"stay": round(1 - p, 3), "churn": p},
            }
        )
    return out


@pytest.fixture
def client(backend_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(backend_settings)) as c:
        assert c.post("/v1/models", json=SPEC).status_code == 201
        assert c.post("/v1/models/churn/events", json={"events": events(40)}).status_code == 200
        yield c


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def test_a_run_then_next_annotate_and_undo_over_http(client: TestClient) -> None:
    run = ok(client.post("/v1/models/churn/curation/runs", json={"policy": {"budget": 5}}), 201)
    assert run["picked"] == 5 and run["candidates"] == 40
    first = ok(client.post("/v1/models/churn/queue/next", params={"annotator": "ana"}))
    item = first["item"]
    assert first["progress"] == {"done": 0, "remaining": 5}
    assert first["class_names"] == ["stay", "churn"]
    assert item["reason"]["selector"] == item["selector"] and item["reason"]["signal"]
    guess = item["view"]["guess"]
    assert guess["label"] == item["event"]["prediction"]
    assert guess["confidence"] == pytest.approx(max(item["event"]["probabilities"].values()))
    answer = {
        "event_id": item["event_id"],
        "annotator": "ana",
        "label": "churn",
        "time_spent_s": 2.5,
        "submission_id": "s1",
    }
    res = ok(client.post("/v1/models/churn/annotations", params={"next": "true"}, json=answer))
    assert res["created"] and res["label_id"] == "ann-s1" and res["item"]["status"] == "labelled"
    assert res["next"]["item"]["event_id"] != item["event_id"]
    assert res["next"]["progress"] == {"done": 1, "remaining": 4}
    assert ok(client.post("/v1/models/churn/annotations", json=answer))["created"] is False  # a retry
    detail = ok(client.get(f"/v1/models/churn/events/{item['event_id']}"))
    assert [(lb["value"], lb["source"], lb["annotator"], lb["time_spent_s"]) for lb in detail["labels"]] == [
        ("churn", "annotator", "ana", 2.5)
    ]
    undone = ok(client.post("/v1/models/churn/annotations/undo", params={"annotator": "ana"}))
    assert undone["item"]["event_id"] == item["event_id"] and undone["previous"] == "churn"
    assert ok(client.get(f"/v1/models/churn/events/{item['event_id']}"))["labels"] == []
    queue = ok(client.get("/v1/models/churn/queue", params={"status": "assigned"}))
    assert {i["event_id"] for i in queue["items"]} == {item["event_id"], res["next"]["item"]["event_id"]}
    assert queue["counts"]["assigned"] == 2 and sum(queue["counts"].values()) == 5
    one = ok(client.get(f"/v1/models/churn/queue/{item['event_id']}"))
    assert [(a["annotator"], a["status"]) for a in one["assignments"]] == [("ana", "assigned")]


def test_a_run_in_the_background_is_a_curate_job(client: TestClient) -> None:
    res = ok(client.post("/v1/models/churn/curation/runs", params={"background": "true"}, json={"k": 3}), 202)
    job = ok(client.get(f"/v1/jobs/{res['job']['job_id']}"))
    assert (job["kind"], job["status"], job["params"]["request"]["k"]) == ("curate", "queued", 3)


def test_bad_requests_name_the_field(client: TestClient) -> None:
    err = error(client.post("/v1/models/churn/curation/runs", json={"policy": {"budget": -1}}), 422)
    assert err["details"][0]["field"] == "policy.budget"
    assert error(client.post("/v1/models/nope/curation/runs", json={}), 404)["code"] == "not_found"
    assert (
        error(client.get("/v1/models/churn/queue", params={"status": "done"}), 422)["details"][0]["field"]
        == "status"
    )
    ok(client.post("/v1/models/churn/curation/runs", json={"policy": {"budget": 2}}), 201)
    eid = ok(client.get("/v1/models/churn/queue"))["items"][0]["event_id"]
    err = error(
        client.post(
            "/v1/models/churn/annotations", json={"event_id": eid, "annotator": "a", "label": "maybe"}
        ),
        422,
    )
    assert err["details"][0]["field"] == "label"
    err = error(
        client.post(
            "/v1/models/churn/annotations",
            json={"event_id": eid, "annotator": "a", "label": "stay", "skip": True},
        ),
        422,
    )
    assert err["details"][0]["field"] == "skip"
    assert error(
        client.post(
            "/v1/models/churn/annotations", json={"event_id": "e999", "annotator": "a", "label": "stay"}
        ),
        404,
    )
    assert (
        error(client.post("/v1/models/churn/annotations", json={"event_id": eid, "label": "stay"}), 422)[
            "details"
        ][0]["field"]
        == "annotator"
    )


def test_agreement_and_adjudication_over_http(client: TestClient) -> None:
    ok(client.post("/v1/models/churn/curation/runs", json={"policy": {"budget": 8}, "k": 2}), 201)
    given: dict[str, dict[str, str]] = {"ana": {}, "bo": {}}
    for who in ("ana", "bo"):
        for j in range(8):
            item = ok(client.post("/v1/models/churn/queue/next", params={"annotator": who}))["item"]
            value = "churn" if (j % 3 == 0 or (who == "bo" and j % 4 == 1)) else "stay"
            given[who][item["event_id"]] = value
            ok(
                client.post(
                    "/v1/models/churn/annotations",
                    json={"event_id": item["event_id"], "annotator": who, "label": value},
                )
            )
    ids = sorted(given["ana"])
    report = ok(client.get("/v1/models/churn/agreement"))
    assert report["items_with_overlap"] == 8 and report["annotators"] == ["ana", "bo"]
    (pair,) = report["cohen_kappa"]
    expected = cohen_kappa_score([given["ana"][e] for e in ids], [given["bo"][e] for e in ids])
    assert pair["kappa"] == pytest.approx(expected)
    disputed = {e for e in ids if given["ana"][e] != given["bo"][e]}
    adj = ok(client.get("/v1/models/churn/adjudications"))
    assert {i["event_id"] for i in adj["items"]} == disputed and adj["count"] == len(disputed)
    eid = sorted(disputed)[0]
    labels = {
        lb["annotator"]: lb["label"] for lb in next(i for i in adj["items"] if i["event_id"] == eid)["labels"]
    }
    assert labels == {"ana": given["ana"][eid], "bo": given["bo"][eid]}
    res = ok(
        client.post(
            "/v1/models/churn/adjudications", json={"event_id": eid, "adjudicator": "judge", "label": "stay"}
        )
    )
    assert res["item"]["status"] == "labelled"
    sources = {lb["source"] for lb in ok(client.get(f"/v1/models/churn/events/{eid}"))["labels"]}
    assert sources == {"annotator", "adjudication"}
    assert error(
        client.post(
            "/v1/models/churn/adjudications", json={"event_id": eid, "adjudicator": "j", "label": "stay"}
        ),
        409,
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "label-studio"])
def test_exported_labels_import_back_the_same(client: TestClient, fmt: str) -> None:
    sent = [
        {
            "event_id": "e001",
            "label": "stay",
            "label_id": "a1",
            "source": "annotator",
            "annotator": "ana",
            "time_spent_s": 3.0,
        },
        {
            "event_id": "e002",
            "label": "churn",
            "label_id": "a2",
            "source": "annotator",
            "annotator": "bo",
            "time_spent_s": 1.5,
        },
        {"event_id": "e003", "label": "churn", "label_id": "o1", "source": "outcome"},
    ]
    ok(client.post("/v1/models/churn/labels", json={"labels": sent}))
    exported = client.get("/v1/models/churn/labels/export", params={"format": fmt})
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    if fmt == "label-studio":
        tasks = json.loads(exported.text)
        assert {t["data"]["event_id"]: t["data"]["age"] for t in tasks}["e002"] == 20.0
        assert tasks[0]["predictions"][0]["result"][0]["value"]["choices"] in (["stay"], ["churn"])
    ok(client.post("/v1/models", json={**SPEC, "name": "copy"}), 201)
    res = ok(client.post("/v1/models/copy/labels/import", params={"format": fmt}, content=exported.text))
    assert res == {"accepted": 3, "duplicates": 0}
    assert (
        ok(client.post("/v1/models/copy/labels/import", params={"format": fmt}, content=exported.text))[
            "duplicates"
        ]
        == 3
    )
    back = {
        lb["event_id"]: lb
        for lb in (
            json.loads(x)
            for x in client.get("/v1/models/copy/labels/export", params={"format": "jsonl"}).text.splitlines()
        )
    }
    for s in sent:
        got = back[s["event_id"]]
        assert got["label"] == s["label"]
        assert got.get("annotator") == s.get("annotator") and got.get("time_spent_s") == s.get("time_spent_s")
        # Label Studio has no notion of a source: its labels come back as imports.
        assert got["source"] == ("import" if fmt == "label-studio" else s["source"])
    only = client.get("/v1/models/churn/labels/export", params={"format": "csv", "source": "outcome"}).text
    assert only.count("\n") == 2 and "o1" in only
    assert error(client.get("/v1/models/churn/labels/export", params={"format": "xml"}), 422)


def test_label_errors_are_found_reviewed_and_relabelled_never_dropped(backend_settings: Settings) -> None:
    X, y = load_iris(return_X_y=True)
    names = ["setosa", "versicolor", "virginica"]
    rng = np.random.default_rng(0)
    flipped = set(rng.choice(150, 8, replace=False).tolist())
    spec = {
        "name": "iris",
        "task": "multiclass",
        "features": [{"name": f"f{j}", "kind": "numeric"} for j in range(4)],
        "class_names": names,
    }
    evs = [
        {
            "event_id": f"i{i:03d}",
            "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
            "inputs": {f"f{j}": float(X[i, j]) for j in range(4)},
            "prediction": names[y[i]],
        }
        for i in range(150)
    ]
    given = {i: names[(y[i] + 1) % 3] if i in flipped else names[y[i]] for i in range(150)}
    with TestClient(create_app(backend_settings)) as c:
        ok(c.post("/v1/models", json=spec), 201)
        ok(c.post("/v1/models/iris/events", json={"events": evs}))
        ok(
            c.post(
                "/v1/models/iris/labels",
                json={"labels": [{"event_id": f"i{i:03d}", "label": given[i]} for i in range(150)]},
            )
        )
        found = ok(c.post("/v1/models/iris/label-errors", json={"max_issues": 20}), 201)
        assert found["labelled_events"] == 150
        suspects = ok(c.get("/v1/models/iris/label-errors"))["items"]
        hits = {int(s["event_id"][1:]) for s in suspects} & flipped
        assert len(hits) >= 6 and len(hits) / len(suspects) >= 0.5
        top = suspects[0]
        assert (
            top["score"] == max(s["score"] for s in suspects)
            and top["given"] == given[int(top["event_id"][1:])]
        )
        true_label = names[y[int(top["event_id"][1:])]]
        assert error(
            c.post(
                f"/v1/models/iris/label-errors/{top['event_id']}",
                json={"action": "relabel", "reviewer": "rev"},
            ),
            422,
        )
        done = ok(
            c.post(
                f"/v1/models/iris/label-errors/{top['event_id']}",
                json={"action": "relabel", "label": true_label, "reviewer": "rev"},
            )
        )
        assert (done["status"], done["reviewer"]) == ("relabelled", "rev")
        labels = ok(c.get(f"/v1/models/iris/events/{top['event_id']}"))["labels"]
        assert sorted((lb["source"], lb["value"]) for lb in labels) == sorted(
            [("outcome", top["given"]), ("adjudication", true_label)]
        )
        second = suspects[1]
        ok(
            c.post(
                f"/v1/models/iris/label-errors/{second['event_id']}",
                json={"action": "confirm", "reviewer": "rev"},
            )
        )
        labels = ok(c.get(f"/v1/models/iris/events/{second['event_id']}"))["labels"]
        assert [lb["value"] for lb in labels if lb["source"] == "adjudication"] == [second["given"]]
        counts = ok(c.get("/v1/models/iris/label-errors", params={"status": ""}))["counts"]
        assert counts == {"open": len(suspects) - 2, "relabelled": 1, "confirmed": 1}
        assert error(
            c.post(
                f"/v1/models/iris/label-errors/{top['event_id']}", json={"action": "confirm", "reviewer": "x"}
            ),
            409,
        )


def test_schedules_are_set_read_and_validated(client: TestClient) -> None:
    res = ok(
        client.put(
            "/v1/models/churn/curation/schedule", json={"every": "6h", "request": {"policy": {"budget": 5}}}
        )
    )
    assert res["schedule"]["interval_s"] == 21600 and res["schedule"]["enabled"]
    assert ok(client.get("/v1/models/churn/curation/schedule"))["schedule"]["config"]["policy"]["budget"] == 5
    assert (
        error(client.put("/v1/models/churn/curation/schedule", json={"every": "soon"}), 422)["details"][0][
            "field"
        ]
        == "every"
    )
    assert error(client.put("/v1/models/churn/curation/schedule", json={"every": "1h", "when": 1}), 422)
    paused = ok(client.put("/v1/models/churn/curation/schedule", json={"every": "1h", "enabled": False}))
    assert paused["schedule"]["enabled"] is False


def test_labelling_needs_ingest_and_curation_needs_admin(backend_settings: Settings) -> None:
    settings = backend_settings.model_copy(update={"auth": True})
    with TestClient(create_app(settings)) as c:
        store = c.app.state.store  # type: ignore[attr-defined]
        tokens = {s: store.keys.create(s, [s])[1] for s in ("read", "ingest", "admin")}

        def as_(scope: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[scope]}"}

        ok(c.post("/v1/models", json=SPEC, headers=as_("admin")), 201)
        ok(c.post("/v1/models/churn/events", json={"events": events(10)}, headers=as_("ingest")))
        assert error(c.post("/v1/models/churn/curation/runs", json={}, headers=as_("ingest")), 403)
        ok(
            c.post("/v1/models/churn/curation/runs", json={"policy": {"budget": 3}}, headers=as_("admin")),
            201,
        )
        assert error(c.get("/v1/models/churn/queue"), 401)
        ok(c.get("/v1/models/churn/queue", headers=as_("read")))
        assert error(
            c.post("/v1/models/churn/queue/next", params={"annotator": "a"}, headers=as_("read")), 403
        )
        item = ok(c.post("/v1/models/churn/queue/next", params={"annotator": "a"}, headers=as_("ingest")))[
            "item"
        ]
        ok(
            c.post(
                "/v1/models/churn/annotations",
                json={"event_id": item["event_id"], "annotator": "a", "label": "stay"},
                headers=as_("ingest"),
            )
        )
        assert error(c.post(f"/v1/models/churn/queue/{item['event_id']}/requeue", headers=as_("ingest")), 403)
