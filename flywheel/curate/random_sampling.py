"""Random sampling: every candidate equally likely.

The baseline every other selector must beat, and the policy's unbiased evaluation reserve:
labels drawn at random estimate the model's accuracy on the live traffic without the bias
that uncertainty-driven picks carry.

>>> from flywheel.curate.batch import CandidateBatch
>>> scores = RandomSampling(random_state=0).score(CandidateBatch(["a", "b", "c"]))
>>> scores.shape, bool(((scores >= 0) & (scores < 1)).all())
((3,), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flywheel.curate.base import Selector, check_seed
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register


@register
class RandomSampling(Selector):
    """Uniform random scores in ``[0, 1)``; taking the top ``m`` is a simple random sample.

    Args:
        random_state: seed; the same seed and batch give the same scores.
    """

    name = "random"

    def __init__(self, random_state: int | None = 0) -> None:
        self.random_state = random_state
        check_seed("RandomSampling", random_state)

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        return np.random.default_rng(self.random_state).random(len(batch))

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        return ["random sample" for _ in indices]
