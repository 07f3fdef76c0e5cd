"""Label-error benchmark: find flipped labels in scikit-learn digits, against cleanlab.

For each noise rate (2%, 5%, 10%, 20%) and seed, that share of the 1,797 digit labels is
flipped to a uniformly random *other* class. Out-of-fold probabilities (5-fold, stratified)
come from :func:`flywheel.label.label_errors.out_of_fold_probabilities` with an ensemble of
an SVC (temperature-calibrated) and a 10-nearest-neighbour classifier on the noisy labels.
Flywheel's :func:`find_label_errors` (default: the confident joint's estimated count, worst
normalised margins first) and cleanlab 2.9.0's ``find_label_issues`` (every ``filter_by``
variant; its default is ``prune_by_noise_rate``) then flag rows from the **same**
probabilities, passed to cleanlab as .npy files. Precision, recall and F1 are against the
true flips, averaged over seeds.

As a second, weaker model the whole comparison is repeated on probabilities from a single
logistic regression (``*_lr`` figures), where the issue's cleanlab figures (default 0.79, best
variant 0.88) come from.

cleanlab runs as a subprocess in ``bench/.venvs/cleanlab`` (``python3 -m venv
bench/.venvs/cleanlab && bench/.venvs/cleanlab/bin/pip install cleanlab==2.9.0``); without it
its figures are left out, with a note.

Run ``python bench/curation/label_errors.py [--quick] [--json PATH]``; ``--quick`` runs 5%
noise only, 2 seeds.
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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from flywheel.label.label_errors import find_label_errors, out_of_fold_probabilities

ROOT = Path(__file__).resolve().parents[2]
CLEANLAB_PY = ROOT / "bench" / ".venvs" / "cleanlab" / "bin" / "python"
PEER = Path(__file__).resolve().parent / "peers" / "cleanlab_find_issues.py"
RATES = (0.02, 0.05, 0.10, 0.20)
TARGETS = {
    "label_error_f1_5pct": ">= 0.90",
    "cleanlab_label_error_f1_5pct": "< label_error_f1_5pct",
}


def flip(y: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``rate`` of the labels moved to a uniformly random other class; returns (noisy, flipped rows)."""
    rng = np.random.default_rng(seed)
    k = int(y.max()) + 1
    rows = rng.choice(len(y), int(round(rate * len(y))), replace=False)
    noisy = y.copy()
    noisy[rows] = (y[rows] + rng.integers(1, k, len(rows))) % k
    return noisy, np.sort(rows)


def models(kind: str) -> list[object]:
    if kind == "ensemble":
        svc = CalibratedClassifierCV(SVC(), method="temperature", ensemble=False, cv=5)
        return [make_pipeline(StandardScaler(), svc), KNeighborsClassifier(n_neighbors=10)]
    return [make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))]


def prf(flagged: set[int], truth: set[int]) -> tuple[float, float, float]:
    tp = len(flagged & truth)
    p = tp / len(flagged) if flagged else 0.0
    r = tp / len(truth) if truth else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def pct(rate: float) -> str:
    return f"{round(rate * 100)}pct"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__}
    if CLEANLAB_PY.exists():
        out["cleanlab"] = subprocess.run(
            [str(CLEANLAB_PY), "-c", "import cleanlab; print(cleanlab.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    return out


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


def run(quick: bool) -> dict[str, Any]:
    X, y = load_digits(return_X_y=True)
    rates = (0.05,) if quick else RATES
    seeds = range(2 if quick else 5)
    kinds = ("ensemble",) if quick else ("ensemble", "lr")
    notes: list[str] = []
    cases: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            for rate in rates:
                for seed in seeds:
                    noisy, rows = flip(y, rate, seed)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        probs = out_of_fold_probabilities(
                            models(kind), X, noisy, n_splits=5, random_state=seed
                        )
                    case = f"{kind}_{pct(rate)}_s{seed}"
                    np.save(Path(tmp) / f"{case}.labels.npy", noisy)
                    np.save(Path(tmp) / f"{case}.probs.npy", probs)
                    truth = set(rows.tolist())
                    ours = {
                        method: prf({i.index for i in find_label_errors(noisy, probs, method=method)}, truth)
                        for method in ("rank_count", "confident_joint", "argmax")
                    }
                    cases[case] = {"kind": kind, "rate": rate, "seed": seed, "truth": truth, "flywheel": ours}
                print(
                    f"  probabilities ({kind}, {pct(rate)}) done at {time.perf_counter() - t0:.0f}s",
                    flush=True,
                )
        peer: dict[str, dict[str, list[int]]] = {}
        if CLEANLAB_PY.exists():
            proc = subprocess.run(
                [str(CLEANLAB_PY), str(PEER), tmp], capture_output=True, text=True, check=False, timeout=1800
            )
            if proc.returncode == 0:
                peer = json.loads(proc.stdout)
            else:
                notes.append(f"cleanlab failed: {proc.stderr.strip()[-500:]}")
        else:
            notes.append(f"cleanlab figures left out: {CLEANLAB_PY} is missing")

    rows_out: list[dict[str, Any]] = []
    figures: dict[str, float] = {}
    for kind in kinds:
        for rate in rates:
            group = [c for name, c in cases.items() if c["kind"] == kind and c["rate"] == rate]
            names = [n for n, c in cases.items() if c["kind"] == kind and c["rate"] == rate]
            row: dict[str, Any] = {"probabilities": kind, "noise": rate}
            for method in ("rank_count", "confident_joint", "argmax"):
                p, r, f = np.mean([c["flywheel"][method] for c in group], axis=0)
                row[f"flywheel_{method}"] = {"precision": p, "recall": r, "f1": f}
            if peer:
                variants = {}
                for variant in next(iter(peer.values())):
                    scores = [
                        prf(set(peer[n][variant]), c["truth"]) for n, c in zip(names, group, strict=True)
                    ]  # type: ignore[arg-type]
                    p, r, f = np.mean(scores, axis=0)
                    variants[variant] = {"precision": p, "recall": r, "f1": f}
                row["cleanlab"] = variants
            rows_out.append(row)
            suffix = pct(rate) + ("" if kind == "ensemble" else "_lr")
            ours = row["flywheel_rank_count"]
            figures[f"label_error_f1_{suffix}"] = ours["f1"]
            figures[f"label_error_precision_{suffix}"] = ours["precision"]
            figures[f"label_error_recall_{suffix}"] = ours["recall"]
            if peer:
                cl = row["cleanlab"]
                figures[f"cleanlab_label_error_f1_{suffix}"] = cl["prune_by_noise_rate"]["f1"]
                figures[f"cleanlab_best_label_error_f1_{suffix}"] = max(v["f1"] for v in cl.values())
    return {
        "figures": figures,
        "targets": TARGETS,
        "versions": versions(),
        "machine": machine(),
        "quick": quick,
        "seeds": list(seeds),
        "rows": rows_out,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--quick", action="store_true", help="5%% noise only, 2 seeds, ensemble probabilities only"
    )
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    result = run(args.quick)
    print(f"\n{'probabilities':<14}{'noise':>6}  {'method':<34}{'precision':>10}{'recall':>8}{'F1':>8}")
    for row in result["rows"]:
        entries = [
            (f"flywheel {m}", row[f"flywheel_{m}"]) for m in ("rank_count", "confident_joint", "argmax")
        ]
        entries += [(f"cleanlab {v}", s) for v, s in row.get("cleanlab", {}).items()]
        for name, s in entries:
            print(
                f"{row['probabilities']:<14}{row['noise']:>6.0%}  {name:<34}"
                f"{s['precision']:>10.3f}{s['recall']:>8.3f}{s['f1']:>8.3f}"
            )
    print("\nfigures:")
    for k, v in result["figures"].items():
        print(f"  {k:<44} {v:.4f}")
    for note in result["notes"]:
        print("note:", note)
    print(result["machine"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = json.loads(
            json.dumps(result, default=lambda o: sorted(o) if isinstance(o, set) else str(o))
        )
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
