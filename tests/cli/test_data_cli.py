"""``hrm data ...``: the commands build, print a summary, and turn bad input into one line + exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrm.cli import main
from hrm.data.format import load_dataset_root

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HARD = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
HARD_SOLUTION = "812753649943682175675491283154237896369845721287169534521974368438526917796318452"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def extreme_csv(tmp_path) -> Path:
    if not (SHARED / "sudoku").is_dir():
        pytest.skip("shared data not found")
    d = SHARED / "sudoku"
    ps = (d / "puzzles6_forum_hardest_1106.txt").read_text().split()[:120]
    ss = (d / "puzzles6_forum_hardest_1106.solutions.txt").read_text().split()[:120]
    p = tmp_path / "extreme.csv"
    p.write_text(
        "source,question,answer,rating\n" + "".join(f"forum,{q},{a},{i}\n" for i, (q, a) in enumerate(zip(ps, ss)))
    )
    return p


def test_sudoku_hidden_check_command(tmp_path, extreme_csv, capsys):
    args = [
        "data",
        "sudoku",
        "--train-csv",
        str(extreme_csv),
        "--test-csv",
        str(extreme_csv),
        "--subsample-size",
        "100",
        "--num-aug",
        "2",
        "--seed",
        "0",
    ]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "train:" in out and "300 puzzles" in out and "seq_len 81, vocab 11" in out
    ds = load_dataset_root(tmp_path / "a")
    assert ds.train.set()["inputs"].shape == (300, 81) and ds.test.set()["inputs"].shape == (120, 81)
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    for f in sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    # existing output: refused without --force, replaced with it
    assert main(args + ["--out", str(tmp_path / "a")]) == 2
    assert "already exists; pass --force" in _error_line(capsys)
    assert main(args + ["--out", str(tmp_path / "a"), "--force", "--seed", "1"]) == 0


def test_sudoku_bad_input_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(f"source,question,answer,rating\nx,{HARD},{HARD_SOLUTION},1\nx,{HARD[:-1]}x,{HARD_SOLUTION},1\n")
    assert main(["data", "sudoku", "--train-csv", str(bad), "--test-csv", str(bad), "--out", str(tmp_path / "o")]) == 2
    line = _error_line(capsys)
    assert line.startswith("hrm: error: ") and f"{bad}:3: bad character 'x' at cell 81" in line
    assert not (tmp_path / "o").exists()


def test_sudoku_generator_and_puzzle_files(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "sudoku",
                "--size",
                "4",
                "--num-train",
                "20",
                "--num-test",
                "10",
                "--givens",
                "minimal",
                "--num-aug",
                "2",
                "--out",
                str(tmp_path / "g"),
            ]
        )
        == 0
    )
    ds = load_dataset_root(tmp_path / "g")
    assert ds.train.metadata.vocab_size == 6 and ds.train.set()["inputs"].shape == (60, 16)
    lines = tmp_path / "p.txt"
    lines.write_text(HARD + "\r\n\r\n")
    assert (
        main(
            [
                "data",
                "sudoku",
                "--train-puzzles",
                str(lines),
                "--test-puzzles",
                str(lines),
                "--out",
                str(tmp_path / "f"),
            ]
        )
        == 0
    )
    label = load_dataset_root(tmp_path / "f").test.set()["labels"][0]
    assert "".join(str(int(t) - 1) for t in label) == HARD_SOLUTION


def test_maze_command(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "maze",
                "--size",
                "10",
                "--num-train",
                "8",
                "--num-test",
                "4",
                "--aug",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 0
    )
    assert "maze dataset" in capsys.readouterr().out
    ds = load_dataset_root(tmp_path / "m")
    assert ds.train.set()["inputs"].shape == (64, 100) and ds.train.metadata.vocab_size == 6
    bad = tmp_path / "bad.txt"
    bad.write_text("S.\n.X\n")
    assert main(["data", "maze", "--train-file", str(bad), "--test-file", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert f"{bad}:2: bad character 'X'" in _error_line(capsys)


def test_arc_command(tmp_path, capsys):
    task = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 0]], "output": [[0, 3]]}]}
    other = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[4, 0]], "output": [[0, 4]]}]}
    tr, ev = tmp_path / "tr.json", tmp_path / "ev.json"
    tr.write_text(json.dumps({"aaa": task}))
    ev.write_text(json.dumps({"bbb": other}))
    assert (
        main(
            [
                "data",
                "arc",
                "--training",
                str(tr),
                "--evaluation",
                str(ev),
                "--num-aug",
                "3",
                "--protocol",
                "strict",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert "arc dataset" in capsys.readouterr().out
    ds = load_dataset_root(tmp_path / "a")
    assert ds.train.metadata.total_groups == 1 and ds.test.metadata.total_groups == 1
    assert ds.identifiers[1] == "aaa" and ds.identifiers[5] == "bbb"
    ev.write_text('{"bbb": {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": []}}')
    assert main(["data", "arc", "--training", str(tr), "--evaluation", str(ev), "--out", str(tmp_path / "b")]) == 2
    assert "ragged" in _error_line(capsys)
    assert main(["data", "arc", "--preset", "arc-agi-1", "--out", str(tmp_path / "c")]) == 2
    assert "needs --data-root" in _error_line(capsys)


def test_arc_command_refuses_a_task_in_both_splits(tmp_path, capsys):
    task = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 0]], "output": [[0, 3]]}]}
    tr, ev = tmp_path / "src" / "tr.json", tmp_path / "src" / "ev.json"
    tr.parent.mkdir()
    tr.write_text(json.dumps({"aaa": task}))
    ev.write_text(json.dumps({"bbb": task}, indent=2))  # formatting does not hide it
    args = ["data", "arc", "--training", str(tr), "--evaluation", str(ev), "--num-aug", "2", "--no-progress"]
    out = tmp_path / "out" / "arc"
    assert main([*args, "--out", str(out)]) == 2
    line = _error_line(capsys)
    assert "task 'aaa' (training) has the same pairs as task 'bbb' (evaluation" in line
    assert "tr.json:1" in line and "ev.json:2" in line and "--allow-duplicates" in line
    assert not (tmp_path / "out").exists()
    assert main([*args, "--allow-duplicates", "--drop-duplicates", "--out", str(out)]) == 2
    assert "choose one of them" in _error_line(capsys)
    assert main([*args, "--allow-duplicates", "--out", str(out)]) == 0
    assert "aaa (training) = bbb (evaluation): kept all" in capsys.readouterr().out
    records = json.loads((out / "augmentations" / "tasks.json").read_text())
    assert [r["id"] for r in records] == ["aaa", "bbb"] and records[0]["sha256"] == records[1]["sha256"]
    assert main([*args, "--drop-duplicates", "--out", str(tmp_path / "drop")]) == 0
    assert load_dataset_root(tmp_path / "drop").identifiers[1] == "bbb"


def test_custom_command(tmp_path, capsys):
    f = tmp_path / "t.jsonl"
    f.write_text('{"input": "abc", "output": "cba"}\n{"input": "ab", "output": "ba"}\n')
    assert (
        main(
            [
                "data",
                "custom",
                "--train",
                str(f),
                "--test",
                str(f),
                "--alphabet",
                "abc",
                "--seq-len",
                "4",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    ds = load_dataset_root(tmp_path / "c")
    np.testing.assert_array_equal(ds.train.set()["labels"][0], [3, 2, 1, 0])
    assert main(["data", "custom", "--train", str(f), "--test", str(f), "--out", str(tmp_path / "d")]) == 2
    assert f"{f}:1: 'input' is a string" in _error_line(capsys)


def test_data_without_kind_prints_help(capsys):
    assert main(["data"]) == 2
    assert "sudoku" in capsys.readouterr().out
