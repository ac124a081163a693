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


def add_depth_breadth_arguments(group: argparse._ArgumentGroup, *, standalone: bool = False) -> None:
    """``--depth`` and its companions (:class:`~hrm.evaluation.depth_breadth.DepthBreadthOptions`); with
    ``standalone``, also the ``--test-time-seed`` / ``--test-time-rows`` that :func:`add_test_time_arguments`
    otherwise adds (``hrm compare --test-time`` has no other test-time flags)."""
    group.add_argument("--depth", type=int, metavar="D", help="run every trajectory up to D segments (turns this on)")
    group.add_argument(
        "--breadth", default="1", metavar="R[,R...]", help="trajectories per view from different initial states"
    )
    group.add_argument("--views", default="1", metavar="V[,V...]", help="Sudoku/Maze: symmetric views per puzzle")
    group.add_argument(
        "--init",
        default="random",
        choices=("random", "noise"),
        help="how trajectories other than the first start: a fresh random state (default) or noise on the initial one",
    )
    group.add_argument("--init-std", type=float, default=0.5, metavar="S", help="--init noise: std relative to RMS")
    group.add_argument(
        "--step-noise", type=float, default=0.0, metavar="S", help="PTRM: noise std (x RMS) once per segment"
    )
    group.add_argument(
        "--exit",
        default="none",
        choices=("none", "halt", "fixed-point"),
        help="per-trajectory early exit: never, by the halting head, or at a fixed point of the state",
    )
    group.add_argument("--fixed-point-tol", type=float, default=1e-3, metavar="T", help="relative state change (1e-3)")
    group.add_argument(
        "--choose",
        default="single,halt,converge,vote,oracle",
        metavar="RULE[,RULE...]",
        help="choice rules to report: single, halt, converge, vote, oracle (a perfect verifier; labelled so)",
    )
    if standalone:
        group.add_argument("--test-time-rows", type=int, default=0, metavar="N", help="only the first N rows (0 = all)")
        group.add_argument("--test-time-seed", type=seed, default=0, metavar="S", help="seed of the starts and views")


def int_list(text: str, option: str) -> tuple[int, ...]:
    from hrm.errors import UserError

    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise UserError(f"{option} {text!r}: expected a comma list of integers, e.g. 1,2,10") from None
    if not values or min(values) < 1:
        raise UserError(f"{option} {text!r}: every value must be >= 1")
    return values


def depth_breadth_options(args: argparse.Namespace):  # -> DepthBreadthOptions | None
    from hrm.errors import UserError
    from hrm.evaluation.depth_breadth import DepthBreadthOptions

    if args.depth is None:
        given = [f for f, v, d in (("--breadth", args.breadth, "1"), ("--views", args.views, "1")) if v != d]
        if given or args.step_noise or args.exit != "none":
            raise UserError(f"{', '.join(given) or '--step-noise/--exit'} goes with --depth D (the most segments)")
        return None
    rules = [r.strip() for r in args.choose.split(",") if r.strip()]
    return DepthBreadthOptions(
        starts=list(int_list(args.breadth, "--breadth")),
        views=list(int_list(args.views, "--views")),
        depth=args.depth,
        init=args.init,
        init_std=args.init_std,
        step_noise=args.step_noise,
        exit=args.exit,
        fixed_point_tol=args.fixed_point_tol,
        choose=rules,
        seed=args.test_time_seed,
        limit=args.test_time_rows,
    )


def refuse_clashes(flags: list[tuple[str, object]], message: str) -> None:
    """A one-line UserError ``message`` + the first flag whose value is truthy (options that cannot go together)."""
    from hrm.errors import UserError

    given = [flag for flag, on in flags if on]
    if given:
        raise UserError(f"{message}{given[0]}")
