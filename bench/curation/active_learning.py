"""Active learning benchmark: labels needed to reach 95% of the full-data accuracy.

Pool-based, as the issue sets it: a fixed held-out test split; 20 starting labels; batches of
20 labels; logistic regression (standardised inputs) refitted after every batch; 5 seeds.
The figure is the number of labels at the first batch where test accuracy reaches 95% of the
accuracy of the same model trained on the whole pool (macro-F1 is reported alongside, with
its own 95% mark).

Strategies, all run in this process on the same splits:

- ``random``: random start, random batches;
- ``margin``: random start, the 20 smallest margins (``flywheel.curate`` ``uncertainty``);
- ``margin_kmeans``: random start, margin with a k-means diversity step (``diversity``
  selector: the 200 smallest margins clustered into 20, the event nearest each centre);
- ``policy``: what ``flywheel.curate.policy.CurationPolicy`` does with its *default* config
  and ``budget=20``: the first 20 labels from its cold start (no model yet: k-means centres),
  every batch with its 10% random reserve (2 of 20) for unbiased evaluation;
- ``policy_random_start``: the same policy after the same random 20-label start as the
  baselines, to separate the cold start's share of the gain.

Data: scikit-learn digits (1,797 images; 25% test split, stratified, fixed; pool 1,347;
batches up to 400 labels) and MNIST (``flywheel.demo.datasets.load_mnist``; pool = a fixed
random 10,000 of the 50,000 training images, test = the 10,000 test images; inputs reduced
to 50 PCA components fitted on the pool; batches up to 2,000 labels). A run that never reaches
the mark counts as the budget plus one batch and is listed in ``not_reached``.

Run ``python bench/curation/active_learning.py [--quick] [--json PATH]``; ``--quick`` runs
2 seeds on digits, and 1 seed of MNIST up to 500 labels on a 2,000-image pool.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from flywheel.curate import CandidateBatch, make_selector
from flywheel.curate.policy import CurationPolicy, PolicyConfig

BATCH = 20
START = 20
STRATEGIES = ("random", "margin", "margin_kmeans", "policy", "policy_random_start")
TARGETS = {
    "al_labels_to_95_digits": "<= 90",
    "al_labels_to_95_digits_random": "> al_labels_to_95_digits",
    "al_labels_to_95_mnist": "< al_labels_to_95_mnist_random",
}


@dataclass
class Task:
    name: str
    X_pool: np.ndarray  # model inputs (standardised)
    y_pool: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    max_labels: int
    full_accuracy: float = 0.0
    full_f1: float = 0.0


@dataclass
class Run:
    labels: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)


def fit(task: Task, idx: np.ndarray) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(max_iter=3000).fit(task.X_pool[idx], task.y_pool[idx])


def evaluate(task: Task, model: LogisticRegression) -> tuple[float, float]:
    pred = model.predict(task.X_test)
    return float(accuracy_score(task.y_test, pred)), float(f1_score(task.y_test, pred, average="macro"))


def digits_task() -> Task:
    X, y = load_digits(return_X_y=True)
    Xp, Xt, yp, yt = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xp)
    return Task("digits", scaler.transform(Xp), yp, scaler.transform(Xt), yt, max_labels=400)


def mnist_task(pool_size: int, max_labels: int) -> Task:
    from flywheel.demo.datasets import load_mnist

    data = load_mnist()
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(data["y_train"]), pool_size, replace=False))
    Xp, yp = np.asarray(data["x_train"][pick], dtype=np.float64), data["y_train"][pick]
    Xt, yt = np.asarray(data["x_test"], dtype=np.float64), data["y_test"]
    pca = PCA(50, random_state=0).fit(Xp)
    scaler = StandardScaler().fit(pca.transform(Xp))
    return Task(
        "mnist",
        scaler.transform(pca.transform(Xp)),
        yp,
        scaler.transform(pca.transform(Xt)),
        yt,
        max_labels=max_labels,
    )


Chooser = Callable[[Task, np.ndarray, np.ndarray | None, int, int], list[int]]


def choose_random(task: Task, labelled: np.ndarray, probs: np.ndarray | None, seed: int, r: int) -> list[int]:
    rng = np.random.default_rng([seed, r])
    pool = np.setdiff1d(np.arange(len(task.y_pool)), labelled)
    return rng.choice(pool, min(BATCH, len(pool)), replace=False).tolist()


def _selector_chooser(name: str, **params: object) -> Chooser:
    selector = make_selector(name, **params)

    def choose(task: Task, labelled: np.ndarray, probs: np.ndarray | None, seed: int, r: int) -> list[int]:
        pool = np.setdiff1d(np.arange(len(task.y_pool)), labelled)
        assert probs is not None
        batch = CandidateBatch(pool.astype(str), X=task.X_pool[pool], probabilities=probs[pool])
        scores = selector.score(batch, budget=BATCH)
        return pool[np.argsort(-scores, kind="stable")[:BATCH]].tolist()

    return choose


def choose_policy(task: Task, labelled: np.ndarray, probs: np.ndarray | None, seed: int, r: int) -> list[int]:
    ids = np.arange(len(task.y_pool)).astype(str)
    batch = CandidateBatch(ids, X=task.X_pool, probabilities=probs)
    result = CurationPolicy(PolicyConfig(budget=BATCH, seed=seed * 1000 + r)).run(
        batch, exclude=set(ids[labelled].tolist())
    )
    return [item.index for item in result.items]


CHOOSERS: dict[str, Chooser] = {
    "random": choose_random,
    "margin": _selector_chooser("uncertainty", measure="margin"),
    "margin_kmeans": _selector_chooser(
        "diversity", base="uncertainty", base_params={"measure": "margin"}, prefilter=10, random_state=0
    ),
    "policy": choose_policy,
    "policy_random_start": choose_policy,
}


def run_one(task: Task, strategy: str, seed: int) -> Run:
    rng = np.random.default_rng(seed)
    if strategy == "policy":
        labelled = np.asarray(choose_policy(task, np.zeros(0, np.int64), None, seed, 0), dtype=np.int64)
    else:
        labelled = rng.choice(len(task.y_pool), START, replace=False)
    run = Run()
    r = 1
    while True:
        model = fit(task, labelled)
        acc, f1 = evaluate(task, model)
        run.labels.append(len(labelled))
        run.accuracy.append(acc)
        run.f1.append(f1)
        if acc >= 0.95 * task.full_accuracy and f1 >= 0.95 * task.full_f1:
            return run
        if len(labelled) >= task.max_labels:
            return run
        # Probabilities for the whole pool, columns in class order 0..9 (classes not yet
        # labelled get probability 0).
        probs = np.zeros((len(task.y_pool), 10))
        probs[:, model.classes_] = model.predict_proba(task.X_pool)
        new = CHOOSERS[strategy](task, labelled, probs, seed, r)
        labelled = np.concatenate([labelled, np.asarray(new, dtype=np.int64)])
        r += 1


def labels_to(run: Run, values: list[float], mark: float, max_labels: int) -> int:
    for n, v in zip(run.labels, values, strict=True):
        if v >= mark:
            return n
    return max_labels + BATCH


def bench_task(
    task: Task, seeds: list[int], figures: dict[str, float], rows: list[dict], notes: list[str]
) -> None:
    all_idx = np.arange(len(task.y_pool))
    task.full_accuracy, task.full_f1 = evaluate(task, fit(task, all_idx))
    print(
        f"{task.name}: pool {len(task.y_pool)}, test {len(task.y_test)}, full accuracy {task.full_accuracy:.4f}, "
        f"macro-F1 {task.full_f1:.4f}; mark = 95% of each",
        flush=True,
    )
    for strategy in STRATEGIES:
        t0 = time.perf_counter()
        to_acc, to_f1, final = [], [], []
        for seed in seeds:
            run = run_one(task, strategy, seed)
            to_acc.append(labels_to(run, run.accuracy, 0.95 * task.full_accuracy, task.max_labels))
            to_f1.append(labels_to(run, run.f1, 0.95 * task.full_f1, task.max_labels))
            final.append(run.accuracy[-1])
        row: dict[str, Any] = {
            "task": task.name,
            "strategy": strategy,
            "labels_to_95_accuracy": float(np.mean(to_acc)),
            "labels_to_95_macro_f1": float(np.mean(to_f1)),
            "per_seed": to_acc,
            "not_reached": int(sum(v > task.max_labels for v in to_acc)),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        rows.append(row)
        print(
            f"  {strategy:<22}{row['labels_to_95_accuracy']:>8.1f}{row['labels_to_95_macro_f1']:>10.1f}"
            f"   {to_acc}  ({row['seconds']}s)",
            flush=True,
        )
        suffix = "" if strategy == "policy" else f"_{strategy}"
        figures[f"al_labels_to_95_{task.name}{suffix}"] = row["labels_to_95_accuracy"]
        figures[f"al_labels_to_95_f1_{task.name}{suffix}"] = row["labels_to_95_macro_f1"]
        if row["not_reached"]:
            notes.append(f"{task.name}/{strategy}: {row['not_reached']} seed(s) never reached the mark")
    figures[f"al_full_accuracy_{task.name}"] = task.full_accuracy
    figures[f"al_full_macro_f1_{task.name}"] = task.full_f1


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__}


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


def run(quick: bool, seeds: int | None, tasks: list[str]) -> dict[str, Any]:
    n_seeds = seeds if seeds is not None else (2 if quick else 5)
    seed_list = list(range(n_seeds))
    figures: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    print(f"{'':<24}{'to 95% acc':>10}{'to 95% F1':>10}   per seed (accuracy)")
    if "digits" in tasks:
        bench_task(digits_task(), seed_list, figures, rows, notes)
    if "mnist" in tasks:
        try:
            task = mnist_task(pool_size=2000 if quick else 10000, max_labels=500 if quick else 2000)
            mnist_seeds = seed_list[:1] if quick else seed_list
        except Exception as exc:  # the data-set cache may be missing on this machine
            notes.append(f"MNIST skipped: {exc}")
        else:
            bench_task(task, mnist_seeds, figures, rows, notes)
    return {
        "figures": figures,
        "targets": TARGETS,
        "versions": versions(),
        "machine": machine(),
        "quick": quick,
        "seeds": seed_list,
        "rows": rows,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="2 seeds on digits; 1 seed of MNIST on a 2,000 pool up to 500 labels",
    )
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--seeds", type=int, help="number of seeds (default 5, quick 2)")
    ap.add_argument("--tasks", default="digits,mnist", help="comma-separated: digits, mnist")
    args = ap.parse_args(argv)
    result = run(args.quick, args.seeds, args.tasks.split(","))
    print("\nfigures:")
    for k, v in result["figures"].items():
        print(f"  {k:<44} {v:.4f}")
    for note in result["notes"]:
        print("note:", note)
    print(result["machine"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
