"""Faithfulness of the published recipes (issue 10): every evaluation checkpoint kept, "best" chosen on training
puzzles (never on the test split) and labelled, sudoku-extreme-full's puzzle-embedding learning rate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrm.checkpoints.locate import list_checkpoints, read_best
from hrm.data.format import DatasetMetadata, PuzzleSplit, first_puzzle_per_group, load_split
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.training.config import apply_overrides
from hrm.training.recipes import get_recipe
from hrm.training.run_dir import BEST_ON_LABELS
from hrm.training.trainer import train

PAPER = [
    "arc-agi-1",
    "arc-agi-2",
    "sudoku-extreme-1k",
    "sudoku-extreme-1k-laptop",
    "maze-hard-1k",
    "sudoku-extreme-full",
]


@pytest.mark.parametrize("name", PAPER)
def test_paper_recipes_keep_every_checkpoint_and_never_select_on_test(name):
    config = get_recipe(name)
    assert config.checkpoint.keep_last == 0 and config.checkpoint.every_eval
    assert config.checkpoint.best_on == "train"


def test_sudoku_extreme_full_matches_the_published_command():
    o = get_recipe("sudoku-extreme-full").optim
    assert (o.lr, o.puzzle_emb_lr, o.weight_decay, o.puzzle_emb_weight_decay, o.lr_min_ratio) == (
        3e-4,
        3e-4,
        0.1,
        0.1,
        0.1,
    )


def test_first_puzzle_per_group_picks_originals_evenly():
    # 5 groups of 3 puzzles (an original and 2 variants), puzzles of 2 examples each.
    num_groups, per_group, examples = 5, 3, 2
    rows = num_groups * per_group * examples
    inputs = np.arange(rows * 4, dtype=np.uint8).reshape(rows, 4)
    arrays = {
        "inputs": inputs,
        "labels": inputs.copy(),
        "puzzle_identifiers": np.arange(num_groups * per_group, dtype=np.int32),
        "puzzle_indices": np.arange(0, rows + 1, examples, dtype=np.int32),
        "group_indices": np.arange(0, num_groups * per_group + 1, per_group, dtype=np.int32),
    }
    meta = DatasetMetadata(
        pad_id=0,
        ignore_label_id=0,
        blank_identifier_id=0,
        vocab_size=256,
        seq_len=4,
        num_puzzle_identifiers=num_groups * per_group,
        total_groups=num_groups,
        mean_puzzle_examples=2.0,
    )
    split = PuzzleSplit(path=Path("x"), metadata=meta, arrays={"all": arrays})
    picked = first_puzzle_per_group(split, 3).set()
    assert picked["puzzle_identifiers"].tolist() == [0, 6, 12]  # groups 0, 2, 4: their first puzzles
    assert picked["inputs"].tolist() == inputs[[0, 1, 12, 13, 24, 25]].tolist()
    assert picked["puzzle_indices"].tolist() == [0, 2, 4, 6] and picked["group_indices"].tolist() == [0, 1, 2, 3]
    assert first_puzzle_per_group(split, 100).set()["puzzle_identifiers"].tolist() == [0, 3, 6, 9, 12]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=48, num_test=16, givens=8, seed=0, show_progress=False)
    )
    return root


def test_best_on_training_puzzles_is_labelled_and_every_checkpoint_kept(data, tmp_path):
    overrides = [
        f"data={data}",
        "max_steps=8",
        "schedule.eval_every_steps=4",
        "checkpoint.keep_last=0",
        "checkpoint.best_on=train",
        "checkpoint.best_groups=20",
        "runtime.num_threads=1",
    ]
    run = tmp_path / "run"
    train(apply_overrides(get_recipe("tiny"), overrides), run)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    selection = [r for r in records if r["split"] == "select"]
    assert [r["step"] for r in selection] == [4, 8] and all(r["count"] == 20 for r in selection)
    best = read_best(run)
    assert best["on"] == BEST_ON_LABELS["train"]
    assert best["value"] == max(r["exact_accuracy"] for r in selection)
    assert [step for step, _ in list_checkpoints(run)] == [4, 8]
    assert len(load_split(data / "train").set()["group_indices"]) - 1 == 48


def test_best_on_none_tracks_no_best(data, tmp_path):
    overrides = [f"data={data}", "max_steps=4", "schedule.eval_every_steps=4", "checkpoint.best_on=none"]
    run = tmp_path / "run"
    result = train(apply_overrides(get_recipe("tiny"), [*overrides, "runtime.num_threads=1"]), run)
    assert result.best is None and read_best(run) is None
