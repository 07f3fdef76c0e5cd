"""``/v1/models/{m}/...`` for monitoring: time series, drill-down, reference, monitors, rules, alerts.

The monitoring modules (SciPy, scikit-learn underneath) are imported on first use, so the
server starts fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from flywheel.errors import ValidationError
from flywheel.ingest.bulk import ARROW_TYPES, PARQUET_TYPES, read_table
from flywheel.ingest.read import parse_time_param
from flywheel.server.api import ORJSONResponse, read_body
from flywheel.server.auth import require

router = APIRouter(prefix="/v1", tags=["monitoring"])
READ = [Depends(require("read"))]
ADMIN = [Depends(require("admin"))]


def _store(request: Request) -> Any:
    return request.app.state.store


def _time(value: str | None, field: str) -> datetime | None:
    return parse_time_param(value, field)


def _required_time(value: str | None, field: str) -> datetime:
    t = _time(value, field)
    if t is None:
        raise ValidationError(
            f"The '{field}' parameter is required (an ISO 8601 time).",
            details=[{"field": field, "reason": "is required"}],
        )
    return t


def _range(
    store: Any, model: str, since: str | None, until: str | None, bucket: str
) -> tuple[datetime, datetime]:
    from flywheel.monitor.service import BUCKETS, default_range

    lo, hi = _time(since, "since"), _time(until, "until")
    if lo is None or hi is None:
        rng = default_range(store, model, bucket if bucket in BUCKETS else "day")
        now = datetime.now(UTC)
        rng = rng or (now - timedelta(days=1), now)
        lo, hi = lo or rng[0], hi or rng[1]
    return lo, hi


@router.get("/models/{name}/monitoring", dependencies=READ)
def get_monitoring(
    request: Request,
    name: str,
    since: str | None = None,
    until: str | None = None,
    bucket: str = "day",
    slice: str | None = None,
    exact: bool = False,
    model_version: str | None = None,
    multivariate: bool = False,
    slices: bool = False,
) -> Response:
    """Per window: drift (features and outputs), data quality, measured and estimated performance,
    feedback, and what the alert policy says. ``exact=true`` computes drift from raw events
    instead of profiles; ``slice`` restricts to one slice (and implies exact); ``slices=true``
    adds performance per slice over the range; ``multivariate=true`` adds a domain classifier."""
    from flywheel.monitor.service import monitoring, public

    store = _store(request)
    store.models.get(name)
    res = monitoring(
        store,
        name,
        since=_time(since, "since"),
        until=_time(until, "until"),
        bucket=bucket,
        slice=slice or None,
        exact=exact,
        model_version=model_version or None,
        multivariate=multivariate,
        include_slices=slices,
    )
    return ORJSONResponse(public(res))


@router.get("/models/{name}/monitoring/events", dependencies=READ)
def get_events_behind(
    request: Request,
    name: str,
    kind: str = "events",
    window_start: str | None = None,
    window_end: str | None = None,
    column: str | None = None,
    rule: str | None = None,
    model_version: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
) -> Response:
    """The events behind a number of one window: ``kind`` is drift (with ``column``), quality
    (with ``rule``), performance, estimated, feedback or events."""
    from flywheel.monitor.drilldown import events_behind

    return ORJSONResponse(
        events_behind(
            _store(request),
            name,
            kind=kind,
            window_start=_required_time(window_start, "window_start"),
            window_end=_required_time(window_end, "window_end"),
            column=column,
            rule=rule,
            limit=limit,
            model_version=model_version or None,
        )
    )


@router.get("/models/{name}/monitoring/distribution", dependencies=READ)
def get_distribution(
    request: Request,
    name: str,
    column: str,
    since: str | None = None,
    until: str | None = None,
    model_version: str | None = None,
    bins: int = Query(30, ge=2, le=200),
) -> Response:
    """One column, reference against the range: shares per bin (numeric, text length) or category."""
    from flywheel.monitor.distribution import distribution
    from flywheel.monitor.reference import implicit_reference, load_reference

    store = _store(request)
    lo, hi = _range(store, name, since, until, "day")
    ref = load_reference(store, name, model_version) or implicit_reference(store, name)
    return ORJSONResponse(
        distribution(
            store, name, column, since=lo, until=hi, reference=ref, model_version=model_version, bins=bins
        )
    )


@router.get("/models/{name}/cascade", dependencies=READ)
def get_cascade(
    request: Request, name: str, since: str | None = None, until: str | None = None, bucket: str = "hour"
) -> Response:
    """Models linked to this one by trace ids, upstream first, and which shifted first."""
    from flywheel.monitor.cascade import cascade

    store = _store(request)
    lo, hi = _range(store, name, since, until, bucket)
    return ORJSONResponse(cascade(store, name, since=lo, until=hi, bucket=bucket))


@router.get("/models/{name}/skew", dependencies=READ)
def get_skew(request: Request, name: str, hours: int = Query(24, ge=1, le=24 * 30)) -> Response:
    """Training–serving skew: each version's first ``hours`` of traffic against its own reference."""
    from flywheel.monitor.skew import skew

    return ORJSONResponse(skew(_store(request), name, hours=hours))


# -- reference ---------------------------------------------------------------------------------
@router.get("/models/{name}/reference", dependencies=READ)
def get_reference(request: Request, name: str, model_version: str | None = None) -> Response:
    """The stored reference (of a version, else the model's default), or the implicit one."""
    from flywheel.monitor.reference import implicit_reference, load_reference

    store = _store(request)
    store.models.get(name)
    ref = load_reference(store, name, model_version)
    stored = ref is not None
    ref = ref or implicit_reference(store, name)
    return ORJSONResponse(
        {
            "stored": stored,
            "reference": ref.describe() if ref else None,
            "references": [
                {
                    "model_version": r.model_version or None,
                    "rows": r.rows,
                    "source": r.source,
                    "created_at": r.created_at,
                }
                for r in store.monitor.list_references(name)
            ],
        }
    )


@router.post(
    "/models/{name}/reference",
    status_code=201,
    dependencies=ADMIN,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "since": {"type": "string", "format": "date-time"},
                            "until": {"type": "string", "format": "date-time"},
                            "model_version": {"type": "string", "description": "only events of this version"},
                            "for_version": {
                                "type": "string",
                                "description": "store as this version's reference",
                            },
                        },
                        "required": ["since", "until"],
                    }
                },
                **{
                    ct: {"schema": {"type": "string", "format": "binary"}}
                    for ct in ARROW_TYPES + PARQUET_TYPES
                },
            },
            "required": True,
        }
    },
)
async def post_reference(request: Request, name: str, for_version: str | None = None) -> Response:
    """Set the reference: a window of logged events (JSON ``{since, until}``), or uploaded rows
    (Arrow IPC or Parquet: feature columns, optional target, prediction, score, proba.<class>)."""
    from fastapi.concurrency import run_in_threadpool

    from flywheel.monitor.reference import reference_from_table, reference_from_window

    store = _store(request)
    ct = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ct in ARROW_TYPES + PARQUET_TYPES:
        body = await read_body(request, request.app.state.settings.max_bulk_bytes)
        table = read_table(body, ct)
        ref = await run_in_threadpool(
            reference_from_table,
            store,
            name,
            table,
            model_version=for_version or "",
            source={"kind": "upload", "rows": table.num_rows},
        )
    else:
        body = await read_body(request, request.app.state.settings.max_body_bytes)
        try:
            doc = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError as exc:
            raise ValidationError(
                'the request body is not valid JSON; send {"since": ..., "until": ...}'
            ) from exc
        if not isinstance(doc, dict):
            raise ValidationError('the request body must be a JSON object {"since": ..., "until": ...}')
        ref = await run_in_threadpool(
            reference_from_window,
            store,
            name,
            _required_time(doc.get("since"), "since"),
            _required_time(doc.get("until"), "until"),
            model_version=doc.get("model_version") or None,
            save_as=doc.get("for_version") or for_version or "",
        )
    return ORJSONResponse({"stored": True, "reference": ref.describe()}, status_code=201)


# -- monitors and quality rules ------------------------------------------------------------------
@router.get("/models/{name}/monitors", dependencies=READ)
def get_monitors(request: Request, name: str) -> Response:
    """The monitor configuration (thresholds, alerting monitors, webhooks), defaults filled in."""
    from flywheel.monitor.config import config_json, load_config

    store = _store(request)
    store.models.get(name)
    rec = store.monitor.get_config(name)
    cfg = load_config(store, name)
    return ORJSONResponse({"model": name, "stored": rec is not None, "config": config_json(cfg)})


@router.put("/models/{name}/monitors", dependencies=ADMIN)
async def put_monitors(request: Request, name: str) -> Response:
    """Replace the monitor configuration; fields left out take their defaults."""
    from flywheel.monitor.config import config_json, parse_config

    store = _store(request)
    store.models.get(name)
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(
            "the request body is not valid JSON; send a monitor configuration object"
        ) from exc
    doc = doc.get("config", doc) if isinstance(doc, dict) else doc
    cfg = parse_config(doc)
    store.monitor.put_config(name, config_json(cfg))
    return ORJSONResponse({"model": name, "stored": True, "config": config_json(cfg)})


@router.post("/models/{name}/monitors/learn-thresholds", dependencies=ADMIN)
def post_learn_thresholds(
    request: Request,
    name: str,
    since: str | None = None,
    until: str | None = None,
    bucket: str = "day",
    false_alarm_rate: float = Query(0.01, gt=0, lt=0.5),
    save: bool = True,
) -> Response:
    """Learn per-column drift thresholds from a calm period (windows of ``bucket``), for a stated
    false-alarm rate, and store them in the monitor configuration."""
    from flywheel.monitor.thresholds import learn_drift_thresholds

    store = _store(request)
    return ORJSONResponse(
        learn_drift_thresholds(
            store,
            name,
            since=_required_time(since, "since"),
            until=_required_time(until, "until"),
            bucket=bucket,
            false_alarm_rate=false_alarm_rate,
            save=save,
        )
    )


@router.get("/models/{name}/quality-rules", dependencies=READ)
def get_quality_rules(request: Request, name: str, model_version: str | None = None) -> Response:
    """The data-quality rules in force (``source``: edited or inferred) and the inferred ones."""
    from flywheel.monitor.config import quality_rules_for
    from flywheel.monitor.reference import implicit_reference, load_reference

    store = _store(request)
    store.models.get(name)
    ref = load_reference(store, name, model_version) or implicit_reference(store, name)
    rules, source = quality_rules_for(store, name, ref)
    return ORJSONResponse(
        {
            "model": name,
            "source": source,
            "rules": [{**r.model_dump(), "description": r.describe()} for r in rules],
            "inferred": [r.model_dump() for r in (ref.rules if ref else [])],
        }
    )


@router.put("/models/{name}/quality-rules", dependencies=ADMIN)
async def put_quality_rules(request: Request, name: str) -> Response:
    """Replace the rules: ``{"rules": [...]}``; ``{"rules": null}`` goes back to the inferred ones."""
    from flywheel.monitor.quality_rules import parse_rules

    store = _store(request)
    store.models.get(name)
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError('the request body is not valid JSON; send {"rules": [...]}') from exc
    if not isinstance(doc, dict) or "rules" not in doc:
        raise ValidationError(
            'the request body must be {"rules": [...]} (or {"rules": null} to use the inferred rules)',
            details=[{"field": "rules", "reason": "is required"}],
        )
    rules = None if doc["rules"] is None else parse_rules(doc["rules"])
    store.monitor.put_quality_rules(name, None if rules is None else [r.model_dump() for r in rules])
    return get_quality_rules(request, name)


# -- alerts ------------------------------------------------------------------------------------
@router.get("/models/{name}/alerts", dependencies=READ)
def list_alerts(
    request: Request, name: str, status: str = "all", limit: int = Query(200, ge=1, le=10_000)
) -> Response:
    """Alerts, newest first; ``status`` is open, closed or all."""
    if status not in ("open", "closed", "all"):
        raise ValidationError(
            f"The 'status' parameter must be open, closed or all; got {status!r}.",
            details=[{"field": "status", "reason": "unknown status"}],
        )
    store = _store(request)
    store.models.get(name)
    found = store.monitor.alerts(name, status=None if status == "all" else status, limit=limit)
    return ORJSONResponse({"model": name, "alerts": [a.to_dict() for a in found]})


@router.get("/models/{name}/alerts/{alert_id}", dependencies=READ)
def get_alert(request: Request, name: str, alert_id: str) -> Response:
    """One alert with its webhook delivery log."""
    store = _store(request)
    a = store.monitor.get_alert(alert_id)
    if a.model != name:
        from flywheel.errors import NotFound

        raise NotFound(f"model {name!r} has no alert {alert_id!r}")
    return ORJSONResponse(
        {
            **a.to_dict(),
            "deliveries": [d.to_dict() for d in store.monitor.deliveries(name, alert_id=alert_id)],
        }
    )


@router.post("/models/{name}/monitors/check", dependencies=ADMIN)
def post_check(
    request: Request, name: str, until: str | None = None, bucket: str | None = None, job: bool = False
) -> Response:
    """Run the monitors over the latest window now (or, with ``job=true``, as a background job)."""
    from flywheel.monitor.alerts import check

    store = _store(request)
    store.models.get(name)
    if job:
        params: dict[str, Any] = {"model": name, "until": until, "bucket": bucket}
        return ORJSONResponse(
            store.jobs.submit("monitor-check", params, model=name).to_dict(), status_code=202
        )
    res = check(store, name, until=_time(until, "until"), bucket=bucket)
    return ORJSONResponse(res.to_dict())


@router.post("/models/{name}/profiles/rebuild", status_code=202, dependencies=ADMIN)
def post_rebuild(request: Request, name: str, since: str | None = None, until: str | None = None) -> Response:
    """Recompute the hourly profiles from the event log, as a background job."""
    store = _store(request)
    store.models.get(name)
    job = store.jobs.submit("monitor-rebuild", {"model": name, "since": since, "until": until}, model=name)
    return ORJSONResponse(job.to_dict(), status_code=202)
