"""Turn event-log rows back into the API's event shape (the inverse of validation)."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from flywheel.store.eventlog import INPUT_PREFIX, PROBA_PREFIX


def table_to_events(table: pa.Table) -> list[dict[str, Any]]:
    if table.num_rows == 0:
        return []
    cols = table.column_names
    inputs = [c for c in cols if c.startswith(INPUT_PREFIX)]
    probas = [c for c in cols if c.startswith(PROBA_PREFIX)]
    data = {c: table.column(c).to_pylist() for c in cols}
    out = []
    for i in range(table.num_rows):
        ev: dict[str, Any] = {
            "event_id": data["event_id"][i],
            "timestamp": data["timestamp"][i].isoformat(),
            "ingested_at": data["ingested_at"][i].isoformat(),
            "inputs": {c[len(INPUT_PREFIX) :]: data[c][i] for c in inputs},
            "prediction": data["prediction"][i],
        }
        p = {c[len(PROBA_PREFIX) :]: data[c][i] for c in probas if data[c][i] is not None}
        if p:
            ev["probabilities"] = p
        for key in ("score", "model_version", "trace_id", "parent_event_id"):
            if data.get(key) and data[key][i] is not None:
                ev[key] = data[key][i]
        if data.get("tags") and data["tags"][i]:
            ev["tags"] = orjson.loads(data["tags"][i])
        ev["served"] = bool(data["served"][i]) if "served" in data and data["served"][i] is not None else True
        ev["spec_version"] = data["spec_version"][i] if "spec_version" in data else None
        out.append(ev)
    return out
