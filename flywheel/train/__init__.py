"""Training: the ``Trainer`` protocol, the built-in trainers, safe artifacts and hyper-parameter search."""

from flywheel.train.artifact import ALLOWED_TYPES, UnsafeArtifact, load_model, read_manifest
from flywheel.train.base import BaseTrainer, SklearnTrainer, Trainer
from flywheel.train.data import TrainingData, encode_target, prepare_frame
from flywheel.train.model import FittedModel, SklearnModel
from flywheel.train.params import CategoricalParam, FloatParam, IntParam, space_to_dict
from flywheel.train.registry import get_trainer, load_user_trainer, register_trainer, trainer_names

__all__ = [
    "ALLOWED_TYPES",
    "BaseTrainer",
    "CategoricalParam",
    "FittedModel",
    "FloatParam",
    "IntParam",
    "SklearnModel",
    "SklearnTrainer",
    "Trainer",
    "TrainingData",
    "UnsafeArtifact",
    "encode_target",
    "get_trainer",
    "load_model",
    "load_user_trainer",
    "prepare_frame",
    "read_manifest",
    "register_trainer",
    "space_to_dict",
    "trainer_names",
]
