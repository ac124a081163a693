"""``hrm solve [--checkpoint DIR] PUZZLE``: run a trained model on one puzzle and show the answer."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hrm.cli.arg_types import count
from hrm.cli.test_time_args import (
    add_finetune_arguments,
    add_test_time_arguments,
    finetune_options,
    refuse_clashes,
    test_time_options,
)
from hrm.model.limits import MAX_RECURRENCE

EPILOG = """\
PUZZLE is a Sudoku string (n² characters for an n×n board, '.' or '0' for blanks) or a file holding one, a maze
text file (one row per line over '# SGo', '.' also open), or an ARC task JSON file; '-' reads stdin.

Without --checkpoint the puzzle is read first and the model shipped with hrm for its kind and size is used
(`hrm models` lists them); when none is shipped for it, a one-line error says what is.

An answer that breaks a rule of the puzzle (a Sudoku row, column or box, a changed given, a blank; a maze path
that is not a shortest S-G path through open cells) is never shown as solved: it is labelled NOT SOLVED with the
rules it breaks. --effort N retries such an answer with more test-time compute, level by level up to N, and stops
at the first level whose answer keeps the rules (M = --max-segments, default the model's M_max):
  0  one run, early exit by the Q-head, at most M segments (default)
  1  one run of every segment up to 4×M
  2  augmentation vote: 8 symmetric views (Sudoku shuffles, maze rotations/reflections), 4×M segments each
  3  level 2's views + 16 noisy trajectories; the answer is picked by the rule check (the puzzle's own rules,
     a verifier outside the model, and said so in the output)
Levels 2-3 are for Sudoku and mazes; --effort is not combined with --augment-votes/--noise-samples/--rule-check.

An ARC task the checkpoint was never trained on has no puzzle embedding: --finetune-steps N fits fresh ones on
its demonstration pairs first (one per augmented view, on a copy of the model), then votes over the views; the
two best answers per test input are printed with their votes, the time and the steps. With --finetune-steps the
exit status is 1 when the task's test outputs are known and neither attempt is right.

Exit status: 0 when the answer is valid (the puzzle is solved), 1 when no valid answer was found (at every level
tried), 2 for bad input (a one-line error: the puzzle, the checkpoint, no shipped model for the puzzle).

examples:
  hrm solve '....43.45.1..1.2...2...4....6...6..5'        (6×6 Sudoku, 36 characters: the shipped 6×6 model)
  hrm solve --effort 3 '....43.45.1..1.2...2...4....6...6..5'
  hrm solve --checkpoint runs/sudoku9 --trace puzzle.txt
  hrm solve --checkpoint runs/maze maze.txt --save-gif maze.gif
  hrm solve --checkpoint runs/arc1 00576224.json --views 16
  hrm solve --checkpoint runs/arc-strict new_task.json --finetune-steps 300 --finetune-views 8
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "solve",
        help="solve one puzzle with a trained model",
        description="Run a trained HRM on one Sudoku, maze or ARC task: print the answer beside the input, whether "
        "it is valid, the segments used (per-sample early exit) and the model's confidence "
        "(sigmoid of q_halt).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("puzzle", help="Sudoku string, or a puzzle file (Sudoku, maze text, ARC task JSON); - = stdin")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="step-N directory, or run directory (its latest checkpoint; RUN_DIR/best for the best); "
        "default: the shipped model for the puzzle's kind and size (`hrm models`)",
    )
    parser.add_argument(
        "--kind",
        choices=("sudoku", "maze", "arc"),
        help="puzzle type the checkpoint was trained on (default: read from the checkpoint; without "
        "--checkpoint: from the puzzle)",
    )
    parser.add_argument(
        "--effort",
        type=int,
        default=0,
        metavar="N",
        # The levels live in hrm.inference.effort (checked there, a one-line error); not imported here, so that
        # building the parser of every command stays cheap. tests/cli/test_solve_effort_cli.py keeps "3" in step.
        help="0-3: retry an answer that breaks the rules with more test-time compute, up to level N (see below; "
        "default 0: one run)",
    )
    parser.add_argument(
        "--max-segments",
        type=count(MAX_RECURRENCE),
        metavar="M",
        help="most segments to run (default: the model's M_max; more = inference-time scaling)",
    )
    parser.add_argument(
        "--no-early-exit",
        dest="early_exit",
        action="store_false",
        help="run every segment instead of stopping when the Q-head halts",
    )
    parser.add_argument("--trace", action="store_true", help="print the answer after every segment")
    parser.add_argument("--save-gif", type=Path, metavar="FILE", help="write an animated GIF, one frame per segment")
    parser.add_argument(
        "--save-png", type=Path, metavar="DIR", help="write segment-NN.png per segment and overview.png into DIR"
    )
    parser.add_argument("--task-id", help="ARC: the task's id (default: the file name, or the only task in the file)")
    parser.add_argument("--test-index", type=int, default=0, help="ARC: which test input of the task (default 0)")
    parser.add_argument(
        "--views",
        type=int,
        default=1,
        metavar="N",
        help="ARC: vote over up to N views (the original + augmented variants the model was trained "
        "on), as the paper's evaluation does (default 1)",
    )
    parser.add_argument("--puzzle-id", type=int, help="force the puzzle identifier (advanced)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="ANSI colours in the text output (default: when printing to a terminal)",
    )
    tts = parser.add_argument_group("test-time scaling (Sudoku, maze; one method at a time)")
    add_test_time_arguments(
        tts, rule_check_help="Sudoku: prefer rule-valid candidates (oracle pass@K: a perfect verifier)", rows=False
    )
    add_finetune_arguments(parser.add_argument_group("test-time fine-tuning (ARC tasks the checkpoint never saw)"))
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of text")
    parser.set_defaults(func=run)


def _run_finetune(args: argparse.Namespace, options) -> int:
    from hrm.errors import UserError
    from hrm.inference.finetune import finetune_checkpoint_task
    from hrm.inference.render import format_finetune

    if args.checkpoint is None:
        raise UserError("--finetune-steps needs --checkpoint ARC_RUN (no ARC model is shipped with hrm)")
    refuse_clashes(
        [
            ("--effort", args.effort),
            ("--views", args.views != 1),
            ("--puzzle-id", args.puzzle_id is not None),
            ("--trace/--save-gif/--save-png", args.trace or args.save_gif or args.save_png),
            ("--augment-votes/--noise-samples", test_time_options(args) is not None),
        ],
        "--finetune-steps votes over its own views: drop ",
    )
    result = finetune_checkpoint_task(
        str(args.checkpoint), args.puzzle, options, task_id=args.task_id, device=args.device
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(format_finetune(result))
    return 1 if result.pass_at is not None and not result.pass_at[2] else 0


def run(args: argparse.Namespace) -> int:
    from hrm.evaluation.test_time import ORACLE_LABEL
    from hrm.inference.render import format_result, format_trace, save_gif, save_pngs
    from hrm.inference.solve import solve
    from hrm.runtime.files import check_output_dir, check_output_file

    # Output paths are checked before the model runs, so a typo costs nothing.
    if args.save_gif is not None:
        check_output_file(args.save_gif, "--save-gif")
    if args.save_png is not None:
        check_output_dir(args.save_png, "--save-png")
    tune = finetune_options(args, args.max_segments, args.early_exit)
    if tune is not None:
        return _run_finetune(args, tune)
    want_trace = args.trace or args.save_gif is not None or args.save_png is not None
    result = solve(
        str(args.checkpoint) if args.checkpoint is not None else None,
        args.puzzle,
        kind=args.kind,
        max_segments=args.max_segments,
        early_exit=args.early_exit,
        trace=want_trace,
        task_id=args.task_id,
        test_index=args.test_index,
        views=args.views,
        puzzle_id=args.puzzle_id,
        device=args.device,
        test_time=test_time_options(args),
        effort=args.effort,
        seed=args.test_time_seed,
    )
    written = []
    if args.save_gif is not None:
        written.append(str(save_gif(result, args.save_gif)))
    if args.save_png is not None:
        written.extend(str(p) for p in save_pngs(result, args.save_png))
    if args.json:
        out = result.to_dict()
        if written:
            out["files"] = written
        print(json.dumps(out, indent=1))
        return 0 if result.valid else 1
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    if args.trace:
        print(format_trace(result, color=color))
        print()
    print(format_result(result, color=color))
    if result.test_time is not None:
        t = result.test_time
        print(
            f"test-time: {t['method']}{ORACLE_LABEL if t['oracle_verifier'] else ''}: "
            f"{t['agreeing']} of {t['candidates']} candidates gave this answer; {t['segments_run']} segments run "
            f"({t['compute_x']:.1f}x the plain answer); "
            + ("answer changed" if t["changed_answer"] else "same answer as plain")
            + f" (plain answer valid: {t['plain_valid']}, correct: {t['plain_correct']})"
        )
    for path in written:
        print(f"wrote {path}")
    return 0 if result.valid else 1
