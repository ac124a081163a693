"""``hrm analyze dimensionality|halting|recursion|scaling``: the paper's analyses of a checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hrm.cli.arg_types import check_plot_suffix, seed
from hrm.model.limits import MAX_RECURRENCE


def _common(parser: argparse.ArgumentParser, num_puzzles: int, plot: str) -> None:
    """The options every analysis takes: checkpoint, examples, batch, device, and the plot and JSON it writes."""
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="step-N directory, or run directory (its latest checkpoint; RUN_DIR/best for the best); "
        "default: the checkpoint shipped with hrm",
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="dataset root (with train/ and test/) or one split folder, of the checkpoint's task",
    )
    parser.add_argument("--split", default="test", help="split of the dataset root to use (default test)")
    parser.add_argument(
        "--num-puzzles",
        type=int,
        default=num_puzzles,
        metavar="N",
        help=f"examples drawn (seeded) from the split (default {num_puzzles}; 0 = all)",
    )
    parser.add_argument("--seed", type=seed, default=0, help="seed of the example draw (and of the untrained model)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--plot", type=Path, default=Path(plot), metavar="FILE", help=f"plot to write (default {plot})")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="analyses of a trained model (dimensionality, halting, recursion, scaling)",
        description="Analyses of a trained model: the participation ratio of its high- and "
        "low-level states (paper Fig. 8), its halting behaviour, what happens inside the recursion "
        "(hierarchical convergence, PCA trajectories, PR per module) and inference-time scaling.",
    )
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)

    dim = sub.add_parser(
        "dimensionality",
        help="participation ratio of z_H and z_L, trained vs untrained (paper Fig. 8)",
        description="Participation ratio PR = (Σλ)²/Σλ² of the covariance of the high-level (z_H) and low-level "
        "(z_L) states over many puzzles' trajectories (the state after every segment), for the trained "
        "model and for an untrained model of the same config on the same puzzles. The paper reports "
        "z_H ≈ 3× z_L after training (89.95 vs 30.22) and no gap untrained. See docs/solve-and-analyze.md "
        "for the method.",
    )
    _common(dim, 64, "dimensionality.png")
    dim.add_argument("--segments", type=int, metavar="M", help="segments per trajectory (default the model's M_max)")
    dim.add_argument(
        "--sample",
        choices=("token", "sequence"),
        default="token",
        help="one sample = one grid position's D-dim state (token, default) or the whole flattened state (sequence)",
    )
    dim.set_defaults(func=run_dimensionality)

    halt = sub.add_parser(
        "halting",
        help="distribution of segments used and accuracy against segments",
        description="Run the examples for up to M segments and report how many segments per-sample early exit "
        "(q_halt > q_continue) uses, and exact accuracy against segments: if every example stopped at "
        "segment m, and among the examples that halted at m.",
    )
    _common(halt, 256, "halting.png")
    halt.add_argument("--max-segments", type=int, metavar="M", help="segment cap (default the model's M_max)")
    halt.set_defaults(func=run_halting)

    rec = sub.add_parser(
        "recursion",
        help="hierarchical convergence (forward residual per module), PCA trajectories, PR per module",
        description="Run the examples for M segments and observe every recurrent call of the model: the forward "
        "residual ||z_t - z_(t-1)|| of each state (z_H, z_L; z for the looped stack) at every recursion step "
        "(the paper's hierarchical-convergence figure), the states' PCA trajectories, and each state's "
        "participation ratio. Any family that iterates a state (hrm, trm, looped, transformer with the outer "
        "loop). See docs/solve-and-analyze.md.",
    )
    _common(rec, 64, "recursion.png")
    rec.add_argument("--segments", type=int, metavar="M", help="segments per example (default the model's M_max)")
    rec.set_defaults(func=run_recursion)

    scale = sub.add_parser(
        "scaling",
        help="inference-time scaling: accuracy against the segments allowed, with and without early exit",
        description="Exact and token accuracy against the segment cap (one pass over the examples for every cap), "
        "for every row running the cap and, with a halting head, with per-sample early exit; mean segments used.",
    )
    _common(scale, 256, "scaling.png")
    scale.add_argument(
        "--max-segments", default="1,2,4,8,16", metavar="M[,M...]", help="segment caps (default 1,2,4,8,16)"
    )
    scale.set_defaults(func=run_scaling)


def _check_args(args: argparse.Namespace) -> None:
    """Every option and output path, before a checkpoint or dataset is opened."""
    from hrm.errors import UserError
    from hrm.runtime.files import check_output_file

    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be >= 1")
    if args.num_puzzles < 0:
        raise UserError(f"--num-puzzles {args.num_puzzles}: must be >= 0 (0 = all)")
    for option in ("segments", "max_segments"):
        value = getattr(args, option, None)
        if isinstance(value, str):  # `analyze scaling`'s list of caps: checked by the parser it goes through
            from hrm.evaluation.evaluate import parse_segments

            parse_segments(value)
        elif value is not None and value < 1:
            raise UserError(f"--{option.replace('_', '-')} {value}: must be >= 1 (omit it for the model's M_max)")
        elif value is not None and value > MAX_RECURRENCE:
            raise UserError(f"--{option.replace('_', '-')} {value}: at most {MAX_RECURRENCE} (a sanity bound)")
    check_output_file(args.plot, "--plot")
    check_plot_suffix(args.plot)
    if args.json is not None:
        check_output_file(args.json, "--json")
        if args.json.resolve() == args.plot.resolve():
            raise UserError(f"--json {args.json}: the same file as --plot; give two different files")


def _load(args: argparse.Namespace):
    from hrm.analysis.examples import load_examples
    from hrm.checkpoints import open_checkpoint
    from hrm.evaluation.evaluate import check_split
    from hrm.runtime.device import resolve_device

    _check_args(args)
    ckpt = open_checkpoint(args.checkpoint, resolve_device(args.device))
    examples = load_examples(args.data, args.split, args.num_puzzles or None, args.seed)
    check_split(ckpt.model, examples.split)
    return ckpt, examples


def _write_json(path: Path | None, data: dict) -> None:
    from hrm.runtime.files import write_text_atomic

    if path is not None:
        write_text_atomic(path, json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}")


def run_dimensionality(args: argparse.Namespace) -> int:
    from hrm.analysis.dimensionality import compare_trained_untrained, format_report, plot_report
    from hrm.errors import UserError

    ckpt, examples = _load(args)
    import torch

    first = torch.as_tensor(examples.inputs[:1]), torch.as_tensor(examples.puzzle_identifiers[:1])
    state = ckpt.model.initial_state(*ckpt.model.prepare_inputs(*first))
    if not {"z_H", "z_L"} <= set(state):
        raise UserError(
            f"{ckpt.path} holds a {ckpt.family!r} model without high- and low-level states (z_H, z_L); "
            "the dimensionality analysis needs an hrm or trm checkpoint"
        )
    report = compare_trained_untrained(
        ckpt.model,
        examples.inputs,
        examples.puzzle_identifiers,
        num_segments=args.segments,
        sample=args.sample,
        batch_size=args.batch_size,
        seed=args.seed,
        split=args.split,
        checkpoint=str(ckpt.path),
        data=str(args.data),
    )
    print(format_report(report))
    print(f"wrote {plot_report(report, args.plot)}")
    _write_json(args.json, report.to_dict())
    return 0


def run_halting(args: argparse.Namespace) -> int:
    from hrm.analysis.halting import analyze_halting, format_halting, plot_halting
    from hrm.errors import UserError

    ckpt, examples = _load(args)
    if not ckpt.model.has_halting_head:
        raise UserError(
            f"{ckpt.path} holds a {ckpt.family!r} model without a halting head; the halting analysis needs "
            "a family with one (hrm, trm, or transformer/looped with halt_max_steps > 1)"
        )
    report = analyze_halting(
        ckpt.model,
        examples.inputs,
        examples.labels,
        examples.puzzle_identifiers,
        max_segments=args.max_segments,
        batch_size=args.batch_size,
    )
    print(format_halting(report))
    print(f"wrote {plot_halting(report, args.plot)}")
    _write_json(
        args.json, {"checkpoint": str(ckpt.path), "data": str(args.data), "split": args.split, **report.to_dict()}
    )
    return 0


def run_recursion(args: argparse.Namespace) -> int:
    from hrm.analysis.recursion import analyze_recursion, format_recursion, plot_recursion

    ckpt, examples = _load(args)
    report = analyze_recursion(
        ckpt.model,
        examples.inputs,
        examples.puzzle_identifiers,
        segments=args.segments,
        batch_size=args.batch_size,
        checkpoint=str(ckpt.path),
        data=str(args.data),
    )
    print(format_recursion(report))
    print(f"wrote {plot_recursion(report, args.plot)}")
    _write_json(args.json, {"split": args.split, **report.to_dict()})
    return 0


def run_scaling(args: argparse.Namespace) -> int:
    from hrm.analysis.scaling import analyze_scaling, format_scaling, plot_scaling
    from hrm.evaluation.evaluate import parse_segments

    ckpt, examples = _load(args)
    report = analyze_scaling(ckpt.model, examples, parse_segments(args.max_segments), batch_size=args.batch_size)
    print(format_scaling(report))
    print(f"wrote {plot_scaling(report, args.plot)}")
    _write_json(args.json, {"checkpoint": str(ckpt.path), "data": str(args.data), "split": args.split, **report})
    return 0
