"""Flywheel's per-column drift at default settings (compute_drift), as one whole process."""

from __future__ import annotations

from _common import categorical_columns, parse_args, read_table, write_result

from flywheel.monitor.drift import compute_drift


def main() -> None:
    args = parse_args()
    ref = read_table(args.reference)
    cur = read_table(args.current)
    cats = set(categorical_columns(ref.schema))
    kinds = {n: "categorical" if n in cats else "numeric" for n in ref.column_names}
    report = compute_drift(ref, cur, kinds)
    scores = {}
    for c in report:
        key = "wasserstein" if c.kind == "numeric" else "jensen_shannon"
        scores[c.name] = c.metrics[key]
    import flywheel

    write_result(args.out, "flywheel", flywheel.__version__, report.flagged, scores)


if __name__ == "__main__":
    main()
