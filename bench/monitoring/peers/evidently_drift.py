"""Evidently's default per-column drift: ``Report([DataDriftPreset()])`` with a data definition that
names the numeric and categorical columns. A column counts as flagged when its ``ValueDrift``
metric crosses the preset's default threshold (distance >= threshold; p-value < threshold)."""

from __future__ import annotations

import warnings

from _common import categorical_columns, parse_args, read_table, write_result


def main() -> None:
    warnings.filterwarnings("ignore")
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    args = parse_args()
    ref_t, cur_t = read_table(args.reference), read_table(args.current)
    cats = categorical_columns(ref_t.schema)
    nums = [c for c in ref_t.column_names if c not in cats]
    ref, cur = ref_t.to_pandas(), cur_t.to_pandas()
    definition = DataDefinition(numerical_columns=nums, categorical_columns=cats)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    flagged, scores = [], {}
    for metric in snapshot.dict()["metrics"]:
        cfg = metric.get("config", {})
        if not cfg.get("type", "").endswith("ValueDrift"):
            continue
        col, value, thr = cfg["column"], float(metric["value"]), float(cfg["threshold"])
        is_p_value = "p_value" in cfg.get("method", "").lower().replace("-", "_").replace(" ", "_")
        scores[col] = value
        if (value < thr) if is_p_value else (value >= thr):
            flagged.append(col)
    write_result(args.out, "evidently", evidently.__version__, flagged, scores)


if __name__ == "__main__":
    main()
