"""What every selector is: a small object that scores candidates for labelling.

A selector reads a :class:`~flywheel.curate.batch.CandidateBatch` and returns one float per
candidate, **higher = more worth labelling**. ``-inf`` means "this selector would not pick
it" (an unflagged event for the feedback selector), so a policy never spends budget on it.
``explain`` turns a selector's score into the signal a person reads in the labelling queue
("margin 0.03", "flagged by user").

Selectors that choose a *set* (diversity, k-means centres) take the number of items the
policy wants from them as ``budget``; the others ignore it. Empty input is not an error:
an empty batch gets an empty array of scores.

Constructors store their arguments unchanged (``get_params`` returns them) and validate
once, with scikit-learn-style messages.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from flywheel.curate.batch import CandidateBatch
from flywheel.errors import ValidationError


class Selector(ABC):
    """Base of the registered selectors.

    Subclasses set ``name`` (the registry key) and ``requires`` (batch fields that must hold
    data), and implement ``_score``; they may override ``explain`` and ``applicable``.
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    uses_budget: ClassVar[bool] = False

    def applicable(self, batch: CandidateBatch) -> bool:
        """Whether the batch carries what this selector reads."""
        return not self._missing(batch)

    def score(self, batch: CandidateBatch, budget: int | None = None) -> np.ndarray:
        """One score per candidate; higher = more worth labelling, ``-inf`` = never pick."""
        missing = self._missing(batch)
        if missing:
            raise ValidationError(
                f"The {self.name!r} selector needs CandidateBatch.{missing[0]}, which this batch does not carry."
            )
        if len(batch) == 0:
            return np.zeros(0, dtype=np.float64)
        if budget is not None:
            check_int(type(self).__name__, "budget", budget, 0, 10**9)
        scores = np.asarray(self._score(batch, budget), dtype=np.float64)
        if scores.shape != (len(batch),):
            raise AssertionError(
                f"{type(self).__name__} returned {scores.shape} scores for {len(batch)} rows"
            )
        return scores

    @abstractmethod
    def _score(self, batch: CandidateBatch, budget: int | None) -> np.ndarray:
        """Scores for a non-empty batch that carries every required field."""

    def explain(self, batch: CandidateBatch, indices: Sequence[int], scores: np.ndarray) -> list[str]:
        """The signal behind each picked row, in words (one string per index)."""
        return [f"{self.name} score {scores[i]:.3g}" for i in indices]

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, as given."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _missing(self, batch: CandidateBatch) -> list[str]:
        out = []
        for name in self.requires:
            value = getattr(batch, name)
            if value is None or (isinstance(value, dict) and not value):
                out.append(name)
        return out


def rank_scores(values: np.ndarray) -> np.ndarray:
    """Map values to ``(0, 1]`` by rank (ties share a rank); higher value, higher score."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    _, inverse = np.unique(values, return_inverse=True)
    return (inverse + 1) / (inverse.max() + 1)


def check_int(owner: str, name: str, value: Any, lo: int, hi: int) -> int:
    """Validate an int argument: "The 'k' parameter of X must be an int in [1, 100]; got 0." """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise ValidationError(
            f"The {name!r} parameter of {owner} must be an int in [{lo}, {hi}]; got {value!r}."
        )
    return int(value)


def check_float(
    owner: str, name: str, value: Any, lo: float, hi: float, *, closed_low: bool = False
) -> float:
    """Validate a float argument in ``(lo, hi]`` (or ``[lo, hi]`` with ``closed_low``)."""
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if ok:
        ok = (lo <= value if closed_low else lo < value) and value <= hi
    if not ok:
        left = "[" if closed_low else "("
        raise ValidationError(
            f"The {name!r} parameter of {owner} must be a float in {left}{lo}, {hi}]; got {value!r}."
        )
    return float(value)


def check_choice(owner: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """Validate a string argument against its allowed values."""
    if value not in choices:
        raise ValidationError(
            f"The {name!r} parameter of {owner} must be one of {list(choices)}; got {value!r}."
        )
    return str(value)


def check_seed(owner: str, value: Any) -> None:
    """A ``random_state`` is None or a non-negative int."""
    if value is not None:
        check_int(owner, "random_state", value, 0, 2**32 - 1)
