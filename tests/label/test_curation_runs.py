"""Curation runs over the store (both backends): what becomes a candidate, the signals it
carries, budgets, the job kind and schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from flywheel.curate.service import CurationRequest, candidates, parse_interval, run_curation, tick_schedules
from flywheel.errors import ValidationError
from flywheel.ingest.service import IngestService
from flywheel.jobs.runner import run_job
from flywheel.settings import Settings
from flywheel.store import Store
from tests.conftest import TABULAR_SPEC

T0 = datetime(2026, 2, 1, tzinfo=UTC)
COUNTRIES = ["fr", "de", "us"]


def event(i: int, **over: Any) -> dict[str, Any]:
    p = 0.1 + 0.8 * ((i * 37) % 100) / 100
    ev = {
        "event_id": f"e{i:03d}",
        "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
        "inputs": {"age": float(20 + i % 50), "plan": ["basic", "pro"][i % 2], "country": COUNTRIES[i % 3]},
        "prediction": "churn" if p > 0.5 else "stay",
        "probabilities": {"stay": round(1 - p, 3), "churn": round(p, 3)},
        "model_version": "v1",
    }
    ev.update(over)
    return ev


@pytest.fixture
def churn(store: Store, backend_settings: Settings) -> IngestService:
    svc = IngestService(store, backend_settings)
    svc.register_model(TABULAR_SPEC)
    svc.ingest_events("churn", [event(i) for i in range(60)])
    return svc


def only(*names: str, budget: int, **extra: Any) -> CurationRequest:
    return CurationRequest(policy={"budget": budget, "selectors": [{"name": n} for n in names], **extra})


def test_only_served_unlabelled_events_never_queued_before_are_candidates(
    store: Store, churn: IngestService
) -> None:
    churn.ingest_labels("churn", [{"event_id": f"e{i:03d}", "label": "stay"} for i in range(10)])
    shadow = event(100, event_id="s100", served=False, parent_event_id="e020", model_version="v2")
    churn.ingest_events("churn", [shadow])
    first = run_curation(store, "churn", only("random", budget=15))
    queued = store.labelling.queued_ids("churn")
    assert first.picked == 15 and first.candidates == 50 and first.excluded == 10
    assert not queued & ({f"e{i:03d}" for i in range(10)} | {"s100"})
    second = run_curation(store, "churn", only("random", budget=100))
    assert second.picked == 35 and second.excluded == 25
    assert store.labelling.queued_ids("churn") == {f"e{i:03d}" for i in range(10, 60)}


def test_flagged_events_go_first_with_the_feedback_as_the_reason(store: Store, churn: IngestService) -> None:
    churn.ingest_feedback(
        "churn", [{"event_id": "e033", "kind": "thumbs_down"}, {"event_id": "e044", "kind": "flag"}]
    )
    run = run_curation(store, "churn", only("feedback", "uncertainty", budget=10))
    items = {i.event_id: i for i in store.labelling.items("churn", run_id=run.run_id)}
    assert items["e033"].selector == "feedback" and items["e033"].signal == "thumbs down by user"
    assert items["e044"].signal == "flag by user"


def test_a_shadow_that_disagrees_makes_its_event_a_disagreement_pick(
    store: Store, churn: IngestService
) -> None:
    shadows = [
        event(200, event_id="s-agree", served=False, parent_event_id="e010", model_version="v2",
              probabilities=event(10)["probabilities"], prediction=event(10)["prediction"]),
        event(201, event_id="s-disagree", served=False, parent_event_id="e011", model_version="v2",
              probabilities={"stay": 0.01, "churn": 0.99} if event(11)["prediction"] == "stay" else {"stay": 0.99, "churn": 0.01}),
    ]  # fmt: skip
    churn.ingest_events("churn", shadows)
    found = candidates(store, "churn", CurationRequest())
    champion = found.batch.probabilities
    challenger = found.batch.challenger_probabilities["shadow:v2"]
    row = {e: i for i, e in enumerate(found.batch.event_ids.tolist())}
    assert np.allclose(challenger[row["e012"]], champion[row["e012"]])  # not scored by the shadow
    assert challenger[row["e011"]].argmax() != champion[row["e011"]].argmax()
    run = run_curation(store, "churn", only("disagreement", budget=2, random_share=0.5))
    picked = [i for i in store.labelling.items("churn", run_id=run.run_id) if i.selector == "disagreement"]
    assert [i.event_id for i in picked] == ["e011"]
    assert "shadow:v2 says" in picked[0].signal


def test_candidates_carry_features_probabilities_slices_and_times(store: Store, churn: IngestService) -> None:
    found = candidates(store, "churn", CurationRequest())
    batch = found.batch
    assert len(batch) == 60
    assert batch.X.shape == (60, 1 + 3 + 4)  # age, plan one-hot + other, country one-hot + other
    assert np.allclose(batch.probabilities.sum(axis=1), 1.0)
    i = batch.event_ids.tolist().index("e004")
    assert batch.slices["country"][i] == "de" and batch.slices["young"][i] == "true"
    assert batch.timestamps[i] == (T0 + timedelta(minutes=4)).timestamp()
    assert found.ranges["age"] == pytest.approx(
        list(np.quantile([20 + k % 50 for k in range(60)], [0.01, 0.99]))
    )


def test_the_daily_budget_caps_what_runs_queue_in_a_day(store: Store, churn: IngestService) -> None:
    picked = [run_curation(store, "churn", only("random", budget=4, daily_budget=9)).picked for _ in range(4)]
    assert picked == [4, 4, 1, 0]


def test_the_window_bounds_the_candidates(store: Store, churn: IngestService) -> None:
    req = CurationRequest(since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20))
    assert len(candidates(store, "churn", req).batch) == 10
    with pytest.raises(ValidationError):
        candidates(store, "churn", CurationRequest(since=T0, until=T0))


def test_queued_items_keep_the_event_and_the_run_keeps_its_context(
    store: Store, churn: IngestService
) -> None:
    run = run_curation(store, "churn", only("uncertainty", budget=5), trigger="schedule")
    items = store.labelling.items("churn", run_id=run.run_id, with_event=True)
    assert all(i.event is not None and i.event["event_id"] == i.event_id for i in items)
    assert items[0].event["inputs"].keys() == {"age", "plan", "country"}
    assert run.trigger == "schedule" and run.k == 1 and "ranges" in run.context
    assert run.config["policy"]["budget"] == 5


def test_a_regression_model_starts_cold_with_k_means_centres(
    store: Store, backend_settings: Settings
) -> None:
    svc = IngestService(store, backend_settings)
    svc.register_model(
        {"name": "price", "task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
    )
    svc.ingest_events(
        "price",
        [
            {
                "event_id": f"p{i}",
                "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
                "inputs": {"x": float(i)},
                "prediction": 1.0,
            }
            for i in range(40)
        ],
    )
    run = run_curation(store, "price", CurationRequest(policy={"budget": 6}))
    assert run.picked == 6
    assert any("cold start" in n for n in run.notes)
    assert {i.selector for i in store.labelling.items("price")} <= {"random", "kmeans_centres"}


def test_the_curate_job_runs_a_curation_and_reports_progress(
    store: Store, churn: IngestService, backend_settings: Settings
) -> None:
    job = store.jobs.submit(
        "curate", {"model": "churn", "request": {"policy": {"budget": 7}, "k": 2}}, model="churn"
    )
    claimed = store.jobs.claim("test-worker", job_id=job.job_id)
    assert claimed is not None
    done = run_job(store, backend_settings, claimed)
    assert done.status == "succeeded", done.error
    assert done.result["picked"] == 7
    run = store.labelling.run(done.result["run_id"])
    assert run.job_id == job.job_id and run.k == 2


def test_due_schedules_submit_one_curate_job_each(store: Store, churn: IngestService) -> None:
    store.labelling.set_schedule("churn", 3600, {"policy": {"budget": 3}})
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    started = tick_schedules(store, later)
    assert len(started) == 1 and tick_schedules(store, later) == []
    job = store.jobs.get(started[0])
    assert (job.kind, job.params["trigger"], job.params["request"]["policy"]["budget"]) == (
        "curate",
        "schedule",
        3,
    )
    sched = store.labelling.schedule("churn")
    assert sched is not None and sched.last_job_id == started[0]


@pytest.mark.parametrize(
    ("text", "seconds"), [(3600, 3600), ("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400)]
)
def test_schedule_intervals_read_units(text: Any, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("bad", [0, 59, "soon", "", None, True, "400d"])
def test_schedule_intervals_outside_a_minute_to_a_year_are_refused(bad: Any) -> None:
    with pytest.raises(ValidationError):
        parse_interval(bad)
