"""The registry of selectors, by name.

>>> sorted(registered_selectors())[:4]
['disagreement', 'diversity', 'drifting_slice', 'feedback']
>>> make_selector("uncertainty", measure="entropy")
Uncertainty(measure='entropy')
"""

from __future__ import annotations

from typing import Any, TypeVar

from flywheel.curate.base import Selector
from flywheel.errors import ValidationError

_REGISTRY: dict[str, type[Selector]] = {}
S = TypeVar("S", bound=type[Selector])


def register(cls: S) -> S:
    """Class decorator: make a selector available by its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a selector named {cls.name!r} is registered already")
    _REGISTRY[cls.name] = cls
    return cls


def registered_selectors() -> dict[str, type[Selector]]:
    """Name -> selector class, for every registered selector."""
    _load_builtins()
    return dict(_REGISTRY)


def make_selector(name: str, **params: Any) -> Selector:
    """An instance of the selector registered as ``name``, built with ``params``."""
    _load_builtins()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValidationError(f"Unknown selector {name!r}; registered: {sorted(_REGISTRY)}.") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValidationError(f"Bad parameters for the {name!r} selector: {exc}.") from exc


def _load_builtins() -> None:
    # Importing the selector modules registers them.
    from flywheel.curate import (  # noqa: F401
        disagreement,
        diversity,
        drifting_slice,
        feedback,
        kmeans_centres,
        novelty,
        random_sampling,
        similarity,
        stratified,
        suspected_errors,
        uncertainty,
    )
