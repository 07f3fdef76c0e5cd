"""Curation runs over the store: from the event log to labelling-queue items, under a budget.

A run (:func:`run_curation`) reads one window of a model's events and builds the
:class:`~flywheel.curate.batch.CandidateBatch` the selectors score:

- **candidates**: served events of the window (``served`` true) with no label yet and never
  queued before; when there are more than ``max_candidates``, every flagged event is kept and a
  seeded random sample of the rest fills up;
- **features** ``X``: the inputs (``in.<feature>``) through :class:`~flywheel.curate.featurize.Featurizer`,
  fitted on the window;
- **probabilities**: the champion's logged ``proba.<class>`` columns (events logged without
  them count as certain of their prediction);
- **challengers**: shadow events (``served=false``) of the same model. Convention: a shadow
  prediction carries ``parent_event_id`` = the served event's id (or, without it, the same
  ``trace_id``); shadows are grouped by ``model_version`` into one challenger each, and a
  candidate a challenger did not score gets the champion's own probabilities from it (no
  disagreement);
- **flags**: feedback ``thumbs_down`` or ``flag`` on the event;
- **slices**: the spec's slice definitions (``flywheel.monitor.slices``): a group-by slice
  gives its value, a comparison slice ``"true"``/``"false"``; the monitor's open alerts on
  a slice mark it drifting (their value is the drift score);
- **reference** (for novelty): the sample of the model's saved monitoring reference (its
  training data when the registry set it), else the window's labelled events.

The :class:`~flywheel.curate.policy.CurationPolicy` then picks under the per-run budget and
what is left of the daily budget (events queued since midnight UTC), and the store queues the
picks with why each was chosen, a snapshot of the event for the labelling view, and the
feature ranges the view marks values against. An event is never queued twice: the queue's
key is ``(model, event_id)``.

Runs are made on demand (``POST /v1/models/{m}/curation/runs``, ``flywheel curate run``), as
the job kind ``curate``, or by a per-model schedule that workers tick (:func:`tick_schedules`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from flywheel.curate.batch import CandidateBatch
from flywheel.curate.featurize import Featurizer
from flywheel.curate.policy import CurationPolicy, PolicyConfig
from flywheel.errors import ValidationError
from flywheel.ingest.records import table_to_events
from flywheel.schema import FeatureKind, ModelSpec
from flywheel.store import Store
from flywheel.store.eventlog import INPUT_PREFIX, PROBA_PREFIX
from flywheel.store.label import CurationRun
from flywheel.store.label_reviews import Schedule

Progress = Callable[[float, str], None]
FLAG_KINDS = ("thumbs_down", "flag")
MIN_REFERENCE_ROWS = 20


class CurationRequest(BaseModel):
    """What one curation run does: the policy, the window, and annotators per item."""

    model_config = ConfigDict(extra="forbid")

    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Selector mix, budgets, quotas.")
    k: int = Field(default=1, ge=1, le=20, description="Annotators wanted per queued event (overlap).")
    since: datetime | None = Field(default=None, description="Window start; default: until - window_hours.")
    until: datetime | None = Field(
        default=None, description="Window end; default: just after the newest event."
    )
    window_hours: float = Field(default=24 * 7, gt=0, le=24 * 3660, description="Window length by default.")
    max_candidates: int = Field(
        default=20_000, ge=1, le=1_000_000, description="Most candidates scored (flagged ones always)."
    )


@dataclass
class Candidates:
    """A window's candidates, featurised, and what the run needs to record about them."""

    batch: CandidateBatch
    table: pa.Table
    since: datetime
    until: datetime
    excluded: int
    ranges: dict[str, list[float]] = field(default_factory=dict)
    range_source: str = "window"
    notes: list[str] = field(default_factory=list)


def _window(store: Store, model: str, req: CurationRequest) -> tuple[datetime, datetime]:
    until = req.until
    if until is None:
        newest = store.events.query(model, select="max(timestamp) AS t")
        t = newest.column("t")[0].as_py() if newest.num_rows and "t" in newest.column_names else None
        until = (t + timedelta(microseconds=1)) if t is not None else datetime.now(UTC)
    since = req.since or until - timedelta(hours=req.window_hours)
    if since >= until:
        raise ValidationError(
            f"The curation window is empty: since ({since.isoformat()}) is not before until ({until.isoformat()}).",
            details=[{"field": "since", "reason": "not before until"}],
        )
    return since, until


def _served(table: pa.Table) -> np.ndarray:
    if "served" not in table.column_names:
        return np.ones(table.num_rows, dtype=bool)
    col = table.column("served").to_pylist()
    return np.array([v is None or bool(v) for v in col], dtype=bool)


def logged_probabilities(spec: ModelSpec, table: pa.Table) -> np.ndarray | None:
    """The champion's logged class probabilities of ``table``'s events, rows summing to 1."""
    classes = spec.class_names or []
    cols = [PROBA_PREFIX + c for c in classes]
    if not classes or not all(c in table.column_names for c in cols):
        return None
    p = np.column_stack(
        [np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=float) for c in cols]
    )
    missing = ~np.isfinite(p).all(axis=1)
    if missing.all():
        return None
    if missing.any():
        # Logged without probabilities: certain of the prediction (uniform if none is known).
        index = {c: j for j, c in enumerate(classes)}
        preds = table.column("prediction").to_pylist()
        for i in np.flatnonzero(missing):
            j = index.get(str(preds[i]))
            p[i] = np.eye(len(classes))[j] if j is not None else 1.0 / len(classes)
    p = np.clip(p, 0.0, None)
    sums = p.sum(axis=1, keepdims=True)
    return p / np.where(sums > 0, sums, 1.0)


def _challengers(
    spec: ModelSpec, served: pa.Table, shadows: pa.Table, champion: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per shadow ``model_version``: its probabilities aligned with ``served`` rows."""
    if champion is None or shadows.num_rows == 0:
        return {}
    probs = logged_probabilities(spec, shadows)
    if probs is None:
        return {}
    row_of = {e: i for i, e in enumerate(served.column("event_id").to_pylist())}
    trace_of: dict[str, int] = {}
    if "trace_id" in served.column_names:
        for row, tr in enumerate(served.column("trace_id").to_pylist()):
            if tr:
                trace_of.setdefault(tr, row)
    parents = (
        shadows.column("parent_event_id").to_pylist() if "parent_event_id" in shadows.column_names else []
    )
    traces = shadows.column("trace_id").to_pylist() if "trace_id" in shadows.column_names else []
    versions = (
        shadows.column("model_version").to_pylist()
        if "model_version" in shadows.column_names
        else [None] * shadows.num_rows
    )
    out: dict[str, np.ndarray] = {}
    for j in range(shadows.num_rows):
        i: int | None = row_of.get(parents[j]) if parents and parents[j] else None
        if i is None and traces and traces[j]:
            i = trace_of.get(traces[j])
        if i is None:
            continue
        name = f"shadow:{versions[j]}" if versions[j] else "shadow"
        if name not in out:
            out[name] = champion.copy()
        out[name][i] = probs[j]
    return out


def _slices(spec: ModelSpec, table: pa.Table) -> dict[str, np.ndarray]:
    if not spec.slices or table.num_rows == 0:
        return {}
    from flywheel.monitor.slices import slice_masks

    frame = table.select([c for c in table.column_names if c.startswith(INPUT_PREFIX)]).to_pandas()
    frame.columns = [c[len(INPUT_PREFIX) :] for c in frame.columns]
    masks = slice_masks(spec, frame)
    out: dict[str, np.ndarray] = {}
    for s in spec.slices:
        _, op, _ = s.parse()
        if op is None:
            values = np.full(table.num_rows, None, dtype=object)
            for label, mask in masks.items():
                if label.startswith(s.name + "="):
                    values[mask] = label[len(s.name) + 1 :]
            out[s.name] = values
        elif s.name in masks:
            out[s.name] = np.where(masks[s.name], "true", "false").astype(object)
    return out


def _slice_drift(store: Store, model: str, spec: ModelSpec) -> dict[str, float]:
    comparisons = {s.name for s in spec.slices if s.parse()[1] is not None}
    out: dict[str, float] = {}
    for alert in store.monitor.open_alerts(model):
        if not alert.slice:
            continue
        key = f"{alert.slice}=true" if alert.slice in comparisons else alert.slice
        out[key] = max(out.get(key, float("-inf")), float(alert.value))
    return out


def _flags(store: Store, model: str, since: datetime, ids: set[str]) -> dict[str, str]:
    flags: dict[str, str] = {}
    for fb in store.feedback.list(model, since=since):
        if fb.kind in FLAG_KINDS and fb.event_id in ids:
            flags[fb.event_id] = fb.kind
    return flags


def _ranges(spec: ModelSpec, table: pa.Table | None) -> dict[str, list[float]]:
    """1st-99th percentile of each numeric input in ``table``."""
    out: dict[str, list[float]] = {}
    if table is None or table.num_rows == 0:
        return out
    for f in spec.features:
        col = INPUT_PREFIX + f.name
        if f.kind is not FeatureKind.numeric or col not in table.column_names:
            continue
        x = np.asarray(table.column(col).to_numpy(zero_copy_only=False), dtype=float)
        x = x[np.isfinite(x)]
        if len(x):
            lo, hi = np.quantile(x, [0.01, 0.99])
            out[f.name] = [float(lo), float(hi)]
    return out


def _reference_sample(store: Store, model: str) -> pa.Table | None:
    from flywheel.monitor.reference import load_reference

    ref = load_reference(store, model)
    return None if ref is None else ref.sample


def candidates(
    store: Store, model: str, req: CurationRequest, progress: Progress | None = None
) -> Candidates:
    """The window's candidate events as a featurised :class:`CandidateBatch` (see the module doc)."""
    report = progress or (lambda f, m: None)
    spec = store.models.get(model).spec
    since, until = _window(store, model, req)
    report(0.05, "reading the window")
    table = store.events.query(model, since=since, until=until, order_by="timestamp, event_id")
    if table.num_rows == 0:
        empty = CandidateBatch(np.array([], dtype=object))
        return Candidates(empty, table, since, until, 0, notes=["no events in the window"])
    served_mask = _served(table)
    served = table.filter(pa.array(served_mask))
    shadows = table.filter(pa.array(~served_mask))
    ids = served.column("event_id").to_pylist()
    labelled = store.labelling.labelled_ids(model, ids)
    queued = store.labelling.queued_ids(model)
    keep = np.array([e not in labelled and e not in queued for e in ids], dtype=bool)
    excluded = int((~keep).sum())
    labelled_rows = served.filter(pa.array(np.array([e in labelled for e in ids], dtype=bool)))
    cand = served.filter(pa.array(keep))
    cand_ids = cand.column("event_id").to_pylist()
    flags = _flags(store, model, since, set(cand_ids))
    notes: list[str] = []
    if cand.num_rows > req.max_candidates:
        rng = np.random.default_rng(req.policy.seed)
        flagged = np.array([e in flags for e in cand_ids], dtype=bool)
        rest = np.flatnonzero(~flagged)
        room = max(0, req.max_candidates - int(flagged.sum()))
        chosen = np.sort(
            np.concatenate([np.flatnonzero(flagged), rng.choice(rest, min(room, len(rest)), replace=False)])
        )
        notes.append(f"{cand.num_rows} candidates; scored the {len(chosen)} flagged or sampled ones")
        cand = cand.take(pa.array(chosen))
        cand_ids = cand.column("event_id").to_pylist()
    report(0.2, f"featurising {cand.num_rows} candidates")
    featurizer = Featurizer(spec, random_state=req.policy.seed).fit(cand if cand.num_rows else served)
    X = featurizer.transform(cand) if featurizer.n_features else None
    reference = _reference_sample(store, model)
    range_source = "reference" if reference is not None and reference.num_rows else "window"
    if reference is None or reference.num_rows < MIN_REFERENCE_ROWS:
        reference = labelled_rows if labelled_rows.num_rows >= MIN_REFERENCE_ROWS else None
    reference_X = featurizer.transform(reference) if reference is not None and X is not None else None
    report(0.35, "collecting probabilities, challengers, flags and slices")
    probs = logged_probabilities(spec, cand)
    ts = np.asarray(pc.cast(cand.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False)) / 1e6
    batch = CandidateBatch(
        np.asarray(cand_ids, dtype=object),
        X=X,
        probabilities=probs,
        timestamps=ts,
        flagged=np.array([e in flags for e in cand_ids], dtype=bool),
        feedback=np.array([flags.get(e) for e in cand_ids], dtype=object),
        challenger_probabilities=_challengers(spec, cand, shadows, probs),
        reference_X=reference_X,
        slices=_slices(spec, cand),
        slice_drift=_slice_drift(store, model, spec),
        class_names=spec.class_names,
    )
    ranges = _ranges(spec, _reference_sample(store, model) if range_source == "reference" else served)
    return Candidates(batch, cand, since, until, excluded, ranges, range_source, notes)


def start_of_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def run_curation(
    store: Store,
    model: str,
    req: CurationRequest | None = None,
    *,
    trigger: str = "manual",
    job_id: str | None = None,
    progress: Progress | None = None,
) -> CurationRun:
    """Run the queue policy over a window of ``model``'s events and queue its picks."""
    req = req or CurationRequest()
    report = progress or (lambda f, m: None)
    found = candidates(store, model, req, report)
    spent = store.labelling.queued_since(model, start_of_day(datetime.now(UTC)))
    report(0.5, f"scoring {len(found.batch)} candidates")
    result = CurationPolicy(req.policy).run(found.batch, spent_today=spent)
    report(0.85, f"queueing {len(result.items)} events")
    rows = [i.index for i in result.items]
    events = table_to_events(found.table.take(pa.array(rows, type=pa.int64()))) if rows else []
    items = [
        {
            "event_id": i.event_id,
            "rank": i.rank,
            "selector": i.selector,
            "score": i.to_dict()["score"],
            "signal": i.signal,
            "for_evaluation": i.for_evaluation,
            "event": ev,
        }
        for i, ev in zip(result.items, events, strict=True)
    ]
    run = {
        "model": model,
        "config": req.model_dump(mode="json"),
        "budget": result.budget,
        "candidates": result.n_candidates,
        "excluded": found.excluded,
        "k": req.k,
        "trigger": trigger,
        "notes": found.notes + list(result.notes),
        "context": {
            "since": found.since.isoformat(),
            "until": found.until.isoformat(),
            "ranges": found.ranges,
            "range_source": found.range_source,
            "spent_today_before": spent,
            "counts": result.counts(),
        },
        "job_id": job_id,
    }
    return store.labelling.record_run(run, items)


def parse_request(doc: Any) -> CurationRequest:
    """A :class:`CurationRequest` from JSON data, with field-level errors."""
    from pydantic import ValidationError as PydanticError

    try:
        return CurationRequest.model_validate(doc or {})
    except PydanticError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        raise ValidationError(
            "The curation request is not valid: "
            + "; ".join(f"{d['field']}: {d['reason']}" for d in details),
            details=details,
        ) from exc


def curate_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Job kind ``curate``: params ``{"model", "request"?, "trigger"?}``; returns the run."""
    model = params.get("model")
    if not isinstance(model, str):
        raise ValidationError("The 'model' parameter of a curate job is required.")
    req = parse_request(params.get("request"))
    run = run_curation(
        ctx.store,
        model,
        req,
        trigger=str(params.get("trigger", "manual")),
        job_id=ctx.job.job_id,
        progress=ctx.progress,
    )
    ctx.log(f"run {run.run_id}: queued {run.picked} of {run.candidates} candidates")
    return {"run_id": run.run_id, "picked": run.picked, "candidates": run.candidates, "budget": run.budget}


# -- schedules -----------------------------------------------------------------------------------
def due_schedules(store: Store, now: datetime | None = None) -> list[Schedule]:
    """Curation schedules whose next run is due."""
    return store.labelling.due_schedules(now or datetime.now(UTC))


def tick_schedules(store: Store, now: datetime | None = None) -> list[str]:
    """Submit a ``curate`` job for every due schedule (once, however many workers tick)."""
    now = now or datetime.now(UTC)
    started = []
    for sched in due_schedules(store, now):
        if not store.labelling.claim_schedule(sched, now):
            continue
        job = store.jobs.submit(
            "curate",
            {"model": sched.model, "request": sched.config, "trigger": "schedule"},
            model=sched.model,
        )
        store.labelling.schedule_started(sched.model, job.job_id)
        started.append(job.job_id)
    return started


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(value: Any) -> int:
    """Seconds from ``3600``, ``"90s"``, ``"30m"``, ``"6h"`` or ``"1d"``; at least one minute."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        unit = _UNITS.get(text[-1])
        try:
            seconds = float(text[:-1]) * unit if unit else float(text)
        except ValueError:
            seconds = None
    if seconds is None or not 60 <= seconds <= 366 * 86400:
        raise ValidationError(
            f"The schedule interval must be between 1 minute and 366 days, such as 3600, '30m', '6h' or '1d'; got {value!r}.",
            details=[{"field": "every", "reason": "not an interval"}],
        )
    return int(seconds)
