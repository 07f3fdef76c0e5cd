"""Curation: turn the unlabelled stream into a labelling queue under a budget.

Selectors (one per module, registered by name) score a :class:`CandidateBatch`; the policy
(:mod:`flywheel.curate.policy`) mixes them under a budget, keeps a random share for unbiased
evaluation, and records why each event was queued.
"""

from flywheel.curate.base import Selector
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import make_selector, registered_selectors

__all__ = ["CandidateBatch", "Selector", "make_selector", "registered_selectors"]
