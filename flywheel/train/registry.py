"""Trainers by name: the built-ins, registered ones, and user trainers named "package.module:Class".

>>> sorted(trainer_names())
['baseline', 'image-pixels', 'tabular-hgb', 'tabular-lgbm', 'text-tfidf']
>>> get_trainer("tabular-hgb").name
'tabular-hgb'
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from flywheel.errors import ValidationError
from flywheel.train.base import Trainer
from flywheel.train.baseline import BaselineTrainer
from flywheel.train.image_pixels import ImageTrainer
from flywheel.train.tabular_hgb import HGBTrainer
from flywheel.train.tabular_lgbm import LightGBMTrainer
from flywheel.train.text_tfidf import TfidfTrainer

IMPORT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
REQUIRED = ("name", "fit", "default_params", "search_space")

_TRAINERS: dict[str, Trainer] = {}


def register_trainer(trainer: Trainer, *, replace: bool = False) -> Trainer:
    """Make ``trainer`` available by its name; refuses to shadow another unless ``replace``."""
    _check_trainer(trainer, repr(trainer))
    if trainer.name in _TRAINERS and not replace:
        raise ValidationError(
            f"a trainer named {trainer.name!r} is already registered; pass replace=True to replace it."
        )
    _TRAINERS[trainer.name] = trainer
    return trainer


def trainer_names() -> list[str]:
    return sorted(_TRAINERS)


def _check_trainer(obj: Any, ref: str) -> None:
    missing = [m for m in REQUIRED if not hasattr(obj, m)]
    if missing:
        raise ValidationError(
            f"{ref} is not a trainer: it lacks {missing}. A trainer has a name, default_params(), "
            "search_space(spec) and fit(data, params) -> FittedModel."
        )
    if not isinstance(obj.name, str) or not obj.name:
        raise ValidationError(f"{ref} is not a trainer: its name must be a non-empty str; got {obj.name!r}.")


def load_user_trainer(ref: str) -> Trainer:
    """Import "package.module:Attr"; a class is instantiated without arguments.

    This imports (and so runs) the named module: call it only with references from trusted
    configuration, never from a request body.
    """
    if not IMPORT_RE.match(ref):
        raise ValidationError(
            f"trainer {ref!r} is neither a registered trainer {trainer_names()} nor an import string "
            "of the form 'package.module:Class'."
        )
    module_name, attr = ref.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(f"could not import module {module_name!r} for trainer {ref!r}: {exc}.") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError as exc:
        raise ValidationError(f"module {module_name!r} has no attribute {attr!r} (trainer {ref!r}).") from exc
    if isinstance(obj, type):
        try:
            obj = obj()
        except TypeError as exc:
            raise ValidationError(
                f"trainer class {ref!r} must be constructible without arguments: {exc}."
            ) from exc
    _check_trainer(obj, f"{ref!r}")
    return obj


def get_trainer(name: str) -> Trainer:
    """A registered trainer by name, or a user trainer by import string."""
    if name in _TRAINERS:
        return _TRAINERS[name]
    if ":" in name:
        return load_user_trainer(name)
    raise ValidationError(
        f"unknown trainer {name!r}; choose one of {trainer_names()} or give an import string 'package.module:Class'.",
        details=[{"field": "trainer", "reason": "unknown trainer"}],
    )


for _builtin in (HGBTrainer(), LightGBMTrainer(), TfidfTrainer(), ImageTrainer(), BaselineTrainer()):
    register_trainer(_builtin)
