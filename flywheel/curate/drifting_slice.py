"""Drifting slices: events from the slices the monitor found drifting.

When monitoring flags a slice (``country=FR`` drifting), labels from that slice show whether
the drift hurts and teach the next model the new inputs. The monitor's findings come in
``batch.slice_drift`` as ``"slice=value" -> drift score``; events in a drifting slice score by
that drift (plus a random tie-break in ``[0, 1e-3)``), all others ``-inf``.

>>> from flywheel.curate.batch import CandidateBatch
>>> batch = CandidateBatch(
...     ["a", "b"], slices={"country": ["FR", "DE"]}, slice_drift={"country=FR": 0.31}
... )
>>> DriftingSlice().score(batch).round(2).tolist()
[0.31, -inf]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flywheel.curate.base import Selector, check_seed
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register


@register
class DriftingSlice(Selector):
    """Scores events in drifting slices by the slice's drift score.

    Args:
        random_state: seed for the tie-break among events of one slice.
    """

    name = "drifting_slice"
    requires = ("slices", "slice_drift")

    def __init__(self, random_state: int | None = 0) -> None:
        self.random_state = random_state
        check_seed("DriftingSlice", random_state)

    def applicable(self, batch: CandidateBatch) -> bool:
        return super().applicable(batch) and bool(self._matches(batch).any())

    def _matches(self, batch: CandidateBatch) -> np.ndarray:
        """``(n, s)`` membership of each row in each drifting slice, in ``slice_drift`` order."""
        cols = []
        for key in batch.slice_drift:
            name, _, value = key.partition("=")
            values = batch.slices.get(name)
            if values is None:
                cols.append(np.zeros(len(batch), bool))
            else:
                cols.append(np.array([str(v) == value for v in values], dtype=bool))
        return np.stack(cols, axis=1) if cols else np.zeros((len(batch), 0), bool)

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        drift = np.array(list(batch.slice_drift.values()), dtype=np.float64)
        member = self._matches(batch)
        scores = np.where(member, drift[None, :], -np.inf).max(axis=1, initial=-np.inf)
        jitter = np.random.default_rng(self.random_state).random(len(batch)) * 1e-3
        return np.where(np.isfinite(scores), scores + jitter, -np.inf)

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        keys = list(batch.slice_drift)
        drift = np.array(list(batch.slice_drift.values()))
        member = self._matches(batch)
        out = []
        for i in indices:
            j = int(np.argmax(np.where(member[i], drift, -np.inf)))
            out.append(f"slice {keys[j]} drifting ({drift[j]:.2f})")
        return out
