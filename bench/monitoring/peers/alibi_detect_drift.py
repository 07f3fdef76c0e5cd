"""alibi-detect's default tabular detector: ``TabularDrift(x_ref, p_val=0.05,
categories_per_feature=...)`` (KS per numeric feature, chi-squared per categorical feature,
Bonferroni correction by default), ``predict(x, drift_type="feature")``; a column is flagged when its
``is_drift`` is set. Categories are encoded as integer codes shared by both sets."""

from __future__ import annotations

import os
import warnings

from _common import categorical_columns, parse_args, read_table, write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    warnings.filterwarnings("ignore")
    import numpy as np
    from alibi_detect.cd import TabularDrift
    from alibi_detect.version import __version__

    args = parse_args()
    ref_t, cur_t = read_table(args.reference), read_table(args.current)
    cats = set(categorical_columns(ref_t.schema))
    cols = list(ref_t.column_names)
    x_ref = np.empty((ref_t.num_rows, len(cols)), dtype=np.float32)
    x_cur = np.empty((cur_t.num_rows, len(cols)), dtype=np.float32)
    categories: dict[int, int | None] = {}
    for j, col in enumerate(cols):
        if col in cats:
            ref_vals = ref_t.column(col).to_pandas().astype(str).to_numpy()
            cur_vals = cur_t.column(col).to_pandas().astype(str).to_numpy()
            labels = {v: i for i, v in enumerate(sorted(set(ref_vals) | set(cur_vals)))}
            x_ref[:, j] = [labels[v] for v in ref_vals]
            x_cur[:, j] = [labels[v] for v in cur_vals]
            categories[j] = None
        else:
            x_ref[:, j] = ref_t.column(col).to_numpy()
            x_cur[:, j] = cur_t.column(col).to_numpy()
    detector = TabularDrift(x_ref, p_val=0.05, categories_per_feature=categories)
    pred = detector.predict(x_cur, drift_type="feature")["data"]
    flagged = [col for col, d in zip(cols, pred["is_drift"], strict=True) if int(d)]
    write_result(args.out, "alibi-detect", __version__, flagged, dict(zip(cols, pred["p_val"], strict=True)))


if __name__ == "__main__":
    main()
