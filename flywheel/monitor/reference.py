"""The reference a model's traffic is compared with, and how one is made and kept.

A reference is built from rows in the event-log layout (``in.<feature>``, ``prediction``,
``score``, ``proba.<class>``) with optional true labels, and holds:

- the **profile** of every column (what drift and data quality compare with);
- a seeded **sample** of the raw rows, up to ``sample_rows`` (for exact drift, drill-down and
  multivariate drift);
- a **CBPE** estimator calibrated on the reference's scores and labels (estimated performance);
- the **performance** measured on its labels (what performance drops are judged against);
- **feature importance**: given by the caller (the registry's model), or else a proxy — the
  mutual information between each input and the model's prediction on the sample;
- the **data-quality rules** it satisfies, and its rows per hour (for volume).

Where a reference comes from: the training data of a model version (the registry calls
:func:`reference_from_table`), a window of logged events (:func:`reference_from_window`), an
upload (``POST /v1/models/{m}/reference`` with Arrow or Parquet), or — when nothing was set —
the model's first day of events (:func:`implicit_reference`), computed on the fly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flywheel.errors import ValidationError
from flywheel.monitor.estimate import CBPE
from flywheel.monitor.ingest_hook import INPUT_PREFIX, PROBA_PREFIX, profile_kinds, profile_table
from flywheel.monitor.performance import classification_metrics, regression_metrics
from flywheel.monitor.quality_rules import QualityRule, infer_rules
from flywheel.profiles import DatasetProfile
from flywheel.schema import FeatureKind, ModelSpec, Task

LABEL_COLUMN = "__label"
SAMPLE_ROWS = 50_000
IMPLICIT_HOURS = 24
MIN_CBPE_ROWS = 50


@dataclass
class Reference:
    """A built reference (see the module docstring); ``sample`` may be loaded lazily."""

    model: str
    model_version: str
    source: dict[str, Any]
    profile: DatasetProfile
    rows: int
    labelled: int
    performance: dict[str, float | None]
    importance: dict[str, float]
    hourly_rows: list[int]
    rules: list[QualityRule]
    cbpe: CBPE | None = None
    cbpe_note: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _sample: pa.Table | None = None
    _load_sample: Any = None

    @property
    def sample(self) -> pa.Table | None:
        if self._sample is None and self._load_sample is not None:
            self._sample = self._load_sample()
        return self._sample

    def summary(self) -> dict[str, Any]:
        return {
            "performance": self.performance,
            "importance": self.importance,
            "hourly_rows": self.hourly_rows,
            "rules": [r.model_dump() for r in self.rules],
            "cbpe_note": self.cbpe_note,
            "columns": {c: p.summary() for c, p in self.profile.columns.items() if hasattr(p, "summary")},
        }

    def describe(self) -> dict[str, Any]:
        """What the API shows about a reference."""
        return {
            "model_version": self.model_version or None,
            "source": self.source,
            "rows": self.rows,
            "labelled": self.labelled,
            "created_at": self.created_at.isoformat(),
            "columns": list(self.profile.columns),
            "performance": self.performance,
            "importance": self.importance,
            "estimated_performance": self.cbpe is not None,
            "cbpe_note": self.cbpe_note,
        }


# -- normalising input tables ------------------------------------------------------------
def normalise_table(spec: ModelSpec, table: Any) -> tuple[pa.Table, np.ndarray | None]:
    """Rows in the event-log layout, and their labels (``None`` without a label column).

    Accepts a pyarrow Table or a pandas/polars DataFrame whose inputs are named ``<feature>``
    or ``in.<feature>``; labels in ``spec.target``, ``label`` or ``__label``.
    """
    if not isinstance(table, pa.Table):
        mod = type(table).__module__.split(".", 1)[0]
        if mod == "pandas":
            table = pa.Table.from_pandas(table, preserve_index=False)
        elif mod == "polars":
            table = table.to_arrow()
        else:
            raise ValidationError(
                f"A reference is a pyarrow Table or a pandas/polars DataFrame; got {type(table).__name__}."
            )
    names = set(table.column_names)
    cols: dict[str, Any] = {}
    missing = []
    for f in spec.features:
        src = INPUT_PREFIX + f.name if INPUT_PREFIX + f.name in names else f.name
        if src not in names:
            missing.append(f.name)
            continue
        col = table.column(src)
        try:
            if f.kind is FeatureKind.numeric:
                col = pc.cast(col, pa.float64())
            elif f.kind in (FeatureKind.categorical, FeatureKind.text, FeatureKind.image):
                col = pc.cast(col, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValidationError(
                f"The reference column {src!r} cannot be read as {f.kind.value}: {exc}",
                details=[{"field": src, "reason": f"not {f.kind.value}"}],
            ) from exc
        cols[INPUT_PREFIX + f.name] = col
    if missing:
        raise ValidationError(
            f"The reference lacks the features {missing}; name its columns after the features "
            f"(or in.<feature>). It has {sorted(names)}.",
            details=[{"field": m, "reason": "missing"} for m in missing],
        )
    for name in ("prediction", "score", "event_id", "timestamp", "model_version"):
        if name in names:
            col = table.column(name)
            if name == "prediction":
                col = pc.cast(col, pa.float64() if spec.task is Task.regression else pa.string())
            elif name == "score":
                col = pc.cast(col, pa.float64())
            cols[name] = col
    for c in spec.class_names or []:
        if PROBA_PREFIX + c in names:
            cols[PROBA_PREFIX + c] = pc.cast(table.column(PROBA_PREFIX + c), pa.float64())
    labels = None
    for name in (LABEL_COLUMN, spec.target, "label"):
        if name in names and name not in cols and not name.startswith(INPUT_PREFIX):
            if name in [f.name for f in spec.features]:
                continue
            raw = table.column(name).to_pylist()
            labels = np.array(
                [None if v is None else (float(v) if spec.task is Task.regression else str(v)) for v in raw],
                dtype=object,
            )
            break
    return pa.table(cols), labels


# -- building ----------------------------------------------------------------------------
def scores_of(spec: ModelSpec, table: pa.Table) -> tuple[np.ndarray | None, np.ndarray]:
    """Model scores for CBPE (``(n,)`` binary, ``(n, k)`` multiclass) and which rows have them."""
    n = table.num_rows
    classes = spec.class_names or []
    if spec.task is Task.binary:
        for name in ("score", PROBA_PREFIX + classes[1]):
            if name in table.column_names and table.column(name).null_count < n:
                s = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
                ok = np.isfinite(s)
                return s, ok
        return None, np.zeros(n, dtype=bool)
    if spec.task is Task.multiclass:
        names = [PROBA_PREFIX + c for c in classes]
        if all(c in table.column_names for c in names):
            s = np.column_stack(
                [np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float64) for c in names]
            )
            return s, np.asarray(np.isfinite(s).all(axis=1))
    return None, np.zeros(n, dtype=bool)


def measured(spec: ModelSpec, table: pa.Table, labels: np.ndarray, n_boot: int = 0) -> dict[str, Any]:
    """Measured performance of labelled rows (``labels`` aligned with ``table``; None = unlabelled)."""
    has = np.array([v is not None for v in labels], dtype=bool)
    if spec.task is Task.regression:
        if "prediction" not in table.column_names:
            return {}
        yhat = np.asarray(table.column("prediction").to_numpy(zero_copy_only=False), dtype=np.float64)
        fine = has & np.isfinite(yhat)
        return regression_metrics(labels[fine].astype(np.float64), yhat[fine], n_boot=n_boot)
    classes = spec.class_names or []
    scores, ok_s = scores_of(spec, table)
    pred = (
        np.asarray(table.column("prediction").to_pylist(), dtype=object)
        if "prediction" in table.column_names
        else None
    )
    if pred is None:
        return {}
    ok = has & np.array([p in classes for p in pred], dtype=bool)
    proba = None
    if scores is not None and ok_s[ok].all():
        proba = scores[ok]
    return classification_metrics(
        labels[ok].astype(str), pred[ok].astype(str), proba=proba, classes=classes, n_boot=n_boot
    )


def proxy_importance(
    spec: ModelSpec, sample: pa.Table, max_rows: int = 5000, seed: int = 0
) -> dict[str, float]:
    """Mutual information between each numeric/categorical input and the model's prediction."""
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    if "prediction" not in sample.column_names or sample.num_rows < 20:
        return {}
    feats = [f for f in spec.features if f.kind in (FeatureKind.numeric, FeatureKind.categorical)]
    if not feats:
        return {}
    t = sample.slice(0, max_rows)
    y = t.column("prediction").to_pylist()
    keep = np.array([v is not None for v in y])
    cols, discrete = [], []
    for f in feats:
        c = t.column(INPUT_PREFIX + f.name)
        if f.kind is FeatureKind.numeric:
            x = np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64)
            med = np.nanmedian(x) if np.isfinite(x).any() else 0.0
            cols.append(np.where(np.isfinite(x), x, med))
            discrete.append(False)
        else:
            codes = pc.dictionary_encode(c.fill_null("<null>")).combine_chunks().indices
            cols.append(np.asarray(codes.to_numpy(), dtype=np.float64))
            discrete.append(True)
    x = np.column_stack(cols)[keep]
    rng = np.random.RandomState(seed)
    if spec.task is Task.regression:
        yv = np.asarray([v for v in y if v is not None], dtype=np.float64)
        mi = mutual_info_regression(x, yv, discrete_features=discrete, random_state=rng)
    else:
        yv = np.asarray([str(v) for v in y if v is not None])
        if len(set(yv.tolist())) < 2:
            return {}
        mi = mutual_info_classif(x, yv, discrete_features=discrete, random_state=rng)
    return {f.name: round(float(v), 6) for f, v in zip(feats, mi, strict=True)}


def build_reference(
    spec: ModelSpec,
    table: pa.Table,
    labels: np.ndarray | None = None,
    *,
    source: dict[str, Any],
    model_version: str = "",
    hourly_rows: list[int] | None = None,
    importance: dict[str, float] | None = None,
    sample_rows: int = SAMPLE_ROWS,
    seed: int = 0,
) -> Reference:
    """A reference from rows in the event-log layout (see :func:`normalise_table`)."""
    if table.num_rows == 0:
        raise ValidationError("A reference needs at least one row; the window or upload holds none.")
    profile = profile_table(spec, table)
    labels = labels if labels is not None else np.full(table.num_rows, None, dtype=object)
    labelled = int(sum(v is not None for v in labels))
    if table.num_rows > sample_rows:
        idx = np.sort(np.random.default_rng(seed).choice(table.num_rows, sample_rows, replace=False))
        sample, sample_labels = table.take(pa.array(idx)), labels[idx]
    else:
        sample, sample_labels = table, labels
    sample = sample.append_column(
        LABEL_COLUMN, pa.array([None if v is None else str(v) for v in sample_labels], type=pa.string())
    )
    performance: dict[str, float | None] = {}
    cbpe, note = None, None
    if labelled:
        performance = {k: v.value for k, v in measured(spec, table, labels).items()}
    if spec.is_classification:
        scores, ok = scores_of(spec, table)
        has = np.array([v is not None for v in labels], dtype=bool) & ok
        if scores is None:
            note = "the reference has no scores or probabilities"
        elif has.sum() < MIN_CBPE_ROWS:
            note = f"the reference has {int(has.sum())} labelled rows with scores; CBPE needs {MIN_CBPE_ROWS}"
        else:
            try:
                cbpe = CBPE(spec.class_names).fit(scores[has], labels[has].astype(str))
            except ValidationError as exc:
                note = f"CBPE could not be fitted: {exc.message}"
    allow_nan = {INPUT_PREFIX + f.name: f.allow_nan for f in spec.features}
    inputs = [c for c in profile.columns if c.startswith(INPUT_PREFIX)]
    rules = infer_rules(profile, hourly_rows=hourly_rows, allow_nan=allow_nan, columns=inputs)
    return Reference(
        model=spec.name,
        model_version=model_version,
        source=source,
        profile=profile,
        rows=table.num_rows,
        labelled=labelled,
        performance=performance,
        importance=importance if importance is not None else proxy_importance(spec, sample),
        hourly_rows=hourly_rows or [],
        rules=rules,
        cbpe=cbpe,
        cbpe_note=note,
        _sample=sample,
    )


# -- where references come from ----------------------------------------------------------
def window_rows(
    store: Any, model: str, since: datetime, until: datetime, model_version: str | None = None
) -> tuple[pa.Table, np.ndarray, list[int]]:
    """Events of a window (event-log layout), their latest labels, and rows per hour."""
    where = []
    if model_version:
        where.append("model_version = '" + model_version.replace("'", "''") + "'")
    table = store.events.query(model, since=since, until=until, where=where, order_by="timestamp, event_id")
    if table.num_rows == 0:
        return table, np.empty(0, dtype=object), []
    ids = table.column("event_id").to_pylist()
    found = store.monitor.latest_labels(model, ids)
    labels = np.array([found.get(e) for e in ids], dtype=object)
    hours = table.column("timestamp").cast(pa.int64()).to_numpy() // 3_600_000_000
    _, counts = np.unique(hours, return_counts=True)
    return table, labels, [int(c) for c in counts]


def reference_from_window(
    store: Any,
    model: str,
    since: datetime,
    until: datetime,
    *,
    model_version: str | None = None,
    save_as: str | None = "",
) -> Reference:
    """The events of ``[since, until)`` (optionally one version's) as the reference; saved
    under ``save_as`` (a model version, '' for the model's default; ``None``: not saved)."""
    spec = store.models.get(model).spec
    table, labels, hourly = window_rows(store, model, since, until, model_version)
    if table.num_rows == 0:
        raise ValidationError(
            f"model {model!r} has no events between {since.isoformat()} and {until.isoformat()}"
            + (f" for version {model_version!r}" if model_version else "")
            + "; pick a window with events.",
            details=[{"field": "since", "reason": "empty window"}],
        )
    source = {"kind": "window", "since": since.isoformat(), "until": until.isoformat()}
    if model_version:
        source["model_version"] = model_version
    ref = build_reference(spec, table, labels, source=source, model_version=save_as or "", hourly_rows=hourly)
    if save_as is not None:
        save_reference(store, ref)
    return ref


def reference_from_table(
    store: Any,
    model: str,
    table: Any,
    *,
    model_version: str = "",
    source: dict[str, Any] | None = None,
    importance: dict[str, float] | None = None,
) -> Reference:
    """Set the reference from rows held by the caller: the hook the registry calls with a model
    version's training data (features, optional target, predictions and probabilities)."""
    spec = store.models.get(model).spec
    rows, labels = normalise_table(spec, table)
    ref = build_reference(
        spec,
        rows,
        labels,
        source=source or {"kind": "table"},
        model_version=model_version,
        importance=importance,
    )
    save_reference(store, ref)
    return ref


_IMPLICIT: dict[tuple[str, str, str], tuple[float, Reference]] = {}
IMPLICIT_TTL_S = 300.0


def implicit_reference(store: Any, model: str, hours: int = IMPLICIT_HOURS) -> Reference | None:
    """The model's first ``hours`` hours of events, when no reference was set (not saved).

    Kept in memory for ``IMPLICIT_TTL_S`` seconds per model and store, so pages and API calls
    in a row do not rebuild it (late labels reach it within that time).
    """
    import time

    span = store.monitor.profile_span(model)
    if span is None:
        return None
    since = span[0]
    key = (model, since.isoformat(), f"{store.db.url}|{store.events.root}")
    hit = _IMPLICIT.get(key)
    if hit is not None and time.monotonic() - hit[0] < IMPLICIT_TTL_S:
        return hit[1]
    until = since + timedelta(hours=hours)
    ref = reference_from_window(store, model, since, until, save_as=None)
    ref.source = {"kind": "implicit", "since": since.isoformat(), "until": until.isoformat()}
    if len(_IMPLICIT) > 64:
        _IMPLICIT.clear()
    _IMPLICIT[key] = (time.monotonic(), ref)
    return ref


# -- keeping references ------------------------------------------------------------------
def save_reference(store: Any, ref: Reference) -> None:
    from flywheel.store.monitor import ReferenceRecord

    sample = ref.sample
    sample_digest = None
    if sample is not None:
        buf = io.BytesIO()
        pq.write_table(sample, buf, compression="zstd")
        sample_digest = store.artifacts.put(buf.getvalue())
    store.monitor.set_reference(
        ReferenceRecord(
            model=ref.model,
            model_version=ref.model_version,
            source=ref.source,
            rows=ref.rows,
            labelled=ref.labelled,
            profile_artifact=store.artifacts.put(ref.profile.to_bytes()),
            sample_artifact=sample_digest,
            cbpe_artifact=store.artifacts.put(ref.cbpe.to_bytes()) if ref.cbpe is not None else None,
            summary=ref.summary(),
            created_at=ref.created_at,
        )
    )


def load_reference(store: Any, model: str, model_version: str | None = None) -> Reference | None:
    """The saved reference of ``model_version`` if any, else the model's default, else the newest
    version's (the training data of the version most recently registered), else ``None``."""
    rec = None
    if model_version:
        rec = store.monitor.get_reference(model, model_version)
    rec = rec or store.monitor.get_reference(model, "")
    if rec is None:
        saved = store.monitor.list_references(model)
        rec = max(saved, key=lambda r: r.created_at) if saved else None
    if rec is None:
        return None
    spec = store.models.get(model).spec
    profile = DatasetProfile.from_bytes(store.artifacts.get(rec.profile_artifact))
    kinds = profile_kinds(spec)
    profile = DatasetProfile({c: p for c, p in profile.columns.items() if c in kinds})
    s = rec.summary
    digest = rec.sample_artifact
    return Reference(
        model=model,
        model_version=rec.model_version,
        source=rec.source,
        profile=profile,
        rows=rec.rows,
        labelled=rec.labelled,
        performance=s.get("performance", {}),
        importance=s.get("importance", {}),
        hourly_rows=s.get("hourly_rows", []),
        rules=[QualityRule.model_validate(r) for r in s.get("rules", [])],
        cbpe=CBPE.from_bytes(store.artifacts.get(rec.cbpe_artifact)) if rec.cbpe_artifact else None,
        cbpe_note=s.get("cbpe_note"),
        created_at=rec.created_at,
        _load_sample=(lambda: pq.read_table(io.BytesIO(store.artifacts.get(digest)))) if digest else None,
    )
