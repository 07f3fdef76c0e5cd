"""SDK benchmark: how long ``Flywheel.log()`` holds the caller's thread, server up and down.

What is timed is one ``log()`` call (20 features, a prediction and two class probabilities,
event id made by the SDK) with ``time.perf_counter_ns`` around it, in the thread that calls it,
``n`` times in a tight loop after a warm-up; the timer's own cost is included. The queue is
sized to hold the whole run, so no call takes the (cheaper) drop path. Cases:

(a) a live server (``server_url``; run alone, this script starts one): the background thread
    sends batches while the loop runs; afterwards ``flush()`` must deliver every event.
(b) the server down (an unbound port): every batch fails to connect and goes to the spool.
(c) paced: the live case at about 10,000 events/s (the caller sleeps 5 ms every 50 events),
    closer to production, where the sender runs between requests.

For reference, the same loop times two stdlib building blocks a logger could be made of:
``queue.Queue.put_nowait`` (a bounded, locked queue) and ``uuid.uuid4()`` (an id from
``os.urandom``). ``bench/ingest.py`` imports ``measure_sdk_log`` for its SDK figures.

Run ``python bench/ingest_sdk.py [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import queue
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flywheel.client import Flywheel  # noqa: E402

MODEL = "sdk_bench"
N_NUMERIC = 16
N_CATEGORICAL = 4
SPEC: dict[str, Any] = {
    "name": MODEL,
    "task": "binary",
    "features": [{"name": f"f{i:02d}", "kind": "numeric"} for i in range(N_NUMERIC)]
    + [{"name": f"c{i}", "kind": "categorical"} for i in range(N_CATEGORICAL)],
    "class_names": ["no", "yes"],
}
TARGETS = {"sdk_log_p50_us": "<= 5", "sdk_log_p99_us": "<= 50", "sdk_log_p99_us_server_down": "<= 50"}


def _inputs(k: int = 1000) -> list[dict[str, Any]]:
    cats = "abcdefgh"
    return [
        {
            **{f"f{j:02d}": (i * 31 + j * 7) % 1000 / 10.0 for j in range(N_NUMERIC)},
            **{f"c{j}": cats[(i + j) % len(cats)] for j in range(N_CATEGORICAL)},
        }
        for i in range(k)
    ]


def _percentiles(lat_ns: list[int]) -> dict[str, float]:
    lat = sorted(lat_ns)
    n = len(lat)

    def q(p: float) -> float:
        return lat[min(n - 1, int(p * n))] / 1000.0

    return {"p50": q(0.50), "p99": q(0.99), "p999": q(0.999), "max": lat[-1] / 1000.0}


def _time_loop(fw: Flywheel, n: int, inputs: list[dict[str, Any]], pace: int = 0) -> list[int]:
    """Latency of each of ``n`` log() calls, in ns; with ``pace``, sleep 5 ms after every ``pace`` calls."""
    probs = [{"no": 0.3, "yes": 0.7}, {"no": 0.8, "yes": 0.2}]
    preds = ["yes", "no"]
    k = len(inputs)
    lat = [0] * n
    clock = time.perf_counter_ns
    log = fw.log
    for i in range(n):
        x, p, y = inputs[i % k], probs[i & 1], preds[i & 1]
        t0 = clock()
        log(MODEL, x, y, probabilities=p)
        lat[i] = clock() - t0
        if pace and i % pace == pace - 1:
            time.sleep(0.005)
    return lat


def _reference(n: int) -> dict[str, float]:
    """The same loop around stdlib building blocks, for scale."""
    q: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=n + 1)
    clock = time.perf_counter_ns
    x = _inputs(1)[0]
    lat_q, lat_u = [0] * n, [0] * n
    for i in range(n):
        t0 = clock()
        q.put_nowait((MODEL, x, "yes", i))
        lat_q[i] = clock() - t0
    for i in range(n):
        t0 = clock()
        uuid.uuid4()
        lat_u[i] = clock() - t0
    rq, ru = _percentiles(lat_q), _percentiles(lat_u)
    return {
        "queue_put_nowait_p50_us": rq["p50"],
        "queue_put_nowait_p99_us": rq["p99"],
        "uuid4_p50_us": ru["p50"],
        "uuid4_p99_us": ru["p99"],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_sdk_log(n: int = 200_000, server_url: str | None = None) -> dict[str, Any]:
    """p50/p99 (µs) of ``log()`` in the caller's thread with the server up (if given) and down.

    Returns the figures ``sdk_log_p50_us``, ``sdk_log_p99_us`` (only with ``server_url``) and
    ``sdk_log_p99_us_server_down``, plus details (p99.9, max, delivery and spool counts).
    """
    inputs = _inputs()
    warm = min(5_000, n)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-sdk-") as tmp:
        if server_url:
            fw = Flywheel(url=server_url, spool_dir=Path(tmp) / "up", max_queue=n + warm + 1_000)
            fw.register(SPEC)
            _time_loop(fw, warm, inputs)
            fw.flush(60)
            gc.collect()
            t0 = time.perf_counter()
            r = _percentiles(_time_loop(fw, n, inputs))
            delivered = fw.flush(600)
            elapsed = time.perf_counter() - t0
            s = fw.stats()
            fw.close()
            out.update(
                sdk_log_p50_us=r["p50"],
                sdk_log_p99_us=r["p99"],
                sdk_log_p999_us=r["p999"],
                sdk_log_max_us=r["max"],
                sdk_delivered_events_per_s=s["sent"] / elapsed,
                sdk_all_delivered=bool(delivered and s["sent"] == n + warm and s["dropped"] == 0),
                sdk_failed=s["failed"],
            )

            paced_n = min(n, 20_000)
            fw = Flywheel(url=server_url, spool_dir=Path(tmp) / "paced")
            _time_loop(fw, 1_000, inputs, pace=50)
            r = _percentiles(_time_loop(fw, paced_n, inputs, pace=50))
            fw.close(60)
            out.update(sdk_log_p50_us_paced=r["p50"], sdk_log_p99_us_paced=r["p99"])

        down_url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
        fw = Flywheel(
            url=down_url,
            spool_dir=Path(tmp) / "down",
            max_queue=n + warm + 1_000,
            spool_max_bytes=4 * 1024**3,
        )
        _time_loop(fw, warm, inputs)
        gc.collect()
        r = _percentiles(_time_loop(fw, n, inputs))
        fw.close(0.5)
        s = fw.stats()
        out.update(
            sdk_log_p50_us_server_down=r["p50"],
            sdk_log_p99_us_server_down=r["p99"],
            sdk_log_p999_us_server_down=r["p999"],
            sdk_log_max_us_server_down=r["max"],
            sdk_spooled_server_down=s["spooled"],
            sdk_dropped_server_down=s["dropped"],
        )
    out.update(_reference(min(n, 50_000)))
    return out


def _load_bench_server() -> Any:
    """``bench/ingest.py``'s server starter (one copy of that code)."""
    spec = importlib.util.spec_from_file_location("bench_ingest", Path(__file__).with_name("ingest.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Server


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("flywheel-ml", "orjson", "uvicorn", "fastapi"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _machine() -> str:
    cpu = platform.processor() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs, load {load:.1f} at start"


def print_table(result: dict[str, Any]) -> None:
    f = result["figures"]
    rows = [
        ("log(), server up", "sdk_log_p50_us", "sdk_log_p99_us", "sdk_log_p999_us", "sdk_log_max_us"),
        (
            "log(), server down (spooling)",
            "sdk_log_p50_us_server_down",
            "sdk_log_p99_us_server_down",
            "sdk_log_p999_us_server_down",
            "sdk_log_max_us_server_down",
        ),
        ("log(), server up, ~10k events/s", "sdk_log_p50_us_paced", "sdk_log_p99_us_paced", None, None),
        ("stdlib queue.Queue.put_nowait", "queue_put_nowait_p50_us", "queue_put_nowait_p99_us", None, None),
        ("stdlib uuid.uuid4()", "uuid4_p50_us", "uuid4_p99_us", None, None),
    ]

    def cell(key: str | None) -> str:
        return f"{f[key]:.2f}" if key and key in f else "-"

    print(f"\n{'case':<34}{'p50 µs':>10}{'p99 µs':>10}{'p99.9 µs':>10}{'max µs':>11}")
    for label, *keys in rows:
        print(f"{label:<34}" + "".join(f"{cell(k):>10}" for k in keys[:3]) + f"{cell(keys[3]):>11}")
    for key in (
        "sdk_delivered_events_per_s",
        "sdk_all_delivered",
        "sdk_failed",
        "sdk_spooled_server_down",
        "sdk_dropped_server_down",
    ):
        if key in f:
            print(f"{key:<34}{f[key]:>10.0f}" if isinstance(f[key], float) else f"{key:<34}{f[key]!s:>10}")
    print(
        "\ntargets: "
        + ", ".join(
            f"{k} {t} -> {'met' if _met(f.get(k), t) else 'NOT met'}" for k, t in result["targets"].items()
        )
    )
    print(f"machine: {result['machine']}")


def _met(value: Any, target: str) -> bool:
    op, num = target.split()
    return value is not None and (value <= float(num) if op == "<=" else value >= float(num))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="20,000 calls per case instead of 200,000")
    ap.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON here")
    ap.add_argument("--server-url", help="measure against this server instead of starting one")
    args = ap.parse_args(argv)
    n = 20_000 if args.quick else 200_000
    machine = _machine()
    if args.server_url:
        figures = measure_sdk_log(n, args.server_url)
    else:
        with tempfile.TemporaryDirectory(prefix="flywheel-bench-sdk-server-") as tmp:
            server = _load_bench_server()(Path(tmp))
            try:
                figures = measure_sdk_log(n, server.url)
            finally:
                server.stop()
    result = {
        "figures": figures,
        "targets": {k: v for k, v in TARGETS.items() if k in figures},
        "versions": _versions(),
        "machine": machine,
        "n": n,
    }
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
