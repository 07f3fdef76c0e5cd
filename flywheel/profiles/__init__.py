"""Mergeable column profiles: what monitoring reads instead of raw events.

One profile per column per time bucket; any range is the merge of its buckets. Every profile has
``update(values) -> self``, ``merge(other) -> new``, ``to_bytes()`` / ``from_bytes()`` and an empty
state that is the identity of merge.

The names below load on first use (PEP 562), so code that needs only ``flywheel.profiles.columns``
(drift over raw arrays) does not pay for importing the sketches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flywheel.profiles.categorical import CategoricalProfile
    from flywheel.profiles.dataset import DatasetProfile, Profile, new_profile, profile_from_bytes
    from flywheel.profiles.embedding import EmbeddingProfile
    from flywheel.profiles.numeric import NumericProfile
    from flywheel.profiles.text import TextProfile

_WHERE = {
    "CategoricalProfile": "categorical",
    "DatasetProfile": "dataset",
    "EmbeddingProfile": "embedding",
    "NumericProfile": "numeric",
    "Profile": "dataset",
    "TextProfile": "text",
    "new_profile": "dataset",
    "profile_from_bytes": "dataset",
}

__all__ = [
    "CategoricalProfile",
    "DatasetProfile",
    "EmbeddingProfile",
    "NumericProfile",
    "Profile",
    "TextProfile",
    "new_profile",
    "profile_from_bytes",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"flywheel.profiles.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flywheel.profiles' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
