"""False alarms on real data: the US census control set at default settings.

The census employment set (ACS PUMS, Massachusetts) has real but harmless input drift from
2015 to 2018 and flat accuracy, so a monitor that alarms here alarms for nothing. Setup,
the same data for every tool:

- model: HistGradientBoosting fitted on a seeded half of the 2015 rows; the other half is
  the reference (its scores and labels calibrate the CBPE, its inputs and outputs are the
  drift reference);
- windows: each analysis year, 2016, 2017 and 2018, against that reference.

Flywheel: per-column drift (``flywheel.monitor.drift.compute_drift``), output drift on the
predicted class and the score, measured performance with intervals, CBPE-estimated
performance, feature importance (permutation, on the reference), fed to the default alert
policy (``flywheel.monitor.policy.evaluate``). Data-quality rules are not part of this run.
Figures: the alerts per year and in all (target 0), per-column drift flags (informational),
and the largest gap between estimated and realised accuracy over the years (target ≤ 0.01).

Peers at their defaults, as subprocesses in their own venvs: NannyML 0.13.1 (univariate drift
with default methods and thresholds, and CBPE, default chunking per year), counted as the
(monitor, year) pairs with at least one alerting full-size chunk (the tiny remainder chunk
NannyML's default chunker leaves is counted only in the ``*_incl_tail_chunk`` figures);
Evidently 0.7.23
(``DataDriftPreset``), counted as drifted columns per year plus data-set drift flags. Model
outputs are included as columns for both, as their quick starts do.

Run ``python bench/monitoring/census_false_alarms.py [--quick] [--json PATH]``.
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

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance

from flywheel.demo.datasets import load_census
from flywheel.monitor.drift.compute import compute_drift
from flywheel.monitor.estimate import CBPE
from flywheel.monitor.performance import classification_metrics
from flywheel.monitor.policy import DriftResult, WindowResults, evaluate

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / "bench" / ".venvs"
PEERS = Path(__file__).resolve().parent / "peers_perf"
NUMERIC = ["AGEP"]
CATEGORICAL = [
    "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE", "DREM", "SEX", "RAC1P",
]  # fmt: skip
FEATURES = NUMERIC + CATEGORICAL
YEARS = (2016, 2017, 2018)
TARGETS = {"census_false_alarms": "== 0", "census_est_acc_max_abs_err": "<= 0.01"}


def setup(quick: bool) -> dict[str, object]:
    ref, ana = load_census()
    perm = np.random.default_rng(0).permutation(len(ref))
    half = len(ref) // 2
    train, hold = ref.iloc[perm[:half]].reset_index(drop=True), ref.iloc[perm[half:]].reset_index(drop=True)
    if quick:
        ana = (
            ana.groupby("year", group_keys=False)
            .sample(n=20_000, random_state=0)
            .sort_index()
            .reset_index(drop=True)
        )
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(train[FEATURES], train["employed"])
    sample = hold.sample(n=min(len(hold), 3000 if quick else 8000), random_state=0)
    imp = permutation_importance(model, sample[FEATURES], sample["employed"], n_repeats=3, random_state=0)
    return {
        "hold": hold,
        "ana": ana,
        "hold_scores": model.predict_proba(hold[FEATURES])[:, 1],
        "ana_scores": model.predict_proba(ana[FEATURES])[:, 1],
        "importance": {f: float(max(v, 0.0)) for f, v in zip(FEATURES, imp.importances_mean, strict=True)},
    }


def flywheel_run(data: dict[str, object]) -> dict[str, object]:
    hold, ana = data["hold"], data["ana"]
    assert isinstance(hold, pd.DataFrame) and isinstance(ana, pd.DataFrame)
    hs, as_ = np.asarray(data["hold_scores"]), np.asarray(data["ana_scores"])
    kinds = {f: ("numeric" if f in NUMERIC else "categorical") for f in FEATURES}
    out_kinds = {"prediction": "categorical", "score": "numeric"}
    t0 = time.process_time()
    cbpe = CBPE().fit(hs, hold["employed"].to_numpy())
    ref_out = {"prediction": (hs >= 0.5).astype(int).astype(str), "score": hs}
    years: dict[str, object] = {}
    for year in YEARS:
        m = (ana["year"] == year).to_numpy()
        part, s, y = ana[m], as_[m], ana["employed"].to_numpy()[m]
        feat = compute_drift(hold[FEATURES], part[FEATURES], kinds)
        outd = compute_drift(
            ref_out, {"prediction": (s >= 0.5).astype(int).astype(str), "score": s}, out_kinds
        )
        measured = classification_metrics(y, proba=s, classes=[0, 1])
        estimated = cbpe.estimate(s)
        results = WindowResults(
            window=str(year),
            feature_drift=[DriftResult.from_column_drift(c) for c in feat],
            output_drift=[DriftResult.from_column_drift(c) for c in outd],
            performance=measured,
            estimated_performance=estimated,
            reference_performance=cbpe.reference_,
            feature_importance=data["importance"],  # type: ignore[arg-type]
        )
        decision = evaluate(results)
        years[str(year)] = {
            "alerts": [a.model_dump() for a in decision.alerts],
            "info": [a.monitor for a in decision.info],
            "flagged_columns": feat.flagged + [f"output:{c}" for c in outd.flagged],
            "largest_effects": {
                d.column: round(d.value / d.threshold, 3)
                for d in results.feature_drift + results.output_drift
            },
            "accuracy": measured["accuracy"].value,
            "accuracy_interval": [measured["accuracy"].lower, measured["accuracy"].upper],
            "estimated_accuracy": estimated["accuracy"].value,
            "estimated_interval": [estimated["accuracy"].lower, estimated["accuracy"].upper],
            "rows": int(m.sum()),
        }
    return {
        "cpu_s": time.process_time() - t0,
        "reference": cbpe.reference_,
        "calibration": cbpe.calibrators_[0].method,
        "years": years,
    }


def peer_inputs(data: dict[str, object], tmp: Path) -> None:
    hold, ana = data["hold"], data["ana"]
    assert isinstance(hold, pd.DataFrame) and isinstance(ana, pd.DataFrame)
    hs, as_ = np.asarray(data["hold_scores"]), np.asarray(data["ana_scores"])
    ref = hold[FEATURES].copy()
    ref["y_pred_proba"], ref["y_pred"], ref["y_true"] = (
        hs,
        (hs >= 0.5).astype(int),
        hold["employed"].to_numpy(),
    )
    cur = ana[FEATURES].copy()
    cur["y_pred_proba"], cur["y_pred"], cur["year"] = as_, (as_ >= 0.5).astype(int), ana["year"].to_numpy()
    ref.to_parquet(tmp / "reference.parquet")
    cur.to_parquet(tmp / "analysis.parquet")
    (tmp / "spec.json").write_text(json.dumps({"continuous": NUMERIC, "categorical": CATEGORICAL}))


def peer_run(tool: str, tmp: Path) -> dict[str, object] | None:
    py = VENVS / tool / "bin" / "python"
    if not py.exists():
        return None
    env = dict(os.environ, NML_DISABLE_USAGE_LOGGING="1")
    out = tmp / f"{tool}.json"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(py), str(PEERS / f"{tool}_census.py"), "--data", str(tmp), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(out.read_text())
    res["wall_s"] = time.perf_counter() - t0
    return res


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"


def run(quick: bool) -> dict[str, object]:
    data = setup(quick)
    fw = flywheel_run(data)
    fy = fw["years"]
    assert isinstance(fy, dict)
    figures: dict[str, float] = {
        "census_false_alarms": float(sum(len(fy[str(y)]["alerts"]) for y in YEARS)),
        "census_drift_flags": float(sum(len(fy[str(y)]["flagged_columns"]) for y in YEARS)),
        "census_est_acc_max_abs_err": max(
            abs(fy[str(y)]["estimated_accuracy"] - fy[str(y)]["accuracy"]) for y in YEARS
        ),
        "census_flywheel_cpu_s": float(fw["cpu_s"]),  # type: ignore[arg-type]
    }
    for y in YEARS:
        figures[f"census_false_alarms_{y}"] = float(len(fy[str(y)]["alerts"]))
        figures[f"census_drift_flags_{y}"] = float(len(fy[str(y)]["flagged_columns"]))
        figures[f"census_acc_{y}"] = fy[str(y)]["accuracy"]
        figures[f"census_est_acc_{y}"] = fy[str(y)]["estimated_accuracy"]
    notes: list[str] = []
    vers = versions()
    peers: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="fw-census-") as tmpdir:
        tmp = Path(tmpdir)
        peer_inputs(data, tmp)
        for tool in ("nannyml", "evidently"):
            res = peer_run(tool, tmp)
            if res is None:
                notes.append(f"{tool}: no venv at {VENVS / tool}; its figures are left out.")
                continue
            peers[tool] = res
            vers[tool] = str(res["version"])
    if "nannyml" in peers:
        ny = peers["nannyml"]["years"]  # type: ignore[index]
        for tag, keep_tail in (("", False), ("_incl_tail_chunk", True)):
            pairs = chunks = cbpe_pairs = 0
            for y in YEARS:
                yr = ny[str(y)]
                rows = yr["chunk_rows"]
                # NannyML's default chunker leaves the remainder of a year as a last, tiny chunk
                # (a handful of rows) that alarms on nearly every column; the headline counts full
                # chunks only, the "_incl_tail_chunk" figures count everything.
                full = [keep_tail or r >= 0.5 * max(rows) for r in rows]
                monitors = {**yr["drift_alerts"], **{f"cbpe:{k}": v for k, v in yr["cbpe_alerts"].items()}}
                hits = {k: sum(a and f for a, f in zip(v, full, strict=True)) for k, v in monitors.items()}
                n_y = sum(1 for v in hits.values() if v > 0)
                figures[f"nannyml_census_false_alarms{tag}_{y}"] = float(n_y)
                pairs += n_y
                chunks += sum(hits.values())
                cbpe_pairs += sum(1 for k, v in hits.items() if k.startswith("cbpe:") and v > 0)
            figures[f"nannyml_census_false_alarms{tag}"] = float(pairs)
            figures[f"nannyml_census_alert_chunks{tag}"] = float(chunks)
            figures[f"nannyml_census_cbpe_alarms{tag}"] = float(cbpe_pairs)
    if "evidently" in peers:
        ey = peers["evidently"]["years"]  # type: ignore[index]
        total = 0
        for y in YEARS:
            yr = ey[str(y)]
            n_y = sum(1 for c in yr["columns"].values() if c["drifted"]) + int(yr["dataset_drift"])
            figures[f"evidently_census_false_alarms_{y}"] = float(n_y)
            total += n_y
        figures["evidently_census_false_alarms"] = float(total)
    return {
        "figures": figures,
        "targets": TARGETS,
        "versions": vers,
        "machine": machine(),
        "quick": quick,
        "flywheel": fw,
        "peers": peers,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--quick", action="store_true", help="a seeded sample of 20,000 rows per analysis year instead of all"
    )
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    result = run(args.quick)
    figs: dict[str, float] = result["figures"]  # type: ignore[assignment]
    fy = result["flywheel"]["years"]  # type: ignore[index]
    print(f"{'year':<6}{'rows':>8}{'alerts':>8}{'drift flags':>13}{'accuracy':>10}{'estimated':>11}"
          f"{'NannyML':>9}{'Evidently':>11}")  # fmt: skip
    for y in YEARS:
        r = fy[str(y)]
        nm = figs.get(f"nannyml_census_false_alarms_{y}")
        ev = figs.get(f"evidently_census_false_alarms_{y}")
        print(
            f"{y:<6}{r['rows']:>8}{len(r['alerts']):>8}{len(r['flagged_columns']):>13}{r['accuracy']:>10.4f}"
            f"{r['estimated_accuracy']:>11.4f}{'-' if nm is None else int(nm):>9}{'-' if ev is None else int(ev):>11}"
        )
        for a in r["alerts"]:
            print(f"      alert: {a['monitor']} ({a['severity']}): {a['message']}")
    print("\nfigures:")
    for k, v in figs.items():
        print(f"  {k:<40} {v:.4f}")
    for note in result["notes"]:  # type: ignore[attr-defined]
        print("note:", note)
    print(result["machine"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
