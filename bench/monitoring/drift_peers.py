"""Per-column drift, side by side: Flywheel, a NumPy floor, Evidently, NannyML, whylogs, alibi-detect.

A seeded generator makes a reference and a current set of 500,000 rows each (``--quick``: 50,000):
20 numeric columns of mixed distributions and 5 categorical columns with 5 to 50 categories. Drift
is injected in 7 columns, the truth every tool is scored against:

- ``n00_normal``     a subtle mean shift of 0.05 sigma,
- ``n01_normal``     a mean shift of 0.5 sigma,
- ``n02_normal``     variance x1.5,
- ``n03_lognormal``  a tail change (values above the reference 90th percentile stretched x1.5),
- ``n04_bimodal``    a mixture weight change (0.5/0.5 -> 0.65/0.35),
- ``c0_zipf10``      the two top categories swapped,
- ``c1_zipf20``      a new category taking 8% of the rows.

The sets are written to Parquet once (cached under ``bench/.data/``), then each tool runs as a whole
process (``bench/monitoring/peers/<tool>_drift.py``) in its own virtual environment under
``bench/.venvs/``; its CPU seconds (user + system, all threads), wall time and peak RSS come from
``os.wait4``. Flywheel and the floor run ``--repeat`` times (default 3) and report their fastest
run, since other load on a shared machine only ever adds time. The floor reads both files like
every tool does and then does one ``np.sort`` per numeric column and one ``np.unique`` count per
categorical column, per side: the least any exact per-column comparison must do.

``--setup-peers`` creates the missing peer venvs (pinned versions, see ``PEERS``); a peer whose venv
is absent is skipped with a note.

Run: ``python bench/monitoring/drift_peers.py [--quick] [--json PATH] [--setup-peers]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = Path(__file__).resolve().parent / "peers"
VENVS = ROOT / "bench" / ".venvs"
DATA = ROOT / "bench" / ".data"
SEED = 20_240_601
GEN_VERSION = 2

# tool -> (venv name, pip requirements)
PEERS: dict[str, tuple[str, list[str]]] = {
    "evidently": ("evidently", ["evidently==0.7.23", "pandas<3", "pyarrow"]),
    "nannyml": ("nannyml", ["nannyml==0.13.1", "statsmodels", "pyarrow"]),
    "whylogs": ("whylogs", ["whylogs[viz]==1.6.4", "numpy<2", "pandas<3", "pyarrow<20", "scipy"]),
    "alibi_detect": ("alibi-detect", ["alibi-detect==0.13.0", "numpy<2", "pyarrow<20"]),
}
TRUTH = {"n00_normal", "n01_normal", "n02_normal", "n03_lognormal", "n04_bimodal", "c0_zipf10", "c1_zipf20"}
TARGETS = {
    "drift_cpu_ratio_to_floor": "<= 1.2",
    "drift_false_pos": "== 0",
    "drift_false_neg": "== 0",
}


# -- data ------------------------------------------------------------------------------------------


def _bimodal(rng: np.random.Generator, n: int, w: float, sep: float = 2.0) -> np.ndarray:
    left = rng.random(n) < w
    return np.where(left, rng.normal(-sep, 0.7, n), rng.normal(sep, 0.7, n))


def _zipf_shares(k: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** s
    return w / w.sum()


def _numeric(rng: np.random.Generator, n: int, drifted: bool) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    cols["n00_normal"] = rng.normal(0.05 if drifted else 0.0, 1.0, n)
    cols["n01_normal"] = rng.normal(11.0 if drifted else 10.0, 2.0, n)
    cols["n02_normal"] = rng.normal(5.0, np.sqrt(1.5) if drifted else 1.0, n)
    x = rng.lognormal(1.0, 0.6, n)
    if drifted:
        q90 = np.exp(1.0 + 0.6 * 1.2815515655446004)  # the reference's 90th percentile
        x = np.where(x > q90, q90 + (x - q90) * 1.5, x)
    cols["n03_lognormal"] = x
    cols["n04_bimodal"] = _bimodal(rng, n, 0.65 if drifted else 0.5)
    cols["n05_uniform"] = rng.uniform(0.0, 1.0, n)
    cols["n06_exponential"] = rng.exponential(3.0, n)
    cols["n07_poisson"] = rng.poisson(3.0, n).astype(np.int64)
    cols["n08_int_uniform"] = rng.integers(0, 101, n).astype(np.int64)
    cols["n09_normal_wide"] = rng.normal(100.0, 15.0, n)
    cols["n10_lognormal_heavy"] = rng.lognormal(0.0, 1.2, n)
    cols["n11_beta"] = rng.beta(2.0, 5.0, n)
    cols["n12_gamma"] = rng.gamma(2.0, 2.0, n)
    cols["n13_student_t"] = rng.standard_t(5, n)
    cols["n14_bimodal"] = _bimodal(rng, n, 0.3, sep=3.0)
    cols["n15_chisquare"] = rng.chisquare(4, n)
    cols["n16_laplace"] = rng.laplace(0.0, 2.0, n)
    cols["n17_weibull"] = rng.weibull(1.5, n) * 10.0
    cols["n18_binomial"] = rng.binomial(20, 0.3, n).astype(np.int64)
    zero = rng.random(n) < 0.4
    cols["n19_zero_inflated"] = np.where(zero, 0.0, rng.lognormal(2.0, 0.8, n))
    return cols


def _categorical(rng: np.random.Generator, n: int, drifted: bool) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {}

    def draw(name: str, shares: np.ndarray, labels: list[str]) -> None:
        idx = rng.choice(len(labels), size=n, p=shares).astype(np.int32)
        cols[name] = pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(labels))

    s0 = _zipf_shares(10, 1.0)
    if drifted:
        s0 = s0.copy()
        s0[[0, 1]] = s0[[1, 0]]
    draw("c0_zipf10", s0, [f"k{i}" for i in range(10)])
    s1 = _zipf_shares(20, 0.8)
    labels1 = [f"m{i}" for i in range(20)]
    if drifted:
        s1 = np.append(s1 * 0.92, 0.08)
        labels1 = [*labels1, "m_new"]
    draw("c1_zipf20", s1, labels1)
    draw("c2_uniform5", np.full(5, 0.2), ["north", "south", "east", "west", "centre"])
    draw("c3_zipf50", _zipf_shares(50, 1.1), [f"p{i:02d}" for i in range(50)])
    s4 = np.random.default_rng(SEED + 7).dirichlet(np.ones(30))  # fixed shares, same on both sides
    draw("c4_dirichlet30", s4, [f"d{i:02d}" for i in range(30)])
    return cols


def make_sets(rows: int) -> tuple[Path, Path]:
    """Write (or reuse) the reference and current Parquet files; return their paths."""
    folder = DATA / f"drift_peers_v{GEN_VERSION}_{rows}_{SEED}"
    ref_path, cur_path = folder / "reference.parquet", folder / "current.parquet"
    if ref_path.exists() and cur_path.exists():
        return ref_path, cur_path
    folder.mkdir(parents=True, exist_ok=True)
    for path, drifted, seed in ((ref_path, False, SEED), (cur_path, True, SEED + 1)):
        rng = np.random.default_rng(seed)
        cols: dict[str, Any] = dict(_numeric(rng, rows, drifted))
        cols.update(_categorical(rng, rows, drifted))
        tmp = path.with_suffix(".tmp")
        table = pa.table(cols)
        plain = [f.name for f in table.schema if not pa.types.is_dictionary(f.type)]
        # Uncompressed, plain-encoded numbers: reading then costs every tool the same little, and
        # the CPU figures are about drift rather than about Parquet decoding.
        pq.write_table(table, tmp, compression="none", use_dictionary=[c for c in cols if c not in plain])
        tmp.rename(path)
    return ref_path, cur_path


# -- running ---------------------------------------------------------------------------------------


def peer_python(venv: str) -> Path:
    return VENVS / venv / "bin" / "python"


def setup_peers() -> None:
    for tool, (venv, reqs) in PEERS.items():
        py = peer_python(venv)
        if not py.exists():
            print(f"creating {VENVS / venv} for {tool} ...", flush=True)
            subprocess.run(["python3", "-m", "venv", str(VENVS / venv)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs], check=True
        )


def run_tool(
    python: Path,
    script: str,
    ref: Path,
    cur: Path,
    env_extra: dict[str, str] | None = None,
    variant: str = "",
) -> dict[str, Any]:
    """Run one runner as a child process; return its result with cpu_s, wall_s and peak_rss_mb."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ)
        env.update({"PYTHONPATH": f"{PEERS_DIR}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"})
        env.update(env_extra or {})
        cmd = [
            str(python),
            str(PEERS_DIR / script),
            "--reference",
            str(ref),
            "--current",
            str(cur),
            "--out",
            str(out),
        ]
        if variant:
            cmd += ["--variant", variant]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.exists():
            tail = err.decode(errors="replace").strip().splitlines()[-5:]
            return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
        result = json.loads(out.read_text())
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["wall_s"] = wall
    result["peak_rss_mb"] = usage.ru_maxrss / 1024.0
    return result


def score(flagged: list[str]) -> tuple[int, int, list[str], list[str]]:
    got = set(flagged)
    fp, fn = sorted(got - TRUTH), sorted(TRUTH - got)
    return len(fp), len(fn), fp, fn


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "datasketches": version("datasketches"),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs, load {load:.1f} at start"


def run(rows: int, repeat: int, second_nannyml: bool = True) -> dict[str, Any]:
    ref, cur = make_sets(rows)
    here = Path(sys.executable)
    results: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    runs: dict[str, list[dict[str, Any]]] = {"flywheel": [], "floor": []}
    for _ in range(repeat):  # interleaved, so both see the same background load
        for tool, script in (("flywheel", "flywheel_drift.py"), ("floor", "floor_drift.py")):
            r = run_tool(here, script, ref, cur)
            if "error" in r:
                raise SystemExit(f"{tool} failed: {r['error']}")
            runs[tool].append(r)
    for tool, ok in runs.items():
        best = min(ok, key=lambda r: r["cpu_s"])
        best["cpu_runs"] = [round(r["cpu_s"], 3) for r in ok]
        results[tool] = best
    env = {"NML_DISABLE_USAGE_LOGGING": "1", "WHYLOGS_NO_ANALYTICS": "True", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for tool, (venv, _) in PEERS.items():
        py = peer_python(venv)
        if not py.exists():
            notes.append(f"{tool}: venv {VENVS / venv} is absent; run with --setup-peers")
            continue
        # NannyML runs twice: as asked (one chunk) and with its default chunking, each timed alone.
        extra = tool == "nannyml" and second_nannyml
        variants = [(tool, "")] + ([(f"{tool}_default_chunks", "default_chunks")] if extra else [])
        for key, variant in variants:
            r = run_tool(py, f"{tool}_drift.py", ref, cur, env, variant)
            if "error" in r:
                notes.append(f"{key}: failed ({r['error']})")
                continue
            results[key] = r
    figures: dict[str, float] = {}
    fw, floor = results["flywheel"], results["floor"]
    fp, fn, _, _ = score(fw["flagged"])
    figures.update(
        {
            "drift_cpu_s": fw["cpu_s"],
            "drift_wall_s": fw["wall_s"],
            "drift_peak_rss_mb": fw["peak_rss_mb"],
            "drift_floor_cpu_s": floor["cpu_s"],
            "drift_floor_wall_s": floor["wall_s"],
            "drift_floor_peak_rss_mb": floor["peak_rss_mb"],
            "drift_cpu_ratio_to_floor": fw["cpu_s"] / floor["cpu_s"],
            "drift_false_pos": fp,
            "drift_false_neg": fn,
        }
    )
    vers = versions()
    vers["flywheel"] = fw["version"]
    for tool in (*PEERS, "nannyml_default_chunks"):
        if tool not in results:
            continue
        r = results[tool]
        fp, fn, _, _ = score(r["flagged"])
        figures[f"{tool}_cpu_s"] = r["cpu_s"]
        figures[f"{tool}_wall_s"] = r["wall_s"]
        figures[f"{tool}_peak_rss_mb"] = r["peak_rss_mb"]
        figures[f"{tool}_false_pos"] = fp
        figures[f"{tool}_false_neg"] = fn
        vers[tool.removesuffix("_default_chunks")] = r["version"]
    return {
        "figures": figures,
        "targets": {k: v for k, v in TARGETS.items() if k in figures},
        "versions": vers,
        "machine": machine(),
        "params": {"rows_per_side": rows, "seed": SEED, "repeat": repeat, "truth": sorted(TRUTH)},
        "tools": results,
        "notes": notes,
    }


def print_table(result: dict[str, Any]) -> None:
    tools = result["tools"]
    print(f"\nPer-column drift, {result['params']['rows_per_side']:,} rows per side, 25 columns, 7 drifted")
    print(f"{'tool':<14}{'version':<10}{'CPU s':>8}{'wall s':>8}{'RSS MB':>8}{'FP':>4}{'FN':>4}  wrong")
    for tool in (
        "flywheel",
        "floor",
        "evidently",
        "nannyml",
        "nannyml_default_chunks",
        "whylogs",
        "alibi_detect",
    ):
        if tool not in tools:
            continue
        r = tools[tool]
        if tool == "floor":
            fp = fn = "-"
            wrong = "(no decision)"
        else:
            nfp, nfn, fps, fns = score(r["flagged"])
            fp, fn = str(nfp), str(nfn)
            wrong = " ".join([f"+{c}" for c in fps] + [f"-{c}" for c in fns])
        label = "  (10 chunks)" if tool == "nannyml_default_chunks" else tool
        print(
            f"{label:<14}{r['version'][:9]:<10}{r['cpu_s']:>8.2f}{r['wall_s']:>8.2f}"
            f"{r['peak_rss_mb']:>8.0f}{fp:>4}{fn:>4}  {wrong}"
        )
    figs = result["figures"]
    print(
        f"\nFlywheel CPU / floor CPU = {figs['drift_cpu_ratio_to_floor']:.2f} (target <= 1.2); "
        f"runs: flywheel {tools['flywheel']['cpu_runs']}, floor {tools['floor']['cpu_runs']}"
    )
    for note in result["notes"]:
        print("note:", note)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="50,000 rows per side instead of 500,000")
    ap.add_argument("--json", type=Path, help="write the result JSON here")
    ap.add_argument("--setup-peers", action="store_true", help="create missing peer venvs first")
    ap.add_argument("--repeat", type=int, default=3, help="runs of Flywheel and of the floor (fastest kept)")
    ap.add_argument("--rows", type=int, help="rows per side (overrides --quick)")
    args = ap.parse_args()
    if args.setup_peers:
        setup_peers()
    rows = args.rows or (50_000 if args.quick else 500_000)
    result = run(rows, max(1, args.repeat), second_nannyml=not args.quick)  # --quick: one NannyML run
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
