"""A training run's schedule from its config: total steps, steps between evaluations, the learning rate.

The formulas themselves have one home each: the reference's training length is
:func:`hrm.data.sampling.total_steps`, the warm-up + cosine rate is :func:`hrm.training.optim.lr_at`.
"""

from __future__ import annotations

from hrm.data.sampling import total_steps
from hrm.errors import UserError
from hrm.training.config import TrainConfig
from hrm.training.optim import lr_at


def total_steps_for(config: TrainConfig, total_groups: int, mean_puzzle_examples: float) -> int:
    """The reference's formula (``epochs`` over the training split), or ``schedule.max_steps`` when set."""
    sched = config.schedule
    if sched.max_steps > 0:
        return sched.max_steps
    steps = total_steps(sched.epochs, total_groups, mean_puzzle_examples, sched.global_batch_size)
    if steps < 1:
        raise UserError(
            f"the schedule gives 0 steps (epochs {sched.epochs} × {total_groups} groups × "
            f"{mean_puzzle_examples:g} examples < global_batch_size {sched.global_batch_size}); "
            "raise epochs or set schedule.max_steps"
        )
    return steps


def eval_every_for(config: TrainConfig, total_groups: int, mean_puzzle_examples: float) -> int:
    """Steps between evaluations: ``eval_every_steps``, else ``eval_interval`` epochs' worth of steps."""
    sched = config.schedule
    if sched.eval_every_steps > 0:
        return sched.eval_every_steps
    return max(1, total_steps(sched.eval_interval, total_groups, mean_puzzle_examples, sched.global_batch_size))


def learning_rate(config: TrainConfig, base_lr: float, step: int, total_steps: int, time_fraction: float) -> float:
    """The configured schedule at ``step`` (:func:`~hrm.training.optim.lr_at`: warm-up, then cosine to
    ``lr_min_ratio``, constant when it is 1); with a time budget the cosine also follows the budget used."""
    optim = config.optim
    return lr_at(step, base_lr, optim.warmup_steps, total_steps, optim.lr_min_ratio, time_fraction)
