"""Novelty: events far from anything the model was trained on.

The distance from a candidate to its ``n_neighbors`` nearest training rows (in the same
feature or embedding space), divided by the typical such distance *inside* the training data,
so a score of 3 reads "three times farther from the training data than training rows are from
each other". Inputs the model has never seen the like of are where it is most likely wrong
and where a label teaches it most.

``method="exact"`` searches the reference with scikit-learn's ``NearestNeighbors``;
``method="random_projection"`` first projects both sides onto ``n_components`` Gaussian random
directions (Johnson-Lindenstrauss: distances kept within a small factor), which keeps wide
embeddings fast. References larger than ``max_reference`` rows are subsampled.

>>> import numpy as np
>>> from flywheel.curate.batch import CandidateBatch
>>> rng = np.random.default_rng(0)
>>> train = rng.normal(size=(200, 3))
>>> batch = CandidateBatch(["near", "far"], X=[[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]], reference_X=train)
>>> scores = Novelty().score(batch)
>>> bool(scores[1] > 5 * scores[0])
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.neighbors import NearestNeighbors

from flywheel.curate.base import Selector, check_choice, check_int, check_seed
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register


@register
class Novelty(Selector):
    """Scores events by their distance to the training data (``batch.reference_X``).

    Args:
        n_neighbors: neighbours averaged over (default 5).
        method: ``"exact"`` or ``"random_projection"``.
        n_components: projected dimension for ``"random_projection"``.
        max_reference: reference rows kept (a random subsample beyond it).
        random_state: seed for the subsample and the projection.
    """

    name = "novelty"
    requires = ("X", "reference_X")

    def __init__(
        self,
        n_neighbors: int = 5,
        method: str = "exact",
        n_components: int = 32,
        max_reference: int = 20000,
        random_state: int | None = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.method = method
        self.n_components = n_components
        self.max_reference = max_reference
        self.random_state = random_state
        check_int("Novelty", "n_neighbors", n_neighbors, 1, 1000)
        check_choice("Novelty", "method", method, ("exact", "random_projection"))
        check_int("Novelty", "n_components", n_components, 1, 4096)
        check_int("Novelty", "max_reference", max_reference, 2, 10**8)
        check_seed("Novelty", random_state)

    def applicable(self, batch: CandidateBatch) -> bool:
        return super().applicable(batch) and len(batch.reference_X) >= 2

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        rng = np.random.default_rng(self.random_state)
        ref = batch.reference_X
        if len(ref) > self.max_reference:
            ref = ref[rng.choice(len(ref), self.max_reference, replace=False)]
        X = batch.X
        if self.method == "random_projection" and X.shape[1] > self.n_components:
            proj = rng.normal(size=(X.shape[1], self.n_components)) / np.sqrt(self.n_components)
            X, ref = X @ proj, ref @ proj
        k = min(self.n_neighbors, len(ref) - 1)
        index = NearestNeighbors(n_neighbors=k + 1).fit(ref)
        dist, _ = index.kneighbors(X, n_neighbors=k)
        # Typical distance inside the reference: each row's k nearest others (itself excluded).
        probe = ref if len(ref) <= 2000 else ref[rng.choice(len(ref), 2000, replace=False)]
        ref_dist, _ = index.kneighbors(probe, n_neighbors=k + 1)
        typical = float(np.median(ref_dist[:, 1:].mean(axis=1)))
        return dist.mean(axis=1) / max(typical, 1e-12)

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        return [f"{scores[i]:.1f}x farther from the training data than usual" for i in indices]
