"""``check``: run a model's monitors over its latest window and open or close alerts.

The window is the trailing ``check_bucket`` (a day by default) ending at ``until`` (now by
default). Its results go through the alert policy (:func:`flywheel.monitor.policy.evaluate`,
per slice too for performance), then :func:`flywheel.monitor.policy.reconcile` against the
alerts already open: a monitor with an open alert gets no second one; an open alert closes
once its monitor was checked and raised nothing; a monitor not checked this time (no labels
yet, too few rows) leaves its alert open. New alerts carry sample event ids (the events
behind the number) and go to the model's webhooks; closing ones too, unless a webhook opts
out. It runs from ``flywheel monitor check`` and as the job kind ``monitor-check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flywheel.errors import ValidationError
from flywheel.monitor import webhooks
from flywheel.monitor.config import load_config
from flywheel.monitor.drilldown import events_behind
from flywheel.monitor.performance import MetricValue
from flywheel.monitor.policy import Alert, Decision, WindowResults, evaluate, reconcile
from flywheel.monitor.service import BUCKETS, monitoring

SAMPLE_IDS = 10


@dataclass
class CheckResult:
    model: str
    window_start: datetime
    window_end: datetime
    rows: int
    opened: list[Any] = field(default_factory=list)
    closed: list[Any] = field(default_factory=list)
    open: list[Any] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    info: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "rows": self.rows,
            "opened": [a.to_dict() for a in self.opened],
            "closed": [a.to_dict() for a in self.closed],
            "open": [a.to_dict() for a in self.open],
            "findings": self.findings,
            "info": self.info,
            "deliveries": self.deliveries,
        }


def _metric_values(d: dict[str, Any]) -> dict[str, MetricValue]:
    return {k: MetricValue(**v) for k, v in d.items()}


def _sample_ids(
    store: Any, model: str, monitor: str, start: datetime, end: datetime, reference: Any, table: Any
) -> list[str]:
    """Event ids behind an alert's monitor key (``kind:name[@slice]``)."""
    key = monitor.split("@", 1)[0]
    kind, _, name = key.partition(":")
    args: dict[str, Any] = {}
    if kind == "performance":
        args = {"kind": "performance"}
    elif kind == "estimated":
        args = {"kind": "estimated"}
    elif kind in ("feature_drift", "output_drift"):
        args = {"kind": "drift", "column": name}
    elif kind == "quality":
        args = {"kind": "quality", "rule": name}
    else:
        return []
    try:
        found = events_behind(
            store,
            model,
            window_start=start,
            window_end=end,
            limit=SAMPLE_IDS,
            reference=reference,
            table=table,
            **args,
        )
    except ValidationError:
        return []
    return list(found["event_ids"])


def check(
    store: Any,
    model: str,
    *,
    until: datetime | None = None,
    bucket: str | None = None,
    deliver: bool = True,
    sleep: Any = None,
) -> CheckResult:
    """Judge the trailing window ending at ``until`` and update the model's alerts."""
    cfg = load_config(store, model)
    bucket = bucket or cfg.check_bucket
    if bucket not in BUCKETS:
        raise ValidationError(
            f"The 'bucket' parameter must be one of {list(BUCKETS)}; got {bucket!r}.",
            details=[{"field": "bucket", "reason": "unknown bucket"}],
        )
    until = (until or datetime.now(UTC)).astimezone(UTC)
    since = until - BUCKETS[bucket]
    res = monitoring(store, model, windows=[(since, until)], config=cfg, include_slices=cfg.check_slices)
    window = res["windows"][0] if res["windows"] else {"rows": 0}
    decision = Decision()
    if res.get("_results"):
        decision = evaluate(res["_results"][0], cfg.policy)
    ref_perf = (res.get("reference") or {}).get("performance") or {}
    overall_firing = {a.monitor for a in decision.alerts}
    for label, s in (res.get("slices") or {}).items():
        d = evaluate(
            WindowResults(
                window=since.isoformat(),
                slice=label,
                performance=_metric_values(s["performance"]),
                estimated_performance=_metric_values(s["estimated_performance"]),
                reference_performance=ref_perf,
            ),
            cfg.policy,
        )
        # A slice alert says something only when the whole traffic does not already alert
        # on the same metric; otherwise it repeats that alert once per slice.
        decision.alerts.extend(a for a in d.alerts if a.monitor.split("@", 1)[0] not in overall_firing)
        decision.info.extend(d.info)
        decision.checked |= d.checked

    open_now = store.monitor.open_alerts(model)
    as_policy = [
        Alert(
            monitor=a.monitor,
            window=a.window_start.isoformat(),
            severity=a.severity,  # type: ignore[arg-type]
            value=a.value,
            threshold=a.threshold,
            message=a.message,
            slice=a.slice,
        )
        for a in open_now
    ]
    to_open, to_close = reconcile(as_policy, decision)
    firing = {a.monitor for a in decision.alerts}
    closing = {a.monitor for a in to_close}
    table = (
        store.events.query(model, since=since, until=until, order_by="timestamp, event_id")
        if to_open
        else None
    )
    ref = res.get("_reference")
    docs = [
        {
            **a.model_dump(),
            "window_start": since,
            "window_end": until,
            "sample_event_ids": _sample_ids(store, model, a.monitor, since, until, ref, table),
        }
        for a in to_open
    ]
    opened, closed = store.monitor.apply_alerts(
        model,
        to_open=docs,
        to_close=[a.alert_id for a in open_now if a.monitor in closing],
        seen=[a.alert_id for a in open_now if a.monitor in firing],
    )
    result = CheckResult(
        model=model,
        window_start=since,
        window_end=until,
        rows=int(window.get("rows", 0)),
        opened=opened,
        closed=closed,
        open=store.monitor.open_alerts(model),
        findings=[a.model_dump() for a in decision.alerts],
        info=[a.model_dump() for a in decision.info],
    )
    if deliver and cfg.webhooks:
        kw: dict[str, Any] = {"public_url": cfg.public_url}
        if sleep is not None:
            kw["sleep"] = sleep
        for a in opened:
            result.deliveries += webhooks.deliver(store, a, "opened", cfg.webhooks, **kw)
        for a in closed:
            result.deliveries += webhooks.deliver(store, a, "closed", cfg.webhooks, **kw)
    return result


def check_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Job kind ``monitor-check``: ``{"model": name or None (every model), "until", "bucket"}``."""
    from flywheel.ingest.validate import parse_timestamp

    until = parse_timestamp(params["until"]) if params.get("until") else None
    names = [params["model"]] if params.get("model") else [m.name for m in ctx.store.models.list()]
    out = {}
    for i, name in enumerate(names):
        ctx.progress(i / max(len(names), 1), f"checking {name}")
        r = check(ctx.store, name, until=until, bucket=params.get("bucket"))
        out[name] = {
            "opened": [a.monitor for a in r.opened],
            "closed": [a.monitor for a in r.closed],
            "open": [a.monitor for a in r.open],
            "rows": r.rows,
        }
        ctx.log(f"{name}: {len(r.opened)} opened, {len(r.closed)} closed, {len(r.open)} open")
    ctx.progress(1.0, "done")
    return out


def rebuild_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Job kind ``monitor-rebuild``: recompute a model's hourly profiles from the event log."""
    from flywheel.ingest.validate import parse_timestamp
    from flywheel.monitor.ingest_hook import rebuild_profiles

    ctx.progress(0.0, f"rebuilding profiles of {params['model']}")
    since = parse_timestamp(params["since"]) if params.get("since") else None
    until = parse_timestamp(params["until"]) if params.get("until") else None
    out = rebuild_profiles(ctx.store, params["model"], since, until)
    ctx.progress(1.0, "done")
    return out
