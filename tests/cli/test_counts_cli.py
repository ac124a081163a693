"""Hostile counts (T1): every count a command takes is bounded at parse time, one line, exit 2, nothing written."""

from __future__ import annotations

import pytest

from hrm.cli import main

SHIPPED = "src/hrm/assets/pretrained/sudoku-6x6"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["solve", "--augment-votes", "1000000000", "--puzzle", "x"], "--augment-votes: 1000000000 is out of range"),
        (["solve", "--noise-samples", "1000000000", "--puzzle", "x"], "--noise-samples: 1000000000 is out of range"),
        (["solve", "--noise-std", "inf", "--puzzle", "x"], "--noise-std: inf must be a finite number"),
        (["solve", "--max-segments", "1000000000", "--puzzle", "x"], "--max-segments: 1000000000 is out of range"),
        (["data", "maze", "--size", "100000", "--out", "OUT"], "--size: 100000 is out of range"),
        (["data", "sudoku", "--num-train", "1000000000000", "--out", "OUT"], "--num-train: 1000000000000 is out"),
        (["evaluate", "--checkpoint", SHIPPED, "--max-segments", "1,1000000000"], "at most 4096 segments"),
    ],
)
def test_hostile_counts_are_one_line(tmp_path, monkeypatch, capsys, argv, message):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    argv = [str(repo / a) if a == SHIPPED else a for a in argv]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and message in err[-1] and "Traceback" not in "\n".join(err)
    assert list(tmp_path.iterdir()) == []
