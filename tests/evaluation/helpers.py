"""A tiny 4×4 Sudoku dataset and a tiny random checkpoint for end-to-end evaluation tests."""

from __future__ import annotations

from pathlib import Path

import torch

from hrm.checkpoints import save_checkpoint
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.model import HRM
from tests.conftest import tiny_config


def build_sudoku4(root: Path, num_test: int = 12) -> Path:
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=6, num_test=num_test, givens=6, seed=1, show_progress=False)
    )
    return root


def tiny_model(
    vocab_size: int = 6, seq_len: int = 16, num_ids: int = 1, seed: int = 0, halting: bool = True, **overrides
) -> HRM:
    torch.manual_seed(seed)
    model = HRM(tiny_config(vocab_size=vocab_size, seq_len=seq_len, num_puzzle_identifiers=num_ids, **overrides))
    if halting:  # a Q head that halts some rows early (the initial one never halts)
        with torch.no_grad():
            model.core.q_head.weight.normal_(0.0, 1.0)
            model.core.q_head.bias.zero_()
    return model.eval()


def save_tiny_checkpoint(
    path: Path, model: HRM, data_root: Path | None = None, identifiers: list[str] | None = None
) -> Path:
    dataset = {"path": str(data_root)} if data_root is not None else None
    return save_checkpoint(
        path,
        model,
        train_config={"data": {"path": str(data_root) if data_root else "", "eval_split": "test"}},
        dataset=dataset,
        identifiers=identifiers or ["<blank>"],
        meta={"step": 1},
    )


ARC_TASKS = {
    # Two test inputs: the task is solved only if both are.
    "aaaa0001": {
        "train": [{"input": [[1, 0], [0, 2]], "output": [[2, 0], [0, 1]]}],
        "test": [
            {"input": [[3, 0, 1], [0, 0, 2]], "output": [[2, 0, 0], [1, 0, 3]]},
            {"input": [[5, 6]], "output": [[6], [5]]},
        ],
    },
    "bbbb0002": {
        "train": [{"input": [[4, 4], [0, 4]], "output": [[4]]}],
        "test": [{"input": [[7, 7, 8], [0, 9, 7]], "output": [[7, 8], [9, 1]]}],
    },
}


def write_arc_json(path: Path) -> Path:
    import json

    path.write_text(json.dumps(ARC_TASKS))
    return path


def build_arc(root: Path, num_aug: int = 3) -> Path:
    from hrm.data.arc import ArcBuildOptions, build_arc_dataset

    source = write_arc_json(root.parent / f"{root.name}-tasks.json")
    build_arc_dataset(
        ArcBuildOptions(out=root, sources=[(source, "evaluation")], num_aug=num_aug, seed=0, show_progress=False)
    )
    return root
