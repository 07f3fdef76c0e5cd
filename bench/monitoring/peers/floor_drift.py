"""The NumPy floor: read both files, one np.sort per numeric column per side, one np.unique count
per categorical column per side (over its dictionary codes), nothing else. No drift decision."""

from __future__ import annotations

import numpy as np
from _common import categorical_columns, parse_args, read_table, write_result


def main() -> None:
    args = parse_args()
    ref = read_table(args.reference)
    cur = read_table(args.current)
    cats = set(categorical_columns(ref.schema))
    checksum = 0.0
    for name in ref.column_names:
        for table in (ref, cur):
            col = table.column(name)
            if name in cats:
                codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in col.chunks])
                _, counts = np.unique(codes, return_counts=True)
                checksum += float(counts[0])
            else:
                checksum += float(np.sort(col.to_numpy())[0])
    write_result(args.out, "numpy-floor", np.__version__, [], {"checksum": checksum})


if __name__ == "__main__":
    main()
