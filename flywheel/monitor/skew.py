"""Training–serving skew: each model version's first hours of traffic against its training data.

Reported apart from drift over time. A version whose first hours already differ from the data
it was trained on is being served data it never saw — a feature computed differently online, a
unit, a default value — which retraining on the same pipeline will not fix. Only versions with a
reference of their own (their training data, set by the registry or an upload) are judged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flywheel.monitor.config import load_config
from flywheel.monitor.drift import compute_drift_from_profiles
from flywheel.monitor.ingest_hook import merge_rows
from flywheel.monitor.reference import load_reference
from flywheel.monitor.service import drift_entries


def skew(store: Any, model: str, *, hours: int = 24) -> dict[str, Any]:
    """Per version with its own reference: drift of its first ``hours`` of traffic from it."""
    store.models.get(model)
    cfg = load_config(store, model)
    out = []
    for rec in store.monitor.list_references(model):
        if not rec.model_version:
            continue
        span = store.monitor.profile_span(model, rec.model_version)
        entry: dict[str, Any] = {"model_version": rec.model_version, "reference": rec.source}
        if span is None:
            out.append({**entry, "note": "no traffic for this version yet"})
            continue
        since, until = span[0], span[0] + timedelta(hours=hours)
        rows = store.monitor.profiles(model, since=since, until=until, model_version=rec.model_version)
        current = merge_rows(rows)
        ref = load_reference(store, model, rec.model_version)
        assert ref is not None
        kinds = {c: ref.profile[c].kind for c in current if c in ref.profile}
        entry.update({"since": since.isoformat(), "until": until.isoformat()})
        if not kinds:
            out.append({**entry, "note": "no column in common with the reference"})
            continue
        report = compute_drift_from_profiles(ref.profile, current, kinds, **cfg.drift.model_dump())
        entries, _ = drift_entries(report)
        rows_n = current["prediction"].count if "prediction" in current else 0
        out.append(
            {
                **entry,
                "rows": rows_n,
                "columns": entries,
                "skewed": [e["name"] for e in entries if e["flagged"]],
            }
        )
    return {"model": model, "hours": hours, "versions": out}
