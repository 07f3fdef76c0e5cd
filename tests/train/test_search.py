"""Search respects its budgets, validates on the most recent rows, trains a baseline, and resumes."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

from flywheel.errors import ValidationError
from flywheel.schema import ModelSpec
from flywheel.train import FloatParam, TrainingData, get_trainer
from flywheel.train.baseline import BaselineTrainer
from flywheel.train.search import search, time_split

SPEC = ModelSpec(
    name="toy",
    task="binary",
    class_names=["no", "yes"],
    features=[{"name": "x", "kind": "numeric"}, {"name": "z", "kind": "numeric"}],
)


def make_data(n: int = 300, seed: int = 0, times: np.ndarray | None = None) -> TrainingData:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    noisy = frame["x"] + 0.5 * rng.normal(size=n)
    return TrainingData(frame, np.where(noisy > 0, "yes", "no"), SPEC, times=times)


class SlowTrainer(BaselineTrainer):
    """The linear baseline, made slow: for time-budget tests and import-string loading."""

    name = "slow"

    def default_params(self) -> dict[str, Any]:
        return {"kind": "linear", "C": 1.0, "n_jobs": 1}

    def search_space(self, spec):
        return {"C": FloatParam(1e-2, 1e2, log=True)}

    def fit(self, data, params=None):
        time.sleep(0.3)
        return super().fit(data, params)


class BrokenTrainer(SlowTrainer):
    name = "broken"

    def fit(self, data, params=None):
        raise RuntimeError("boom")


def test_trial_budget_is_respected_and_progress_reported() -> None:
    calls: list[tuple[int, int, float | None]] = []
    result = search("tabular-lgbm", make_data(), n_trials=4, progress=lambda *a: calls.append(a))
    assert len(result.trials) == 4
    assert [c[0] for c in calls] == [1, 2, 3, 4] and all(c[1] == 4 for c in calls)
    assert calls[-1][2] == pytest.approx(result.best_value)
    assert result.metric == "log_loss" and result.direction == "minimize"


def test_first_trial_runs_the_defaults_and_best_is_no_worse() -> None:
    result = search("tabular-lgbm", make_data(), n_trials=3, metric="accuracy")
    defaults = get_trainer("tabular-lgbm").default_params()
    first = result.trials[0]
    assert first.params["learning_rate"] == defaults["learning_rate"]
    assert result.best_value >= first.value
    assert set(result.best_params) == set(defaults)


def test_time_budget_stops_starting_trials() -> None:
    t0 = time.perf_counter()
    result = search(SlowTrainer(), make_data(), n_trials=1000, timeout_s=1.0, refit=False)
    assert 1 <= len(result.trials) < 10
    assert time.perf_counter() - t0 < 6.0
    assert result.model is None


def test_validation_holds_out_the_most_recent_rows() -> None:
    times = np.arange(100)[::-1].astype(float)  # row 0 is the newest
    data = make_data(100, times=times)
    train, valid = time_split(data, 0.2)
    assert sorted(valid.tolist()) == list(range(20))
    assert times[train].max() < times[valid].min()
    result = search("baseline", data, n_trials=1, valid_fraction=0.2)
    assert (result.n_train, result.n_valid) == (80, 20)


def test_baseline_is_always_trained_alongside() -> None:
    result = search("tabular-lgbm", make_data(), n_trials=2, metric="accuracy")
    assert result.baseline_model is not None and result.baseline_model.trainer == "baseline"
    assert result.model is not None and result.model.trainer == "tabular-lgbm"
    assert result.best_value > result.baseline_value
    assert result.to_dict()["baseline_value"] == result.baseline_value


def test_same_study_name_resumes_and_counts_finished_trials(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fw.db'}"
    data = make_data()
    first = search("baseline", data, n_trials=3, storage=url, study_name="job-1", refit=False)
    again = search("baseline", data, n_trials=5, storage=url, study_name="job-1", refit=False)
    assert [t.number for t in again.trials] == [0, 1, 2, 3, 4]
    assert [t.value for t in again.trials[:3]] == [t.value for t in first.trials]
    done = search("baseline", data, n_trials=5, storage=url, study_name="job-1", refit=False)
    assert len(done.trials) == 5


def test_trial_left_running_by_a_crash_is_retried_not_counted(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fw.db'}"
    data = make_data()
    search("baseline", data, n_trials=2, storage=url, study_name="job-2", refit=False)
    study = optuna.load_study(study_name="job-2", storage=url)
    crashed = study.ask({"C": optuna.distributions.FloatDistribution(1e-3, 1e2, log=True)})
    assert study.trials[crashed.number].state == optuna.trial.TrialState.RUNNING
    result = search("baseline", data, n_trials=3, storage=url, study_name="job-2", refit=False)
    states = [t.state for t in result.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]
    assert result.trials[2].error == "crashed; retried"
    assert result.trials[3].params["C"] == crashed.params["C"]


def test_resuming_with_another_metric_is_refused(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fw.db'}"
    search("baseline", make_data(), n_trials=1, storage=url, study_name="job-3", refit=False)
    with pytest.raises(ValidationError, match="metric 'log_loss'"):
        search("baseline", make_data(), n_trials=2, storage=url, study_name="job-3", metric="accuracy")


def test_user_trainer_by_import_string() -> None:
    trainer = get_trainer("tests.train.test_search:SlowTrainer")
    assert trainer.name == "slow"
    with pytest.raises(ValidationError, match="could not import module 'no_such_pkg.mod'"):
        get_trainer("no_such_pkg.mod:Trainer")
    with pytest.raises(ValidationError, match="has no attribute 'Nope'"):
        get_trainer("tests.train.test_search:Nope")
    with pytest.raises(ValidationError, match="is not a trainer"):
        get_trainer("tests.train.test_search:make_data")
    with pytest.raises(ValidationError, match="unknown trainer 'xgboost'"):
        get_trainer("xgboost")


def test_every_trial_failing_is_an_error_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="RuntimeError: boom"):
        search(BrokenTrainer(), make_data(), n_trials=2)


def test_budget_arguments_are_validated() -> None:
    with pytest.raises(ValidationError, match="'n_trials' parameter of search"):
        search("baseline", make_data(), n_trials=0)
    with pytest.raises(ValidationError, match="'valid_fraction' parameter of search"):
        search("baseline", make_data(), valid_fraction=1.5)


def test_explicit_validation_data_replaces_the_time_split_and_refit_uses_both() -> None:
    train, valid = make_data(200, seed=1), make_data(50, seed=2)
    result = search("baseline", train, valid_data=valid, n_trials=1)
    assert (result.n_train, result.n_valid) == (200, 50)
    assert result.model is not None
