"""A validation split carved from the training distribution: disjoint from train and test, never augmented, and the
split the generated recipes choose checkpoints on (issue 22, item 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm.data.config import DataConfig, ensure_dataset
from hrm.data.format import load_split
from hrm.data.maze import MazeBuildOptions, build_maze_dataset
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.errors import UserError
from hrm.training.recipes import RECIPES, get_recipe


def rows(root, split):
    arrays = load_split(root / split).set()
    return {r.tobytes() for r in np.asarray(arrays["inputs"])}, int(arrays["inputs"].shape[0])


def test_generated_sudoku_val_is_disjoint_and_not_augmented(tmp_path):
    out = tmp_path / "s"
    opts = SudokuBuildOptions(
        out=out, size=4, num_train=40, num_test=20, num_val=12, givens=8, num_aug=2, seed=3, show_progress=False
    )
    build_sudoku_dataset(opts)
    train, n_train = rows(out, "train")
    val, n_val = rows(out, "val")
    test, _ = rows(out, "test")
    assert n_val == 12 and n_train == 40 * 3  # val is not augmented, train has 1 + 2 variants per puzzle
    assert not val & train and not val & test
    build = json.loads((out / "build.json").read_text())
    assert build["splits"]["val"] == {"groups": 12, "puzzles": 12, "examples": 12} and build["options"]["num_val"] == 12
    # Without num_val the training and test puzzles are the same as before (the validation stream is separate).
    plain = tmp_path / "p"
    build_sudoku_dataset(
        SudokuBuildOptions(
            out=plain, size=4, num_train=40, num_test=20, givens=8, num_aug=2, seed=3, show_progress=False
        )
    )
    assert rows(plain, "train")[0] == train and not (plain / "val").exists()


def test_val_carved_from_training_files_leaves_training(tmp_path):
    source = tmp_path / "s"
    build_sudoku_dataset(
        SudokuBuildOptions(out=source, size=4, num_train=30, num_test=10, givens=8, seed=0, show_progress=False)
    )
    lines = tmp_path / "train.txt"
    puzzles = np.asarray(load_split(source / "train").set()["inputs"]) - 1
    lines.write_text("".join("".join(map(str, p)) + "\n" for p in puzzles))
    out = tmp_path / "carved"
    build_sudoku_dataset(
        SudokuBuildOptions(
            out=out, train_puzzles=[lines], num_test=10, num_val=8, givens=8, seed=1, show_progress=False
        )
    )
    train, n_train = rows(out, "train")
    val, n_val = rows(out, "val")
    assert (n_train, n_val) == (22, 8) and not train & val


def test_generated_maze_val_is_distinct(tmp_path):
    out = tmp_path / "m"
    build_maze_dataset(
        MazeBuildOptions(out=out, size=7, num_train=30, num_test=10, num_val=10, seed=0, show_progress=False)
    )
    train, _ = rows(out, "train")
    val, n_val = rows(out, "val")
    test, _ = rows(out, "test")
    assert n_val == 10 and not val & train and not val & test
    with pytest.raises(UserError, match="--num-val"):
        build_maze_dataset(
            MazeBuildOptions(out=tmp_path / "x", size=7, num_val=-1, num_train=5, num_test=5, show_progress=False)
        )


def test_generated_recipes_choose_on_validation_and_the_paper_recipes_keep_test():
    for name in ("cpu-sudoku-6x6", "cpu-sudoku-6x6-minimal", "cpu-sudoku-9x9", "cpu-maze-small", "demo"):
        data = get_recipe(name).data
        assert data.gen_num_val > 0 and data.eval_split == "val" and data.test_split == "test", name
    for name in RECIPES:
        data = get_recipe(name).data
        if not data.generate:  # the reference's recipes: periodic evaluation on test, as the reference does
            assert data.eval_split == "test" and data.gen_num_val == 0, name


def test_a_dataset_built_without_val_is_one_clear_error(tmp_path):
    root = tmp_path / "old"
    build_sudoku_dataset(SudokuBuildOptions(out=root, size=4, num_train=10, num_test=5, givens=8, show_progress=False))
    data = DataConfig(path=str(root), generate="sudoku", gen_size=4, gen_num_val=5, eval_split="val", gen_givens=8)
    with pytest.raises(UserError, match="built without a val/ split.*remove the folder"):
        ensure_dataset(data)
    fresh = DataConfig(
        path=str(tmp_path / "new"), generate="sudoku", gen_size=4, gen_num_train=10, gen_num_test=5, gen_num_val=5,
        eval_split="val", gen_givens=8,
    )  # fmt: skip
    assert (ensure_dataset(fresh) / "val").is_dir()
