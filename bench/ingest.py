"""Ingest benchmark: events/s through the HTTP JSON and Arrow endpoints against a Parquet floor.

In one run on this machine:

1. JSON: batches of 1,000 events with 20 features (16 numeric, 4 categorical) POSTed to
   ``/v1/models/{m}/events`` of a real ``uvicorn`` server process (temporary data directory,
   auth off, loopback) by client threads with keep-alive connections. The rate counts only
   events the server acknowledged, over the wall time of all batches.
2. Arrow: the same kind of rows as Arrow IPC streams of 50,000 rows POSTed to
   ``/v1/models/{m}/events/bulk``.
3. The floor: pyarrow alone, in this process, turning the same event dicts (flattened to the
   event-log columns beforehand) into tables with ``pa.Table.from_pylist`` and writing them
   to Parquet (snappy) with ``pq.write_table``; no server, no validation, no fsync.
4. SDK ``log()`` latency in the caller's thread, from ``bench/ingest_sdk.py`` when present.

Run ``python bench/ingest.py [--quick] [--json PATH]``. Request bodies are built before the
clock starts, so client-side serialisation is not counted against the server.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

MODEL = "bench"
N_NUMERIC = 16
N_CATEGORICAL = 4
CLASSES = ["no", "yes"]
CATEGORIES = ["a", "b", "c", "d", "e", "f", "g", "h"]
SPEC: dict[str, Any] = {
    "name": MODEL,
    "task": "binary",
    "features": [{"name": f"f{i:02d}", "kind": "numeric"} for i in range(N_NUMERIC)]
    + [{"name": f"c{i}", "kind": "categorical"} for i in range(N_CATEGORICAL)],
    "class_names": CLASSES,
}
TARGETS: dict[str, str] = {
    "ingest_json_ratio_to_floor": ">= 0.10",
    "ingest_arrow_ratio_to_floor": ">= 0.50",
    "sdk_log_p50_us": "<= 5",
    "sdk_log_p99_us": "<= 50",
    "sdk_log_p99_us_server_down": "<= 50",
}


# -- data ----------------------------------------------------------------------------------
def make_events(n: int, rng: np.random.Generator, t0: datetime) -> list[dict[str, Any]]:
    """``n`` events as the JSON API takes them, timestamps spread over the hour before ``t0``."""
    num = rng.normal(size=(n, N_NUMERIC)).round(6).tolist()
    cat = rng.integers(0, len(CATEGORIES), size=(n, N_CATEGORICAL)).tolist()
    p_yes = rng.random(n).round(4).tolist()
    offs = rng.integers(0, 3_600_000_000, size=n).tolist()
    events = []
    for i in range(n):
        inputs: dict[str, Any] = {f"f{j:02d}": num[i][j] for j in range(N_NUMERIC)}
        inputs.update({f"c{j}": CATEGORIES[cat[i][j]] for j in range(N_CATEGORICAL)})
        p = p_yes[i]
        events.append(
            {
                "event_id": uuid.uuid4().hex,
                "timestamp": (t0 - timedelta(microseconds=offs[i])).isoformat(),
                "inputs": inputs,
                "prediction": "yes" if p >= 0.5 else "no",
                "probabilities": {"no": round(1.0 - p, 4), "yes": p},
                "model_version": "v1",
            }
        )
    return events


def flatten(ev: dict[str, Any]) -> dict[str, Any]:
    """One event dict as a flat row of event-log columns (done before the floor's clock starts)."""
    row: dict[str, Any] = {
        "event_id": ev["event_id"],
        "timestamp": datetime.fromisoformat(ev["timestamp"]),
        "model_version": ev["model_version"],
        "prediction": ev["prediction"],
    }
    for c, v in ev["probabilities"].items():
        row["proba." + c] = v
    for k, v in ev["inputs"].items():
        row["in." + k] = v
    return row


def arrow_table(events: list[dict[str, Any]]) -> pa.Table:
    """Events as the bulk endpoint takes them: one column per field, inputs as ``in.<name>``."""
    return pa.Table.from_pylist([flatten(e) for e in events])


def ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


# -- the server ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``uvicorn`` process serving Flywheel from a temporary data directory, auth off."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        env = {**os.environ, "FLYWHEEL_DATA_DIR": str(data_dir / "data"), "FLYWHEEL_AUTH": "false"}
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "flywheel.server.app:create_app"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited early; see {self.log}:\n{self.log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not become healthy in 60 s")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far; NaN where unknown."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- the measurements ------------------------------------------------------------------------
def post_all(
    url: str, bodies: list[bytes], content_type: str, threads: int, timeout: float = 120.0
) -> tuple[int, float]:
    """POST every body (``threads`` keep-alive clients share the list); return (acknowledged, seconds)."""
    accepted = [0] * threads
    errors: list[str] = []
    next_i = iter(range(len(bodies)))
    lock = threading.Lock()

    def worker(k: int) -> None:
        with httpx.Client(timeout=timeout, headers={"content-type": content_type}) as client:
            while True:
                with lock:
                    i = next(next_i, None)
                if i is None:
                    return
                r = client.post(url, content=bodies[i])
                if r.status_code == 200:
                    accepted[k] += int(r.json()["accepted"])
                else:
                    errors.append(f"batch {i}: HTTP {r.status_code} {r.text[:300]}")
                    return

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    t = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t
    if errors:
        raise RuntimeError("the server refused a batch: " + errors[0])
    return sum(accepted), elapsed


def parquet_floor(rows: list[dict[str, Any]], chunk: int, out_dir: Path) -> float:
    """events/s of pyarrow alone: ``from_pylist`` + ``write_table`` (snappy), ``chunk`` rows a file."""
    t = time.perf_counter()
    for k, start in enumerate(range(0, len(rows), chunk)):
        table = pa.Table.from_pylist(rows[start : start + chunk])
        pq.write_table(table, out_dir / f"floor-{k:04d}.parquet", compression="snappy")
    return len(rows) / (time.perf_counter() - t)


def load_sdk_measure() -> Any:
    path = Path(__file__).with_name("ingest_sdk.py")
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("ingest_sdk", path)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, "measure_sdk_log", None)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("flywheel-ml", "pyarrow", "fastapi", "starlette", "uvicorn", "httpx", "orjson", "duckdb"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def machine() -> str:
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


def run(quick: bool, threads: int) -> dict[str, Any]:
    json_batches = 20 if quick else 200
    bulk_batches = 2 if quick else 8
    bulk_rows = 50_000
    rng = np.random.default_rng(0)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    figures: dict[str, float] = {}
    diagnostics: dict[str, Any] = {}
    sdk_details: dict[str, Any] = {}
    notes: list[str] = []

    print(
        f"building {json_batches} JSON batches of 1,000 events and {bulk_batches} Arrow streams of {bulk_rows:,} rows ..."
    )
    json_events = [make_events(1_000, rng, t0) for _ in range(json_batches + 1)]
    json_bodies = [orjson.dumps({"events": b}) for b in json_events]
    bulk_bodies = [ipc_stream(arrow_table(make_events(bulk_rows, rng, t0))) for _ in range(bulk_batches)]
    floor_rows = [flatten(e) for b in json_events[1:] for e in b]

    with tempfile.TemporaryDirectory(prefix="flywheel-bench-ingest-") as tmp:
        tmpdir = Path(tmp)
        floor_dir = tmpdir / "floor"
        floor_dir.mkdir()
        floors: list[tuple[float, float]] = []

        def floor_run() -> None:
            # The floor runs between the server phases too, and the best run counts, so a
            # moment of load from other processes cannot make the ratios look better.
            cpu = time.process_time()
            rate = parquet_floor(floor_rows, bulk_rows, floor_dir)
            floors.append((rate, 1e6 * (time.process_time() - cpu) / len(floor_rows)))

        floor_run()
        server = Server(tmpdir)
        try:
            r = httpx.post(server.url + "/v1/models", json=SPEC, timeout=30)
            r.raise_for_status()
            events_url = f"{server.url}/v1/models/{MODEL}/events"
            # Warm-up batch (imports, caches, first file of the day), not counted.
            post_all(events_url, json_bodies[:1], "application/json", 1)
            cpu = server.cpu_seconds()
            n_json, s_json = post_all(events_url, json_bodies[1:], "application/json", threads)
            cpu_json = server.cpu_seconds() - cpu
            figures["ingest_json_events_per_s"] = n_json / s_json
            floor_run()
            cpu = server.cpu_seconds()
            n_bulk, s_bulk = post_all(
                events_url + "/bulk", bulk_bodies, "application/vnd.apache.arrow.stream", threads
            )
            cpu_bulk = server.cpu_seconds() - cpu
            figures["ingest_arrow_events_per_s"] = n_bulk / s_bulk
            floor_run()
            diagnostics["server_cpu_ms_per_1000_json"] = 1e6 * cpu_json / n_json
            diagnostics["server_cpu_ms_per_1000_arrow"] = 1e6 * cpu_bulk / n_bulk
            stored = httpx.get(f"{server.url}/v1/models/{MODEL}", timeout=30).json()["counts"]["events"]
            expected = 1_000 + n_json + n_bulk
            if stored != expected:
                raise RuntimeError(f"the server holds {stored} events; {expected} were acknowledged")

            measure = load_sdk_measure()
            if measure is None:
                notes.append("bench/ingest_sdk.py (measure_sdk_log) is not there yet: SDK figures left out")
            else:
                sdk = measure(n=20_000 if quick else 200_000, server_url=server.url)
                for key, value in sdk.items():
                    if key in ("sdk_log_p50_us", "sdk_log_p99_us", "sdk_log_p99_us_server_down"):
                        figures[key] = float(value)
                    else:
                        sdk_details[key] = value
        finally:
            server.stop()

    figures["parquet_floor_events_per_s"] = max(rate for rate, _ in floors)
    diagnostics["floor_cpu_ms_per_1000"] = min(c for _, c in floors)
    diagnostics["floor_runs_events_per_s"] = [round(rate) for rate, _ in floors]
    floor = figures["parquet_floor_events_per_s"]
    figures["ingest_json_ratio_to_floor"] = figures["ingest_json_events_per_s"] / floor
    figures["ingest_arrow_ratio_to_floor"] = figures["ingest_arrow_events_per_s"] / floor
    return {
        "figures": figures,
        "targets": {k: v for k, v in TARGETS.items() if k in figures},
        "versions": versions(),
        "machine": machine(),
        "params": {
            "json_batches": json_batches,
            "json_batch_rows": 1_000,
            "bulk_batches": bulk_batches,
            "bulk_batch_rows": bulk_rows,
            "features": N_NUMERIC + N_CATEGORICAL,
            "client_threads": threads,
            "quick": quick,
        },
        "diagnostics": diagnostics,
        "sdk_details": sdk_details,
        "notes": notes,
    }


def meets(value: float, target: str) -> bool:
    op, num = target.split()
    return value >= float(num) if op == ">=" else value <= float(num)


def print_table(result: dict[str, Any]) -> None:
    figs, targets = result["figures"], result["targets"]
    order = [
        "ingest_json_events_per_s",
        "ingest_arrow_events_per_s",
        "parquet_floor_events_per_s",
        "ingest_json_ratio_to_floor",
        "ingest_arrow_ratio_to_floor",
        "sdk_log_p50_us",
        "sdk_log_p99_us",
        "sdk_log_p99_us_server_down",
    ]
    print(f"\n{'figure':<30} {'value':>14}  {'target':<9} ok")
    print("-" * 60)
    for k in order:
        if k not in figs:
            continue
        v = figs[k]
        text = f"{v:,.0f}" if v >= 100 else f"{v:.3f}"
        t = targets.get(k, "")
        ok = ("yes" if meets(v, t) else "NO") if t else ""
        print(f"{k:<30} {text:>14}  {t:<9} {ok}")
    diag = result.get("diagnostics", {})
    if diag:
        print("\nDiagnostics (CPU per 1,000 events is less sensitive to other load on the machine):")
        for k, v in diag.items():
            if isinstance(v, float):
                print(f"  {k:<34} {v:8.2f} ms")
            else:
                print(f"  {k:<34} {v}")
    print(f"\n{result['machine']}")
    for note in result["notes"]:
        print("note:", note)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer batches; under a minute")
    ap.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON here")
    ap.add_argument("--threads", type=int, default=2, help="concurrent client connections (default 2)")
    args = ap.parse_args(argv)
    result = run(args.quick, args.threads)
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
