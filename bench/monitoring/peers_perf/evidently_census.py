"""Evidently at its defaults on the census control set; runs in bench/.venvs/evidently.

Reads ``reference.parquet``, ``analysis.parquet`` (with ``year``) and ``spec.json`` (numeric and
categorical column names) from ``--data``; for each analysis year runs Evidently's
``DataDriftPreset`` (default per-column methods and thresholds, default drift share) against
the reference, the model outputs included as columns. Writes per year each column's method,
threshold, value and whether it drifted, and the data-set drift flag, to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import evidently
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def drifted(method: str, value: float, threshold: float) -> bool:
    # Evidently's statistical tests report p-values (drift when below); distances drift when above.
    if "p_value" in method:
        return value < threshold
    return value >= threshold


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
    numeric = spec["continuous"] + ["y_pred_proba"]
    categorical = spec["categorical"] + ["y_pred"]
    cols = numeric + categorical
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    reference = Dataset.from_pandas(ref[cols], data_definition=definition)
    t0 = time.perf_counter()
    years: dict[str, object] = {}
    for year, part in ana.groupby("year"):
        current = Dataset.from_pandas(part[cols].reset_index(drop=True), data_definition=definition)
        snap = Report([DataDriftPreset()]).run(current, reference).dict()
        columns = {}
        dataset_drift = False
        for m in snap["metrics"]:
            cfg = m["config"]
            if cfg.get("type", "").endswith("ValueDrift"):
                v = float(m["value"])
                columns[cfg["column"]] = {
                    "method": cfg["method"],
                    "threshold": cfg["threshold"],
                    "value": v,
                    "drifted": drifted(cfg["method"], v, cfg["threshold"]),
                }
            elif cfg.get("type", "").endswith("DriftedColumnsCount"):
                dataset_drift = float(m["value"]["share"]) >= float(cfg["drift_share"])
        years[str(year)] = {"columns": columns, "dataset_drift": dataset_drift}
    out = {"version": evidently.__version__, "seconds": time.perf_counter() - t0, "years": years}
    with open(args.out, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
