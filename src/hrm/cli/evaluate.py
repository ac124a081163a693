"""``hrm evaluate --checkpoint PATH [--data DIR | --sudoku FILE | --csv FILE | --arc-json FILE] ...``.

Parses the command line into one :class:`hrm.evaluation.options.EvaluateOptions`, runs
:func:`hrm.evaluation.runner.run_evaluation` and prints its report; nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hrm.cli.test_time_args import (
    add_depth_breadth_arguments,
    add_finetune_arguments,
    add_test_time_arguments,
    depth_breadth_options,
    finetune_options,
    int_list,
    refuse_clashes,
    test_time_options,
)

EPILOG = """\
examples:
  hrm evaluate --checkpoint runs/sudoku                      # latest checkpoint, its own dataset, M = M_max
  hrm evaluate --checkpoint runs/sudoku/best --max-segments 1,2,4,8,16,32 --out eval/  # scaling sweep + plot
  hrm evaluate --checkpoint runs/sudoku --early-exit         # per-sample ACT halting at test time
  hrm evaluate --checkpoint runs/sudoku --sudoku shared/data/sudoku/puzzles3_magictour_top1465.txt
  hrm evaluate --checkpoint runs/arc1 --out eval/            # ARC: voted pass@1/2/10, submission.json
  hrm evaluate --checkpoint ckpt/step_26041 --data data/sudoku-extreme-1k   # a reference checkpoint file
  hrm evaluate --checkpoint runs/sudoku --augment-votes 8 --noise-samples 8 --rule-check   # test-time scaling
  hrm evaluate --checkpoint runs/sudoku --depth 256 --breadth 1,4,16 --exit halt --out eval/   # depth x breadth
  hrm evaluate --checkpoint runs/arc-strict --arc-json unseen/ --finetune-steps 300 --out eval/  # ARC test-time FT

metrics: exact% = rows whose every supervised token is right (the headline); token% = mean per-row token
accuracy; q_halt% = rows where (q_halt >= 0) agrees with exactness; segments = mean segments run; valid% (Sudoku)
= predictions that are valid grids agreeing with the givens; pass@K (ARC) = tasks whose every test input has the
right output among the top K voted candidates. Sudoku and maze data also get exact% by difficulty (number of
givens, shortest-path length; ranges when there are more than 12 values) for the largest cap, printed when there
are at least two values and stored per cap in eval.json. See docs/evaluation.md.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a checkpoint: accuracy, halting, inference-time scaling, ARC pass@K",
        description="Evaluate a checkpoint on a dataset split or directly on a puzzle file. Prints exact, token and "
        "q_halt accuracy, mean segments and a halting histogram, for one or several segment caps, and exact "
        "accuracy by Sudoku givens or maze path length.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        metavar="PATH",
        help="run directory (its latest checkpoint; RUN/best for the best one), step-N directory, "
        "or a reference step_N file with all_config.yaml beside it",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="dataset root (or split folder); default: the dataset recorded in the checkpoint",
    )
    parser.add_argument("--split", metavar="NAME", help="split folder to evaluate (default: test)")
    parser.add_argument(
        "--max-segments",
        metavar="M[,M...]",
        help="segment cap, or a comma list for an inference-time scaling sweep, e.g. "
        "1,2,4,8,16,32 (one pass); default: the model's M_max",
    )
    parser.add_argument(
        "--early-exit",
        action="store_true",
        help="per-sample early exit: a row stops at the first segment with q_halt > q_continue "
        "(default: every row runs M segments, as the reference)",
    )
    parser.add_argument("--batch-size", type=int, default=256, metavar="N", help="rows per batch (default 256)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--dtype",
        default="auto",
        help="activation dtype: auto (bf16 on CUDA, fp32 elsewhere), float32, bfloat16, float16",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write eval.json, predictions (ARC submission.json, Sudoku predictions.txt) and, for "
        "a sweep, scaling.png here",
    )
    source = parser.add_argument_group("direct evaluation on a puzzle file (no dataset needed)")
    source.add_argument(
        "--sudoku",
        type=Path,
        metavar="FILE",
        help="Sudoku line file, one puzzle per line ('.' or 0 blank); solutions from --solutions "
        "or FILE's <stem>.solutions.txt, else solved exactly",
    )
    source.add_argument("--solutions", type=Path, metavar="FILE", help="solutions of --sudoku, line by line")
    source.add_argument("--csv", type=Path, metavar="FILE", help="Sudoku-Extreme CSV (source,question,answer,rating)")
    source.add_argument(
        "--arc-json",
        type=Path,
        metavar="FILE",
        help="ARC tasks JSON {task_id: {train, test}}; each test input is run once per augmented "
        "view the checkpoint knows, then voted",
    )
    source.add_argument("--tasks", metavar="ID[,ID...]", help="with --arc-json: only these task ids")
    source.add_argument("--limit", type=int, metavar="N", help="with --sudoku/--csv: only the first N puzzles")
    parser.add_argument(
        "--pass-k",
        default="1,2,10",
        metavar="K[,K...]",
        help="ARC pass@K values (default 1,2,10; the reference also reports 100,1000)",
    )
    parser.add_argument(
        "--save-predictions",
        type=int,
        default=0,
        metavar="N",
        help="with --out: also write segment_predictions.npz, the prediction and Q logits after every segment "
        "for the first N rows, to look at with `hrm view OUT`",
    )
    tts = parser.add_argument_group(
        "test-time scaling (measured beside the plain answer, at the last --max-segments cap, same rows)"
    )
    add_test_time_arguments(
        tts,
        rule_check_help=(
            "Sudoku: also report each method choosing only among rule-valid candidates "
            "(oracle pass@K: a perfect verifier)"
        ),
        rows=True,
    )
    add_depth_breadth_arguments(
        parser.add_argument_group(
            "depth x breadth (test-time compute: K trajectories per puzzle, up to --depth segments, one answer "
            "chosen; writes depth_breadth.json and .png with --out; see docs/evaluation.md)"
        )
    )
    ft = parser.add_argument_group(
        "test-time fine-tuning (ARC: with --arc-json FILE or FOLDER of tasks the checkpoint never saw; pass@1/2 "
        "with and without, finetune.json with --out)"
    )
    add_finetune_arguments(ft)
    ft.add_argument(
        "--no-baseline", action="store_true", help="skip the run without fine-tuning (0 steps) beside each task"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _run_finetune(args: argparse.Namespace, options) -> int:
    import json

    from hrm.errors import UserError
    from hrm.inference.finetune import finetune_tasks
    from hrm.runtime.files import check_output_dir, write_text_atomic

    if args.arc_json is None:
        raise UserError("--finetune-steps fine-tunes on ARC tasks: add --arc-json FILE_OR_FOLDER")
    refuse_clashes(
        [
            ("--data", args.data is not None),
            ("--sudoku/--csv", args.sudoku is not None or args.csv is not None),
            ("--depth", args.depth is not None),
            ("--augment-votes/--noise-samples", test_time_options(args) is not None),
        ],
        "--finetune-steps runs its own evaluation of --arc-json: drop ",
    )
    if args.out is not None:
        check_output_dir(args.out, "--out")
    report = finetune_tasks(
        args.checkpoint,
        args.arc_json,
        options,
        task_ids=[t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
        baseline=not args.no_baseline,
        device=args.device,
        progress=not args.no_progress,
    )
    print(report.format())
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = write_text_atomic(args.out / "finetune.json", json.dumps(report.to_dict(), indent=1) + "\n")
        print(f"wrote {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    from hrm.errors import UserError
    from hrm.evaluation.options import EvaluateOptions
    from hrm.evaluation.runner import run_evaluation

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit {args.limit}: must be >= 1")
    if args.save_predictions < 0:
        raise UserError(f"--save-predictions {args.save_predictions}: must be >= 0 (rows to trace)")
    single_cap = args.max_segments.strip() if args.max_segments else None
    if single_cap is not None and not single_cap.isdigit() and args.finetune_steps is not None:
        raise UserError(f"--max-segments {args.max_segments}: with --finetune-steps give one cap, not a sweep")
    tune = finetune_options(args, int(single_cap) if single_cap and single_cap.isdigit() else None, args.early_exit)
    if tune is not None:
        return _run_finetune(args, tune)
    options = EvaluateOptions(
        checkpoint=args.checkpoint,
        data=args.data,
        split=args.split,
        max_segments=args.max_segments,
        early_exit=args.early_exit,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        out=args.out,
        sudoku=args.sudoku,
        solutions=args.solutions,
        csv=args.csv,
        arc_json=args.arc_json,
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else [],
        limit=args.limit,
        pass_k=int_list(args.pass_k, "--pass-k"),
        progress=not args.no_progress,
        save_predictions=args.save_predictions,
        test_time=test_time_options(args),
        depth_breadth=depth_breadth_options(args),
    )
    report = run_evaluation(options)
    print(report.format())
    return 0
