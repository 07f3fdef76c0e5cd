"""Disagreement: events on which the champion and its challengers or shadows disagree.

A challenger (or a shadow model) scores the same traffic as the champion. Where the two say
different things, at least one is wrong, and a label settles which: the labels that decide a
promotion. This is query-by-committee with the deployed models as the committee:

- ``vote``: vote entropy of the committee's predicted classes, normalised to ``[0, 1]``
  (ties broken by the Jensen-Shannon divergence);
- ``js``: generalised Jensen-Shannon divergence of the committee's distributions (the mean KL
  divergence of each member from their mean), normalised to ``[0, 1]``;
- ``kl``: the mean KL divergence of the champion from each challenger, ``KL(champion || c)``.

Reference: McCallum & Nigam, *Employing EM and Pool-Based Active Learning for Text
Classification* (ICML 1998) for KL-to-the-mean; Seung, Opper & Sompolinsky (1992) for QBC.

>>> from flywheel.curate.batch import CandidateBatch
>>> batch = CandidateBatch(
...     ["a", "b"],
...     probabilities=[[0.9, 0.1], [0.8, 0.2]],
...     challenger_probabilities={"v2": [[0.85, 0.15], [0.1, 0.9]]},
... )
>>> scores = Disagreement().score(batch)
>>> bool(scores[1] > scores[0])
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flywheel.curate.base import Selector, check_choice
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import register
from flywheel.errors import ValidationError

_EPS = 1e-12


def _entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)


def js_divergence(members: np.ndarray) -> np.ndarray:
    """Generalised Jensen-Shannon divergence of ``(m, n, k)`` distributions, in ``[0, 1]``."""
    m = members.shape[0]
    js = _entropy(members.mean(axis=0)) - _entropy(members).mean(axis=0)
    return np.clip(js / np.log(m), 0.0, 1.0) if m > 1 else np.zeros(members.shape[1])


@register
class Disagreement(Selector):
    """Scores events by how much the champion and challengers disagree.

    Args:
        measure: ``"vote"`` (default), ``"js"`` or ``"kl"``.
        challengers: names in ``batch.challenger_probabilities`` to use; all when None.
    """

    name = "disagreement"
    requires = ("probabilities", "challenger_probabilities")

    def __init__(self, measure: str = "vote", challengers: Sequence[str] | None = None) -> None:
        self.measure = measure
        self.challengers = challengers
        check_choice("Disagreement", "measure", measure, ("vote", "js", "kl"))
        if challengers is not None and (
            isinstance(challengers, str)
            or not all(isinstance(c, str) for c in challengers)
            or not challengers
        ):
            raise ValidationError(
                f"The 'challengers' parameter of Disagreement must be a non-empty list of model names or None; "
                f"got {challengers!r}."
            )

    def _names(self, batch: CandidateBatch) -> list[str]:
        if self.challengers is None:
            return sorted(batch.challenger_probabilities)
        return [c for c in self.challengers if c in batch.challenger_probabilities]

    def _missing(self, batch: CandidateBatch) -> list[str]:
        missing = super()._missing(batch)
        if not missing and not self._names(batch):
            missing.append(f"challenger_probabilities[{self.challengers!r}]")
        return missing

    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        champion = batch.probabilities
        others = [batch.challenger_probabilities[c] for c in self._names(batch)]
        members = np.stack([champion, *others])
        if self.measure == "kl":
            p = np.clip(champion, _EPS, None)
            kls = [(p * (np.log(p) - np.log(np.clip(q, _EPS, None)))).sum(axis=1) for q in others]
            return np.mean(kls, axis=0)
        js = js_divergence(members)
        if self.measure == "js":
            return js
        votes = members.argmax(axis=2)  # (m, n)
        m, k = members.shape[0], members.shape[2]
        counts = np.stack([(votes == c).sum(axis=0) for c in range(k)], axis=1) / m
        vote_entropy = _entropy(counts) / np.log(min(m, k))
        return vote_entropy + 1e-3 * js

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        out = []
        names = self._names(batch)
        for i in indices:
            p = batch.probabilities[i]
            c_champ = int(p.argmax())
            parts = [f"champion says {batch.class_name(c_champ)} ({p[c_champ]:.2f})"]
            for name in names:
                q = batch.challenger_probabilities[name][i]
                c = int(q.argmax())
                parts.append(f"{name} says {batch.class_name(c)} ({q[c]:.2f})")
            out.append(", ".join(parts) + f"; {self.measure} {scores[i]:.2f}")
        return out
