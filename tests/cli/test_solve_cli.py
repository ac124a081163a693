"""``hrm solve``: text, trace, pictures, JSON, exit codes, and one-line errors (exit 2) for bad input."""

from __future__ import annotations

import io
import json
import sys

import pytest
from PIL import Image

import hrm.cli
from hrm.checkpoints import locate
from hrm.inference import solve as solve_module
from tests.inference import helpers
from tests.inference.helpers import SUDOKU_6


@pytest.fixture
def cli(monkeypatch, capsys):
    # Only the commands under test, so these tests do not depend on every other command module.
    monkeypatch.setattr(hrm.cli, "COMMAND_MODULES", ("solve", "analyze", "info"))

    def run(*argv):
        code = hrm.cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return helpers.sudoku_checkpoint(tmp_path_factory.mktemp("solve-cli") / "step-3")


def test_solve_prints_grids_validity_segments_confidence(cli, ckpt):
    code, out, err = cli("solve", "--checkpoint", ckpt, "--device", "cpu", SUDOKU_6)
    assert code == 1 and err == ""  # a random model's answer is not valid: exit 1
    assert "input" in out and "answer (segment 3)" in out and "solution" in out
    assert "valid:      no" in out and "segments:   3 of at most 3" in out and "confidence: 0.007" in out


def test_valid_answer_exits_zero(cli, ckpt, monkeypatch):
    real = solve_module.solve

    def solved(*args, **kwargs):
        result = real(*args, **kwargs)
        result.answer, result.valid, result.correct = result.reference, True, True
        return result

    monkeypatch.setattr(solve_module, "solve", solved)
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", SUDOKU_6)
    assert code == 0 and "valid:      yes" in out and "correct:    yes" in out


def test_trace_gif_png_and_json(cli, ckpt, tmp_path):
    gif, png = tmp_path / "t.gif", tmp_path / "png"
    code, out, _ = cli(
        "solve", "--checkpoint", ckpt, "--device", "cpu", "--trace", "--save-gif", gif, "--save-png", png, SUDOKU_6
    )
    assert code == 1
    for m in (1, 2, 3):
        assert f"#{m} p=" in out
    with Image.open(gif) as img:
        assert img.n_frames == 3
    assert len(list(png.glob("segment-*.png"))) == 3 and (png / "overview.png").is_file()
    assert f"wrote {gif}" in out
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--json", "--no-early-exit", SUDOKU_6)
    data = json.loads(out)
    assert data["kind"] == "sudoku" and data["segments"] == 3 and len(data["answer"]) == 6
    assert data["early_exit"] is False and 0 < data["confidence"] < 1


def test_puzzle_from_file_and_stdin(cli, ckpt, tmp_path, monkeypatch):
    f = tmp_path / "p.txt"
    f.write_text(SUDOKU_6 + "\n")
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", f)
    assert code == 1 and f"from {f}" in out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SUDOKU_6.encode())))
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", "-")
    assert code == 1 and "6×6 Sudoku" in out


@pytest.mark.parametrize(
    "puzzle, message",
    [
        (SUDOKU_6[:-1], "6×6 Sudoku needs 36 characters"),
        ("x" + SUDOKU_6[1:], "bad character 'x'"),
        ("4" + SUDOKU_6[1:], "contradictory givens"),
        ("1" + "." * 80, "trained on 6×6 Sudoku"),
        ('{"train": [], "test": [{"input": [[1]]}]}', "is an arc puzzle"),
        ("missing/file.txt", "no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, ckpt, puzzle, message):
    code, out, err = cli("solve", "--checkpoint", ckpt, "--device", "cpu", puzzle)
    assert code == 2 and out == ""
    assert err.startswith("hrm: error: ") and message in err and err.count("\n") == 1


def test_bad_files_and_checkpoints(cli, ckpt, tmp_path):
    maze_file = tmp_path / "m.txt"
    maze_file.write_text(helpers.maze_text()[0].replace("G", " "))
    maze_ckpt = helpers.maze_checkpoint(tmp_path / "maze")
    code, _, err = cli("solve", "--checkpoint", maze_ckpt, "--device", "cpu", maze_file)
    assert code == 2 and "exactly one 'S' and one 'G'" in err
    bad_json = tmp_path / "t.json"
    bad_json.write_text('{"train": [')
    arc_ckpt = helpers.arc_checkpoint(tmp_path / "arc", halt_max_steps=1)
    code, _, err = cli("solve", "--checkpoint", arc_ckpt, "--device", "cpu", bad_json)
    assert code == 2 and "malformed ARC JSON" in err and err.count("\n") == 1
    unseen = helpers.write_arc_task(tmp_path / "unseen.json")
    code, _, err = cli("solve", "--checkpoint", arc_ckpt, "--device", "cpu", unseen)
    assert code == 2 and "transductive" in err and err.count("\n") == 1
    code, _, err = cli("solve", "--checkpoint", tmp_path / "nowhere", SUDOKU_6)
    assert code == 2 and "not found" in err


def test_missing_shipped_checkpoint(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(locate, "pretrained_root", lambda: tmp_path / "none")
    code, _, err = cli("solve", SUDOKU_6)
    assert code == 2 and "no shipped model for 6×6 Sudoku (shipped: none)" in err and err.count("\n") == 1
    # hrm info and hrm analyze still fall back to the default shipped folder by name.
    monkeypatch.setattr(locate, "pretrained_dir", lambda name="": tmp_path / "none")
    code, _, err = cli("info")
    assert code == 2 and "ships no pretrained checkpoint" in err
