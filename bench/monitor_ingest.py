"""What profiling at ingest costs: events/s through ``IngestService`` with and without the listener.

In-process (no HTTP), the embedded store on local disk (SQLite, WAL, ``synchronous=FULL``), JSON-shaped
events of two models: the 3-feature churn model of the tests and a 25-column model (20 numeric, 5
categorical) like the drift benchmark's. Each configuration ingests the same batches into a fresh
data directory; the table shows events/s, the listener's own seconds per batch, and the slowdown.

    python bench/monitor_ingest.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flywheel import __version__  # noqa: E402
from flywheel.ingest.service import IngestService  # noqa: E402
from flywheel.monitor.ingest_hook import ProfileListener, install  # noqa: E402
from flywheel.settings import Settings  # noqa: E402
from flywheel.store import open_store  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def wide_spec() -> dict[str, Any]:
    feats = [{"name": f"n{i}", "kind": "numeric"} for i in range(20)]
    feats += [{"name": f"c{i}", "kind": "categorical"} for i in range(5)]
    return {"name": "wide", "task": "binary", "class_names": ["no", "yes"], "features": feats}


def narrow_spec() -> dict[str, Any]:
    return {
        "name": "narrow",
        "task": "binary",
        "class_names": ["no", "yes"],
        "features": [
            {"name": "age", "kind": "numeric"},
            {"name": "plan", "kind": "categorical"},
            {"name": "country", "kind": "categorical"},
        ],
    }


def batches(spec: dict[str, Any], n_batches: int, size: int, seed: int = 0) -> list[list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    out = []
    for b in range(n_batches):
        items = []
        for i in range(size):
            k = b * size + i
            inputs: dict[str, Any] = {}
            for f in spec["features"]:
                inputs[f["name"]] = (
                    float(rng.normal()) if f["kind"] == "numeric" else f"v{int(rng.integers(0, 20))}"
                )
            s = float(rng.random())
            items.append(
                {
                    "event_id": f"e{k}",
                    "timestamp": (T0 + timedelta(seconds=k * 3)).isoformat(),  # ~1,200 events an hour
                    "inputs": inputs,
                    "prediction": "yes" if s > 0.5 else "no",
                    "score": s,
                    "model_version": "v1",
                }
            )
        out.append(items)
    return out


def run(spec: dict[str, Any], data: list[list[dict[str, Any]]], profile: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        settings = Settings(data_dir=Path(d))
        store = open_store(settings)
        svc = IngestService(store, settings)
        svc.register_model(spec)
        listener: ProfileListener | None = install(svc) if profile else None
        svc.ingest_events(spec["name"], data[0])  # warm-up batch (imports, first files)
        if listener is not None:
            listener.batches, listener.seconds = 0, 0.0
        times = []
        for items in data[1:]:
            t = time.perf_counter()
            svc.ingest_events(spec["name"], items)
            times.append(time.perf_counter() - t)
        store.close()
    n = sum(len(b) for b in data[1:])
    out = {"events_per_s": n / sum(times), "median_batch_ms": 1000 * statistics.median(times)}
    if listener is not None:
        out["listener_ms_per_batch"] = 1000 * listener.seconds / max(listener.batches, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer batches (under a minute)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    n_batches = 12 if args.quick else 41
    figures: dict[str, float] = {}
    rows = []
    for spec in (narrow_spec(), wide_spec()):
        for size in (100, 1000):
            data = batches(spec, n_batches, size)
            base = run(spec, data, profile=False)
            prof = run(spec, data, profile=True)
            key = f"{spec['name']}_{size}"
            slowdown = base["events_per_s"] / prof["events_per_s"]
            figures[f"ingest_{key}_events_per_s"] = round(base["events_per_s"], 1)
            figures[f"ingest_{key}_profiled_events_per_s"] = round(prof["events_per_s"], 1)
            figures[f"ingest_{key}_profile_ms_per_batch"] = round(prof["listener_ms_per_batch"], 2)
            figures[f"ingest_{key}_slowdown"] = round(slowdown, 3)
            rows.append(
                (key, base["events_per_s"], prof["events_per_s"], prof["listener_ms_per_batch"], slowdown)
            )
    print(f"{'model_batch':<14} {'events/s':>10} {'profiled':>10} {'profile ms/batch':>17} {'slowdown':>9}")
    for key, a, b, ms, s in rows:
        print(f"{key:<14} {a:>10.0f} {b:>10.0f} {ms:>17.1f} {s:>8.2f}x")
    doc = {
        "figures": figures,
        "targets": {},
        "versions": {"flywheel": __version__, "numpy": np.__version__, "python": platform.python_version()},
        "machine": f"{platform.machine()} {platform.processor() or ''} {platform.system()}".strip(),
    }
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
