"""Multivariate drift by PCA reconstruction error.

Fit a PCA on (half of) the reference: numeric columns standardised with the reference mean and
standard deviation (nulls imputed with the reference median), categorical columns one-hot encoded
over their most frequent reference categories (the rest share an "other" column), keeping the
fewest components that explain ``variance`` of the total. Each row's reconstruction error is its
squared distance to that subspace. When the relations between columns change, rows leave the
subspace and the mean error grows even if no single column moved.

The other half of the reference gives the error distribution under no drift; the mean error of a
window of ``m`` rows is compared with ``n_bootstrap`` means of ``m`` rows resampled from it. Flagged
when the current mean error is above the ``1 - alpha`` bootstrap quantile **and** at least
``min_increase`` (10%) above the reference mean error.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a = rng.normal(size=4000)
>>> ref = {"a": a, "b": a + rng.normal(0, 0.1, 4000)}          # b follows a
>>> cur = {"a": rng.normal(size=1000), "b": rng.normal(size=1000)}  # same marginals, no relation
>>> drift = PCAReconstructionDrift().fit(ref, {"a": "numeric", "b": "numeric"})
>>> result = drift.compare(cur)
>>> result.flagged, result.ratio > 5
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.monitor.drift.base import check_float, check_int
from flywheel.monitor.drift.domain_classifier import _labels, _numeric_column
from flywheel.profiles.columns import get_column


@dataclass(frozen=True)
class PCAReconstructionResult:
    reference_error: float
    current_error: float
    upper: float
    ratio: float
    p_value: float
    flagged: bool
    reason: str
    n_components: int


class PCAReconstructionDrift:
    """PCA fitted on the reference; ``compare(current)`` tests its mean reconstruction error."""

    def __init__(
        self,
        variance: float = 0.9,
        max_categories: int = 20,
        max_rows: int = 20_000,
        n_bootstrap: int = 300,
        alpha: float = 0.05,
        min_increase: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.variance = check_float("PCAReconstructionDrift", "variance", variance, 0.0, 1.0)
        self.max_categories = check_int("PCAReconstructionDrift", "max_categories", max_categories, 1, 1000)
        self.max_rows = check_int("PCAReconstructionDrift", "max_rows", max_rows, 10, 10**8)
        self.n_bootstrap = check_int("PCAReconstructionDrift", "n_bootstrap", n_bootstrap, 10, 100_000)
        self.alpha = check_float("PCAReconstructionDrift", "alpha", alpha, 0.0, 0.5)
        self.min_increase = check_float("PCAReconstructionDrift", "min_increase", min_increase, -1.0, 100.0)
        self.seed = seed

    def _encode(self, table: Any) -> np.ndarray:
        blocks = []
        for col, kind in self.kinds_.items():
            values = get_column(table, col)
            if kind == "numeric":
                x = _numeric_column(values)
                x = np.where(np.isnan(x), self.medians_[col], x)
                blocks.append(((x - self.means_[col]) / self.stds_[col])[:, None])
            else:
                cats = self.categories_[col]
                index = {c: i for i, c in enumerate(cats)}
                labels = _labels(values)
                onehot = np.zeros((len(labels), len(cats) + 1))
                columns = [len(cats) if v is None else index.get(v, len(cats)) for v in labels]
                onehot[np.arange(len(labels)), columns] = 1.0
                blocks.append((onehot - self.onehot_mean_[col]) / self.onehot_std_[col])
        return np.hstack(blocks)

    def fit(self, reference: Any, kinds: Mapping[str, str]) -> PCAReconstructionDrift:
        """Learn the encoding and the principal subspace from ``reference``; returns ``self``."""
        bad = {c: k for c, k in kinds.items() if k not in ("numeric", "categorical")}
        if bad:
            raise ValidationError(f"PCA reconstruction takes numeric and categorical columns; got {bad}.")
        self.kinds_ = dict(kinds)
        self.means_, self.stds_, self.medians_ = {}, {}, {}
        self.categories_, self.onehot_mean_, self.onehot_std_ = {}, {}, {}
        for col, kind in self.kinds_.items():
            values = get_column(reference, col)
            if kind == "numeric":
                x = _numeric_column(values)
                x = x[np.isfinite(x)]
                self.medians_[col] = float(np.median(x)) if x.size else 0.0
                self.means_[col] = float(x.mean()) if x.size else 0.0
                self.stds_[col] = float(x.std()) if x.size and x.std() > 0 else 1.0
            else:
                all_labels = _labels(values)
                counts: dict[str, int] = {}
                for v in all_labels:
                    if v is not None:
                        counts[v] = counts.get(v, 0) + 1
                top = sorted(counts, key=lambda v: (-counts[v], v))[: self.max_categories]
                self.categories_[col] = top
                # Centre and scale each one-hot column like the numbers: mean p, std sqrt(p (1 - p)).
                n = max(len(all_labels), 1)
                share = np.array([counts[v] / n for v in top] + [1.0 - sum(counts[v] for v in top) / n])
                std = np.sqrt(share * (1.0 - share))
                self.onehot_mean_[col] = share
                self.onehot_std_[col] = np.where(std > 0, std, 1.0)
        x = self._encode(reference)
        if x.shape[0] < 4:
            raise ValidationError(f"PCA reconstruction needs at least 4 reference rows; got {x.shape[0]}.")
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(x.shape[0])[: 2 * self.max_rows]
        half = order.shape[0] // 2
        fit_rows, hold_rows = x[order[:half]], x[order[half:]]
        self.centre_ = fit_rows.mean(axis=0)
        _, s, vt = np.linalg.svd(fit_rows - self.centre_, full_matrices=False)
        share = np.cumsum(s**2) / max(float(np.sum(s**2)), 1e-300)
        k = int(np.searchsorted(share, self.variance) + 1)
        self.components_ = vt[: min(k, vt.shape[0])]
        self.holdout_errors_ = self._errors(hold_rows)
        return self

    def _errors(self, x: np.ndarray) -> np.ndarray:
        z = x - self.centre_
        recon = (z @ self.components_.T) @ self.components_
        return np.sum((z - recon) ** 2, axis=1)

    def errors(self, table: Any) -> np.ndarray:
        """Per-row squared reconstruction error of a table with the fitted columns."""
        return self._errors(self._encode(table))

    def compare(self, current: Any) -> PCAReconstructionResult:
        """Test the mean reconstruction error of ``current`` against the reference's."""
        err = self.errors(current)
        base = self.holdout_errors_
        ref_mean = float(base.mean())
        if err.size == 0:
            return PCAReconstructionResult(
                ref_mean,
                math.nan,
                math.nan,
                math.nan,
                math.nan,
                False,
                "empty window",
                self.components_.shape[0],
            )
        cur_mean = float(err.mean())
        m = min(err.size, 20_000)
        rng = np.random.default_rng(self.seed + 1)
        boot = np.array([base[rng.integers(0, base.size, m)].mean() for _ in range(self.n_bootstrap)])
        upper = float(np.quantile(boot, 1.0 - self.alpha))
        p = float((np.sum(boot >= cur_mean) + 1) / (self.n_bootstrap + 1))
        ratio = cur_mean / ref_mean if ref_mean > 0 else math.inf
        big = ratio >= 1.0 + self.min_increase
        flagged = cur_mean > upper and big
        if flagged:
            reason = f"mean error {cur_mean:.3g} is {ratio:.2f}x the reference's, above the bootstrap bound {upper:.3g}"
        elif not big:
            reason = f"mean error {cur_mean:.3g} is {ratio:.2f}x the reference's: below the {1 + self.min_increase:.2f}x effect threshold"
        else:
            reason = f"mean error {cur_mean:.3g} is within the bootstrap bound {upper:.3g}"
        return PCAReconstructionResult(
            ref_mean, cur_mean, upper, ratio, p, flagged, reason, self.components_.shape[0]
        )
