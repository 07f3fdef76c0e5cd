"""K-means centres: the most typical events of each region of the input space.

The cold start: before any label exists there is no model uncertainty to read, and a random
sample wastes labels on the dense middle of the data. Clustering the candidates into as many
clusters as labels wanted and labelling the event nearest each centre covers every region
once; on scikit-learn digits, 20 such labels train a better first model than 20 random ones.

Representatives score in ``(2, 3]`` (bigger clusters higher), every other event in ``(0, 1]``
by closeness to its centre. Batches beyond ``max_candidates`` are clustered on a random
subsample, so the cost stays bounded.

>>> import numpy as np
>>> from flywheel.curate.batch import CandidateBatch
>>> X = np.r_[np.zeros((5, 2)), np.full((5, 2), 10.0)] + np.arange(10)[:, None] * 0.01
>>> scores = KMeansCentres().score(CandidateBatch([str(i) for i in range(10)], X=X), budget=2)
>>> sorted(int(i) // 5 for i in np.argsort(-scores)[:2])
[0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from flywheel.curate.base import Selector, check_int, check_seed
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register


def kmeans_representatives(
    X: np.ndarray, n_clusters: int, random_state: int | None = 0, n_init: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cluster ``X``; return ``(representatives, labels, distance to own centre, cluster sizes)``.

    ``representatives[c]`` is the row nearest centre ``c`` (clusters that end up empty are skipped).
    """
    k = max(1, min(n_clusters, len(np.unique(X, axis=0))))
    # Small problems run fastest on one thread; OpenMP's team start-up dominates otherwise,
    # and badly so on a busy machine.
    threads = 1 if len(X) * k <= 5_000_000 else None
    with threadpool_limits(limits=threads, user_api="openmp"):
        km = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X)
    dist = km.transform(X)
    own = dist[np.arange(len(X)), km.labels_]
    sizes = np.bincount(km.labels_, minlength=k)
    reps = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        if len(members):
            reps.append(members[np.argmin(own[members])])
    return np.asarray(reps, dtype=np.int64), km.labels_, own, sizes


@register
class KMeansCentres(Selector):
    """The event nearest each k-means centre first.

    Args:
        n_clusters: number of clusters; the policy's budget for this selector when None.
        max_candidates: cluster at most this many events (a random subsample beyond it).
        random_state: seed for k-means and the subsample.
    """

    name = "kmeans_centres"
    requires = ("X",)
    uses_budget = True

    def __init__(
        self, n_clusters: int | None = None, max_candidates: int = 20000, random_state: int | None = 0
    ) -> None:
        self.n_clusters = n_clusters
        self.max_candidates = max_candidates
        self.random_state = random_state
        if n_clusters is not None:
            check_int("KMeansCentres", "n_clusters", n_clusters, 1, 100000)
        check_int("KMeansCentres", "max_candidates", max_candidates, 2, 10**8)
        check_seed("KMeansCentres", random_state)

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        n = len(batch)
        k = self.n_clusters or budget or min(20, n)
        pool = np.arange(n)
        if n > self.max_candidates:
            pool = np.sort(
                np.random.default_rng(self.random_state).choice(n, self.max_candidates, replace=False)
            )
        scores = np.zeros(n)
        if k == 0:
            return scores
        reps, labels, own, sizes = kmeans_representatives(batch.X[pool], k, self.random_state, n_init=3)
        scores[pool] = 1.0 / (1.0 + own / max(float(np.median(own)), 1e-12))
        rep_sizes = sizes[labels[reps]]
        scores[pool[reps]] = 2.0 + (1 + np.argsort(np.argsort(rep_sizes))) / len(reps)
        return scores

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        return ["k-means centre (cold start)" if scores[i] > 2 else "near a k-means centre" for i in indices]
