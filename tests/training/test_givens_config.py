"""Generated Sudoku givens in the data config: counts, LO-HI ranges, a separate test range, and cpu-sudoku-9x9."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm.data.config import ensure_dataset
from hrm.data.format import load_split
from hrm.training.config import ConfigError, TrainConfig, apply_overrides
from hrm.training.recipes import get_recipe


def test_givens_accept_counts_ranges_and_minimal():
    base = get_recipe("cpu-sudoku-6x6")
    assert (base.data.sudoku_givens(), base.data.sudoku_givens(test=True)) == (20, 20)
    c = apply_overrides(base, ["data.gen_givens=18-22", "data.gen_test_givens=14-16"])
    assert (c.data.gen_givens, c.data.gen_test_givens) == ("18-22", "14-16")
    assert (c.data.sudoku_givens(), c.data.sudoku_givens(test=True)) == ("18-22", "14-16")
    m = apply_overrides(base, ["data.gen_givens=0"])
    assert m.data.sudoku_givens() == "minimal" and m.data.sudoku_givens(test=True) == "minimal"
    assert apply_overrides(base, ["data.gen_givens=minimal"]).data.sudoku_givens() == "minimal"
    assert apply_overrides(base, ["data.gen_test_givens=none"]).data.gen_test_givens is None
    # A config with a range survives its JSON round trip (train_config.json, checkpoints).
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.gen_givens=22-18", "data.gen_givens=22-18: must lie in 0..36 with low ≤ high"),
        ("data.gen_givens=40", "data.gen_givens=40: must lie in 0..36"),
        ("data.gen_givens=lots", "data.gen_givens=lots: use a number (20), a range (18-22) or 'minimal'"),
        ("data.gen_givens=18-", "data.gen_givens=18-: use a number"),
        ("data.gen_test_givens=5", "data.gen_test_givens=5: no 6×6 Sudoku with fewer than 8 givens"),
        ("data.gen_test_givens=30-40", "data.gen_test_givens=30-40: must lie in 0..36"),
    ],
)
def test_bad_givens_are_one_line_config_errors(override, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(get_recipe("cpu-sudoku-6x6"), [override])
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text


def test_givens_are_not_checked_for_mazes():
    c = apply_overrides(get_recipe("cpu-maze-small"), ["data.gen_givens=lots"])
    assert c.data.generate == "maze"


def test_cpu_sudoku_9x9_generates_its_declared_givens(tmp_path):
    recipe = get_recipe("cpu-sudoku-9x9")
    assert (recipe.data.gen_size, recipe.data.gen_givens, recipe.data.gen_test_givens) == (9, "28-45", "30-40")
    assert recipe.schedule.time_budget_minutes == 30 and recipe.schedule.global_batch_size == 128
    assert recipe.arch.hidden_size in (64, 96) and 4 <= recipe.arch.halt_max_steps <= 8
    config = apply_overrides(recipe, [f"data.path={tmp_path / 'd'}", "data.gen_num_train=24", "data.gen_num_test=33"])
    root = ensure_dataset(config.data)
    train = np.count_nonzero(load_split(root / "train").set()["inputs"] > 1, axis=1)
    test = np.count_nonzero(load_split(root / "test").set()["inputs"] > 1, axis=1)
    assert len(train) == 24 and len(test) == 33
    assert train.min() >= 28 and train.max() <= 45
    assert test.min() >= 30 and test.max() <= 40 and len(set(test.tolist())) >= 3
    options = json.loads((root / "build.json").read_text())["options"]
    assert (options["givens"], options["test_givens"]) == ("28-45", "30-40")
