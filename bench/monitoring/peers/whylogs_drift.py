"""whylogs' drift report: profile both sets with ``why.log`` and score every column with
``calculate_drift_scores`` (KS on numeric, chi-squared on categorical, from the profiles' sketches).
A column is flagged when its ``drift_category`` is ``DRIFT`` (p < 0.05 by default)."""

from __future__ import annotations

import os
import warnings

from _common import parse_args, read_table, write_result

os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")


def main() -> None:
    warnings.filterwarnings("ignore")
    import whylogs as why
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

    args = parse_args()
    ref = read_table(args.reference).to_pandas()
    cur = read_table(args.current).to_pandas()
    ref_view = why.log(ref).view()
    cur_view = why.log(cur).view()
    scores = calculate_drift_scores(target_view=cur_view, reference_view=ref_view, with_thresholds=True)
    flagged = [col for col, s in scores.items() if s and s.get("drift_category") == "DRIFT"]
    write_result(
        args.out, "whylogs", why.__version__, flagged, {c: s["pvalue"] for c, s in scores.items() if s}
    )


if __name__ == "__main__":
    main()
