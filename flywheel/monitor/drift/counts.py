"""Category counts of two samples, aligned: what the categorical drift metrics read.

Counting is the one pass: a ``bincount`` over dictionary codes (Arrow dictionary columns, pandas
categoricals) or Arrow's ``value_counts``. From profiles the counts are the frequent-items
sketches' estimates; mass the sketch no longer itemises (the long tail of a high-cardinality
column) is kept as one "other" bucket so proportions still sum to one.

>>> cmp = compare_categorical(["a", "a", "b"], ["a", "b", "b", "c"])
>>> cmp.labels, cmp.reference.tolist(), cmp.current.tolist()
(['a', 'b', 'c'], [2.0, 1.0, 0.0], [1.0, 2.0, 1.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flywheel.profiles.columns import category_counts

OTHER = "\x00other"  # label of the un-itemised bucket; cannot collide with a str() of a value


class CategoricalComparison:
    """Aligned category counts of a reference and a current sample.

    Attributes:
        labels: category labels, reference's most frequent first, then current-only ones.
        reference, current: counts per label (float64; estimates when built from sketches).
        n_reference, n_current: non-null rows on each side (including any un-itemised mass).
        dropped_reference, dropped_current: nulls left out.
        error_reference, error_current: largest possible error of any count (0 when exact).
    """

    def __init__(
        self,
        labels: list[str],
        reference: np.ndarray,
        current: np.ndarray,
        n_reference: int,
        n_current: int,
        *,
        error_reference: float = 0.0,
        error_current: float = 0.0,
    ) -> None:
        self.labels = labels
        self.reference = reference
        self.current = current
        self.n_reference = int(n_reference)
        self.n_current = int(n_current)
        self.dropped_reference = 0
        self.dropped_current = 0
        self.error_reference = float(error_reference)
        self.error_current = float(error_current)

    @property
    def exact(self) -> bool:
        return self.error_reference == 0 and self.error_current == 0

    @property
    def empty(self) -> bool:
        """True when either side has no non-null value: every metric is then NaN."""
        return self.n_reference == 0 or self.n_current == 0

    def buckets(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(labels, reference counts, current counts)`` with an ``OTHER`` bucket for un-itemised mass."""
        other_r = max(0.0, self.n_reference - float(self.reference.sum()))
        other_c = max(0.0, self.n_current - float(self.current.sum()))
        if other_r > 0.5 or other_c > 0.5:
            return (
                [*self.labels, OTHER],
                np.append(self.reference, other_r),
                np.append(self.current, other_c),
            )
        return self.labels, self.reference, self.current

    def proportions(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(labels, reference shares, current shares)``, each summing to one (NaN when empty)."""
        labels, r, c = self.buckets()
        with np.errstate(invalid="ignore", divide="ignore"):
            return labels, r / self.n_reference, c / self.n_current


def _align(ref: dict[str, float], cur: dict[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    labels = sorted(ref, key=lambda k: (-ref[k], k))
    labels += sorted((k for k in cur if k not in ref), key=lambda k: (-cur[k], k))
    r = np.array([ref.get(k, 0.0) for k in labels], dtype=np.float64)
    c = np.array([cur.get(k, 0.0) for k in labels], dtype=np.float64)
    return labels, r, c


def compare_categorical(reference: Any, current: Any) -> CategoricalComparison:
    """Count the categories of two samples (any 1-D container) and align them. Nulls are left out."""
    ref, ref_nulls = category_counts(reference)
    cur, cur_nulls = category_counts(current)
    labels, r, c = _align(ref, cur)  # type: ignore[arg-type]
    out = CategoricalComparison(labels, r, c, int(r.sum()), int(c.sum()))
    out.dropped_reference, out.dropped_current = ref_nulls, cur_nulls
    return out


def compare_categorical_profiles(reference: Any, current: Any) -> CategoricalComparison:
    """Align two ``CategoricalProfile``s' frequent items (estimates, with their error bounds).

    A category itemised on one side only is kept when the other side's sketch is exact (its count
    there really is 0: a new or vanished category); otherwise its count on the other side is
    unknown, so it joins the "other" bucket on both sides. Merging the same categories on both
    sides can only lower L-infinity and Jensen–Shannon, so sketch truncation never invents drift.
    """
    ref = {k: float(v) for k, v in reference.frequencies().items()}
    cur = {k: float(v) for k, v in current.frequencies().items()}
    err_ref, err_cur = reference.count_error(), current.count_error()
    if err_ref:
        cur = {k: v for k, v in cur.items() if k in ref}
    if err_cur:
        ref = {k: v for k, v in ref.items() if k in cur}
    labels, r, c = _align(ref, cur)
    out = CategoricalComparison(
        labels,
        r,
        c,
        reference.non_null,
        current.non_null,
        error_reference=err_ref,
        error_current=err_cur,
    )
    out.dropped_reference, out.dropped_current = reference.nulls, current.nulls
    return out
