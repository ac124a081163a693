"""``hrm evaluate`` reports exact accuracy by Sudoku givens and by maze path length (table and eval.json)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

import hrm.cli
from hrm.data import maze
from hrm.data.format import load_split
from hrm.data.maze import MazeBuildOptions, build_maze_dataset
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from tests.evaluation.helpers import build_sudoku4, save_tiny_checkpoint, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _main(argv, capsys):
    code = hrm.cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _strict_json(path):
    """eval.json parsed with NaN / Infinity rejected (plain JSON numbers only)."""

    def reject(name):
        raise ValueError(f"non-JSON number {name} in {path}")

    return json.loads(path.read_text(), parse_constant=reject)


def _table(out: str, title: str) -> list[list[str]]:
    lines = out.splitlines()
    start = lines.index(title)
    rows = []
    for line in lines[start + 3 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_sudoku_split_with_a_givens_range(tmp_path, capsys):
    data = tmp_path / "s4"
    build_sudoku_dataset(
        SudokuBuildOptions(
            out=data, size=4, num_train=6, num_test=30, givens=6, test_givens="5-8", seed=3, show_progress=False
        )
    )
    givens = np.count_nonzero(load_split(data / "test").set()["inputs"] > 1, axis=1)
    expected = Counter(givens.tolist())
    assert set(expected) <= {5, 6, 7, 8} and len(expected) >= 2
    ckpt = save_tiny_checkpoint(tmp_path / "run" / "step-1", tiny_model(), data_root=data)
    out_dir = tmp_path / "out"
    code, out, err = _main(
        ["evaluate", "--checkpoint", str(ckpt), "--max-segments", "1,3", "--out", str(out_dir), "--no-progress"],
        capsys,
    )
    assert code == 0, err
    rows = _table(out, "exact by givens (M=3):")
    assert [(int(r[0]), int(r[1])) for r in rows] == sorted(expected.items())
    report = _strict_json(out_dir / "eval.json")
    for result in report["results"]:  # every cap has its breakdown
        b = result["breakdown"]
        assert b["by"] == "givens" and b["distinct_values"] == len(expected)
        assert [(g["low"], g["high"], g["count"]) for g in b["groups"]] == [
            (v, v, n) for v, n in sorted(expected.items())
        ]
        assert sum(g["count"] for g in b["groups"]) == result["count"] == 30
        exact = sum(g["exact_accuracy"] * g["count"] for g in b["groups"]) / 30
        assert exact == pytest.approx(result["exact_accuracy"])
    # The printed percentages are the primary cap's.
    primary = report["results"][-1]["breakdown"]["groups"]
    assert [r[2] for r in rows] == [f"{100 * g['exact_accuracy']:.2f}" for g in primary]


def test_a_single_givens_count_prints_no_table_but_records_it(tmp_path, capsys):
    data = build_sudoku4(tmp_path / "s4")  # every puzzle has 6 givens
    ckpt = save_tiny_checkpoint(tmp_path / "run" / "step-1", tiny_model(), data_root=data)
    code, out, err = _main(
        ["evaluate", "--checkpoint", str(ckpt), "--out", str(tmp_path / "out"), "--no-progress"], capsys
    )
    assert code == 0, err
    assert "exact by" not in out
    b = _strict_json(tmp_path / "out" / "eval.json")["results"][0]["breakdown"]
    assert b["distinct_values"] == 1 and [(g["low"], g["count"]) for g in b["groups"]] == [(6, 12)]


def test_direct_sudoku_file_gets_the_breakdown(tmp_path, capsys):
    data = tmp_path / "s4"
    build_sudoku_dataset(
        SudokuBuildOptions(
            out=data, size=4, num_train=6, num_test=10, givens=6, test_givens="5-8", seed=3, show_progress=False
        )
    )
    split = load_split(data / "test").set()
    digits, sols = split["inputs"].astype(int) - 1, split["labels"].astype(int) - 1
    puzzles = tmp_path / "p.txt"
    puzzles.write_text("\n".join("".join(str(d) if d else "." for d in row) for row in digits) + "\n")
    (tmp_path / "p.solutions.txt").write_text("\n".join("".join(map(str, row)) for row in sols) + "\n")
    ckpt = save_tiny_checkpoint(tmp_path / "run" / "step-1", tiny_model(), data_root=data)
    out_dir = tmp_path / "out"
    code, out, err = _main(
        ["evaluate", "--checkpoint", str(ckpt), "--sudoku", str(puzzles), "--out", str(out_dir), "--no-progress"],
        capsys,
    )
    assert code == 0, err
    b = _strict_json(out_dir / "eval.json")["results"][0]["breakdown"]
    expected = Counter(np.count_nonzero(digits, axis=1).tolist())
    assert [(g["low"], g["count"]) for g in b["groups"]] == sorted(expected.items())


def test_maze_split_by_path_length(tmp_path, capsys):
    data = tmp_path / "m7"
    build_maze_dataset(MazeBuildOptions(out=data, size=7, num_train=4, num_test=16, seed=0, show_progress=False))
    labels = load_split(data / "test").set()["labels"]
    lengths = Counter((np.count_nonzero(labels == maze.PATH, axis=1) + 1).tolist())
    assert len(lengths) >= 2
    ckpt = save_tiny_checkpoint(tmp_path / "run" / "step-1", tiny_model(vocab_size=6, seq_len=49), data_root=data)
    out_dir = tmp_path / "out"
    code, out, err = _main(["evaluate", "--checkpoint", str(ckpt), "--out", str(out_dir), "--no-progress"], capsys)
    assert code == 0, err
    assert "(maze, 16 rows" in out
    rows = _table(out, "exact by path length (M=4):")
    assert [(int(r[0]), int(r[1])) for r in rows] == sorted(lengths.items())
    b = _strict_json(out_dir / "eval.json")["results"][0]["breakdown"]
    assert b["by"] == "path_length" and sum(g["count"] for g in b["groups"]) == 16
