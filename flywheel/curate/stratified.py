"""Stratified sampling: an even spread over slices, predicted classes or time buckets.

Uncertainty alone piles the budget onto the one region where the model is confused; a
stratified pick makes sure rare classes, small slices and quiet hours get labels too. Scores
interleave the strata: with ``allocation="equal"`` the top ``m`` scores take one event from
every stratum before a second from any (round robin); with ``"proportional"`` each stratum's
share of the top ``m`` follows its size. Inside a stratum events are taken in random order,
or most uncertain first with ``within="uncertainty"``.

>>> from flywheel.curate.batch import CandidateBatch
>>> batch = CandidateBatch(list("abcde"), slices={"country": ["FR", "FR", "FR", "FR", "DE"]})
>>> scores = Stratified(by="slice:country").score(batch)
>>> sorted(batch.slices["country"][scores.argsort()[::-1][:2]].tolist())
['DE', 'FR']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flywheel.curate.base import Selector, check_choice, check_float, check_seed
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register
from flywheel.curate.uncertainty import uncertainty_scores
from flywheel.errors import ValidationError


@register
class Stratified(Selector):
    """Interleave strata so any top-``m`` covers them evenly.

    Args:
        by: ``"predicted"`` (predicted class), ``"time"`` (buckets of ``time_bucket_s``) or
            ``"slice:<name>"`` (a slice from ``batch.slices``).
        allocation: ``"equal"`` (round robin over strata) or ``"proportional"`` (by size).
        within: order inside a stratum: ``"random"`` or ``"uncertainty"`` (margin).
        time_bucket_s: bucket width for ``by="time"``, in seconds (default one day).
        random_state: seed for the random order and tie-breaks.
    """

    name = "stratified"

    def __init__(
        self,
        by: str = "predicted",
        allocation: str = "equal",
        within: str = "random",
        time_bucket_s: float = 86400.0,
        random_state: int | None = 0,
    ) -> None:
        self.by = by
        self.allocation = allocation
        self.within = within
        self.time_bucket_s = time_bucket_s
        self.random_state = random_state
        if not isinstance(by, str) or not (
            by in ("predicted", "time") or (by.startswith("slice:") and len(by) > 6)
        ):
            raise ValidationError(
                f"The 'by' parameter of Stratified must be 'predicted', 'time' or 'slice:<name>'; got {by!r}."
            )
        check_choice("Stratified", "allocation", allocation, ("equal", "proportional"))
        check_choice("Stratified", "within", within, ("random", "uncertainty"))
        check_float("Stratified", "time_bucket_s", time_bucket_s, 0.0, 1e12)
        check_seed("Stratified", random_state)

    def _missing(self, batch: CandidateBatch) -> list[str]:
        out = []
        if self.by == "predicted" and batch.predicted is None:
            out.append("predicted")
        elif self.by == "time" and batch.timestamps is None:
            out.append("timestamps")
        elif self.by.startswith("slice:") and self.by[6:] not in batch.slices:
            out.append(f"slices[{self.by[6:]!r}]")
        if self.within == "uncertainty" and batch.probabilities is None:
            out.append("probabilities")
        return out

    def strata(self, batch: CandidateBatch) -> np.ndarray:
        """The stratum key of every row, as strings."""
        if self.by == "predicted":
            return np.array([batch.class_name(int(c)) for c in batch.predicted], dtype=object)
        if self.by == "time":
            buckets = np.floor(batch.timestamps / self.time_bucket_s).astype(np.int64)
            return buckets.astype(str).astype(object)
        return np.asarray([str(v) for v in batch.slices[self.by[6:]]], dtype=object)

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        rng = np.random.default_rng(self.random_state)
        keys = self.strata(batch)
        jitter = rng.random(len(batch))
        if self.within == "uncertainty" and batch.probabilities is not None:
            # Most uncertain first; jitter only breaks exact ties.
            order_key = -uncertainty_scores(batch.probabilities, "margin") + 1e-9 * jitter
        else:
            order_key = jitter
        scores = np.empty(len(batch))
        _, inverse = np.unique(keys, return_inverse=True)
        for s in range(inverse.max() + 1):
            members = np.flatnonzero(inverse == s)
            rank = np.empty(len(members))
            rank[np.argsort(order_key[members], kind="stable")] = np.arange(len(members))
            # A stratum-level offset in [0, 1) decides the order inside one round.
            offset = rng.random()
            if self.allocation == "equal":
                scores[members] = 1.0 / (1.0 + rank + offset)
            else:
                scores[members] = 1.0 - (rank + offset) / len(members)
        return scores

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        keys = self.strata(batch)
        n_strata = len(set(keys.tolist()))
        label = {"predicted": "predicted", "time": f"time bucket ({self.time_bucket_s:g}s)"}.get(
            self.by, self.by[6:]
        )
        return [f"stratum {label}={keys[i]} (of {n_strata} strata)" for i in indices]
