"""Drift thresholds learned from a model's own history, for a stated false-alarm rate.

``learn_drift_thresholds(store, model, since=, until=, bucket=)`` takes the stored hourly
profiles of a calm period, cuts it into windows of the size that will be monitored, compares
each window with the pool of the others (:func:`flywheel.monitor.drift.learn_thresholds`), and
stores one threshold per column and metric in the model's monitor configuration
(``drift.column_thresholds``), where every later computation picks it up. A restless column (a
seasonal feature, a high-cardinality category) then alarms only on shifts larger than its own
normal spread, at the stated rate.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from flywheel.errors import ValidationError
from flywheel.monitor.config import config_json, load_config
from flywheel.monitor.drift import learn_thresholds
from flywheel.monitor.ingest_hook import merge_rows
from flywheel.monitor.service import aligned_windows


def learn_drift_thresholds(
    store: Any,
    model: str,
    *,
    since: datetime,
    until: datetime,
    bucket: str = "day",
    false_alarm_rate: float = 0.01,
    save: bool = True,
) -> dict[str, Any]:
    """Learn and (with ``save``) store per-column thresholds from ``[since, until)``."""
    store.models.get(model)
    windows = aligned_windows(since, until, bucket)
    rows = store.monitor.profiles(model, since=windows[0][0], until=windows[-1][1])
    profiles = []
    for w0, w1 in windows:
        part = [r for r in rows if w0 <= r.hour < w1]
        if part:
            profiles.append(merge_rows(part))
    if len(profiles) < 3:
        raise ValidationError(
            f"Learning thresholds needs at least 3 {bucket} windows with events; "
            f"{since.isoformat()} to {until.isoformat()} has {len(profiles)}.",
            details=[{"field": "since", "reason": "too few windows"}],
        )
    common = set(profiles[0].columns)
    for p in profiles[1:]:
        common &= set(p.columns)
    kinds = {c: profiles[0][c].kind for c in profiles[0].columns if c in common}
    learned = learn_thresholds(profiles, kinds, false_alarm_rate=false_alarm_rate)
    thresholds = {
        col: {m: v for m, v in per.items() if math.isfinite(v)} for col, per in learned.thresholds.items()
    }
    if save:
        cfg = load_config(store, model)
        cfg.drift.column_thresholds = {**cfg.drift.column_thresholds, **thresholds}
        store.monitor.put_config(model, config_json(cfg))
    return {
        "model": model,
        "since": windows[0][0].isoformat(),
        "until": windows[-1][1].isoformat(),
        "bucket": bucket,
        "windows": learned.n_windows,
        "false_alarm_rate": false_alarm_rate,
        "method": learned.method,
        "column_thresholds": thresholds,
        "saved": save,
    }
