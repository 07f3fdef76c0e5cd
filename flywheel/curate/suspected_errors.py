"""Suspected label errors: labelled events whose label the model doubts, for review.

A wrong label in a training set teaches the model the mistake; in an eval set it misjudges
every model. This selector runs confident learning (:mod:`flywheel.label.label_errors`) over
the batch's labelled rows (``batch.labels >= 0``) with the batch's probabilities, which must be
out-of-sample (cross-validated, or from a model version that did not train on those labels).
Suspects score ``1 + suspicion`` (in ``[1, 2]``); everything else ``-inf``. A reviewed
suspect is relabelled, never silently dropped.

>>> from flywheel.curate.batch import CandidateBatch
>>> batch = CandidateBatch(
...     list("abcdef"),
...     labels=[0, 0, 0, 1, 1, 1],
...     probabilities=[[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.1, .9], [.3, .7]],
... )
>>> scores = SuspectedLabelErrors().score(batch)
>>> batch.event_ids[scores > 0].tolist()
['c']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flywheel.curate.base import Selector, check_choice
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register
from flywheel.label.label_errors import METHODS, RANK_BY, find_label_errors


@register
class SuspectedLabelErrors(Selector):
    """Labelled events that confident learning flags as probably mislabelled.

    Args:
        method: ``"rank_count"`` (default), ``"confident_joint"`` or ``"argmax"``.
        rank_by: ``"normalized_margin"`` (default) or ``"self_confidence"``.
    """

    name = "label_errors"
    requires = ("labels", "probabilities")

    def __init__(self, method: str = "rank_count", rank_by: str = "normalized_margin") -> None:
        self.method = method
        self.rank_by = rank_by
        check_choice("SuspectedLabelErrors", "method", method, METHODS)
        check_choice("SuspectedLabelErrors", "rank_by", rank_by, RANK_BY)

    def applicable(self, batch: CandidateBatch) -> bool:
        return super().applicable(batch) and bool((batch.labels >= 0).any())

    def _issues(self, batch: CandidateBatch) -> dict[int, tuple[int, int, float]]:
        rows = np.flatnonzero(batch.labels >= 0)
        if len(rows) == 0:
            return {}
        issues = find_label_errors(
            batch.labels[rows], batch.probabilities[rows], method=self.method, rank_by=self.rank_by
        )
        return {int(rows[i.index]): (i.given_label, i.suggested_label, i.score) for i in issues}

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        scores = np.full(len(batch), -np.inf)
        for row, (_, _, suspicion) in self._issues(batch).items():
            scores[row] = 1.0 + suspicion
        return scores

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        issues = self._issues(batch)
        out = []
        for i in indices:
            if i in issues:
                given, suggested, _ = issues[i]
                p = batch.probabilities[i]
                out.append(
                    f"labelled {batch.class_name(given)} ({p[given]:.2f}), "
                    f"model says {batch.class_name(suggested)} ({p[suggested]:.2f})"
                )
            else:
                out.append("label not suspected")
        return out
