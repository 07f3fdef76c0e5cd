"""Similarity: "more like this event".

Someone finds a telling mistake and asks for more of its kind. Scores are the cosine
similarity of each candidate to the nearest of the exemplars, given as event ids (looked up in
the batch's ``X`` or in ``batch.exemplars`` for events outside the batch) or as vectors.
Exemplars themselves score ``-inf``: they are labelled already or being labelled.

>>> from flywheel.curate.batch import CandidateBatch
>>> batch = CandidateBatch(["a", "b", "c"], X=[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
>>> Similarity(exemplar_ids=["a"]).score(batch).round(2).tolist()
[-inf, 0.99, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flywheel.curate.base import Selector
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register
from flywheel.errors import ValidationError


@register
class Similarity(Selector):
    """Cosine similarity to the closest exemplar.

    Args:
        exemplar_ids: event ids of the exemplars.
        exemplars: exemplar vectors, ``(m, d)``, in the batch's feature space.
    """

    name = "similarity"
    requires = ("X",)

    def __init__(self, exemplar_ids: Sequence[str] = (), exemplars: Any = None) -> None:
        self.exemplar_ids = exemplar_ids
        self.exemplars = exemplars
        if isinstance(exemplar_ids, str) or not all(isinstance(e, str) for e in exemplar_ids):
            raise ValidationError(
                f"The 'exemplar_ids' parameter of Similarity must be a list of event ids; got {exemplar_ids!r}."
            )
        if exemplars is not None:
            arr = np.asarray(exemplars, dtype=np.float64)
            if arr.ndim != 2 or len(arr) == 0:
                raise ValidationError(
                    "The 'exemplars' parameter of Similarity must be a non-empty (m, d) matrix."
                )
        if not exemplar_ids and exemplars is None:
            raise ValidationError(
                "Similarity needs 'exemplar_ids' or 'exemplars': the events to find more of."
            )

    def _vectors(self, batch: CandidateBatch) -> tuple[np.ndarray, list[str]]:
        rows, names = [], []
        position = {e: i for i, e in enumerate(batch.event_ids.tolist())}
        for e in self.exemplar_ids:
            if e in position:
                rows.append(batch.X[position[e]])
            elif e in batch.exemplars:
                rows.append(batch.exemplars[e])
            else:
                continue
            names.append(e)
        if self.exemplars is not None:
            arr = np.asarray(self.exemplars, dtype=np.float64)
            rows.extend(arr)
            names.extend(f"exemplar {j}" for j in range(len(arr)))
        if not rows:
            raise ValidationError(
                f"None of the exemplar events {list(self.exemplar_ids)} is in the batch or in batch.exemplars."
            )
        vectors = np.vstack(rows)
        if vectors.shape[1] != batch.X.shape[1]:
            raise ValidationError(
                f"Similarity exemplars have {vectors.shape[1]} dimensions; the batch's X has {batch.X.shape[1]}."
            )
        return vectors, names

    def _similarities(self, batch: CandidateBatch) -> tuple[np.ndarray, list[str]]:
        vectors, names = self._vectors(batch)
        a = batch.X / np.maximum(np.linalg.norm(batch.X, axis=1, keepdims=True), 1e-12)
        b = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return a @ b.T, names

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        sims, _ = self._similarities(batch)
        scores = sims.max(axis=1)
        scores[np.isin(batch.event_ids, list(self.exemplar_ids))] = -np.inf
        return scores

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        sims, names = self._similarities(batch)
        return [f"cosine {sims[i].max():.2f} to {names[int(sims[i].argmax())]}" for i in indices]
