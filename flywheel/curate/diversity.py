"""Diversity: many *different* informative events, not twenty copies of one confusion.

Top-``m`` uncertainty picks near-duplicates: the one region where the model is confused
fills the whole batch. This selector first keeps the ``prefilter x n_clusters`` best events by
a base selector (uncertainty by default), then spreads the pick over that short list:

- ``method="kmeans"``: cluster the short list into ``n_clusters`` and take the event nearest
  each centre (the typical member of each confused region);
- ``method="kcenter"``: greedy k-centre: repeatedly take the event farthest from everything
  taken so far and from ``batch.reference_X`` (the labelled data, when given).

Clustering only the short list keeps the cost at ``O(prefilter x n_clusters)`` rows whatever
the pool size. ``n_clusters`` defaults to the number of items the policy wants from this
selector. Picked representatives score in ``(2, 3]``, the rest of the short list in ``(1, 2]``,
everything else in ``(0, 1]`` by the base score (``-inf`` where the base says never).

Reference: Zhdanov, *Diverse mini-batch Active Learning* (2019) for the pre-filter + k-means
step; Sener & Savarese, *Active Learning for CNNs: A Core-Set Approach* (ICLR 2018) for k-centre.

>>> import numpy as np
>>> from flywheel.curate.batch import CandidateBatch
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 4))
>>> P = rng.dirichlet([1.0, 1.0, 1.0], size=300)
>>> batch = CandidateBatch([str(i) for i in range(300)], X=X, probabilities=P)
>>> scores = Diversity().score(batch, budget=10)
>>> int((scores > 2).sum())
10
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import pairwise_distances

from flywheel.curate.base import Selector, check_choice, check_int, check_seed, rank_scores
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.kmeans_centres import kmeans_representatives
from flywheel.curate.registry import register
from flywheel.errors import ValidationError


def kcenter_greedy(X: np.ndarray, k: int, centres: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``k`` rows of ``X`` chosen greedily, each farthest from those before it.

    ``centres`` are points already covered (e.g. the labelled set); without them the first pick
    is the row farthest from the mean.
    """
    if centres is not None and len(centres):
        nearest = pairwise_distances(X, centres).min(axis=1)
    else:
        nearest = np.linalg.norm(X - X.mean(axis=0), axis=1)
    picks: list[int] = []
    for _ in range(min(k, len(X))):
        i = int(np.argmax(nearest))
        picks.append(i)
        nearest = np.minimum(nearest, np.linalg.norm(X - X[i], axis=1))
        nearest[i] = -1.0
    return np.asarray(picks, dtype=np.int64)


@register
class Diversity(Selector):
    """Spread the pick over the best events of a base selector.

    Args:
        base: registered name of the selector that pre-filters (default ``"uncertainty"``).
        base_params: parameters of the base selector.
        prefilter: the short list holds ``prefilter x n_clusters`` events (default 10).
        method: ``"kmeans"`` (default) or ``"kcenter"``.
        n_clusters: items to spread over; the policy's budget for this selector when None.
        random_state: seed for k-means.
    """

    name = "diversity"
    requires = ("X",)
    uses_budget = True

    def __init__(
        self,
        base: str = "uncertainty",
        base_params: dict[str, Any] | None = None,
        prefilter: int = 10,
        method: str = "kmeans",
        n_clusters: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.prefilter = prefilter
        self.method = method
        self.n_clusters = n_clusters
        self.random_state = random_state
        if base in ("diversity",):
            raise ValidationError(
                "The 'base' parameter of Diversity must name another selector; got 'diversity'."
            )
        check_int("Diversity", "prefilter", prefilter, 1, 1000)
        check_choice("Diversity", "method", method, ("kmeans", "kcenter"))
        if n_clusters is not None:
            check_int("Diversity", "n_clusters", n_clusters, 1, 100000)
        check_seed("Diversity", random_state)
        self._base = self._make_base()

    def _make_base(self) -> Selector:
        from flywheel.curate.registry import make_selector

        return make_selector(self.base, **(self.base_params or {}))

    def _missing(self, batch: CandidateBatch) -> list[str]:
        return super()._missing(batch) + self._base._missing(batch)

    def applicable(self, batch: CandidateBatch) -> bool:
        return batch.X is not None and self._base.applicable(batch)

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        n = len(batch)
        base_scores = self._base.score(batch, budget)
        finite = np.flatnonzero(np.isfinite(base_scores))
        scores = np.full(n, -np.inf)
        if len(finite) == 0:
            return scores
        scores[finite] = rank_scores(base_scores[finite])
        k = self.n_clusters or budget or min(20, n)
        if k == 0:
            return scores
        m = min(len(finite), self.prefilter * k)
        # Best m by base score; the stable sort keeps ties in row order, so runs repeat exactly.
        shortlist = finite[np.argsort(-base_scores[finite], kind="stable")[:m]]
        if self.method == "kmeans":
            reps = kmeans_representatives(batch.X[shortlist], k, self.random_state)[0]
        else:
            reps = kcenter_greedy(batch.X[shortlist], k, batch.reference_X)
        scores[shortlist] += 1.0
        chosen = shortlist[reps]
        scores[chosen] = 2.0 + rank_scores(base_scores[chosen])
        return scores

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        base_scores = self._base.score(batch)
        base_reasons = self._base.explain(batch, indices, base_scores)
        how = "k-means" if self.method == "kmeans" else "k-centre"
        return [
            f"{reason}; {how} representative of the top by {self.base}" if scores[i] > 2 else reason
            for i, reason in zip(indices, base_reasons, strict=True)
        ]
