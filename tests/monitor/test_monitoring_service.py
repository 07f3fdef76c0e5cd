"""The monitoring time series and the events behind its numbers, against exact oracles.

One store per module: four days of a churn model's traffic (25 events an hour); on the fourth day
ages shift, a new plan "gold" appears and the true relation flips (``tests/monitor/seed.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from flywheel.errors import ValidationError
from flywheel.ingest.service import IngestService
from flywheel.monitor.distribution import distribution
from flywheel.monitor.drilldown import events_behind
from flywheel.monitor.ingest_hook import install
from flywheel.monitor.reference import (
    implicit_reference,
    load_reference,
    reference_from_table,
    reference_from_window,
)
from flywheel.monitor.service import monitoring, public
from flywheel.monitor.skew import skew
from flywheel.settings import Settings
from flywheel.store import Store, open_store
from tests.monitor import seed

DAY = timedelta(days=1)
DRIFT_DAY = seed.START + 3 * DAY


class World:
    def __init__(
        self, store: Store, events: list[dict[str, Any]], labels: dict[str, str], feedback: set[str]
    ):
        self.store = store
        self.events = events
        self.labels = labels  # the latest label of each labelled event
        self.feedback = feedback

    def day(self, i: int) -> list[dict[str, Any]]:
        lo, hi = (seed.START + i * DAY).isoformat(), (seed.START + (i + 1) * DAY).isoformat()
        return [e for e in self.events if lo <= e["timestamp"] < hi]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = Path(tmp_path_factory.mktemp("monitor")) / "data"
    store = open_store(Settings(data_dir=data, auth=False))
    svc = IngestService(store)
    install(svc)
    svc.register_model(seed.SPEC)
    events, truth = seed.events(96, 25, drift_at=72)
    seed.ingest(svc, events)
    first = seed.labels(truth, 0.6)
    seed.ingest_labels(svc, first)
    # Relabel 60 events of the last day with the other class: the latest label must win.
    flip = {"stay": "churn", "churn": "stay"}
    day3 = [x for x in first if x["event_id"] >= "e0072"]
    relabelled = [{"event_id": x["event_id"], "label": flip[x["label"]]} for x in day3[::5][:60]]
    seed.ingest_labels(svc, relabelled)
    latest = {x["event_id"]: x["label"] for x in first} | {x["event_id"]: x["label"] for x in relabelled}
    fb = [{"event_id": e["event_id"], "kind": "thumbs_down"} for e in events[::50]]
    svc.ingest_feedback("churn", fb)
    reference_from_window(store, "churn", seed.START, seed.START + DAY)
    try:
        yield World(store, events, latest, {x["event_id"] for x in fb})
    finally:
        store.close()


@pytest.fixture(scope="module")
def daily(world: World) -> dict[str, Any]:
    return monitoring(world.store, "churn", bucket="day")


@pytest.fixture(scope="module")
def daily_exact(world: World) -> dict[str, Any]:
    return monitoring(world.store, "churn", bucket="day", exact=True)


def test_the_default_range_covers_the_data_in_aligned_windows(daily: dict[str, Any]) -> None:
    starts = [w["start"] for w in daily["windows"]]
    assert starts == [(seed.START + i * DAY).isoformat() for i in range(4)]
    assert [w["rows"] for w in daily["windows"]] == [600] * 4


def test_drift_is_flagged_in_the_drifted_window_only(daily: dict[str, Any]) -> None:
    flagged = [set(w["drift"]["flagged"]) for w in daily["windows"]]
    assert flagged[:3] == [set(), set(), set()]
    assert {"age", "plan"} <= flagged[3]
    assert "country" not in flagged[3]
    outputs = {e["name"] for e in daily["windows"][3]["drift"]["outputs"] if e["flagged"]}
    assert outputs == {"prediction", "score"}


def test_drift_from_profiles_agrees_with_exact_drift(
    daily: dict[str, Any], daily_exact: dict[str, Any]
) -> None:
    for fast, exact in zip(daily["windows"], daily_exact["windows"], strict=True):
        assert set(fast["drift"]["flagged"]) == set(exact["drift"]["flagged"])
        for a in fast["drift"]["features"]:
            b = next(e for e in exact["drift"]["features"] if e["name"] == a["name"])
            for m in ("wasserstein", "linf", "jensen_shannon"):
                if m in a["metrics"]:
                    assert a["metrics"][m] == pytest.approx(b["metrics"][m], rel=0.03, abs=0.05), (
                        a["name"],
                        m,
                    )
    assert not daily["exact"] and daily_exact["exact"]


def test_quality_counts_the_rows_that_break_each_rule(
    world: World, daily: dict[str, Any], daily_exact: dict[str, Any]
) -> None:
    gold = [sum(e["inputs"]["plan"] == "gold" for e in world.day(i)) for i in range(4)]
    assert gold[3] > 0
    for res in (daily, daily_exact):
        got = [w["quality"]["violations"]["allowed_categories:in.plan"] for w in res["windows"]]
        assert got == gold
        assert all(w["quality"]["violations"]["not_null:in.age"] == 0 for w in res["windows"])
    assert daily["quality_rules"]["source"] == "inferred"


def test_measured_performance_uses_the_latest_label_of_each_event(
    world: World, daily: dict[str, Any]
) -> None:
    for i, w in enumerate(daily["windows"]):
        rows = [e for e in world.day(i) if e["event_id"] in world.labels]
        y = [world.labels[e["event_id"]] for e in rows]
        p = [e["prediction"] for e in rows]
        assert w["labelled"] == len(rows)
        assert w["performance"]["accuracy"]["value"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
        lo, hi = w["performance"]["accuracy"]["lower"], w["performance"]["accuracy"]["upper"]
        assert lo < w["performance"]["accuracy"]["value"] < hi
    assert daily["windows"][3]["performance"]["accuracy"]["value"] < 0.4


def test_estimated_performance_tracks_measured_while_the_relation_holds(daily: dict[str, Any]) -> None:
    for w in daily["windows"][:3]:
        est, meas = w["estimated_performance"]["accuracy"], w["performance"]["accuracy"]
        assert est["n"] == 600
        # The two intervals overlap: the estimate is consistent with what the labels show.
        assert est["lower"] <= meas["upper"] and meas["lower"] <= est["upper"]
        assert abs(est["value"] - meas["value"]) < 0.1
    # Under concept drift confidence cannot see the flip: the estimate stays high.
    assert daily["windows"][3]["estimated_performance"]["accuracy"]["value"] > 0.6


def test_the_policy_judges_each_window(daily: dict[str, Any]) -> None:
    last = {a["monitor"] for a in daily["windows"][3]["alerts"]}
    assert {"performance:accuracy", "output_drift:prediction", "quality:allowed_categories:in.plan"} <= last
    assert "feature_drift:age" in last  # the most important feature (mutual information with the prediction)
    assert not any(
        a["monitor"].startswith("feature_drift") for w in daily["windows"][:3] for a in w["alerts"]
    )


def test_feedback_rate_is_the_share_of_events_with_feedback(world: World, daily: dict[str, Any]) -> None:
    for i, w in enumerate(daily["windows"]):
        n = sum(e["event_id"] in world.feedback for e in world.day(i))
        assert w["feedback"]["events"] == n
        assert w["feedback"]["rate"] == pytest.approx(n / 600)


def test_a_slice_restricts_every_number_to_its_rows(world: World) -> None:
    res = monitoring(world.store, "churn", bucket="day", slice="country=DE")
    assert res["exact"]
    for i, w in enumerate(res["windows"]):
        de = [e for e in world.day(i) if e["inputs"]["country"] == "DE"]
        assert w["rows"] == len(de)
        assert w["labelled"] == sum(e["event_id"] in world.labels for e in de)
    assert {"age", "plan"} <= set(res["windows"][3]["drift"]["flagged"])
    with pytest.raises(ValidationError, match="slice"):
        monitoring(world.store, "churn", bucket="day", slice="country=XX")


def test_per_slice_performance_over_the_range(world: World) -> None:
    res = monitoring(world.store, "churn", bucket="day", include_slices=True)
    young = [e for e in world.events if e["inputs"]["age"] < 30]
    assert res["slices"]["young"]["rows"] == len(young)
    rows = [e for e in young if e["event_id"] in world.labels]
    acc = accuracy_score([world.labels[e["event_id"]] for e in rows], [e["prediction"] for e in rows])
    assert res["slices"]["young"]["performance"]["accuracy"]["value"] == pytest.approx(acc)
    assert set(res["slices"]) >= {"country=DE", "country=FR", "country=US", "young"}


def test_hourly_windows_and_a_chosen_range(world: World) -> None:
    res = monitoring(
        world.store,
        "churn",
        bucket="hour",
        since=DRIFT_DAY - timedelta(hours=2),
        until=DRIFT_DAY + timedelta(hours=2),
    )
    assert [w["rows"] for w in res["windows"]] == [25] * 4
    assert public(res).keys() == res.keys() - {"_results", "_reference"}


def test_bad_parameters_name_the_field(world: World) -> None:
    with pytest.raises(ValidationError) as exc:
        monitoring(world.store, "churn", bucket="month")
    assert exc.value.details[0]["field"] == "bucket"
    with pytest.raises(ValidationError, match="since"):
        monitoring(world.store, "churn", since=DRIFT_DAY, until=DRIFT_DAY - DAY)


def test_the_implicit_reference_is_the_first_day(world: World) -> None:
    ref = implicit_reference(world.store, "churn")
    assert ref is not None and ref.source["kind"] == "implicit"
    assert ref.rows == 600
    stored = load_reference(world.store, "churn")
    assert stored is not None and stored.source["kind"] == "window"
    assert stored.profile["in.age"].mean == pytest.approx(ref.profile["in.age"].mean)
    assert stored.cbpe is not None and stored.labelled == sum(
        e["event_id"] in world.labels for e in world.day(0)
    )


def test_the_registry_hook_sets_a_versions_reference_from_a_frame(world: World) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 500),
            "plan": rng.choice(["a", "b", "c"], 500),
            "country": rng.choice(["DE", "FR", "US"], 500),
            "label": rng.choice(["stay", "churn"], 500),
            "prediction": rng.choice(["stay", "churn"], 500),
            "score": rng.random(500),
        }
    )
    ref = reference_from_table(
        world.store, "churn", frame, model_version="v2", source={"kind": "training", "dataset": "d1"}
    )
    assert ref.rows == 500 and ref.labelled == 500
    got = load_reference(world.store, "churn", "v2")
    assert got is not None and got.source == {"kind": "training", "dataset": "d1"}
    assert got.sample is not None and got.sample.num_rows == 500
    fallback = load_reference(world.store, "churn", "v9")
    assert fallback is not None and fallback.model_version == ""
    with pytest.raises(ValidationError, match="plan"):
        reference_from_table(world.store, "churn", frame.drop(columns=["plan"]), model_version="v3")


def test_drift_drill_down_lists_the_events_in_the_grown_categories(world: World) -> None:
    found = events_behind(
        world.store,
        "churn",
        kind="drift",
        column="plan",
        window_start=DRIFT_DAY,
        window_end=DRIFT_DAY + DAY,
        limit=20,
    )
    gold = [e["event_id"] for e in world.day(3) if e["inputs"]["plan"] == "gold"]
    assert found["event_ids"] and set(found["event_ids"]) <= set(gold)
    assert found["explore"].startswith("/models/churn/events?since=")
    ages = events_behind(
        world.store, "churn", kind="drift", column="age", window_start=DRIFT_DAY, window_end=DRIFT_DAY + DAY
    )
    ref_p95 = load_reference(world.store, "churn").profile["in.age"].quantile(0.95)  # type: ignore[union-attr]
    assert all(e["inputs"]["age"] > ref_p95 for e in ages["events"][:10])


def test_quality_drill_down_returns_exactly_the_breaking_rows(world: World) -> None:
    found = events_behind(
        world.store,
        "churn",
        kind="quality",
        rule="allowed_categories:in.plan",
        window_start=DRIFT_DAY,
        window_end=DRIFT_DAY + DAY,
        limit=1000,
    )
    gold = {e["event_id"] for e in world.day(3) if e["inputs"]["plan"] == "gold"}
    assert found["total"] == len(gold) and set(found["event_ids"]) == gold
    with pytest.raises(ValidationError, match="rule"):
        events_behind(
            world.store,
            "churn",
            kind="quality",
            rule="nope",
            window_start=DRIFT_DAY,
            window_end=DRIFT_DAY + DAY,
        )


def test_performance_and_feedback_drill_down(world: World) -> None:
    start = seed.START + DAY
    wrong = events_behind(
        world.store, "churn", kind="performance", window_start=start, window_end=start + DAY, limit=1000
    )
    expect = {
        e["event_id"]
        for e in world.day(1)
        if e["event_id"] in world.labels and world.labels[e["event_id"]] != e["prediction"]
    }
    assert set(wrong["event_ids"]) == expect
    fb = events_behind(
        world.store, "churn", kind="feedback", window_start=start, window_end=start + DAY, limit=1000
    )
    assert set(fb["event_ids"]) == {e["event_id"] for e in world.day(1)} & world.feedback
    est = events_behind(
        world.store, "churn", kind="estimated", window_start=start, window_end=start + DAY, limit=5
    )
    assert len(est["event_ids"]) == 5
    with pytest.raises(ValidationError, match="kind"):
        events_behind(world.store, "churn", kind="magic", window_start=start, window_end=start + DAY)


def test_a_columns_distribution_reference_against_current(world: World) -> None:
    ref = load_reference(world.store, "churn")
    d = distribution(world.store, "churn", "plan", since=DRIFT_DAY, until=DRIFT_DAY + DAY, reference=ref)
    shares = dict(zip(d["categories"], d["current"], strict=True))
    gold = sum(e["inputs"]["plan"] == "gold" for e in world.day(3)) / 600
    assert shares["gold"] == pytest.approx(gold)
    assert dict(zip(d["categories"], d["reference"], strict=True))["gold"] == 0
    n = distribution(world.store, "churn", "age", since=DRIFT_DAY, until=DRIFT_DAY + DAY, reference=ref)
    assert sum(n["current"]) == pytest.approx(1.0) and sum(n["reference"]) == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="column"):
        distribution(world.store, "churn", "height", since=DRIFT_DAY, until=DRIFT_DAY + DAY, reference=ref)


def test_training_serving_skew_compares_a_versions_first_hours_with_its_training_data(world: World) -> None:
    rng = np.random.default_rng(4)
    train = pd.DataFrame(
        {
            "age": rng.normal(55, 10, 2000),  # trained on older customers than it serves
            "plan": rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2]),
            "country": rng.choice(["DE", "FR", "US"], 2000),
        }
    )
    reference_from_table(world.store, "churn", train, model_version="v1", source={"kind": "training"})
    reference_from_table(world.store, "churn", train, model_version="v8", source={"kind": "training"})
    res = skew(world.store, "churn", hours=24)
    by = {v["model_version"]: v for v in res["versions"]}
    assert by["v1"]["since"] == seed.START.isoformat() and by["v1"]["rows"] == 600
    assert by["v1"]["skewed"] == ["age"]
    assert by["v8"]["note"] == "no traffic for this version yet"


def test_multivariate_drift_on_demand(world: World) -> None:
    res = monitoring(world.store, "churn", bucket="day", multivariate=True)
    mv = [w["multivariate"] for w in res["windows"]]
    assert all(m["available"] for m in mv)
    assert mv[3]["domain_classifier"]["flagged"] and mv[3]["domain_classifier"]["auc"] > 0.8
    assert mv[3]["domain_classifier"]["top_features"][0][0] in ("age", "plan")
    assert not mv[1]["domain_classifier"]["flagged"]
    assert mv[3]["pca_reconstruction"]["ratio"] > mv[1]["pca_reconstruction"]["ratio"]
    assert "multivariate" not in monitoring(world.store, "churn", bucket="day")["windows"][0]


def test_thresholds_learned_from_calm_days_quieten_a_restless_column(world: World) -> None:
    from flywheel.monitor.config import load_config
    from flywheel.monitor.thresholds import learn_drift_thresholds

    hours = {"since": seed.START, "until": DRIFT_DAY}
    res = learn_drift_thresholds(
        world.store, "churn", bucket="hour", false_alarm_rate=0.05, save=False, **hours
    )
    assert res["windows"] == 72 and res["method"] == "empirical"
    learned = res["column_thresholds"]["in.age"]["wasserstein"]
    assert learned > 0.035  # hourly windows of 25 rows are noisier than the fixed default allows
    assert load_config(world.store, "churn").drift.column_thresholds == {}
    saved = learn_drift_thresholds(world.store, "churn", bucket="hour", false_alarm_rate=0.05, **hours)
    assert (
        load_config(world.store, "churn").drift.column_thresholds["in.age"]
        == saved["column_thresholds"]["in.age"]
    )
    res = monitoring(world.store, "churn", bucket="day")
    age = next(e for e in res["windows"][0]["drift"]["features"] if e["name"] == "age")
    assert age["score"] == pytest.approx(
        age["metrics"][age["metric"]] / saved["column_thresholds"]["in.age"][age["metric"]]
    )
    world.store.monitor.put_config("churn", {})
    with pytest.raises(ValidationError, match="at least 3"):
        learn_drift_thresholds(world.store, "churn", since=seed.START, until=seed.START + 2 * DAY)
