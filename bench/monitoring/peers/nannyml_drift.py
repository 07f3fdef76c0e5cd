"""NannyML's default univariate drift: ``UnivariateDriftCalculator`` with its default methods
(Jensen–Shannon for continuous and categorical columns) and default thresholds (reference mean +- 3
standard deviations over reference chunks), the analysis set as one chunk (``chunk_number=1``), as
the benchmark asks. A column is flagged when its analysis chunk alerts.

With a single reference chunk the standard-deviation threshold has nothing to measure spread on,
so ``--variant default_chunks`` runs NannyML with its default chunking instead (a column is flagged
when any of its analysis chunks alerts); the benchmark reports it on a row of its own."""

from __future__ import annotations

import os
import warnings

from _common import categorical_columns, parse_args, read_table, write_result

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")


def _flagged(calc_kwargs: dict, ref, cur, columns: list[str]) -> tuple[list[str], dict]:
    import nannyml as nml

    calc = nml.UnivariateDriftCalculator(**calc_kwargs)
    calc.fit(ref)
    df = calc.calculate(cur).filter(period="analysis").to_df()
    flagged, scores = [], {}
    for col in columns:
        sub = df[col]
        method = sub.columns.get_level_values(0)[0]
        scores[col] = float(sub[(method, "value")].max())
        if bool(sub[(method, "alert")].any()):
            flagged.append(col)
    return flagged, scores


def main() -> None:
    warnings.filterwarnings("ignore")
    import nannyml as nml

    args = parse_args()
    ref_t, cur_t = read_table(args.reference), read_table(args.current)
    cats = categorical_columns(ref_t.schema)
    cols = list(ref_t.column_names)
    ref, cur = ref_t.to_pandas(), cur_t.to_pandas()
    base = {"column_names": cols, "treat_as_categorical": cats}
    config = base if args.variant == "default_chunks" else {**base, "chunk_number": 1}
    flagged, scores = _flagged(config, ref, cur, cols)
    write_result(args.out, "nannyml", nml.__version__, flagged, scores)


if __name__ == "__main__":
    main()
