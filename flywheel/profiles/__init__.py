"""Mergeable column profiles: what monitoring reads instead of raw events.

One profile per column per time bucket; any range is the merge of its buckets. Every profile has
``update(values) -> self``, ``merge(other) -> new``, ``to_bytes()`` / ``from_bytes()`` and an empty
state that is the identity of merge.
"""

from flywheel.profiles.categorical import CategoricalProfile
from flywheel.profiles.dataset import DatasetProfile, Profile, new_profile, profile_from_bytes
from flywheel.profiles.embedding import EmbeddingProfile
from flywheel.profiles.numeric import NumericProfile
from flywheel.profiles.text import TextProfile

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
