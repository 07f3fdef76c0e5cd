"""Training benchmark on Elec2: a static model against models retrained on a recent window with search.

Protocol (rows in their original, half-hourly time order; 45,312 rows, tenths of 4,531):

1. **static**: ``tabular-hgb`` with its default params, fitted on the first 30% of rows; it
   plays the champion throughout.
2. Then one **retrain cycle** at the start of each later tenth (the 4th to the 10th: seven
   cycles). Each cycle sees only what had arrived by its cut and is measured on that tenth,
   the "following tenth" right after its window:

   a. **dataset build**, through the product's dataset service: the rows are events (one every
      30 minutes from 1996-05-07, each with the static model's prediction) that arrived at their
      timestamps, and their labels arrive 30 minutes later; both are written once, before the
      cycles, to a temporary Flywheel store (the event log and the label table, as ingest
      writes them). ``DatasetService.build`` then forms a window snapshot of the 10,000 most
      recent labelled rows *as of* the cut (reading the log and the labels as they stood then),
      split by time: the most recent 10% (1,000 rows) held out for the gate, the older 9,000
      to train on; it stores the snapshot's Parquet as an artifact and records its version.
      ``dataset_build_s`` times that whole call;
   b. **train**: one ``tabular-hgb`` fit with default params on the 9,000 rows (for its
      time, and as a no-search reference);
   c. **search**: ``flywheel.train.search.search`` on the 9,000 rows: 20 Optuna trials (TPE,
      seed 0), validated in time order on their most recent 20% by log-loss; the best params
      are refitted on all 9,000 and the ``baseline`` (majority class) is trained alongside;
   d. **report and gate**: ``build_report`` of the retrained candidate against the static
      champion and the baseline on the window's holdout (1,000 bootstrap resamples, slices by
      time of day), the default ``GatePolicy``, and the standalone HTML page;
   e. **following tenth**: accuracy of the static model, the retrained model, and the model
      the gate would serve (the candidate if it passed, else the static champion).

The headline accuracies are means over the seven following tenths: one cut alone is at the
mercy of the season (the static model, fitted on May 1996 - Feb 1997, falls to 0.63-0.69
mid-stream and recovers in the last two tenths, Jul - Dec 1998). Every cycle is printed.
Figures: ``elec2_accuracy_static``, ``elec2_accuracy_retrained``, ``elec2_retrain_gain``
(retrained minus static), ``elec2_accuracy_gated`` and ``elec2_gated_gain``, ``store_setup_s``
(writing the events and labels to the store, once), the per-cycle
means of ``dataset_build_s``, ``train_s``, ``search_s`` (with refit and baseline) and
``report_s`` (report, gate and HTML), and ``peak_rss_mb`` (``ru_maxrss`` of this process).
No peer tool is run: the comparison that matters here is static against retrained.

Run ``python bench/train/elec2.py [--quick] [--json PATH] [--html PATH]``; ``--quick`` runs
two cycles (the 6th and the 10th tenth) with 5 trials and 200 resamples. ``--html`` writes
the report page of the last cycle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flywheel.datasets.service import DatasetService  # noqa: E402
from flywheel.demo.datasets import load_elec2  # noqa: E402
from flywheel.evaluate import EvalSet, GatePolicy, build_report, gate, render_html  # noqa: E402
from flywheel.ingest.bulk import validate_arrow  # noqa: E402
from flywheel.schema import ModelSpec  # noqa: E402
from flywheel.settings import Settings  # noqa: E402
from flywheel.store import Store, open_store  # noqa: E402
from flywheel.train import TrainingData, get_trainer  # noqa: E402
from flywheel.train.jobs import frame_and_target, split_rows, training_data  # noqa: E402
from flywheel.train.search import search  # noqa: E402

FEATURES = [f"feat_{i}" for i in range(1, 7)]
CLASSES = ["down", "up"]
SPEC = ModelSpec.model_validate(
    {
        "name": "elec2",
        "task": "binary",
        "class_names": CLASSES,
        "features": [{"name": f, "kind": "numeric"} for f in FEATURES],
        "slices": [
            {"name": "night-morning", "expr": "feat_1 < 0.5"},
            {"name": "afternoon-evening", "expr": "feat_1 >= 0.5"},
        ],
    }
)
TRAINER = "tabular-hgb"
WINDOW = 10_000
HOLDOUT = 0.1  # the most recent tenth of the window: the gate's time holdout
START = pd.Timestamp("1996-05-07", tz="UTC")
TARGETS = {
    "elec2_retrain_gain": ">= 0.02",
    "elec2_accuracy_retrained": ">= 0.70",
    "elec2_gated_gain": ">= 0.0",
    "dataset_build_s": "<= 5",
    "train_s": "<= 10",
    "search_s": "<= 300",
    "report_s": "<= 30",
    "peak_rss_mb": "<= 2000",
}


def events_and_labels(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    """Elec2 rows as events (one per half hour) and labels arriving 30 minutes later."""
    n = len(df)
    ts = START + pd.to_timedelta(np.arange(n) * 30, unit="min")
    ids = [f"e{i:06d}" for i in range(n)]
    events = pd.DataFrame(
        {"event_id": ids, "timestamp": ts, "ingested_at": ts}
        | {f"in.{f}": df[f].to_numpy() for f in FEATURES}
    )
    labels = pd.DataFrame(
        {
            "event_id": ids,
            "value": np.where(df["target"].to_numpy() == 1, '"up"', '"down"'),
            "source": "outcome",
            "ingested_at": ts + pd.Timedelta(minutes=30),
        }
    )
    return events, labels, pd.DatetimeIndex(ts)


def elec2_store(root: Path, events: pd.DataFrame, labels: pd.DataFrame, static: Any) -> Store:
    """A Flywheel store holding the Elec2 events (with the static model's predictions) and labels,
    written through the event log and the label table with their arrival times."""
    store = open_store(Settings(data_dir=root, auth=False))
    rec = store.models.register(SPEC).record
    frame = events[[f"in.{f}" for f in FEATURES]].set_axis(FEATURES, axis=1)
    bulk = pa.table(
        {
            "event_id": events["event_id"].to_numpy(),
            "timestamp": pa.array(events["timestamp"], pa.timestamp("us", tz="UTC")),
            "prediction": static.predict(frame).astype(str),
            "model_version": ["static"] * len(events),
        }
        | {c: events[c].to_numpy() for c in events.columns if c.startswith("in.")}
    )
    table = validate_arrow(
        SPEC, rec.spec_version, bulk, now=pd.Timestamp.now(tz="UTC"), max_future_skew_s=300
    )
    arrived = pa.array(events["ingested_at"], table.schema.field("ingested_at").type)
    table = table.set_column(table.column_names.index("ingested_at"), "ingested_at", arrived)
    store.events.append(SPEC.name, table)
    store.events.compact(SPEC.name)
    rows = [
        {
            "label_id": f"outcome-{e}",
            "event_id": e,
            "value": v,
            "source": "outcome",
            "annotator": None,
            "timestamp": t,
            "ingested_at": t,
            "time_spent_s": None,
        }
        for e, v, t in zip(
            labels["event_id"], labels["value"], labels["ingested_at"].dt.to_pydatetime(), strict=True
        )
    ]
    store.labels.add(SPEC.name, rows)
    return store


def window_data(store: Store, as_of: pd.Timestamp) -> tuple[TrainingData, EvalSet]:
    """The window snapshot as of ``as_of``: its older rows to train on, its most recent tenth held out."""
    snap = (
        DatasetService(store)
        .build(
            SPEC.name,
            name="window",
            rule={"kind": "window", "rows": WINDOW},
            split={"by": "time", "holdout": HOLDOUT},
            as_of=as_of.to_pydatetime(),
        )
        .snapshot
    )
    data = training_data(split_rows(snap.table, "train"), SPEC)
    return data, EvalSet(*frame_and_target(split_rows(snap.table, "holdout"), SPEC))


def slice_of(df: pd.DataFrame, lo: int, hi: int) -> tuple[pd.DataFrame, np.ndarray]:
    part = df.iloc[lo:hi].reset_index(drop=True)
    return part[FEATURES], np.where(part["target"].to_numpy() == 1, "up", "down")


def accuracy(model: Any, frame: pd.DataFrame, y: np.ndarray) -> float:
    return float((model.predict(frame) == y).mean())


def versions() -> dict[str, str]:
    import lightgbm
    import optuna
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
        "optuna": optuna.__version__,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"


def cycle(
    df: pd.DataFrame,
    store: Store,
    ts: pd.DatetimeIndex,
    static: Any,
    lo: int,
    hi: int,
    n_trials: int,
    n_boot: int,
) -> dict[str, Any]:
    """One retrain cycle at row ``lo``, measured on rows ``[lo, hi)``, which it never sees."""
    trainer = get_trainer(TRAINER)
    t = time.perf_counter()
    data, holdout = window_data(store, ts[lo])
    build_s = time.perf_counter() - t
    assert data.times is not None and len(data) + len(holdout.target) == WINDOW
    assert data.times.max() < ts[lo - len(holdout.target)].value // 1000  # microseconds

    t = time.perf_counter()
    default_model = trainer.fit(data, {})
    train_s = time.perf_counter() - t

    t = time.perf_counter()
    result = search(TRAINER, data, n_trials=n_trials, seed=0)
    search_s = time.perf_counter() - t
    assert result.model is not None and result.baseline_model is not None

    t = time.perf_counter()
    report = build_report(
        SPEC,
        result.model,
        {"holdout": holdout},
        champion=static,
        baseline=result.baseline_model,
        labels={"candidate": f"retrained ({n_trials} trials)", "champion": "static (first 30%)"},
        n_boot=n_boot,
        seed=0,
    )
    verdict = gate(report, GatePolicy())
    page = render_html(report, verdict)
    report_s = time.perf_counter() - t

    test_frame, test_y = slice_of(df, lo, hi)
    retrained = accuracy(result.model, test_frame, test_y)
    static_acc = accuracy(static, test_frame, test_y)
    return {
        "rows": [lo, hi],
        "static": static_acc,
        "retrained": retrained,
        "gated": retrained if verdict.passed else static_acc,
        "retrained_defaults": accuracy(default_model, test_frame, test_y),
        "baseline": accuracy(result.baseline_model, test_frame, test_y),
        "holdout_static": report.eval_set("holdout").overall.models["champion"].metrics["accuracy"].value,
        "holdout_retrained": report.eval_set("holdout").overall.models["candidate"].metrics["accuracy"].value,
        "dataset_build_s": build_s,
        "train_s": train_s,
        "search_s": search_s,
        "report_s": report_s,
        "trials": len(result.trials),
        "best_valid_log_loss": result.best_value,
        "best_params": result.best_params,
        "gate_passed": verdict.passed,
        "gate_reasons": verdict.reasons,
        "html": page,
    }


def run(quick: bool, html: Path | None) -> dict[str, Any]:
    n_trials, n_boot = (5, 200) if quick else (20, 1000)
    tenths = (5, 9) if quick else tuple(range(3, 10))  # 0-based: the 6th and 10th, or the 4th..10th
    df = load_elec2()
    n = len(df)
    tenth = n // 10
    events, labels, ts = events_and_labels(df)

    n_static = int(n * 0.3)
    frame, y = slice_of(df, 0, n_static)
    t = time.perf_counter()
    static = get_trainer(TRAINER).fit(TrainingData(frame, y, SPEC), {})
    static_fit_s = time.perf_counter() - t

    cycles = []
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-train-") as tmp:
        t = time.perf_counter()
        store = elec2_store(Path(tmp), events, labels, static)
        store_setup_s = time.perf_counter() - t
        try:
            for k in tenths:
                lo, hi = k * tenth, (k + 1) * tenth if k < 9 else n
                c = cycle(df, store, ts, static, lo, hi, n_trials, n_boot)
                c["tenth"] = k + 1
                print(
                    f"tenth {k + 1}: static {c['static']:.4f} retrained {c['retrained']:.4f} "
                    f"({c['dataset_build_s']:.2f} s dataset build, {c['search_s']:.1f} s search)",
                    flush=True,
                )
                cycles.append(c)
        finally:
            store.close()
    if html is not None:
        html.write_text(cycles[-1]["html"], encoding="utf-8")
    for c in cycles:
        del c["html"]

    def mean(key: str) -> float:
        return float(np.mean([c[key] for c in cycles]))

    figures: dict[str, float] = {
        "elec2_accuracy_static": mean("static"),
        "elec2_accuracy_retrained": mean("retrained"),
        "elec2_retrain_gain": mean("retrained") - mean("static"),
        "dataset_build_s": mean("dataset_build_s"),
        "train_s": mean("train_s"),
        "search_s": mean("search_s"),
        "report_s": mean("report_s"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "elec2_accuracy_gated": mean("gated"),
        "elec2_gated_gain": mean("gated") - mean("static"),
        "elec2_accuracy_retrained_defaults": mean("retrained_defaults"),
        "elec2_accuracy_baseline": mean("baseline"),
        "elec2_last_tenth_accuracy_static": cycles[-1]["static"],
        "elec2_last_tenth_accuracy_retrained": cycles[-1]["retrained"],
        "static_fit_s": static_fit_s,
        "store_setup_s": store_setup_s,
        "search_trials": float(n_trials),
        "gates_passed": float(sum(c["gate_passed"] for c in cycles)),
        "cycles": float(len(cycles)),
    }
    return {
        "figures": figures,
        "targets": TARGETS,
        "versions": versions(),
        "machine": machine(),
        "protocol": {
            "rows": n,
            "static_rows": n_static,
            "window_rows": WINDOW,
            "following_tenths": [c["tenth"] for c in cycles],
            "trainer": TRAINER,
            "trials": n_trials,
            "search_metric": "log_loss",
            "n_boot": n_boot,
            "quick": quick,
        },
        "cycles": cycles,
    }


def print_table(res: dict[str, Any]) -> None:
    f, targets = res["figures"], res["targets"]
    print(f"\nElec2 training benchmark ({res['machine']})")
    print(
        "accuracy on the following tenth; the gate judged on the window's own holdout (acc static/retrained there)"
    )
    print(
        f"{'tenth':>5} {'static':>8} {'retrained':>10} {'defaults':>9} {'baseline':>9} {'holdout s/r':>13} "
        f"{'build_s':>8} {'train_s':>8} {'search_s':>9} {'report_s':>9}  gate"
    )
    for c in res["cycles"]:
        print(
            f"{c['tenth']:>5} {c['static']:>8.4f} {c['retrained']:>10.4f} {c['retrained_defaults']:>9.4f} {c['baseline']:>9.4f} "
            f"{c['holdout_static']:>6.3f}/{c['holdout_retrained']:.3f} "
            f"{c['dataset_build_s']:>8.2f} {c['train_s']:>8.2f} {c['search_s']:>9.2f} {c['report_s']:>9.2f}  "
            f"{'passed' if c['gate_passed'] else 'refused'}"
        )
    for c in res["cycles"]:
        for r in c["gate_reasons"]:
            print(f"  tenth {c['tenth']} gate: {r}")
    print(f"\n{'figure':<40} {'value':>10}  target")
    for name, value in f.items():
        print(f"{name:<40} {value:>10.4f}  {targets.get(name, '')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="two cycles, 5 trials, 200 resamples")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--html", type=Path, help="write the last cycle's evaluation report page here")
    args = ap.parse_args(argv)
    res = run(args.quick, args.html)
    print_table(res)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
