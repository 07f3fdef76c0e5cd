"""NannyML CBPE on windows chosen by the caller; runs in bench/.venvs/nannyml.

Reads ``reference.parquet`` (columns ``y_pred_proba``, ``y_pred``, ``y_true``, ``window``,
``group``) and ``analysis.parquet`` (``y_pred_proba``, ``y_pred``, ``window``, ``group``)
from ``--data``. For each ``group`` it fits NannyML's CBPE (binary, its default isotonic
calibration) on that group's reference rows and estimates accuracy, F1 and ROC AUC for each
of that group's analysis windows. The ``window`` column fixes the chunks, so both tools see
exactly the same rows per window. Writes JSON to ``--out``: ``{"windows": [...],
"accuracy": [...], "f1": [...], "roc_auc": [...], "alerts": {...}, "version": "...",
"fit_s": ..., "estimate_s": ...}`` with windows in group order.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import nannyml as nml  # noqa: E402
import pandas as pd  # noqa: E402
from nannyml.chunk import Chunk, Chunker  # noqa: E402


class WindowChunker(Chunker):
    """One chunk per distinct value of the ``window`` column, in order of first appearance."""

    def _split(self, data: pd.DataFrame) -> list[Chunk]:
        return [
            Chunk(key=str(w), data=part.drop(columns=["window"]))
            for w, part in data.groupby("window", sort=False)
        ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    ref = pd.read_parquet(os.path.join(args.data, "reference.parquet"))
    ana = pd.read_parquet(os.path.join(args.data, "analysis.parquet"))
    out: dict[str, list] = {"windows": [], "accuracy": [], "f1": [], "roc_auc": []}
    alerts: dict[str, list] = {"accuracy": [], "f1": [], "roc_auc": []}
    fit_s = estimate_s = 0.0
    for g in sorted(ref["group"].unique()):
        t0 = time.perf_counter()
        est = nml.CBPE(
            y_pred_proba="y_pred_proba",
            y_pred="y_pred",
            y_true="y_true",
            problem_type="classification_binary",
            metrics=["accuracy", "f1", "roc_auc"],
            chunker=WindowChunker(),
        )
        est.fit(ref[ref["group"] == g].drop(columns=["group"]))
        t1 = time.perf_counter()
        res = est.estimate(ana[ana["group"] == g].drop(columns=["group"])).filter(period="analysis").to_df()
        t2 = time.perf_counter()
        fit_s += t1 - t0
        estimate_s += t2 - t1
        out["windows"] += [str(k) for k in res[("chunk", "key")].tolist()]
        for m in ("accuracy", "f1", "roc_auc"):
            out[m] += [float(v) for v in res[(m, "value")].tolist()]
            alerts[m] += [bool(v) for v in res[(m, "alert")].tolist()]
    result = {**out, "alerts": alerts, "version": nml.__version__, "fit_s": fit_s, "estimate_s": estimate_s}
    with open(args.out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
