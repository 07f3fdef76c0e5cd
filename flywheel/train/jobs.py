"""The ``train`` job: a dataset snapshot in, a registered model version out.

Parameters (:class:`TrainParams`): the model; a stored dataset (``dataset``: id, name or
``name@version``) or a formation rule to build one (``rule``, ``label_policy``, ``split``,
``as_of``); the trainer (default by the spec's feature kinds); the search budget
(``n_trials``, ``timeout_s``; ``n_trials=0`` fits the trainer's defaults merged with ``params``
once, without search).

The search validates in time order inside the training rows (or on the snapshot's
``validation`` split when it has one) and never sees the ``holdout`` split, which stays for the
evaluation. Its Optuna study is stored in a database (see :func:`optuna_storage_url`), one
study per job. The baseline is trained alongside. Progress is reported after every trial.

Nothing lasting is written until the very end: then the artifacts go to the content-addressed
store and one transaction adds the version row (and the dataset row, if the job built the
dataset). A worker killed mid-training therefore leaves the registry as it was; the reaper
marks the job failed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flywheel.datasets.rules import config_error
from flywheel.errors import ValidationError
from flywheel.schema import FeatureKind, ModelSpec
from flywheel.settings import Settings
from flywheel.train.data import TrainingData, encode_target

#: Trainers chosen by default, by the kinds of a spec's features.
DEFAULT_TRAINERS = {"text": "text-tfidf", "image": "image-pixels", "tabular": "tabular-hgb"}


class TrainParams(BaseModel):
    """What a ``train`` job is asked to do."""

    model_config = ConfigDict(extra="forbid")

    model: str
    dataset: str | None = Field(default=None, description="A stored dataset: id, name or name@version.")
    rule: dict[str, Any] | None = Field(default=None, description="Build a dataset with this formation rule.")
    dataset_name: str = Field(default="training", description="Name of the dataset the job builds.")
    label_policy: Any = "latest"
    split: Any = None
    as_of: datetime | None = None
    trainer: str | None = Field(default=None, description="Default: by the spec's feature kinds.")
    params: dict[str, Any] = Field(default_factory=dict, description="Fixed params (used when n_trials=0).")
    n_trials: int = Field(default=20, ge=0, le=10_000)
    timeout_s: float | None = Field(default=None, gt=0)
    metric: str | None = None
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> TrainParams:
        if self.dataset is not None and self.rule is not None:
            raise ValueError("give either 'dataset' (a stored one) or 'rule' (to build one), not both")
        return self


def parse_train_params(params: dict[str, Any]) -> TrainParams:
    try:
        return TrainParams.model_validate(params)
    except pydantic.ValidationError as exc:
        raise config_error(exc, "train job parameters") from exc


def default_trainer(spec: ModelSpec) -> str:
    kinds = {f.kind for f in spec.features}
    if FeatureKind.text in kinds:
        return DEFAULT_TRAINERS["text"]
    if FeatureKind.image in kinds:
        return DEFAULT_TRAINERS["image"]
    return DEFAULT_TRAINERS["tabular"]


def frame_and_target(rows: pa.Table, spec: ModelSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """A snapshot's rows as the feature frame (columns named by feature) and the labels."""
    cols = {}
    for f in spec.features:
        name = f"in.{f.name}"
        col = rows.column(name) if name in rows.column_names else pa.nulls(rows.num_rows)
        cols[f.name] = col.to_pandas().reset_index(drop=True)
    frame = pd.DataFrame(cols, index=pd.RangeIndex(rows.num_rows))
    target = np.asarray(rows.column("label").to_numpy(zero_copy_only=False), dtype=object)
    return frame, target


def training_data(rows: pa.Table, spec: ModelSpec) -> TrainingData:
    """The rows of a snapshot as :class:`TrainingData`, with their weights and event times."""
    frame, target = frame_and_target(rows, spec)
    weight = rows.column("weight").to_numpy()
    times = rows.column("timestamp").cast(pa.int64()).to_numpy()
    return TrainingData(
        frame,
        target,
        spec,
        sample_weight=None if np.all(weight == 1.0) else weight,
        times=times,
    )


def split_rows(table: pa.Table, *splits: str) -> pa.Table:
    return table.filter(pc.is_in(table.column("split"), value_set=pa.array(list(splits), pa.string())))


def optuna_storage_url(settings: Settings) -> str | None:
    """Where Optuna keeps a job's study: beside the metadata database, never inside its tables.

    Optuna runs its own Alembic migrations with the default ``alembic_version`` table, which
    would clash with Flywheel's; so on SQLite the study goes to a sibling file
    (``flywheel-optuna.db``), and on PostgreSQL to the schema ``optuna`` of the same database.
    An in-memory SQLite metadata database gives an in-memory study (None).
    """
    from flywheel.store.db import normalise_url

    url = normalise_url(settings.resolved_db_url())
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if not path or path == ":memory:":
            return None
        p = Path(path)
        return f"sqlite:///{p.with_name(p.stem + '-optuna.db')}"
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS optuna")
    finally:
        engine.dispose()
    return url + ("&" if "?" in url else "?") + "options=-csearch_path%3Doptuna"


def holdout_metrics(model: Any, rows: pa.Table, spec: ModelSpec) -> dict[str, float]:
    """The task's metrics of ``model`` on ``rows`` (empty dict if there are none)."""
    from flywheel.evaluate.metrics import metric_names, point_metrics

    if rows.num_rows == 0:
        return {}
    frame, target = frame_and_target(rows, spec)
    y = encode_target(target, spec)
    out = model.predict_proba(frame) if spec.is_classification else model.predict(frame)
    values = point_metrics(spec.task.value, y, out, metric_names(spec.task.value))
    return {k: float(v) for k, v in values.items() if np.isfinite(v)}


def train_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Job kind ``train`` (see the module docstring); returns the new version and its metrics."""
    from flywheel.datasets.service import DatasetService, PreparedDataset
    from flywheel.deploy.registry import Registry
    from flywheel.train.registry import get_trainer
    from flywheel.train.search import search

    p = parse_train_params(params)
    store = ctx.store
    spec = store.models.get(p.model).spec
    datasets = DatasetService(store)
    ctx.progress(0.01, "forming the dataset")
    prepared: PreparedDataset | None = None
    if p.dataset is not None:
        record = datasets.get(p.model, p.dataset)
        if record.kind != "train":
            raise ValidationError(f"dataset {record.ref!r} is an eval set; train on a training dataset")
        snapshot = datasets.load_record(record)
        dataset_id: str | None = record.dataset_id
        ctx.log(f"dataset {record.ref} ({record.dataset_id}): {record.num_rows} rows")
    else:
        prepared = datasets.prepare(
            p.model,
            name=p.dataset_name,
            rule=p.rule,
            label_policy=p.label_policy,
            split=p.split,
            as_of=p.as_of,
        )
        snapshot = prepared.snapshot
        dataset_id = None if prepared.existing is None else prepared.existing.dataset_id
        ctx.log(
            f"dataset {p.dataset_name}: {snapshot.num_rows} rows as of {snapshot.manifest.as_of.isoformat()}"
            + (f" (same as {prepared.existing.ref})" if prepared.existing else " (new)")
        )
    table = snapshot.table
    train_rows = split_rows(table, "train")
    valid_rows = split_rows(table, "validation")
    holdout_rows = split_rows(table, "holdout")
    if train_rows.num_rows == 0:
        raise ValidationError(
            f"the dataset has no rows in its 'train' split ({snapshot.manifest.split_counts})"
        )
    data = training_data(train_rows, spec)
    valid = training_data(valid_rows, spec) if valid_rows.num_rows else None
    trainer = p.trainer or default_trainer(spec)
    ctx.progress(0.05, f"training {trainer} on {len(data)} rows")

    search_summary: dict[str, Any] | None = None
    if p.n_trials > 0:
        total = p.n_trials

        def on_trial(done: int, n: int, best: float | None) -> None:
            best_text = "" if best is None else f", best {best:.4f}"
            ctx.progress(0.05 + 0.85 * min(done, n) / max(n, 1), f"trial {done}/{n}{best_text}")

        result = search(
            trainer,
            data,
            n_trials=total,
            timeout_s=p.timeout_s,
            storage=optuna_storage_url(ctx.settings),
            study_name=f"flywheel-{p.model}-{ctx.job.job_id}",
            seed=p.seed,
            metric=p.metric,
            valid_data=valid,
            progress=on_trial,
        )
        fitted, baseline = result.model, result.baseline_model
        assert fitted is not None and baseline is not None
        search_summary = {k: v for k, v in result.to_dict().items() if k != "trials"}
        search_summary["n_trials"] = len(result.trials)
        search_summary["n_complete"] = sum(t.state == "COMPLETE" for t in result.trials)
    else:
        full = data if valid is None else training_data(split_rows(table, "train", "validation"), spec)
        fitted = get_trainer(trainer).fit(full, p.params)
        ctx.progress(0.8, "training the baseline")
        baseline = get_trainer("baseline").fit(full, {})
    ctx.progress(0.92, "scoring the holdout")
    metrics: dict[str, Any] = {
        "rows": {
            "train": train_rows.num_rows,
            "validation": valid_rows.num_rows,
            "holdout": holdout_rows.num_rows,
        },
        "holdout": {
            "candidate": holdout_metrics(fitted, holdout_rows, spec),
            "baseline": holdout_metrics(baseline, holdout_rows, spec),
        },
    }
    if search_summary is not None:
        metrics["search"] = search_summary
    ctx.progress(0.97, "registering the version")

    also = None
    if prepared is not None and prepared.existing is None:
        # the Parquet artifact is written first; its row goes in with the version, in one transaction
        digest = datasets.put_artifact(prepared)
        new_dataset = prepared

        def also(conn: Any) -> str:
            return DatasetService.insert(conn, new_dataset, digest).dataset_id

    version = Registry(store).register(
        p.model,
        fitted,
        baseline=baseline,
        metrics=metrics,
        job_id=ctx.job.job_id,
        dataset_id=dataset_id,
        also=also,
    )
    ctx.log(f"registered version {version.version} of {p.model}")
    return {
        "model": p.model,
        "version": version.version,
        "dataset_id": version.dataset_id,
        "trainer": version.trainer,
        "metrics": metrics,
    }
