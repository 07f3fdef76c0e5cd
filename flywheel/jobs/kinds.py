"""Job kinds by name: each maps to ``"module:function"`` with signature ``fn(ctx, params) -> dict``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from flywheel.errors import ValidationError

KINDS: dict[str, str] = {
    "sleep": "flywheel.jobs.builtin:sleep_job",
    "monitor-check": "flywheel.monitor.alerts:check_job",
    "monitor-rebuild": "flywheel.monitor.alerts:rebuild_job",
    "train": "flywheel.train.jobs:train_job",
    "evaluate": "flywheel.evaluate.jobs:evaluate_job",
    "curate": "flywheel.curate.service:curate_job",
    "label-errors": "flywheel.label.errors_job:label_errors_job",
}


def register_kind(kind: str, target: str) -> None:
    KINDS[kind] = target


def resolve(kind: str) -> Callable[..., Any]:
    target = KINDS.get(kind)
    if target is None:
        raise ValidationError(f"unknown job kind {kind!r}; known kinds: {sorted(KINDS)}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
