"""Estimated performance benchmark: Flywheel's CBPE against NannyML's CBPE on real data.

Both tools get the same model scores and predictions, the same labelled reference and the
same windows; each estimates accuracy (and F1, ROC AUC) per window without labels, and the
figure is the mean absolute error against the realised value.

- **Elec2** (concept drift): a HistGradientBoosting model fitted on the first 20% of rows
  in time order; reference = the next 10% (rows 20-30%, not used for fitting); windows =
  the remaining 70% in chunks of 2,000 rows. The relation between inputs and target
  changes over the stream, which no confidence-based estimator can see: expect large errors
  from every CBPE here.
- **Census** (no concept drift): a model fitted on a seeded half of the 2015 reference;
  the other half is the CBPE reference; windows = the 2016-2018 analysis rows in chunks of
  5,000 (in year order), and also one window per year.

Extra figures: the label-delayed variant (``*_delayed_labels``: labels arrive one window
late; before each window Flywheel calls ``CBPE.observe`` on the previous window, NannyML
is refitted on it, its natural way to use new labels), F1 and AUC errors, and a
persistence baseline (the previous window's realised accuracy) to read the errors against.

Run ``python bench/monitoring/cbpe.py [--quick] [--json PATH]``. NannyML runs as a
subprocess in ``bench/.venvs/nannyml`` (``nannyml==0.13.1`` + ``statsmodels``); its
figures are left out, with a note, when that venv is missing.
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier

from flywheel.demo.datasets import load_census, load_elec2
from flywheel.monitor.estimate import CBPE

ROOT = Path(__file__).resolve().parents[2]
NANNYML_PY = ROOT / "bench" / ".venvs" / "nannyml" / "bin" / "python"
PEER = Path(__file__).resolve().parent / "peers_perf" / "nannyml_cbpe.py"
CENSUS_FEATURES = [
    "AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE", "DREM", "SEX",
    "RAC1P",
]  # fmt: skip
TARGETS = {
    "cbpe_mae_elec2": "< nannyml_cbpe_mae_elec2",
    "cbpe_mae_census": "< nannyml_cbpe_mae_census",
}


@dataclass
class Case:
    """One data set: reference and analysis scores/labels, and the window of each analysis row."""

    name: str
    ref_scores: np.ndarray
    ref_y: np.ndarray
    scores: np.ndarray
    y: np.ndarray
    window: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def windows(self) -> list[int]:
        return sorted(set(self.window.tolist()))

    def realised(self) -> np.ndarray:
        return np.array(
            [
                np.mean((self.scores[self.window == w] >= 0.5) == self.y[self.window == w])
                for w in self.windows
            ]
        )


def elec2_case() -> Case:
    d = load_elec2()
    feats = [f"feat_{i}" for i in range(1, 7)]
    x, y = d[feats].to_numpy(), d["target"].to_numpy()
    n = len(d)
    fit_end, ref_end = int(0.2 * n), int(0.3 * n)
    model = HistGradientBoostingClassifier(random_state=0).fit(x[:fit_end], y[:fit_end])
    s = model.predict_proba(x)[:, 1]
    window = (np.arange(n - ref_end)) // 2000
    return Case("elec2", s[fit_end:ref_end], y[fit_end:ref_end], s[ref_end:], y[ref_end:], window)


def census_case(by: str, quick: bool) -> Case:
    ref, ana = load_census()
    perm = np.random.default_rng(0).permutation(len(ref))
    half = len(ref) // 2
    train, calib = ref.iloc[perm[:half]], ref.iloc[perm[half:]]
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(train[CENSUS_FEATURES], train["employed"])
    if quick:
        ana = (
            ana.groupby("year", group_keys=False)
            .sample(n=15_000, random_state=0)
            .sort_index()
            .reset_index(drop=True)
        )
    s = model.predict_proba(ana[CENSUS_FEATURES])[:, 1]
    window = (ana["year"].to_numpy() - 2016) if by == "year" else np.arange(len(ana)) // 5000
    rs = model.predict_proba(calib[CENSUS_FEATURES])[:, 1]
    return Case(f"census_{by}", rs, calib["employed"].to_numpy(), s, ana["employed"].to_numpy(), window)


def flywheel_estimates(case: Case, delayed: bool) -> tuple[dict[str, list[float]], float, str]:
    """Estimated metrics per window; with ``delayed``, ``observe`` each previous window's labels."""
    t0 = time.process_time()
    out: dict[str, list[float]] = {"accuracy": [], "f1": [], "roc_auc": []}
    est = CBPE(n_sim=0).fit(case.ref_scores, case.ref_y)
    for i, w in enumerate(case.windows):
        if delayed and i > 0:
            prev = case.window == case.windows[i - 1]
            est.observe(case.scores[prev], case.y[prev])
        res = est.estimate(case.scores[case.window == w])
        for k in out:
            v = res[k].value
            out[k].append(float("nan") if v is None else v)
    return out, time.process_time() - t0, est.calibrators_[0].method


def realised_metrics(case: Case) -> dict[str, np.ndarray]:
    from sklearn.metrics import f1_score, roc_auc_score

    acc, f1, auc = [], [], []
    for w in case.windows:
        m = case.window == w
        pred = case.scores[m] >= 0.5
        acc.append(np.mean(pred == case.y[m]))
        f1.append(f1_score(case.y[m], pred))
        auc.append(roc_auc_score(case.y[m], case.scores[m]) if len(set(case.y[m])) == 2 else np.nan)
    return {"accuracy": np.array(acc), "f1": np.array(f1), "roc_auc": np.array(auc)}


def _frame(
    scores: np.ndarray, window: np.ndarray, group: int | np.ndarray, y: np.ndarray | None = None
) -> pd.DataFrame:
    f = pd.DataFrame(
        {"y_pred_proba": scores, "y_pred": (scores >= 0.5).astype(int), "window": window, "group": group}
    )
    if y is not None:
        f["y_true"] = y.astype(int)
    return f


def nannyml_estimates(jobs: list[tuple[Case, bool]], tmp: Path) -> list[dict[str, list[float]]]:
    """NannyML's estimates for the same windows, for every ``(case, delayed)`` job in one subprocess.

    A reference is chunked into 10 equal parts (NannyML's default chunk count) for its
    thresholds. With ``delayed``, window ``i`` is estimated by a CBPE refitted on window
    ``i - 1`` (its labels having arrived), the first window by the one fitted on the reference.
    """

    def tenths(n: int) -> np.ndarray:
        return np.arange(n) * 10 // n

    refs, anas, spans = [], [], []
    g = 0
    for case, delayed in jobs:
        first = g
        refs.append(_frame(case.ref_scores, tenths(len(case.ref_y)), g, case.ref_y))
        group = np.full(len(case.window), g)
        if delayed:
            for i, w in enumerate(case.windows[1:], start=1):
                prev = case.window == case.windows[i - 1]
                group[case.window == w] = g + i
                refs.append(_frame(case.scores[prev], tenths(int(prev.sum())), g + i, case.y[prev]))
            g += len(case.windows) - 1
        anas.append(_frame(case.scores, case.window, group))
        g += 1
        spans.append((first, len(case.windows)))
    pd.concat(refs, ignore_index=True).to_parquet(tmp / "reference.parquet")
    pd.concat(anas, ignore_index=True).to_parquet(tmp / "analysis.parquet")
    proc = subprocess.run(
        [str(NANNYML_PY), str(PEER), "--data", str(tmp), "--out", str(tmp / "out.json")],
        env=dict(os.environ, NML_DISABLE_USAGE_LOGGING="1"),
        capture_output=True,
        text=True,
        timeout=3000,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"NannyML peer failed:\n{proc.stderr[-3000:]}")
    out = json.loads((tmp / "out.json").read_text())
    results, pos = [], 0
    for (case, _), (_, count) in zip(jobs, spans, strict=True):
        if out["windows"][pos : pos + count] != [str(w) for w in case.windows]:
            raise RuntimeError(f"NannyML chunks differ from the windows of {case.name}")
        results.append({k: out[k][pos : pos + count] for k in ("accuracy", "f1", "roc_auc")})
        pos += count
    return results


def mae(est: list[float] | np.ndarray, real: np.ndarray) -> float:
    e = np.asarray(est, dtype=float)
    ok = np.isfinite(e) & np.isfinite(real)
    return float(np.mean(np.abs(e[ok] - real[ok])))


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
    figures: dict[str, float] = {}
    notes: list[str] = []
    vers = versions()
    peer_ok = NANNYML_PY.exists()
    if not peer_ok:
        notes.append(f"NannyML venv missing at {NANNYML_PY}: create it with nannyml==0.13.1 and statsmodels.")
    cases = {"elec2": elec2_case(), "census": census_case("chunk", quick)}
    if not quick:
        cases["census_year"] = census_case("year", quick)
    # Label-delayed runs refit NannyML once per window; --quick keeps them for Elec2 only.
    jobs = [
        (k, d)
        for k in cases
        for d in (False, True)
        if not (d and (k == "census_year" or quick and k != "elec2"))
    ]
    rows: list[dict[str, object]] = []
    nm_results = []
    if peer_ok:
        with tempfile.TemporaryDirectory(prefix="fw-cbpe-") as tmpdir:
            t0 = time.perf_counter()
            nm_results = nannyml_estimates([(cases[k], d) for k, d in jobs], Path(tmpdir))
            figures["nannyml_wall_s"] = time.perf_counter() - t0
    for j, (key, delayed) in enumerate(jobs):
        case = cases[key]
        real = realised_metrics(case)
        suffix = "_delayed_labels" if delayed else ""
        fw, cpu_s, method = flywheel_estimates(case, delayed)
        for metric, tag in (("accuracy", ""), ("f1", "_f1"), ("roc_auc", "_auc")):
            figures[f"cbpe{tag}_mae_{key}{suffix}"] = mae(fw[metric], real[metric])
            if nm_results:
                figures[f"nannyml_cbpe{tag}_mae_{key}{suffix}"] = mae(nm_results[j][metric], real[metric])
        figures[f"cbpe_cpu_s_{key}{suffix}"] = cpu_s
        row: dict[str, object] = {"case": key + suffix, "windows": len(case.windows), "calibration": method}
        row["flywheel"] = figures[f"cbpe_mae_{key}{suffix}"]
        if nm_results:
            row["nannyml"] = figures[f"nannyml_cbpe_mae_{key}{suffix}"]
        rows.append(row)
        if not delayed:
            acc = real["accuracy"]
            figures[f"persistence_mae_{key}"] = (
                float(np.mean(np.abs(np.diff(acc)))) if len(acc) > 1 else float("nan")
            )
            figures[f"realised_acc_min_{key}"] = float(acc.min())
            figures[f"realised_acc_max_{key}"] = float(acc.max())
    if peer_ok:
        vers["nannyml"] = subprocess.run(
            [str(NANNYML_PY), "-c", "import nannyml; print(nannyml.__version__)"],
            capture_output=True,
            text=True,
            env=dict(os.environ, NML_DISABLE_USAGE_LOGGING="1"),
        ).stdout.strip()
    return {
        "figures": figures,
        "targets": TARGETS,
        "versions": vers,
        "machine": machine(),
        "quick": quick,
        "rows": rows,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a seeded sample of 15,000 census rows per year, no per-year or label-delayed census runs",
    )
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    result = run(args.quick)
    rows = result["rows"]
    print(f"{'case':<28}{'windows':>8}{'Flywheel MAE':>14}{'NannyML MAE':>13}  calibration")
    for r in rows:  # type: ignore[attr-defined]
        nm = f"{r['nannyml']:.4f}" if "nannyml" in r else "-"
        print(f"{r['case']:<28}{r['windows']:>8}{r['flywheel']:>14.4f}{nm:>13}  {r['calibration']}")
    figs = result["figures"]
    print("\nfigures:")
    for k, v in figs.items():  # type: ignore[attr-defined]
        print(f"  {k:<44} {v:.4f}")
    for note in result["notes"]:  # type: ignore[attr-defined]
        print("note:", note)
    print(result["machine"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
