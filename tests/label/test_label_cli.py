"""The curation and labelling verbs: ``flywheel curate run|status|schedule`` and
``flywheel label export|import|agreement|errors``, against an embedded store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from flywheel.cli import main
from flywheel.ingest.service import IngestService
from flywheel.settings import Settings
from flywheel.store import open_store

T0 = datetime(2026, 2, 1, tzinfo=UTC)
SPEC = {
    "name": "churn",
    "task": "binary",
    "features": [{"name": "age", "kind": "numeric"}],
    "class_names": ["stay", "churn"],
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    settings = Settings(data_dir=tmp_path / "data", auth=False)
    store = open_store(settings)
    try:
        svc = IngestService(store, settings)
        svc.register_model(SPEC)
        svc.ingest_events(
            "churn",
            [
                {
                    "event_id": f"e{i:02d}",
                    "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
                    "inputs": {"age": float(20 + i)},
                    "prediction": "churn" if i % 2 else "stay",
                    "probabilities": {"stay": 0.4 if i % 2 else 0.7, "churn": 0.6 if i % 2 else 0.3},
                }
                for i in range(30)
            ],
        )
    finally:
        store.close()
    return tmp_path / "data"


def cli(data_dir: Path, *args: str) -> str:
    res = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def test_curate_run_queues_and_status_reports_it(data_dir: Path) -> None:
    out = cli(data_dir, "curate", "run", "churn", "--budget", "6", "--k", "2")
    assert "queued 6 of 30 candidates (budget 6)" in out
    status = json.loads(cli(data_dir, "curate", "status", "churn", "--json"))
    assert status["counts"]["queued"] == 6 and status["runs"][0]["picked"] == 6
    assert "queue: 6 queued" in cli(data_dir, "curate", "status", "churn")
    detached = cli(data_dir, "curate", "run", "churn", "--budget", "3", "--detach")
    assert "submitted curate job" in detached


def test_curate_schedule_sets_shows_and_pauses(data_dir: Path) -> None:
    assert cli(data_dir, "curate", "schedule", "churn").strip() == "null"
    sched = json.loads(cli(data_dir, "curate", "schedule", "churn", "--every", "6h", "--budget", "20"))
    assert sched["interval_s"] == 21600 and sched["config"]["policy"]["budget"] == 20 and sched["enabled"]
    paused = json.loads(cli(data_dir, "curate", "schedule", "churn", "--off"))
    assert paused["enabled"] is False and paused["interval_s"] == 21600
    res = CliRunner().invoke(
        main, ["--data-dir", str(data_dir), "curate", "schedule", "churn", "--every", "soon"]
    )
    assert res.exit_code == 2 and "interval" in res.output


def test_labels_export_and_import_through_files(data_dir: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=data_dir, auth=False)
    store = open_store(settings)
    try:
        labels = [
            {"event_id": f"e{i:02d}", "label": "stay", "annotator": "ana", "source": "annotator"}
            for i in range(5)
        ]
        IngestService(store, settings).ingest_labels("churn", labels)
        IngestService(store, settings).register_model({**SPEC, "name": "copy"})
    finally:
        store.close()
    for fmt, ext in (("csv", "csv"), ("jsonl", "jsonl"), ("label-studio", "json")):
        path = tmp_path / f"labels.{ext}"
        cli(data_dir, "label", "export", "churn", "--format", fmt, "-o", str(path))
        first = cli(data_dir, "label", "import", "copy", str(path))
        assert first.strip() in ("5 labels stored, 0 already there", "0 labels stored, 5 already there")
    assert "0 labels stored, 5 already there" in cli(
        data_dir, "label", "import", "copy", str(tmp_path / "labels.csv")
    )
    out = cli(data_dir, "label", "export", "churn", "--format", "csv", "--source", "annotator")
    assert out.count("\n") == 6 and ",ana," in out


def test_agreement_and_label_errors_verbs(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, auth=False)
    store = open_store(settings)
    try:
        svc = IngestService(store, settings)
        labels = [{"event_id": f"e{i:02d}", "label": "churn" if i % 2 else "stay"} for i in range(30)]
        labels[4]["label"] = "churn"  # an even, 'stay'-looking event labelled churn
        svc.ingest_labels("churn", labels)
    finally:
        store.close()
    out = cli(data_dir, "label", "agreement", "churn")
    assert out.startswith("0 of 0 items labelled by two or more annotators")
    out = cli(data_dir, "label", "errors", "churn", "--probabilities", "logged")
    assert "suspects among 30 labelled events" in out
    assert "e04" in out
    listed = cli(data_dir, "label", "errors", "churn", "--list")
    assert "e04" in listed and "given churn" in listed
