"""``hrm demo``: generate 6×6 Sudoku puzzles, train a small HRM on the CPU, and show it solving held-out ones.

The dataset is generated (1,000 training and 500 held-out puzzles with 20 givens), the ``demo`` recipe trains for
a fixed number of steps (so the result does not depend on the CPU's speed) with a progress bar, and the model is
evaluated on the held-out puzzles the reference way (every puzzle runs M_max segments). ``--minutes`` (default 10)
caps the whole demo: on a CPU too slow to finish the steps in time, training stops early with its learning rate
decayed over the time it had. The recurrent modules are compiled with ``torch.compile`` when that works (about
1.4x faster steps on a 2-core CPU, for a few seconds of compilation); without a working compiler the demo says so
and trains without it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from hrm.cli.train import IntermixedParser

EVAL_RESERVE_S = 30.0  # time kept back from the training budget for the final evaluation and printing


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train a small HRM on 6x6 Sudoku on the CPU in minutes and show it solving puzzles",
        description="Generate a 6x6 Sudoku dataset, train a small HRM within --minutes, evaluate it on held-out "
        "puzzles and print the exact accuracy and one solved puzzle beside its input.",
    )
    parser.add_argument("--out", type=Path, help="directory for the data and the run (default: runs_out/demo-<time>)")
    parser.add_argument("--minutes", type=float, default=10.0, help="total time for the demo (default: 10)")
    parser.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or mps")
    parser.add_argument(
        "--compile",
        choices=("auto", "on", "off"),
        default="auto",
        help="torch.compile the recurrent modules: auto (default) = runtime.compile=auto, on for cpu and cuda, "
        "falling back to eager when compilation fails; on = fail instead; off = never",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides of the demo recipe")
    parser.set_defaults(func=run)
    parser.__class__ = IntermixedParser


def run(args: argparse.Namespace) -> int:
    import torch

    from hrm.checkpoints import load_checkpoint
    from hrm.data.config import ensure_dataset
    from hrm.data.format import load_split
    from hrm.data.sudoku import decode, is_valid_solution
    from hrm.errors import UserError
    from hrm.evaluation.evaluate import evaluate_model
    from hrm.inference.render import grid_lines, side_by_side
    from hrm.runtime.device import resolve_device
    from hrm.runtime.files import check_output_dir
    from hrm.runtime.logging import check_trackers
    from hrm.training.config import apply_overrides
    from hrm.training.recipes import get_recipe
    from hrm.training.trainer import train

    start = time.perf_counter()
    # Every argument is checked before anything is generated or written.
    if not math.isfinite(args.minutes) or args.minutes <= 1:
        raise UserError(f"--minutes {args.minutes}: the demo needs a number of minutes greater than 1, e.g. 10")
    resolve_device(args.device)
    out = args.out if args.out is not None else Path("runs_out") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    check_output_dir(out, "--out")
    config = apply_overrides(
        get_recipe("demo"), [f"data.path={out / 'data'}", f"runtime.device={args.device}", *args.overrides]
    )
    check_trackers(config.logging.tensorboard, config.logging.wandb)
    print(
        f"hrm demo: 6x6 Sudoku, {config.data.gen_num_train} training and {config.data.gen_num_test} held-out "
        f"puzzles with {config.data.gen_givens} givens; about {args.minutes:g} minutes in all",
        file=sys.stderr,
    )
    ensure_dataset(config.data)

    def training_budget_s(after: str) -> float:
        budget = args.minutes * 60.0 - (time.perf_counter() - start) - EVAL_RESERVE_S
        if budget < 30:
            raise UserError(f"--minutes {args.minutes}: too little time left to train {after}")
        return budget

    budget_s = training_budget_s("after generating the data")
    # runtime.compile=auto compiles where a compiler works and otherwise trains eagerly, saying so in one line.
    compile_setting = {"auto": "auto", "on": "true", "off": "false"}[args.compile]
    config = apply_overrides(
        config, [f"schedule.time_budget_minutes={budget_s / 60.0}", f"runtime.compile={compile_setting}"]
    )
    print(
        f"training a {config.arch.high_layers}+{config.arch.low_layers}-layer HRM (width {config.arch.hidden_size}, "
        f"N={config.arch.high_cycles}, T={config.arch.low_cycles}, M_max={config.arch.halt_max_steps}) "
        f"for {f'{config.schedule.max_steps} steps' if config.schedule.max_steps > 0 else 'its schedule'} "
        f"(at most {budget_s / 60:.1f} minutes)",
        file=sys.stderr,
    )
    result = train(config, out / "run")
    if result.checkpoint is None:
        raise UserError(f"training wrote no checkpoint in {out / 'run'}")

    checkpoint = load_checkpoint(result.checkpoint, device=args.device if args.device != "auto" else "cpu")
    model = checkpoint.model
    test = load_split(Path(config.data.path) / config.data.test_split)  # read once, after training
    metrics = evaluate_model(model, test, global_batch_size=256)
    print(
        f"\nheld-out exact accuracy: {metrics['exact_accuracy']:.1%} of {int(metrics['count'])} puzzles "
        f"(token accuracy {metrics['accuracy']:.1%}) after {result.step} training steps "
        f"in {result.elapsed_s / 60:.1f} min"
    )

    # One held-out puzzle beside the model's answer: the first it solves, else the first one.
    arrays = test.set()
    inputs = torch.from_numpy(np.asarray(arrays["inputs"][:64], dtype=np.int64))
    labels = np.asarray(arrays["labels"][:64], dtype=np.int64)
    logits = model.trace(inputs, torch.zeros(inputs.shape[0], dtype=torch.long))[-1]["logits"]  # on the model's device
    assert logits is not None  # every segment has logits (only the Q logits may be None)
    predictions = logits.argmax(-1).cpu().numpy()
    solved = np.flatnonzero((predictions == labels).all(-1))
    index = int(solved[0]) if solved.size else 0
    n = int(round(inputs.shape[1] ** 0.5))
    puzzle = decode(inputs[index].numpy(), n)
    answer = decode(predictions[index], n)
    verdict = "correct" if is_valid_solution(answer, puzzle) else "not a valid solution"
    print()
    print(
        side_by_side(
            [grid_lines("sudoku", puzzle), grid_lines("sudoku", answer)],
            ["puzzle (held out)", f"HRM's answer ({verdict})"],
            gap=6,
        )
    )
    total = (time.perf_counter() - start) / 60
    print(
        f"\nrun directory: {out / 'run'}  (curves: hrm plot {out / 'run'}); demo took {total:.1f} min", file=sys.stderr
    )
    return 0
