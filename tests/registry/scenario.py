"""One small but complete registry, shared by the page and browser tests.

Model ``m`` (truth: yes iff x > 0 in country A, reversed in B) with a training set, a golden set
and slice sets; version 1 (champion, promoted with an override), version 2 (better on average,
worse on country B: refused), version 3 (evaluated and blessed against v1 with a lenient policy,
promoted, then rolled back); every alias move in the history; the train and evaluate jobs done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flywheel.datasets.service import DatasetService
from flywheel.deploy.registry import Registry
from flywheel.jobs.runner import run_job
from flywheel.settings import Settings
from flywheel.store import Store, open_store
from flywheel.train import TrainingData, get_trainer

from .helpers import populate


@dataclass
class Scenario:
    data_dir: Path
    dataset_id: str
    refused: str  # evaluation id of v2 against v1
    blessed: str  # evaluation id of v3 against v1


def _job(store: Store, settings: Settings, kind: str, params: dict[str, Any]) -> Any:
    job = store.jobs.submit(kind, params, model="m")
    claimed = store.jobs.claim("scenario", job_id=job.job_id)
    done = run_job(store, settings, claimed)
    assert done.status == "succeeded", done.error
    return done.result


def _threshold(spec: Any, t: float) -> Any:
    x = np.linspace(-3, 3, 600)
    frame = pd.DataFrame({"x": x, "country": ["A"] * len(x)})
    return get_trainer("tabular-hgb").fit(
        TrainingData(frame, np.where(x > t, "yes", "no"), spec), {"n_jobs": 1, "max_iter": 30}
    )


def build(data_dir: Path) -> Scenario:
    settings = Settings(data_dir=data_dir, auth=False)
    store = open_store(settings)
    try:
        populate(store, n=300, share_b=0.3, label="flip-b", seed=1)
        spec = store.models.get("m").spec
        svc = DatasetService(store)
        ds = svc.build("m", split={"by": "time", "holdout": 0.5}).record
        svc.build_eval_set(
            "m", "golden", {"kind": "golden", "event_ids": [f"e{i:04d}" for i in range(150, 200)]}
        )
        svc.build_slice_sets("m")
        reg = Registry(store)
        reg.register("m", _threshold(spec, 0.5), dataset_id=ds.dataset_id)
        reg.promote("m", 1, who="ann", why="first model", override_reason="nothing to compare with")
        reg.register("m", _threshold(spec, 0.0), dataset_id=ds.dataset_id)
        refused = _job(store, settings, "evaluate", {"model": "m", "candidate": 2, "n_boot": 100})[
            "evaluation_id"
        ]
        _job(
            store,
            settings,
            "train",
            {"model": "m", "dataset": ds.dataset_id, "n_trials": 0, "params": {"max_iter": 30}},
        )
        lenient = {"gate": {"max_regression": 1.0, "min_improvement": -1.0}, "n_boot": 100}
        blessed = _job(store, settings, "evaluate", {"model": "m", "candidate": 3, "config": lenient})[
            "evaluation_id"
        ]
        reg.promote("m", 3, who="bob", why="blessed retrain")
        reg.rollback("m", who="cy", why="checkout errors after the release")
        return Scenario(data_dir, ds.dataset_id, refused, blessed)
    finally:
        store.close()
