"""Feedback first: events a user flagged as wrong, newest first.

What production says about a prediction is the strongest signal there is that it deserves a
label: a thumbs-down or a "this is wrong" flag. Flagged events score in ``(1, 2]`` (newer
higher, when timestamps are known); unflagged events score ``-inf``, so this selector never
spends budget on them and a policy hands its share to the other selectors.

>>> from flywheel.curate.batch import CandidateBatch
>>> batch = CandidateBatch(["a", "b", "c"], flagged=[False, True, True], timestamps=[1.0, 2.0, 3.0])
>>> FeedbackFirst().score(batch).tolist()
[-inf, 1.5, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flywheel.curate.base import Selector, rank_scores
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register


@register
class FeedbackFirst(Selector):
    """Flagged events (``batch.flagged``) first; the newest flag first when ``timestamps`` exist."""

    name = "feedback"
    requires = ("flagged",)

    def __init__(self) -> None:
        pass

    def applicable(self, batch: CandidateBatch) -> bool:
        return batch.flagged is not None and bool(batch.flagged.any())

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        scores = np.full(len(batch), -np.inf)
        flagged = np.flatnonzero(batch.flagged)
        if len(flagged) == 0:
            return scores
        if batch.timestamps is not None:
            scores[flagged] = 1.0 + rank_scores(batch.timestamps[flagged])
        else:
            scores[flagged] = 1.0
        return scores

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        out = []
        for i in indices:
            kind = None if batch.feedback is None else batch.feedback[i]
            out.append(f"{str(kind).replace('_', ' ')} by user" if kind else "flagged by user")
        return out
