"""Hyper-parameter search with Optuna, stored in a database so that a study survives a crash.

``search`` validates in time order by default: it trains on the oldest rows and scores on
the most recent ``valid_fraction`` (what the model will face next), never the reverse.
The first trial is always the trainer's defaults, so the best is never worse than them on
validation. The study lives in Optuna's RDB storage (any SQLAlchemy URL; in memory when
``storage`` is None); calling ``search`` again with the same ``study_name`` resumes it:
finished trials count toward ``n_trials``, and a trial left running by a crashed process
is marked failed and retried first. The ``baseline`` trainer is always trained and scored
on the same split for comparison.

>>> import numpy as np, pandas as pd
>>> from flywheel.schema import ModelSpec
>>> from flywheel.train.data import TrainingData
>>> spec = ModelSpec(name="m", task="binary", class_names=["lo", "hi"],
...                  features=[{"name": "x", "kind": "numeric"}])
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"x": rng.normal(size=300)})
>>> data = TrainingData(frame, np.where(frame.x > 0, "hi", "lo"), spec)
>>> result = search("tabular-hgb", data, n_trials=3, metric="accuracy")
>>> len(result.trials), result.best_value > result.baseline_value
(3, True)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from flywheel.errors import ValidationError
from flywheel.evaluate.metrics import check_metric, higher_is_better, point_metrics
from flywheel.train.base import Trainer
from flywheel.train.data import TrainingData, encode_target
from flywheel.train.model import FittedModel
from flywheel.train.params import CategoricalParam, FloatParam, IntParam, SearchSpace
from flywheel.train.registry import get_trainer

ProgressFn = Callable[[int, int, float | None], None]
#: the default metric searched on: a proper scoring rule for classification
SEARCH_METRIC = {"binary": "log_loss", "multiclass": "log_loss", "regression": "rmse"}


@dataclass
class TrialRecord:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    duration_s: float | None
    error: str | None = None


@dataclass
class SearchResult:
    """What a search found. ``model``/``baseline_model`` are refitted on all rows (``refit``)."""

    trainer: str
    study_name: str
    metric: str
    direction: str
    best_params: dict[str, Any]
    best_value: float
    baseline_params: dict[str, Any]
    baseline_value: float
    n_train: int
    n_valid: int
    elapsed_s: float
    trials: list[TrialRecord] = field(default_factory=list)
    model: FittedModel | None = None
    baseline_model: FittedModel | None = None

    def trials_frame(self) -> pd.DataFrame:
        rows = [
            {
                "number": t.number,
                "state": t.state,
                "value": t.value,
                "duration_s": t.duration_s,
                "error": t.error,
            }
            | {f"params_{k}": v for k, v in t.params.items()}
            for t in self.trials
        ]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (without the models)."""
        out = asdict(self)
        out.pop("model")
        out.pop("baseline_model")
        return out


def time_split(data: TrainingData, valid_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the older (train) and the most recent (validation) rows."""
    if not 0.0 < valid_fraction < 1.0:
        raise ValidationError(
            f"The 'valid_fraction' parameter of search must be a float in (0, 1); got {valid_fraction!r}."
        )
    order = data.time_order()
    n_valid = int(round(len(order) * valid_fraction))
    if n_valid < 1 or n_valid >= len(order):
        raise ValidationError(
            f"{len(order)} rows are too few to hold out {valid_fraction:.0%} for validation."
        )
    return order[: len(order) - n_valid], order[len(order) - n_valid :]


def score(model: FittedModel, data: TrainingData, metric: str) -> float:
    """``metric`` of ``model`` on ``data`` (probabilities for classification)."""
    y = encode_target(data.target, data.spec)
    output = model.predict_proba(data.frame) if data.spec.is_classification else model.predict(data.frame)
    return point_metrics(data.spec.task.value, y, output, [metric])[metric]


def _suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, p in space.items():
        if isinstance(p, IntParam):
            params[name] = trial.suggest_int(name, p.low, p.high, log=p.log)
        elif isinstance(p, FloatParam):
            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
        elif isinstance(p, CategoricalParam):
            params[name] = trial.suggest_categorical(name, list(p.choices))
    return params


def _storage(url: str | None) -> Any:
    import optuna

    return optuna.storages.InMemoryStorage() if url is None else optuna.storages.RDBStorage(url)


DEFAULTS_ATTR = "flywheel_defaults"  # marks the trial that runs the trainer's defaults unchanged
CRASHED_ATTR = "flywheel_crashed"  # a trial its process never finished; retried, not counted


def search(
    trainer: str | Trainer,
    data: TrainingData,
    *,
    n_trials: int = 20,
    timeout_s: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int = 0,
    metric: str | None = None,
    valid_fraction: float = 0.2,
    valid_data: TrainingData | None = None,
    refit: bool = True,
    baseline_params: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> SearchResult:
    """Search ``trainer``'s space on ``data``; see the module docstring.

    ``n_trials`` bounds the study's finished trials (resumed ones included); ``timeout_s``
    stops starting new trials after that many seconds of this call. ``valid_data``, when
    given, replaces the time split. ``progress(done, total, best)`` is called after every trial.
    """
    import optuna

    t0 = time.perf_counter()
    tr = get_trainer(trainer) if isinstance(trainer, str) else trainer
    task = data.spec.task.value
    metric = check_metric(task, metric or SEARCH_METRIC[task])
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or not 1 <= n_trials <= 100_000:
        raise ValidationError(
            f"The 'n_trials' parameter of search must be an int in [1, 100000]; got {n_trials!r}."
        )
    if timeout_s is not None and not timeout_s > 0:
        raise ValidationError(
            f"The 'timeout_s' parameter of search must be a positive number or None; got {timeout_s!r}."
        )
    if valid_data is None:
        train_idx, valid_idx = time_split(data, valid_fraction)
        train, valid = data.take(train_idx), data.take(valid_idx)
    else:
        train, valid = data, valid_data
    direction: Literal["maximize", "minimize"] = "maximize" if higher_is_better(metric) else "minimize"
    space = tr.search_space(data.spec)
    defaults = tr.default_params()

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        name = study_name or f"flywheel-{tr.name}-{uuid.uuid4().hex[:12]}"
        stor = _storage(storage)
        study = optuna.create_study(storage=stor, study_name=name, direction=direction, load_if_exists=True)
        attrs = {"flywheel_trainer": tr.name, "flywheel_metric": metric}
        for key, value in attrs.items():
            stored = study.user_attrs.get(key)
            if stored is None:
                study.set_user_attr(key, value)
            elif stored != value:
                raise ValidationError(
                    f"study {name!r} was created with {key[9:]} {stored!r}; this search asks for {value!r}. Use another study_name."
                )
        states = optuna.trial.TrialState
        existing = study.get_trials(deepcopy=False)
        for t in existing:
            if t.state == states.RUNNING:  # left by a crashed run: one searcher per study is assumed
                retry_attrs = {k: v for k, v in t.user_attrs.items() if k != CRASHED_ATTR}
                stor.set_trial_user_attr(t._trial_id, CRASHED_ATTR, True)
                stor.set_trial_state_values(t._trial_id, states.FAIL)
                study.enqueue_trial(dict(t.params), user_attrs=retry_attrs, skip_if_exists=False)
        if not existing:
            # defaults may lie outside the space (0.0 on a log scale), so they are not suggested
            study.enqueue_trial({}, user_attrs={DEFAULTS_ATTR: True})
        sampler_seed = seed + len(existing)  # a resumed study does not replay the same random draws
        study.sampler = optuna.samplers.TPESampler(
            seed=sampler_seed, n_startup_trials=min(10, max(1, n_trials // 2))
        )

        def finished() -> int:
            return sum(
                t.state.is_finished() and not t.user_attrs.get(CRASHED_ATTR)
                for t in study.get_trials(deepcopy=False)
            )

        def objective(trial: optuna.Trial) -> float:
            params = {} if trial.user_attrs.get(DEFAULTS_ATTR) else _suggest(trial, space)
            try:
                model = tr.fit(train, params)
                value = score(model, valid, metric)
            except Exception as exc:
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
                raise
            if not np.isfinite(value):
                trial.set_user_attr("error", f"{metric} is not finite on validation")
                raise ValidationError(f"{metric} is not finite on validation")
            return value

        def callback(st: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
            if progress is not None:
                best = (
                    st.best_value
                    if any(t.state == states.COMPLETE for t in st.get_trials(deepcopy=False))
                    else None
                )
                progress(finished(), n_trials, best)

        remaining = n_trials - finished()
        if remaining > 0:
            study.optimize(
                objective, n_trials=remaining, timeout=timeout_s, catch=(Exception,), callbacks=[callback]
            )
        trials = [
            TrialRecord(
                number=t.number,
                state=t.state.name,
                value=t.value,
                params={k: defaults[k] for k in space if k in defaults}
                if t.user_attrs.get(DEFAULTS_ATTR)
                else dict(t.params),
                duration_s=t.duration.total_seconds() if t.duration else None,
                error="crashed; retried" if t.user_attrs.get(CRASHED_ATTR) else t.user_attrs.get("error"),
            )
            for t in study.get_trials(deepcopy=False)
        ]
        if not any(t.state == "COMPLETE" for t in trials):
            errors = sorted({t.error for t in trials if t.error})
            raise ValidationError(f"every trial of study {name!r} failed; errors: {errors[:3]}")
        best_params = {**defaults, **study.best_trial.params}
        best_value = float(study.best_value)
    finally:
        optuna.logging.set_verbosity(verbosity)

    baseline = get_trainer("baseline")
    base_params = dict(baseline_params or {})
    baseline_value = score(baseline.fit(train, base_params), valid, metric)
    model = baseline_model = None
    if refit:
        full = data if valid_data is None else _concat(data, valid_data)
        model = tr.fit(full, best_params)
        baseline_model = baseline.fit(full, base_params)
    return SearchResult(
        trainer=tr.name,
        study_name=name,
        metric=metric,
        direction=direction,
        best_params=best_params,
        best_value=best_value,
        baseline_params={**baseline.default_params(), **base_params},
        baseline_value=baseline_value,
        n_train=len(train),
        n_valid=len(valid),
        elapsed_s=time.perf_counter() - t0,
        trials=trials,
        model=model,
        baseline_model=baseline_model,
    )


def _concat(a: TrainingData, b: TrainingData) -> TrainingData:
    def cat(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        if x is None and y is None:
            return None
        if x is None or y is None:
            raise ValidationError(
                "data and valid_data must both have (or both lack) sample_weight and times."
            )
        return np.concatenate([x, y])

    return TrainingData(
        frame=pd.concat([a.frame, b.frame], ignore_index=True),
        target=np.concatenate([a.target, b.target]),
        spec=a.spec,
        sample_weight=cat(a.sample_weight, b.sample_weight),
        times=cat(a.times, b.times),
    )
