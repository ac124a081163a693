"""One cell of a comparison, in its own process: ``python -m hrm.lab.cell [--exit-with-parent] CELL_DIR``.

The grid (:mod:`hrm.lab.grid`) starts one such process per cell (locally or as a Ray task) so that each cell's torch
thread count holds and a crashed cell cannot take the others down. It trains (or resumes) the run in
``CELL_DIR/run``, evaluates it on the held-out split and writes ``CELL_DIR/record.json``.

With ``--exit-with-parent`` the cell ends when the process that started it ends, however it ends (kill -9
included): the parent holds the write end of the cell's standard input and never writes, so end-of-file on it
means the parent is gone. That works on every platform (no process groups or ``prctl``) and keeps a killed
comparison from leaving cells training on as orphans; its checkpoints are written atomically, so the rerun resumes.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.lab.spec import EvalSpec
from hrm.lab.study_dir import CELL_FILE, CELL_LOCK, RECORD_FILE, RUN_SUBDIR, write_json_atomic
from hrm.runtime.files import DirectoryLock

EXIT_WITH_PARENT = "--exit-with-parent"
PARENT_GONE_EXIT = 3
CELL_ERROR = "hrm compare: cell error:"  # starts the line a failed cell prints (the lab reports that line)


def exit_when_closed(fd: int) -> threading.Thread:
    """End this process (exit code 3) as soon as file descriptor ``fd`` reaches end-of-file; returns the watcher.

    ``os.read`` on the raw descriptor, not ``sys.stdin.buffer``: a daemon thread blocked inside a buffered reader
    holds its lock, and the interpreter aborts at shutdown when it cannot take that lock.
    """

    def watch() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except (OSError, ValueError):
            pass
        print("hrm compare: the comparison process ended, so this cell stopped; rerun it to resume", flush=True)
        os._exit(PARENT_GONE_EXIT)  # at once: the trainer's files are written atomically, its lock dies with us

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def machine_info(threads: int) -> dict[str, Any]:
    import torch

    from hrm._version import __version__

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # AttributeError: Windows has no load average
        load = None
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "hrm": __version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": load,
    }


def default_caps(max_segments: int) -> list[int]:
    """1, 2, 4, ... up to twice M_max, and M_max itself (just 1 for a single-pass family)."""
    if max_segments <= 1:
        return [1]
    caps = {max_segments}
    cap = 1
    while cap <= 2 * max_segments:
        caps.add(cap)
        cap *= 2
    return sorted(caps)


def _breakdown_dict(breakdown: Any, cap: int) -> dict[str, Any] | None:
    """Exact and token accuracy by difficulty (givens, path length) at ``cap``; None for other data kinds."""
    table = breakdown.result(cap) if breakdown is not None else None
    return table.as_dict() if table is not None else None


def validation_curve(run_dir: Path, plan: dict[str, Any], config: Any) -> list[dict[str, Any]]:
    """The trainer's periodic evaluations of the validation split (``metrics.jsonl``), each with the training FLOPs
    spent by then (measured, else the convention)."""
    from hrm.runtime.logging import read_metrics

    per_step = plan.get("flops_per_step_measured") or plan["flops_per_step"]
    points = {}
    for r in read_metrics(run_dir):
        if r.get("split") == "eval" and isinstance(r.get("exact_accuracy"), int | float):
            points[int(r["step"])] = {  # a resumed run may log a step twice: the last one holds
                "step": int(r["step"]),
                "train_flops": int(r["step"]) * int(per_step),
                "exact_accuracy": float(r["exact_accuracy"]),
                "token_accuracy": float(r.get("accuracy", r.get("token_accuracy", float("nan")))),
            }
    return [points[s] for s in sorted(points)]


def run_cell_here(cell_dir: str | os.PathLike) -> dict[str, Any]:
    """Train (or resume) the cell in ``cell_dir`` and evaluate it; writes and returns its record."""
    import torch

    from hrm.checkpoints import latest_checkpoint, list_checkpoints
    from hrm.training.config import TrainConfig
    from hrm.training.trainer import train

    cell_dir = Path(cell_dir)
    file = cell_dir / CELL_FILE
    try:
        plan = json.loads(file.read_text(encoding="utf-8"))
        evaluation = EvalSpec(**plan["eval"])
        config = TrainConfig.from_dict(plan["config"]).validate()
    except UserError as exc:
        raise UserError(f"{file}: {exc}") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(
            f"{file}: not a readable cell plan ({type(exc).__name__}); remove that cell folder to rerun it"
        ) from None
    torch.set_num_threads(max(1, config.runtime.num_threads))
    run_dir = cell_dir / RUN_SUBDIR
    # The run folder is judged (and a dead one removed) only under the cell's own lock, held until the cell ends:
    # a second process on the same cell is refused here instead of deleting a live run.
    with DirectoryLock(cell_dir, CELL_LOCK, "comparison cell"):
        resume = latest_checkpoint(run_dir, resumable=True) is not None
        if run_dir.exists() and not list_checkpoints(run_dir):
            shutil.rmtree(run_dir)  # killed before its first checkpoint: start it again
        started = time.perf_counter()
        result = train(config, run_dir, resume=resume)
        train_seconds = time.perf_counter() - started
        return evaluate_cell(cell_dir, plan, evaluation, config, run_dir, result, resume, train_seconds)


def evaluate_cell(cell_dir, plan, evaluation, config, run_dir, result, resume, train_seconds) -> dict[str, Any]:
    """Evaluate the trained cell's newest checkpoint and write its record (under the cell's lock)."""
    from hrm.checkpoints import open_checkpoint
    from hrm.data.format import head_of_split, load_split
    from hrm.data.kind import dataset_kind
    from hrm.evaluation.breakdown import DifficultyBreakdown
    from hrm.evaluation.evaluate import scaling_sweep

    checkpoint = open_checkpoint(run_dir)  # the newest: the state at the end of the budget
    model = checkpoint.model
    root = Path(config.data.path)
    # The test split is read here once, at the end, for the report; a validation split (the generated recipes'
    # data.eval_split) is what any choice made from these records reads.
    split = load_split(root / config.data.test_split)
    if evaluation.max_examples > 0:
        split = head_of_split(split, evaluation.max_examples)
    val_split = None
    if config.data.eval_split and config.data.eval_split != config.data.test_split:
        val_split = load_split(root / config.data.eval_split)
    max_segments = int(model.max_segments)
    caps = evaluation.segments or default_caps(max_segments)
    if max_segments <= 1:
        caps = [1]
    caps = sorted(set(caps) | {max_segments})
    eval_started = time.perf_counter()
    breakdown = DifficultyBreakdown.for_kind(dataset_kind(root))  # Sudoku: givens, maze: path length, else none
    sweep = scaling_sweep(
        model,
        split,
        caps,
        batch_size=evaluation.batch_size,
        progress=False,
        consumers=[breakdown] if breakdown is not None else (),
    )
    by_cap = {r.max_segments: r for r in sweep}
    main = by_cap[max_segments]
    early = None
    if evaluation.early_exit and model.has_halting_head:
        early = scaling_sweep(
            model, split, [max_segments], batch_size=evaluation.batch_size, early_exit=True, progress=False
        )[0]
    validation = None
    if val_split is not None:
        val = scaling_sweep(model, val_split, [max_segments], batch_size=evaluation.batch_size, progress=False)[0]
        validation = {
            "split": config.data.eval_split,
            "rows": int(val.metrics.count),
            "exact_accuracy": val.metrics.exact_accuracy,
            "token_accuracy": val.metrics.token_accuracy,
        }
    eval_seconds = time.perf_counter() - eval_started
    curve = validation_curve(run_dir, plan, config) if validation is not None else []
    record = {
        "cell": plan["id"],
        "family": plan["family"],
        "model": plan["model"],
        "task": plan["task"],
        "recipe": plan["recipe"],
        "seed": plan["seed"],
        "budget": plan["budget"],
        "overrides": plan["overrides"],
        "parameters": plan["parameters"],
        "flops_per_step": plan["flops_per_step"],
        "steps": int(result.step),
        "train_flops": int(result.step) * int(plan["flops_per_step"]),
        # Measured (every segment, recursion and backward that runs); absent in plans made before it was measured.
        "flops_per_step_measured": plan.get("flops_per_step_measured"),
        "train_flops_measured": int(result.step) * int(plan["flops_per_step_measured"])
        if plan.get("flops_per_step_measured")
        else None,
        "row_segments": int(result.step) * int(config.schedule.global_batch_size),  # one segment per row per step
        "samples_loaded": result.samples_loaded,  # training puzzles (with repeats) loaded; rows refill when they halt
        "wall_s": round(float(result.elapsed_s), 3),
        "process_wall_s": round(train_seconds, 3),
        "resumed": resume,
        "test_split": config.data.test_split,
        "eval_rows": int(main.metrics.count),
        "tuned": plan.get("tuned"),  # a `tune:` search's choice for this family and task, and its trial count
        "validation": validation,  # at M_max; None when the task has no validation split (the paper's recipes)
        "curve": curve,  # the trainer's validation evaluations: step, FLOPs so far, exact and token accuracy
        "max_segments": max_segments,
        "exact_accuracy": main.metrics.exact_accuracy,
        "token_accuracy": main.metrics.token_accuracy,
        "mean_segments": early.metrics.mean_segments if early is not None else main.metrics.mean_segments,
        "early_exit": None
        if early is None
        else {
            "exact_accuracy": early.metrics.exact_accuracy,
            "token_accuracy": early.metrics.token_accuracy,
            "mean_segments": early.metrics.mean_segments,
        },
        "scaling": [
            {
                "segments": cap,
                "exact_accuracy": r.metrics.exact_accuracy,
                "token_accuracy": r.metrics.token_accuracy,
            }
            for cap, r in sorted(by_cap.items())
        ],
        "breakdown": _breakdown_dict(breakdown, max_segments),
        "eval_s": round(eval_seconds, 3),
        "machine": machine_info(config.runtime.num_threads),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "config": plan["config"],
    }
    write_json_atomic(cell_dir / RECORD_FILE, record)
    return record


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    watch = EXIT_WITH_PARENT in argv
    argv = [a for a in argv if a != EXIT_WITH_PARENT]
    if len(argv) != 1:
        print(f"usage: python -m hrm.lab.cell [{EXIT_WITH_PARENT}] CELL_DIR", file=sys.stderr)
        return 2
    if watch:
        exit_when_closed(sys.stdin.fileno())
    try:
        record = run_cell_here(argv[0])
    except UserError as exc:
        print(f"{CELL_ERROR} {exc}", file=sys.stderr)
        return 2
    print(f"cell {record['cell']}: exact {record['exact_accuracy']:.4f} after {record['steps']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
