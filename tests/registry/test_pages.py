"""The registry's pages in-process: each renders, and its JSON twin holds the data it shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from flywheel.server.app import create_app
from flywheel.settings import Settings

from . import scenario

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> scenario.Scenario:
    return scenario.build(tmp_path_factory.mktemp("registry-pages") / "data")


@pytest.fixture
def client(built: scenario.Scenario) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=built.data_dir, auth=False))) as c:
        yield c


def twin(client: TestClient, path: str) -> dict:
    r = client.get(path + ".json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text
    assert client.get(path, params={"format": "json"}).json() == r.json()
    return r.json()  # type: ignore[no-any-return]


def test_the_versions_page_shows_aliases_verdicts_and_the_history(
    client: TestClient, built: scenario.Scenario
) -> None:
    html = client.get("/models/m/versions").text
    data = twin(client, "/models/m/versions")
    assert data["aliases"] == {"champion": 1}
    rows = {v["version"]: v for v in data["versions"]}
    assert rows[1]["aliases"] == ["champion"]
    assert rows[2]["verdict"] == {"evaluation_id": built.refused, "passed": False, "champion_version": 1}
    assert rows[3]["verdict"]["passed"] is True and rows[3]["parent_version"] == 1
    assert [(h["action"], h["to_version"]) for h in data["history"]] == [
        ("rollback", 1),
        ("promote", 3),
        ("promote", 1),
    ]
    assert (
        f'href="/models/m/evaluations/{built.refused}"' in html
        and "checkout errors after the release" in html
    )
    assert 'href="/models/m/versions"' in html and 'href="/models/m/datasets"' in html  # the model tabs


def test_the_report_page_puts_candidate_and_champion_side_by_side_and_marks_the_failing_slice(
    client: TestClient, built: scenario.Scenario
) -> None:
    path = f"/models/m/evaluations/{built.refused}"
    data = twin(client, path)
    assert data["roles"] == ["candidate", "champion"] and data["evaluation"]["passed"] is False
    names = [es["name"] for es in data["eval_sets"]]
    assert names == ["holdout", "golden", "slice-country-A", "slice-country-B"]
    holdout = data["eval_sets"][0]
    failed = [s["name"] for s in holdout["slices"] if s["failed"]]
    assert failed == ["country=B"]
    acc = next(m for m in holdout["metrics"] if m["metric"] == "accuracy")
    assert acc["candidate"]["value"] > acc["champion"]["value"]  # better on average
    html = client.get(path).text
    assert "Refused: version 2 may not be promoted over version 1" in html
    assert '<tr data-slice="country=B" class="failed">' in html
    assert "candidate − champion" in html and data["report_html"] in html
    assert client.get(data["report_html"]).text.startswith("<!doctype html>")


def test_the_dataset_pages_show_the_manifest_rows_and_eval_sets(
    client: TestClient, built: scenario.Scenario
) -> None:
    listing = twin(client, "/models/m/datasets")
    assert [d["ref"] for d in listing["training"]] == ["training@1"]
    assert [d["ref"] for d in listing["eval_sets"]] == ["golden@1", "slice-country-A@1", "slice-country-B@1"]
    detail = twin(client, "/models/m/datasets/training@1")
    assert detail["dataset"]["dataset_id"] == built.dataset_id and len(detail["rows"]) == 20
    assert detail["trained_versions"] == [3, 2, 1]
    html = client.get(f"/models/m/datasets/{built.dataset_id}").text
    assert detail["dataset"]["content_hash"] in html and "data-plot" in html


def test_the_jobs_page_lists_jobs_with_progress_and_links_to_their_results(
    client: TestClient, built: scenario.Scenario
) -> None:
    data = twin(client, "/jobs")
    kinds = sorted(j["kind"] for j in data["jobs"])
    assert kinds == ["evaluate", "evaluate", "train"] and data["active"] == 0
    train = next(j for j in data["jobs"] if j["kind"] == "train")
    assert train["link"] == "/models/m/versions/3" and train["progress"] == 1.0
    html = client.get("/jobs", params={"model": "m"}).text
    assert '<progress class="job" max="1" value="1.0">' in html and 'data-active="0"' in html
    version = twin(client, "/models/m/versions/3")
    assert version["lineage"][0]["version"] == 1 and version["dataset"]["ref"] == "training@1"


def test_unknown_things_are_404_pages_not_crashes(client: TestClient) -> None:
    assert client.get("/models/m/evaluations/nope").status_code == 404
    assert client.get("/models/m/versions/99").status_code == 404
    assert client.get("/models/m/datasets/nope@2").status_code == 404
