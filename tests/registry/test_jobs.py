"""The train and evaluate jobs end to end, and what a killed or cancelled training leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from flywheel.datasets.service import DatasetService
from flywheel.deploy.registry import Registry
from flywheel.errors import GateRefused
from flywheel.evaluate.report import EvaluationReport
from flywheel.jobs.runner import STALE_AFTER, run_job, worker_alive
from flywheel.settings import Settings
from flywheel.store import Store, open_store
from flywheel.store.jobs import Job
from flywheel.train import TrainingData, get_trainer

from .helpers import populate


def run(store: Store, settings: Settings, kind: str, params: dict[str, Any]) -> Job:
    job = store.jobs.submit(kind, params, model=params["model"])
    claimed = store.jobs.claim("test-worker", job_id=job.job_id)
    assert claimed is not None
    return run_job(store, settings, claimed)


@pytest.mark.slow
def test_training_registers_a_version_and_its_new_dataset_together(
    store: Store, backend_settings: Settings
) -> None:
    populate(store, n=120)
    job = run(store, backend_settings, "train", {"model": "m", "rule": {"kind": "all"}, "n_trials": 2})
    assert job.status == "succeeded", job.error
    assert job.progress == 1.0
    reg = Registry(store)
    v1 = reg.get("m", 1)
    ds = DatasetService(store).get("m", "training")
    assert (v1.dataset_id, v1.job_id, v1.parent_version) == (ds.dataset_id, job.job_id, None)
    assert job.result["version"] == 1 and job.result["dataset_id"] == ds.dataset_id
    assert v1.metrics["rows"] == {"train": 96, "validation": 0, "holdout": 24}
    assert v1.metrics["search"]["n_trials"] == 2
    assert v1.metrics["holdout"]["candidate"]["accuracy"] > v1.metrics["holdout"]["baseline"]["accuracy"]
    frame = pd.DataFrame({"x": [-2.0, 2.0], "country": ["A", "A"]})
    assert reg.load_model("m", 1).predict(frame).tolist() == ["no", "yes"]
    assert reg.load_model("m", 1, baseline=True).trainer == "baseline"
    assert any("registered version 1" in line for _, _, line in store.jobs.logs(job.job_id))

    reg.promote("m", 1, who="t", why="first", override_reason="test")
    again = run(store, backend_settings, "train", {"model": "m", "dataset": "training@1", "n_trials": 0})
    assert again.status == "succeeded", again.error
    v2 = reg.get("m", 2)
    assert (v2.dataset_id, v2.parent_version) == (ds.dataset_id, 1)  # same data: no new dataset
    assert [d.ref for d in DatasetService(store).list("m")] == ["training@1"]


def _fit_threshold(spec: Any, x: np.ndarray, threshold: float) -> Any:
    """A gradient-boosted model that learnt 'yes iff x > threshold' and never saw country B."""
    frame = pd.DataFrame({"x": x, "country": ["A"] * len(x)})
    y = np.where(x > threshold, "yes", "no")
    return get_trainer("tabular-hgb").fit(TrainingData(frame, y, spec), {"n_jobs": 1, "max_iter": 50})


@pytest.mark.slow
def test_a_candidate_better_on_average_but_worse_on_a_slice_is_refused_and_the_refusal_names_it(
    store: Store, backend_settings: Settings
) -> None:
    # truth: yes iff x > 0 in country A, reversed in country B
    populate(store, n=400, share_b=0.3, label="flip-b", seed=1)
    spec = store.models.get("m").spec
    ds = DatasetService(store).build("m", split={"by": "time", "holdout": 0.5}).record
    grid = np.linspace(-3, 3, 600)
    reg = Registry(store)
    reg.register(
        "m", _fit_threshold(spec, grid, 0.5), dataset_id=ds.dataset_id
    )  # champion: off in A, less wrong in B
    reg.promote("m", 1, who="t", why="bootstrap", override_reason="first model")
    reg.register(
        "m", _fit_threshold(spec, grid, 0.0), dataset_id=ds.dataset_id
    )  # candidate: right in A, wrong in all B

    job = run(store, backend_settings, "evaluate", {"model": "m", "candidate": 2, "n_boot": 200})
    assert job.status == "succeeded", job.error
    assert job.result["passed"] is False
    ev = store.registry.evaluations.get("m", job.result["evaluation_id"])
    assert ev.champion_version == 1 and ev.candidate_version == 2
    failed = {c["subject"] for c in ev.checks if not c["passed"]}
    assert failed == {"slice 'country=B' of eval set 'holdout'"}
    assert any("slice 'country=B'" in r and "worse" in r for r in ev.reasons)
    improvement = next(c for c in ev.checks if c["check"] == "min_improvement")
    assert improvement["passed"] and improvement["value"] > 0  # better on average
    with pytest.raises(GateRefused) as err:
        reg.promote("m", 2, who="t", why="newer")
    assert "country=B" in str(err.value.details)
    assert reg.aliases("m") == {"champion": 1}

    report = EvaluationReport.from_json(store.artifacts.get(ev.report_artifact))
    assert report.models["champion"] == "v1 (champion)"
    html = store.artifacts.get(ev.html_artifact).decode()
    assert html.startswith("<!doctype html>") and "country=B" in html


@pytest.mark.slow
def test_evaluation_uses_the_holdout_and_every_pinned_eval_set(
    store: Store, backend_settings: Settings
) -> None:
    populate(store, n=120)
    svc = DatasetService(store)
    svc.build_eval_set("m", "golden", {"kind": "golden", "event_ids": [f"e{i:04d}" for i in range(10)]})
    svc.build_slice_sets("m")
    assert run(store, backend_settings, "train", {"model": "m", "n_trials": 0}).status == "succeeded"
    store.registry.policies.set("m", {"gate": {"required_eval_sets": ["golden"]}, "n_boot": 50}, "t")
    job = run(store, backend_settings, "evaluate", {"model": "m", "candidate": "v1"})
    assert job.status == "succeeded", job.error
    ev = store.registry.evaluations.get("m", job.result["evaluation_id"])
    assert [s["name"] for s in ev.eval_sets] == ["holdout", "golden", "slice-country-A", "slice-country-B"]
    assert ev.passed, ev.reasons  # no champion yet: judged against the baseline
    assert ev.champion_version is None and ev.policy["gate"]["required_eval_sets"] == ["golden"]
    assert set(ev.summary["eval_sets"]) == {"holdout", "golden", "slice-country-A", "slice-country-B"}
    Registry(store).promote("m", 1, who="t", why="blessed")


def test_cancelling_a_training_stops_it_and_registers_nothing(
    store: Store, backend_settings: Settings
) -> None:
    populate(store, n=120)
    job = store.jobs.submit("train", {"model": "m", "n_trials": 500}, model="m")
    claimed = store.jobs.claim("test-worker", job_id=job.job_id)
    assert claimed is not None
    t = threading.Thread(target=run_job, args=(store, backend_settings, claimed))
    t.start()
    deadline = time.monotonic() + 120
    while store.jobs.get(job.job_id).progress <= 0.05 and time.monotonic() < deadline:
        time.sleep(0.1)
    store.jobs.cancel(job.job_id)
    t.join(timeout=120)
    assert store.jobs.get(job.job_id).status == "cancelled"
    assert store.registry.versions.count("m") == 0
    assert DatasetService(store).list("m") == []


@pytest.mark.slow
def test_killing_a_worker_mid_training_leaves_the_job_failed_and_the_registry_unchanged(
    backend_settings: Settings, tmp_path: Path
) -> None:
    store = open_store(backend_settings)
    try:
        populate(store, n=200)
        before = store.registry.versions.count("m"), DatasetService(store).list("m")
        job = store.jobs.submit("train", {"model": "m", "n_trials": 1000}, model="m")
        env = {**os.environ, "FLYWHEEL_DATA_DIR": str(backend_settings.data_dir)}
        if backend_settings.db_url:
            env["FLYWHEEL_DB_URL"] = backend_settings.db_url
        with open(tmp_path / "worker.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flywheel.cli", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                j = store.jobs.get(job.job_id)
                if j.status == "running" and j.progress > 0.05:  # at least one trial done
                    break
                assert proc.poll() is None, (tmp_path / "worker.log").read_text()
                time.sleep(0.2)
            else:
                pytest.fail("the worker never got the training going")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert store.jobs.get(job.job_id).status == "running"  # nobody has noticed yet
        assert store.jobs.reap(STALE_AFTER, alive=worker_alive) == [job.job_id]
        dead = store.jobs.get(job.job_id)
        assert dead.status == "failed" and "stopped" in (dead.error or "")
        assert (store.registry.versions.count("m"), DatasetService(store).list("m")) == before
    finally:
        store.close()
