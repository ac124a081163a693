"""``hrm data sudoku --givens LO-HI --test-givens LO-HI``: separate givens ranges for the train and test splits."""

from __future__ import annotations

import json

import numpy as np

from hrm.cli import main
from hrm.data.format import load_split


def test_test_givens_range_is_built_and_recorded(tmp_path, capsys):
    out = tmp_path / "d"
    args = ["data", "sudoku", "--size", "4", "--num-train", "10", "--num-test", "12", "--givens", "9-10"]
    code = main([*args, "--test-givens", "5-7", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    train = np.count_nonzero(load_split(out / "train").set()["inputs"] > 1, axis=1)
    test = np.count_nonzero(load_split(out / "test").set()["inputs"] > 1, axis=1)
    assert set(train.tolist()) <= {9, 10} and set(test.tolist()) <= {5, 6, 7}
    options = json.loads((out / "build.json").read_text())["options"]
    assert (options["givens"], options["test_givens"]) == ("9-10", "5-7")


def test_bad_test_givens_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "d"
    code = main(
        ["data", "sudoku", "--size", "4", "--num-train", "4", "--num-test", "4", "--test-givens", "7-5"]
        + ["--out", str(out), "--no-progress"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "--test-givens '7-5': must lie in 0..16 with low ≤ high" in err[0]
    assert not out.exists()
