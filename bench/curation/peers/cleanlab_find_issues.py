"""Runs inside bench/.venvs/cleanlab (cleanlab==2.9.0): flag label issues on given probabilities.

Usage: python cleanlab_find_issues.py DIR. DIR holds ``<case>.labels.npy`` and
``<case>.probs.npy`` pairs (written by bench/curation/label_errors.py); for each case and each
``filter_by`` variant of ``cleanlab.filter.find_label_issues`` this prints one JSON object
``{case: {variant: [flagged row indices]}}`` on stdout. It reads only .npy arrays
(``allow_pickle=False``).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
from cleanlab.filter import find_label_issues

VARIANTS = (
    "prune_by_noise_rate",  # cleanlab's default
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)


def main() -> None:
    root = Path(sys.argv[1])
    out: dict[str, dict[str, list[int]]] = {}
    for labels_path in sorted(root.glob("*.labels.npy")):
        case = labels_path.name[: -len(".labels.npy")]
        labels = np.load(labels_path, allow_pickle=False)
        probs = np.load(root / f"{case}.probs.npy", allow_pickle=False)
        out[case] = {}
        for variant in VARIANTS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mask = find_label_issues(labels, probs, filter_by=variant)
            out[case][variant] = np.flatnonzero(mask).tolist()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
