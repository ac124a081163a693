"""The test-time-scaling options that ``hrm evaluate`` and ``hrm solve`` share: their flags and the one
:class:`~hrm.evaluation.test_time.TestTimeOptions` they turn into."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hrm.cli.arg_types import count, finite_non_negative, seed
from hrm.model.limits import MAX_CANDIDATES

if TYPE_CHECKING:
    from hrm.evaluation.test_time import TestTimeOptions


def add_test_time_arguments(group: argparse._ArgumentGroup, *, rule_check_help: str, rows: bool) -> None:
    """``--augment-votes``, ``--noise-samples``, ``--noise-std``, ``--rule-check``, ``--test-time-seed`` and, with
    ``rows``, ``--test-time-rows`` (evaluation only: a single puzzle has one row)."""
    group.add_argument(
        "--augment-votes",
        type=count(MAX_CANDIDATES, minimum=0),
        default=0,
        metavar="K",
        help="Sudoku/Maze: solve K symmetric views (the puzzle + K-1 shuffles or dihedral transforms), map back, vote",
    )
    group.add_argument(
        "--noise-samples",
        type=count(MAX_CANDIDATES, minimum=0),
        default=0,
        metavar="K",
        help="K trajectories (1 clean + K-1 with Gaussian noise on the latent state at every recursion step), "
        "the answer with the most confident halting head kept",
    )
    group.add_argument(
        "--noise-std",
        type=finite_non_negative,
        default=0.1,
        metavar="S",
        help="noise std relative to the state's RMS (0.1)",
    )
    group.add_argument("--rule-check", action="store_true", help=rule_check_help)
    if rows:
        group.add_argument("--test-time-rows", type=int, default=0, metavar="N", help="only the first N rows (0 = all)")
    group.add_argument("--test-time-seed", type=seed, default=0, metavar="S", help="seed of the views and noise")


def test_time_options(args: argparse.Namespace) -> TestTimeOptions | None:
    """The options of :func:`add_test_time_arguments`, or None when no test-time method was asked for."""
    from hrm.errors import UserError
    from hrm.evaluation.test_time import TestTimeOptions

    if not (args.augment_votes or args.noise_samples):
        if args.rule_check:
            raise UserError("--rule-check picks among test-time candidates: add --augment-votes K or --noise-samples K")
        return None
    return TestTimeOptions(
        augment=args.augment_votes,
        noise=args.noise_samples,
        noise_std=args.noise_std,
        rules=args.rule_check,
        seed=args.test_time_seed,
        limit=getattr(args, "test_time_rows", 0),
    )


def add_finetune_arguments(group: argparse._ArgumentGroup) -> None:
    """``--finetune-steps`` and its companions: test-time fine-tuning of an ARC checkpoint on a task it never saw
    (:mod:`hrm.inference.finetune`)."""
    from hrm.inference.finetune import DEFAULT_LR, DEFAULT_VIEWS, DEFAULT_WEIGHTS_LR, MAX_FINETUNE_STEPS

    group.add_argument(
        "--finetune-steps",
        type=count(MAX_FINETUNE_STEPS, minimum=0),
        metavar="N",
        help="ARC: fit fresh puzzle embeddings (one per augmented view) on the task's demonstrations for N steps, "
        "then predict its test inputs under every view and vote (0: the same, untrained: the baseline)",
    )
    group.add_argument(
        "--finetune-views",
        type=count(MAX_CANDIDATES),
        default=DEFAULT_VIEWS,
        metavar="V",
        help=f"views of the task (the original + V-1 dihedral x colour augmentations; default {DEFAULT_VIEWS})",
    )
    group.add_argument(
        "--finetune-lr", type=float, default=DEFAULT_LR, metavar="LR", help=f"Adam lr of the new rows ({DEFAULT_LR:g})"
    )
    group.add_argument(
        "--finetune-weights", action="store_true", help="also fine-tune every weight (of a copy; default: rows only)"
    )
    group.add_argument(
        "--finetune-weights-lr",
        type=float,
        default=DEFAULT_WEIGHTS_LR,
        metavar="LR",
        help=f"Adam lr of the weights with --finetune-weights ({DEFAULT_WEIGHTS_LR:g})",
    )
    group.add_argument(
        "--finetune-init",
        choices=("mean", "zeros"),
        default="mean",
        help="new rows start at the mean of the trained rows (default) or at zero",
    )


def finetune_options(args: argparse.Namespace, max_segments: int | None, early_exit: bool):  # -> FinetuneOptions | None
    """The options of :func:`add_finetune_arguments` (the test inputs then run up to ``max_segments``, None = the
    model's M_max, with or without ``early_exit``), or None without ``--finetune-steps``."""
    from hrm.errors import UserError
    from hrm.inference.finetune import FinetuneOptions

    if args.finetune_steps is None:
        given = [
            flag
            for flag, value, default in (
                ("--finetune-weights", args.finetune_weights, False),
                ("--finetune-init", args.finetune_init, "mean"),
            )
            if value != default
        ]
        if given:
            raise UserError(f"{given[0]} fine-tunes at test time: add --finetune-steps N")
        return None
    options = FinetuneOptions(
        steps=args.finetune_steps,
        views=args.finetune_views,
        lr=args.finetune_lr,
        weights=args.finetune_weights,
        weights_lr=args.finetune_weights_lr,
        init=args.finetune_init,
        seed=getattr(args, "test_time_seed", 0),
        max_segments=max_segments,
        early_exit=early_exit,
    )
    options.check()
    return options
