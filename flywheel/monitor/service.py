"""The monitoring service: a model's health over time, window by window.

``monitoring(store, model, since=, until=, bucket=)`` splits the range into aligned windows
(hour, day or week, UTC; weeks start on Monday) and computes for each:

- **drift** of every input (``features``) and of the outputs (``outputs``: prediction, score,
  probabilities) against the reference — from the stored hourly profiles (fast: a dashboard
  over months reads no raw event), or exactly from raw events with ``exact=True`` (also
  forced when a ``slice`` is asked for, as profiles are not kept per slice);
- **data-quality** violations of the rules (edited ones, else those inferred from the reference);
- **measured performance** of the events that have labels (the latest label of each event);
- **estimated performance** (CBPE calibrated on the reference), for every event with a score;
- the **feedback** rate; and what the alert policy would say about the window.

Performance per slice over the whole range comes with it (``slices``), and multivariate drift
(a domain classifier, reference sample against each window) on demand.
"""

from __future__ import annotations

import bisect
import copy
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flywheel.errors import ValidationError
from flywheel.monitor.config import MonitorConfig, load_config, quality_rules_for
from flywheel.monitor.drift import compute_drift, compute_drift_from_profiles
from flywheel.monitor.ingest_hook import (
    INPUT_PREFIX,
    PROBA_PREFIX,
    is_output,
    merge_rows,
    profile_kinds,
    profile_table,
    projections_for,
)
from flywheel.monitor.performance import MetricValue
from flywheel.monitor.policy import DriftResult, WindowResults, evaluate
from flywheel.monitor.quality_rules import check_profile, check_rows
from flywheel.monitor.reference import (
    LABEL_COLUMN,
    Reference,
    implicit_reference,
    load_reference,
    measured,
    scores_of,
)
from flywheel.profiles import DatasetProfile
from flywheel.schema import ModelSpec

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
DEFAULT_SPAN = {"hour": timedelta(days=2), "day": timedelta(days=30), "week": timedelta(weeks=26)}
MAX_WINDOWS = 2000
N_BOOT = 100
N_SIM = 100


def floor_time(t: datetime, bucket: str) -> datetime:
    t = t.astimezone(UTC)
    if bucket == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


def aligned_windows(since: datetime, until: datetime, bucket: str) -> list[tuple[datetime, datetime]]:
    if bucket not in BUCKETS:
        raise ValidationError(
            f"The 'bucket' parameter must be one of {list(BUCKETS)}; got {bucket!r}.",
            details=[{"field": "bucket", "reason": "unknown bucket"}],
        )
    step, start, out = BUCKETS[bucket], floor_time(since, bucket), []
    while start < until:
        out.append((start, start + step))
        start += step
        if len(out) > MAX_WINDOWS:
            raise ValidationError(
                f"The range holds more than {MAX_WINDOWS} {bucket} windows; pick a larger bucket or a shorter range.",
                details=[{"field": "bucket", "reason": "too many windows"}],
            )
    return out


def default_range(store: Any, model: str, bucket: str) -> tuple[datetime, datetime] | None:
    span = store.monitor.profile_span(model)
    if span is None:
        return None
    until = span[1] + timedelta(hours=1)
    return max(span[0], until - DEFAULT_SPAN[bucket]), until


def importance_of(cfg: MonitorConfig, ref: Reference | None) -> dict[str, float]:
    if cfg.feature_importance is not None:
        return dict(cfg.feature_importance)
    return dict(ref.importance) if ref else {}


def _feature_name(name: str) -> str:
    return name[len(INPUT_PREFIX) :] if name.startswith(INPUT_PREFIX) else name


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def drift_entries(report: Any) -> tuple[list[dict[str, Any]], list[DriftResult]]:
    """JSON entries (with a heat-map ``score``: the largest value/threshold) and policy inputs."""
    entries, results = [], []
    for cd in report.columns:
        best, metric, value, thr = 0.0, None, math.nan, math.nan
        for m, t in cd.thresholds.items():
            v = cd.metrics.get(m, math.nan)
            if t and math.isfinite(v) and v / t >= best:
                best, metric, value, thr = v / t, m, v, t
        entries.append(
            _clean(
                {
                    "name": _feature_name(cd.name),
                    "column": cd.column,
                    "kind": cd.kind,
                    "n_reference": cd.n_reference,
                    "n_current": cd.n_current,
                    "metrics": cd.metrics,
                    "p_adjusted": cd.p_adjusted,
                    "flagged": cd.flagged,
                    "reason": cd.reason,
                    "score": best,
                    "metric": metric,
                    "exact": cd.exact,
                }
            )
        )
        if metric is not None:
            results.append(
                DriftResult(
                    column=_feature_name(cd.name),
                    metric=metric,
                    value=value,
                    threshold=thr,
                    flagged=cd.flagged,
                    p_value=cd.p_adjusted if math.isfinite(cd.p_adjusted) else None,
                )
            )
    return entries, results


def _metrics_json(values: dict[str, MetricValue]) -> dict[str, Any]:
    return {k: _clean(v.to_dict()) for k, v in values.items() if "[" not in k}


class _Raw:
    """The raw events of the range, sorted by time, with their labels and feedback counts."""

    def __init__(self, store: Any, model: str, spec: ModelSpec, since: datetime, until: datetime, full: bool):
        files = store.events.files(model, since, until)
        names: set[str] = set()
        for f in files:
            names.update(pq.read_schema(f).names)
        if full:
            select = "*"
        else:
            wanted = ["event_id", "timestamp", "model_version", "prediction", "score"]
            wanted += [PROBA_PREFIX + c for c in spec.class_names or []]
            wanted += [INPUT_PREFIX + s.parse()[0] for s in spec.slices]
            select = ", ".join('"' + c + '"' for c in dict.fromkeys(wanted) if c in names)
        self.table = (
            store.events.query(model, since=since, until=until, select=select, order_by="timestamp, event_id")
            if files and select
            else pa.table({})
        )
        n = self.table.num_rows
        self.ts = (
            self.table.column("timestamp").cast(pa.int64()).to_numpy() if n else np.empty(0, dtype=np.int64)
        )
        ids = self.table.column("event_id").to_pylist() if n else []
        lab = store.monitor.latest_labels(model, ids) if n and store.labels.count(model) else {}
        self.labels = np.array([lab.get(e) for e in ids], dtype=object)
        fb = store.monitor.feedback_counts(model, ids) if n and store.feedback.count(model) else {}
        self.feedback = np.array([fb.get(e, 0) for e in ids], dtype=np.int64)

    def window(self, start: datetime, end: datetime) -> slice:
        lo = np.searchsorted(self.ts, int(start.timestamp() * 1_000_000), "left")
        hi = np.searchsorted(self.ts, int(end.timestamp() * 1_000_000), "left")
        return slice(int(lo), int(hi))


def _slice_mask(spec: ModelSpec, table: pa.Table, label: str) -> np.ndarray:
    from flywheel.monitor.slices import slice_masks

    cols = {}
    for s in spec.slices:
        f = s.parse()[0]
        if INPUT_PREFIX + f in table.column_names:
            cols[f] = table.column(INPUT_PREFIX + f).to_pandas()
    import pandas as pd

    masks = slice_masks(spec, pd.DataFrame(cols, index=range(table.num_rows)))
    if label not in masks:
        raise ValidationError(
            f"The 'slice' parameter {label!r} is not a slice of this model's traffic; slices: {sorted(masks)}.",
            details=[{"field": "slice", "reason": "unknown slice"}],
        )
    return np.asarray(masks[label], dtype=bool)


def monitoring(
    store: Any,
    model: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: str = "day",
    slice: str | None = None,
    exact: bool = False,
    model_version: str | None = None,
    multivariate: bool = False,
    include_slices: bool = False,
    windows: list[tuple[datetime, datetime]] | None = None,
    config: MonitorConfig | None = None,
    reference: Reference | None = None,
) -> dict[str, Any]:
    """The time series described in the module docstring, as a JSON-ready dict."""
    spec = store.models.get(model).spec
    cfg = config or load_config(store, model)
    if bucket not in BUCKETS:
        aligned_windows(datetime.now(UTC), datetime.now(UTC), bucket)  # raises the standard message
    if windows is None:
        if since is None or until is None:
            rng = default_range(store, model, bucket)
            if rng is None:
                return {
                    "model": model,
                    "bucket": bucket,
                    "windows": [],
                    "reference": None,
                    "note": "no events yet",
                }
            since, until = since or rng[0], until or rng[1]
        if since >= until:
            raise ValidationError(
                "'since' must be before 'until'.", details=[{"field": "since", "reason": "empty range"}]
            )
        windows = aligned_windows(since, until, bucket)
    since, until = windows[0][0], windows[-1][1]
    ref = reference or load_reference(store, model, model_version) or implicit_reference(store, model)
    rules, rules_source = quality_rules_for(store, model, ref)
    importance = importance_of(cfg, ref)
    exact = exact or slice is not None
    raw = _Raw(store, model, spec, since, until, full=exact or multivariate)
    if model_version and raw.table.num_rows:
        keep = np.asarray([v == model_version for v in raw.table.column("model_version").to_pylist()])
        raw.table, raw.ts = raw.table.filter(pa.array(keep)), raw.ts[keep]
        raw.labels, raw.feedback = raw.labels[keep], raw.feedback[keep]
    row_mask = _slice_mask(spec, raw.table, slice) if slice and raw.table.num_rows else None

    kinds = profile_kinds(spec)
    ref_profile, ref_sample = (
        (ref.profile if ref else None),
        (ref.sample if ref and (exact or multivariate) else None),
    )
    if slice and ref_sample is not None and ref_sample.num_rows:
        ref_sample = ref_sample.filter(pa.array(_slice_mask(spec, ref_sample, slice)))
        ref_profile = profile_table(spec, ref_sample)
    hourly: dict[datetime, int] = {}
    profiles_by_window: list[DatasetProfile] = []
    if not exact:
        rows = store.monitor.profiles(model, since=since, until=until, model_version=model_version)
        starts = [w0 for w0, _ in windows]
        grouped: list[list[Any]] = [[] for _ in windows]
        for r in rows:  # windows are sorted and disjoint: one bisect per row
            i = bisect.bisect_right(starts, r.hour) - 1
            if i >= 0 and r.hour < windows[i][1]:
                grouped[i].append(r)
        profiles_by_window = [merge_rows(g) for g in grouped]
        for r in rows:
            if r.column == "prediction":
                hourly[r.hour] = hourly.get(r.hour, 0) + r.rows
    drift_opts = cfg.drift.model_dump()

    out_windows = []
    results: list[WindowResults] = []
    mv_cache: dict[str, Any] = {}
    for i, (w0, w1) in enumerate(windows):
        sl = raw.window(w0, w1)
        part = raw.table.slice(sl.start, sl.stop - sl.start) if raw.table.num_rows else raw.table
        labels, feedback = raw.labels[sl], raw.feedback[sl]
        if row_mask is not None:
            m = row_mask[sl]
            part, labels, feedback = part.filter(pa.array(m)), labels[m], feedback[m]
        w: dict[str, Any] = {"start": w0.isoformat(), "end": w1.isoformat()}
        feat_entries: list[dict[str, Any]] = []
        out_entries: list[dict[str, Any]] = []
        feat_res: list[DriftResult] = []
        out_res: list[DriftResult] = []
        quality: dict[str, int] = {}
        if exact:
            n_rows = part.num_rows
            hours_w = np.unique(raw.ts[sl] // 3_600_000_000, return_counts=True)[1].tolist() if n_rows else []
            if ref_sample is not None and n_rows:
                both = {
                    c: k for c, k in kinds.items() if c in part.column_names and c in ref_sample.column_names
                }
                both = {
                    c: k for c, k in both.items() if ref_sample.column(c).null_count < ref_sample.num_rows
                }
                proj = projections_for(spec, ref_sample)
                both = {c: k for c, k in both.items() if k != "embedding" or c in proj}
                for group, target, res in (
                    ({c: k for c, k in both.items() if not is_output(c)}, feat_entries, feat_res),
                    ({c: k for c, k in both.items() if is_output(c)}, out_entries, out_res),
                ):
                    if group:
                        rep = compute_drift(ref_sample, part, group, projections=proj, **drift_opts)
                        e, r = drift_entries(rep)
                        target.extend(e)
                        res.extend(r)
            quality, _ = check_rows(rules, part) if n_rows else ({}, {})
            quality.update(check_profile([r for r in rules if r.kind == "volume"], {}, hourly_rows=hours_w))
        else:
            prof = profiles_by_window[i]
            n_rows = prof["prediction"].count if "prediction" in prof else 0
            hours_w = [n for h, n in hourly.items() if w0 <= h < w1]
            if ref_profile is not None and n_rows:
                both = {c: ref_profile[c].kind for c in kinds if c in prof and c in ref_profile}
                for group, target, res in (
                    ({c: k for c, k in both.items() if not is_output(c)}, feat_entries, feat_res),
                    ({c: k for c, k in both.items() if is_output(c)}, out_entries, out_res),
                ):
                    if group:
                        rep = compute_drift_from_profiles(ref_profile, prof, group, **drift_opts)
                        e, r = drift_entries(rep)
                        target.extend(e)
                        res.extend(r)
            quality = check_profile(rules, prof, hourly_rows=hours_w) if n_rows else {}
        perf: dict[str, MetricValue] = {}
        labelled = int(sum(v is not None for v in labels))
        if labelled:
            perf = measured(spec, part, labels, n_boot=N_BOOT)
        est: dict[str, MetricValue] = {}
        if ref is not None and ref.cbpe is not None and part.num_rows:
            est = _estimate(spec, ref, part)
        w.update(
            {
                "rows": int(n_rows),
                "labelled": labelled,
                "drift": {
                    "features": feat_entries,
                    "outputs": out_entries,
                    "flagged": [e["name"] for e in feat_entries + out_entries if e["flagged"]],
                },
                "quality": {"violations": quality, "total": int(sum(quality.values()))},
                "performance": _metrics_json(perf),
                "estimated_performance": _metrics_json(est),
                "feedback": {
                    "items": int(feedback.sum()),
                    "events": int((feedback > 0).sum()),
                    "rate": float((feedback > 0).sum() / part.num_rows) if part.num_rows else None,
                },
            }
        )
        wr = WindowResults(
            window=w0.isoformat(),
            slice=slice,
            feature_drift=feat_res,
            output_drift=out_res,
            performance=perf,
            estimated_performance=est,
            reference_performance=ref.performance if ref else {},
            quality_violations=quality,
            feature_importance={_feature_name(k): v for k, v in importance.items()},
        )
        decision = evaluate(wr, cfg.policy)
        w["alerts"] = [a.model_dump() for a in decision.alerts]
        w["info"] = [a.model_dump() for a in decision.info]
        w["checked"] = sorted(decision.checked)
        if multivariate and ref_sample is not None and part.num_rows:
            w["multivariate"] = _multivariate(spec, ref_sample, part, mv_cache)
        out_windows.append(w)
        results.append(wr)
    out: dict[str, Any] = {
        "model": model,
        "bucket": bucket,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "slice": slice,
        "exact": exact,
        "model_version": model_version,
        "reference": ref.describe() if ref else None,
        "quality_rules": {"source": rules_source, "rules": [r.model_dump() for r in rules]},
        "importance": importance,
        "windows": out_windows,
        "slices": _slices(spec, raw, ref) if include_slices and slice is None else {},
    }
    out["_results"] = results
    out["_reference"] = ref
    return out


def _estimate(spec: ModelSpec, ref: Reference, part: pa.Table, n_sim: int = N_SIM) -> dict[str, MetricValue]:
    assert ref.cbpe is not None
    scores, ok = scores_of(spec, part)
    if scores is None or "prediction" not in part.column_names:
        return {}
    pred = np.asarray(part.column("prediction").to_pylist(), dtype=object)
    ok = ok & np.array([p in (spec.class_names or []) for p in pred], dtype=bool)
    if not ok.any():
        return {}
    cbpe = copy.copy(ref.cbpe)
    cbpe.n_sim = n_sim  # intervals for a dashboard: fewer simulated label draws
    return cbpe.estimate(scores[ok], pred[ok].astype(str))


def _slices(spec: ModelSpec, raw: _Raw, ref: Reference | None) -> dict[str, Any]:
    """Measured and estimated performance per slice over the whole range."""
    if not spec.slices or raw.table.num_rows == 0:
        return {}
    import pandas as pd

    from flywheel.monitor.slices import slice_masks

    cols = {
        s.parse()[0]: raw.table.column(INPUT_PREFIX + s.parse()[0]).to_pandas()
        for s in spec.slices
        if INPUT_PREFIX + s.parse()[0] in raw.table.column_names
    }
    try:
        masks = slice_masks(spec, pd.DataFrame(cols, index=range(raw.table.num_rows)), max_groups=20)
    except ValidationError:
        return {}
    out = {}
    for label, m in masks.items():
        part, labels = raw.table.filter(pa.array(m)), raw.labels[m]
        labelled = int(sum(v is not None for v in labels))
        out[label] = {
            "rows": int(m.sum()),
            "labelled": labelled,
            "performance": _metrics_json(measured(spec, part, labels, n_boot=50)) if labelled else {},
            "estimated_performance": _metrics_json(_estimate(spec, ref, part, n_sim=50))
            if ref is not None and ref.cbpe is not None and part.num_rows
            else {},
        }
    return out


def _multivariate(
    spec: ModelSpec, ref_sample: pa.Table, part: pa.Table, cache: dict[str, Any]
) -> dict[str, Any]:
    """Multivariate drift of one window against the reference sample: a domain classifier (AUC,
    with the columns that separate the windows most) and PCA reconstruction error."""
    from dataclasses import asdict

    from flywheel.monitor.drift import PCAReconstructionDrift, domain_classifier_drift

    kinds_all = profile_kinds(spec)
    cols = [
        INPUT_PREFIX + f.name
        for f in spec.features
        if f.kind.value in ("numeric", "categorical")
        and INPUT_PREFIX + f.name in part.column_names
        and INPUT_PREFIX + f.name in ref_sample.column_names
    ]
    if not cols:
        return {"available": False, "reason": "no numeric or categorical inputs"}
    kinds = {c: kinds_all[c] for c in cols}
    out: dict[str, Any] = {"available": True}
    try:
        dc = domain_classifier_drift(ref_sample.select(cols), part.select(cols), kinds)
        d = asdict(dc)
        d["top_features"] = [[_feature_name(c), v] for c, v in dc.top_features]
        out["domain_classifier"] = _clean(d)
    except ValidationError as exc:
        out["domain_classifier"] = {"available": False, "reason": exc.message}
    try:
        if "pca" not in cache:  # fitted once per request, on the reference
            cache["pca"] = PCAReconstructionDrift().fit(ref_sample.select(cols), kinds)
        out["pca_reconstruction"] = _clean(asdict(cache["pca"].compare(part.select(cols))))
    except ValidationError as exc:
        out["pca_reconstruction"] = {"available": False, "reason": exc.message}
    return out


def public(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer without the in-memory policy inputs."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def sample_table(ref: Reference) -> pa.Table | None:
    s = ref.sample
    return s.drop_columns([LABEL_COLUMN]) if s is not None and LABEL_COLUMN in s.column_names else s
