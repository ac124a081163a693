"""Training: optimisers, learning-rate schedule, EMA of the weights, and the training loop.

``train(config, run_dir)`` runs a whole training run from a :class:`TrainConfig` (build one with
``get_recipe(name)`` and change it with ``apply_overrides``); ``train_step`` is one optimiser step.
"""

from hrm.training.config import TrainConfig, apply_overrides
from hrm.training.recipes import RECIPES, get_recipe
from hrm.training.trainer import TrainResult, train, train_step

__all__ = [
    "RECIPES",
    "TrainConfig",
    "TrainResult",
    "apply_overrides",
    "get_recipe",
    "train",
    "train_step",
]
