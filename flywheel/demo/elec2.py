"""The demo on Elec2: a real, drifting stream of NSW electricity prices (1996-98).

A first model is trained on the first 30% of the stream; the rest is replayed in time order
through the SDK as production traffic: every prediction is logged, some wrong predictions get
a thumbs-down from a "user", and the true outcome arrives as a delayed label a day later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from flywheel.schema import ModelSpec
from flywheel.settings import Settings

MODEL = "elec2"
# The scikit-multiflow copy of Elec2 names its columns feat_1..feat_6; these are their meanings.
FEATURES = {
    "feat_1": "period",
    "feat_2": "nsw_price",
    "feat_3": "nsw_demand",
    "feat_4": "vic_price",
    "feat_5": "vic_demand",
    "feat_6": "transfer",
}
CLASSES = ["down", "up"]
START = datetime(1996, 5, 7, tzinfo=UTC)  # the first half-hour of the data set
STEP = timedelta(minutes=30)


def elec2_spec() -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": MODEL,
            "task": "binary",
            "features": [{"name": n, "kind": "numeric"} for n in FEATURES.values()],
            "class_names": CLASSES,
            "target": "price_direction",
            "slices": [{"name": "night", "expr": "period < 0.25"}, {"name": "day", "expr": "period >= 0.25"}],
        }
    )


@dataclass
class DemoSummary:
    events: int = 0
    labels: int = 0
    feedback: int = 0
    train_rows: int = 0
    model_artifact: str = ""
    accuracy_by_tenth: list[float] = field(default_factory=list)
    sdk_stats: dict[str, Any] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    queued_for_labelling: int = 0
    candidate_version: int | None = None
    gate_passed: bool | None = None
    gate_reasons: list[str] = field(default_factory=list)
    champion_version: int | None = None


def load_frame(rows: int | None = None) -> pd.DataFrame:
    from flywheel.demo.datasets import load_elec2

    df = load_elec2().rename(columns=FEATURES)
    if rows is not None:
        df = df.iloc[:rows].reset_index(drop=True)
    df["label"] = np.where(df["target"].to_numpy() == 1, "up", "down")
    df["timestamp"] = [START + STEP * int(i) for i in df["t"].to_numpy()]
    return df


def run_demo(
    settings: Settings,
    *,
    rows: int | None = None,
    train_fraction: float = 0.3,
    label_delay: int = 48,
    feedback_rate: float = 0.3,
    seed: int = 0,
    n_trials: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Register the model, train it, and stream the rest of Elec2 through the SDK."""
    from flywheel.client import Flywheel
    from flywheel.client.embedded import InProcessTransport
    from flywheel.curate.service import CurationRequest, run_curation
    from flywheel.ingest.service import IngestService
    from flywheel.monitor.alerts import check
    from flywheel.monitor.ingest_hook import install as install_profiling
    from flywheel.monitor.reference import reference_from_table
    from flywheel.store import open_store
    from flywheel.train.data import TrainingData
    from flywheel.train.registry import get_trainer

    df = load_frame(rows)
    spec = elec2_spec()
    cut = int(len(df) * train_fraction)
    feats = list(FEATURES.values())
    train = df.iloc[:cut]
    model = get_trainer("tabular-hgb").fit(TrainingData(train[feats], train["label"].to_numpy(), spec), {})
    store = open_store(settings)
    summary = DemoSummary(train_rows=cut, model_artifact=store.artifacts.put(model.to_bytes()))
    service = IngestService(store, settings)
    install_profiling(service)
    service.register_model(spec)
    # The monitoring reference: the first model's training data, with its own predictions.
    ref = train[[*feats, "label"]].copy()
    train_proba = model.predict_proba(train[feats])
    ref["prediction"] = np.asarray(CLASSES, dtype=object)[train_proba.argmax(axis=1)]
    ref["proba.down"], ref["proba.up"] = train_proba[:, 0], train_proba[:, 1]
    reference_from_table(store, MODEL, ref, model_version="v1", source={"kind": "training data", "rows": cut})

    stream = df.iloc[cut:].reset_index(drop=True)
    proba = model.predict_proba(stream[feats])
    preds = np.asarray(CLASSES, dtype=object)[proba.argmax(axis=1)]
    correct = preds == stream["label"].to_numpy()
    tenths = np.array_split(np.arange(len(df)), 10)
    summary.accuracy_by_tenth = [
        round(float(correct[idx[idx >= cut] - cut].mean()), 3) for idx in tenths if idx[0] >= cut
    ]
    rng = np.random.default_rng(seed)
    flags = (~correct) & (rng.random(len(stream)) < feedback_rate)

    inputs = stream[feats].to_dict("records")
    labels = stream["label"].to_numpy()
    ts = stream["timestamp"].tolist()
    ids: list[str] = []
    transport = InProcessTransport(service=service)
    with Flywheel(transport=transport, max_queue=len(stream) * 3 + 1000) as fw:
        fw.register(spec)
        for i in range(len(stream)):
            eid = fw.log(
                MODEL,
                inputs[i],
                preds[i],
                probabilities={"down": float(proba[i, 0]), "up": float(proba[i, 1])},
                timestamp=ts[i],
                model_version="v1",
                tags={"source": "demo"},
            )
            ids.append(eid)
            if flags[i]:
                fw.feedback(MODEL, eid, "thumbs_down")
                summary.feedback += 1
            j = i - label_delay
            if j >= 0:
                fw.label(MODEL, ids[j], labels[j], source="outcome")
                summary.labels += 1
            if progress is not None and (i % 500 == 0 or i == len(stream) - 1):
                progress(i + 1, len(stream))
        fw.flush(120)
        summary.sdk_stats = fw.stats()
    # Monitoring: judge the last week of traffic against the reference; alerts are stored.
    result = check(store, MODEL, until=ts[-1] + STEP, bucket="week", deliver=False)
    summary.alerts = [getattr(a, "monitor", str(a)) for a in result.open]
    # Curation: queue the events most worth labelling from that week, with the reason why.
    run = run_curation(store, MODEL, CurationRequest(until=ts[-1] + STEP))
    summary.queued_for_labelling = run.picked
    retrain(store, settings, model, summary, n_trials=n_trials)
    store.close()
    summary.events = len(stream)
    return summary


def _run_inline(store: Any, settings: Settings, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Submit a job and run it in this process (the demo has no worker running)."""
    from flywheel.errors import FlywheelError
    from flywheel.jobs import run_job
    from flywheel.jobs.runner import worker_name

    job = store.jobs.submit(kind, params, model=MODEL)
    claimed = store.jobs.claim(worker_name(), job_id=job.job_id)
    assert claimed is not None
    done = run_job(store, settings, claimed)
    if done.status != "succeeded":
        raise FlywheelError(f"the demo's {kind} job {done.job_id} {done.status}: {done.error}")
    return dict(done.result or {})


def retrain(store: Any, settings: Settings, first: Any, summary: DemoSummary, *, n_trials: int) -> None:
    """The first model becomes champion; a candidate is retrained on the most recent labelled
    window, evaluated against it per slice, and promoted only if the gate blesses it."""
    from flywheel.datasets.service import DatasetService
    from flywheel.deploy.registry import Registry

    registry = Registry(store)
    v1 = registry.register(MODEL, first, metrics={"trained_on": "first 30% of Elec2"})
    registry.promote(
        MODEL,
        v1.version,
        who="demo",
        why="the first model",
        override_reason="first model: no champion to compare with",
    )
    ds = DatasetService(store).build(MODEL, rule={"kind": "window", "rows": 10_000})
    trained = _run_inline(
        store, settings, "train", {"model": MODEL, "dataset": ds.record.dataset_id, "n_trials": n_trials}
    )
    summary.candidate_version = int(trained["version"])
    verdict = _run_inline(
        store, settings, "evaluate", {"model": MODEL, "candidate": summary.candidate_version}
    )
    summary.gate_passed = bool(verdict["passed"])
    summary.gate_reasons = list(verdict.get("reasons") or [])
    if summary.gate_passed:
        registry.promote(
            MODEL,
            summary.candidate_version,
            who="demo",
            why="retrained on the newest labelled window; gate passed",
        )
    summary.champion_version = registry.aliases(MODEL).get("champion")
