"""``hrm models``: the shipped models as a table and as JSON, and the registry behind it (a monkeypatched root)."""

from __future__ import annotations

import json

import pytest

import hrm.cli
from hrm.checkpoints import locate
from tests.inference import helpers


@pytest.fixture
def cli(monkeypatch, capsys):
    monkeypatch.setattr(hrm.cli, "COMMAND_MODULES", ("models", "solve"))

    def run(*argv):
        code = hrm.cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_models_lists_the_shipped_6x6_model(cli):
    code, out, err = cli("models")
    assert code == 0 and err == ""
    header, *rows = out.splitlines()
    assert header.split() == ["name", "task", "family", "parameters", "files", "val", "exact", "test", "exact", "path"]
    row = next(r for r in rows if r.startswith("sudoku-6x6 "))
    for cell in ("6×6 Sudoku", "hrm", "263,362", "1.0 MB", "96.6%", str(locate.pretrained_dir())):
        assert cell in row
    code, out, _ = cli("models", "--json")
    (model,) = [m for m in json.loads(out) if m["name"] == "sudoku-6x6"]
    assert code == 0 and model["kind"] == "sudoku" and model["size"] == 6 and model["family"] == "hrm"
    assert model["parameters"] == 263_362 and model["test_exact_accuracy"] == pytest.approx(0.966)
    assert model["validation_exact_accuracy"] is None and model["model_card"].endswith("MODEL_CARD.md")
    assert model["test_exact_by"] == {"givens": {"20": 0.966}}  # JSON keys are strings


def test_models_lists_fake_folders_and_says_what_is_missing(cli, tmp_path, monkeypatch):
    root = tmp_path / "pretrained"
    monkeypatch.setattr(locate, "pretrained_root", lambda: root)
    code, out, _ = cli("models")
    assert code == 0 and "no shipped models in this install" in out
    assert json.loads(cli("models", "--json")[1]) == []
    helpers.maze_checkpoint(root / "maze-8x8" / "step-4")
    helpers.sudoku_checkpoint(root / "sudoku-4x4", n=4)
    (root / "empty").mkdir()
    code, out, _ = cli("models")
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines[1:4]] == ["sudoku-4x4", "maze-8x8", "empty"]
    assert "4×4 Sudoku" in lines[1] and "8×8 maze" in lines[2] and "unreadable" in lines[3]
    assert "maze-8x8: no MODEL_CARD.md" in out and "empty: not usable: " in out
    data = {m["name"]: m for m in json.loads(cli("models", "--json")[1])}
    assert data["maze-8x8"]["checkpoint"] == str(root / "maze-8x8" / "step-4") and data["empty"]["error"]
    # `hrm solve` picks from the same list.
    code, out, _ = cli("solve", "--device", "cpu", "1...2...3...4...")
    assert code in (0, 1) and "the shipped sudoku-4x4 (4×4 Sudoku, hrm)" in out
