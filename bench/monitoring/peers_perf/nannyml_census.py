"""NannyML at its defaults on the census control set; runs in bench/.venvs/nannyml.

Reads ``reference.parquet`` and ``analysis.parquet`` from ``--data`` (feature columns,
``y_pred_proba``, ``y_pred``, ``y_true`` in the reference, ``year`` in the analysis) and a
``spec.json`` naming the continuous and categorical columns. Fits NannyML's univariate drift
calculator (default methods and thresholds; the model outputs included as columns, as
NannyML's quick start does) and its CBPE (accuracy, F1, ROC AUC; default thresholds) on the
reference, then runs each analysis year on its own with NannyML's default chunking. Writes
per year: the rows of each chunk, each chunk's alert flag per column and per CBPE metric,
and CBPE's estimated accuracy per chunk, to ``--out`` as JSON.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    ref = pd.read_parquet(os.path.join(args.data, "reference.parquet"))
    ana = pd.read_parquet(os.path.join(args.data, "analysis.parquet"))
    with open(os.path.join(args.data, "spec.json")) as fh:
        spec = json.load(fh)
    columns = spec["continuous"] + spec["categorical"] + ["y_pred", "y_pred_proba"]
    t0 = time.perf_counter()
    drift = nml.UnivariateDriftCalculator(
        column_names=columns, treat_as_categorical=spec["categorical"] + ["y_pred"]
    )
    drift.fit(ref)
    cbpe = nml.CBPE(
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="y_true",
        problem_type="classification_binary",
        metrics=["accuracy", "f1", "roc_auc"],
    )
    cbpe.fit(ref)
    years: dict[str, object] = {}
    for year, part in ana.groupby("year"):
        data = part.drop(columns=["year"])
        dres = drift.calculate(data).filter(period="analysis").to_df()
        col_alerts = {}
        for col in columns:
            for method in dres[col].columns.get_level_values(0).unique():
                col_alerts[f"{col}:{method}"] = [bool(v) for v in dres[(col, method, "alert")].tolist()]
        cres = cbpe.estimate(data).filter(period="analysis").to_df()
        perf_alerts = {
            m: [bool(v) for v in cres[(m, "alert")].tolist()] for m in ("accuracy", "f1", "roc_auc")
        }
        years[str(year)] = {
            "chunk_rows": [
                int(e - s + 1)
                for s, e in zip(cres[("chunk", "start_index")], cres[("chunk", "end_index")], strict=True)
            ],
            "drift_alerts": col_alerts,
            "cbpe_alerts": perf_alerts,
            "cbpe_accuracy": [float(v) for v in cres[("accuracy", "value")].tolist()],
        }
    out = {"version": nml.__version__, "seconds": time.perf_counter() - t0, "years": years}
    with open(args.out, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
