"""Tiny randomly initialised checkpoints and puzzles for the inference, analysis and CLI tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from hrm.checkpoints import save_checkpoint
from hrm.data import maze, sudoku
from hrm.model import HRM, HRMConfig

TINY = dict(hidden_size=32, num_heads=4, expansion=2.0, high_layers=1, low_layers=1, high_cycles=2, low_cycles=1)
SUDOKU_6 = "....43.45.1..1.2...2...4....6...6..5"  # unique solution: SUDOKU_6_SOLUTION
SUDOKU_6_SOLUTION = "261543345612514236623154452361136425"


def tiny_model(
    vocab_size: int,
    seq_len: int,
    num_ids: int = 1,
    halt_max_steps: int = 3,
    seed: int = 0,
    halt_bias: tuple[float, float] | None = None,
) -> HRM:
    """A random tiny HRM; ``halt_bias`` = (q_halt, q_continue) head biases (e.g. (5, -5): halt at segment 1)."""
    torch.manual_seed(seed)
    model = HRM(
        HRMConfig(
            vocab_size=vocab_size,
            seq_len=seq_len,
            num_puzzle_identifiers=num_ids,
            halt_max_steps=halt_max_steps,
            **TINY,
        )
    ).eval()
    if halt_bias is not None:
        with torch.no_grad():
            model.core.q_head.bias.copy_(torch.tensor(halt_bias))
    return model


def save(
    model: HRM, path: Path, kind: str | None = None, identifiers: list[str] | None = None, meta: dict | None = None
) -> Path:
    dataset = {"metadata": {"vocab_size": model.config.vocab_size, "seq_len": model.config.seq_len}}
    if kind is not None:
        dataset["build"] = {"kind": kind}
    return save_checkpoint(
        path, model, dataset=dataset, identifiers=identifiers or ["<blank>"], meta={"step": 7, **(meta or {})}
    )


def sudoku_checkpoint(path: Path, n: int = 6, **kwargs) -> Path:
    return save(tiny_model(sudoku.vocab_size(n), n * n, **kwargs), path, "sudoku")


def maze_checkpoint(path: Path, n: int = 8, **kwargs) -> Path:
    return save(tiny_model(maze.VOCAB_SIZE, n * n, **kwargs), path, "maze")


ARC_TASK = {
    "train": [
        {"input": [[1, 0], [0, 0]], "output": [[1, 1], [1, 1]]},
        {"input": [[0, 2], [0, 0]], "output": [[2, 2], [2, 2]]},
    ],
    "test": [{"input": [[0, 0], [3, 0]], "output": [[3, 3], [3, 3]]}],
}


def arc_checkpoint(path: Path, task_ids: tuple[str, ...] = ("abc123",), variants: int = 2, **kwargs) -> Path:
    names = ["<blank>"]
    for task in task_ids:
        names.append(task)
        names.extend(
            f"{task}_t{t}_0{''.join(str(d) for d in np.roll(np.arange(1, 10), t))}" for t in range(1, variants + 1)
        )
    return save(tiny_model(12, 900, num_ids=len(names), **kwargs), path, "arc", identifiers=names)


def write_arc_task(path: Path, task: dict | None = None) -> Path:
    path.write_text(json.dumps(task or ARC_TASK))
    return path


def maze_text(n: int = 8, seed: int = 0) -> tuple[str, int]:
    """A random n×n maze as text, and its shortest path length."""
    grid, _, length = maze.generate(n, np.random.default_rng(seed), min_path_length=4)
    return maze.decode(grid), length


def load_digits(text: str, n: int) -> np.ndarray:
    return np.array([0 if c in ".0" else int(c) for c in text]).reshape(n, n)
