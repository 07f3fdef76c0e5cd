"""Corrections for testing many columns at once: Holm (family-wise) and Benjamini–Hochberg (FDR).

With 25 columns tested at alpha = 0.05 each, more than one false alarm in four runs is expected
from chance alone. Holm controls the chance of *any* false alarm; Benjamini–Hochberg controls the
expected share of false alarms among the flagged columns and is less strict.

>>> adjust_pvalues([0.01, 0.04, 0.03], "holm")
[0.03, 0.06, 0.06]
>>> [round(p, 4) for p in adjust_pvalues([0.01, 0.04, 0.03], "bh")]
[0.03, 0.04, 0.04]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flywheel.errors import ValidationError

CORRECTIONS = ("holm", "bh", "none")


def adjust_pvalues(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """Return adjusted p-values in the input order; NaN entries stay NaN and are not counted.

    ``method`` is ``"holm"`` (step-down Bonferroni), ``"bh"`` (Benjamini–Hochberg step-up) or
    ``"none"``.
    """
    if method not in CORRECTIONS:
        raise ValidationError(
            f"The 'correction' parameter must be one of {list(CORRECTIONS)}; got {method!r}."
        )
    out = [math.nan] * len(p_values)
    idx = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    k = len(idx)
    if k == 0:
        return out
    if method == "none":
        for i in idx:
            out[i] = min(1.0, max(0.0, float(p_values[i])))
        return out
    order = sorted(idx, key=lambda i: p_values[i])
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (k - rank) * float(p_values[i])))
            out[i] = running
        return out
    running = 1.0
    for rank in range(k - 1, -1, -1):
        i = order[rank]
        running = min(running, min(1.0, k / (rank + 1) * float(p_values[i])))
        out[i] = running
    return out
