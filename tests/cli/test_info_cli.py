"""``hrm info``: config, parameter counts (trunk and puzzle-ID table apart), dataset, last eval, task list."""

from __future__ import annotations

import json

import pytest

import hrm.cli
from hrm.checkpoints import load_checkpoint
from tests.inference import helpers


@pytest.fixture
def cli(monkeypatch, capsys):
    monkeypatch.setattr(hrm.cli, "COMMAND_MODULES", ("solve", "analyze", "info"))

    def run(*argv):
        code = hrm.cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_info_text(cli, tmp_path):
    model = helpers.tiny_model(8, 36)
    path = helpers.save(
        model,
        tmp_path / "step-7",
        "sudoku",
        meta={"eval": {"exact_accuracy": 0.5, "token_accuracy": 0.75}, "recipe": "tiny"},
    )
    code, out, err = cli("info", "--checkpoint", path)
    assert code == 0 and err == ""
    counts = model.num_parameters()
    assert f"{counts['trunk']:,}" in out and "trunk" in out
    assert "puzzle-ID table" in out and f"{counts['puzzle_embedding']:,}" in out and "transductive" in out
    assert "trained on:   6×6 Sudoku (vocab 8, seq_len 36)" in out
    assert "hidden_size            32" in out and "halt_max_steps         3" in out
    assert "exact_accuracy" in out and "0.5" in out and "recipe tiny" in out
    assert "build.kind" in out and "sudoku" in out


def test_info_json_and_arc_tasks(cli, tmp_path):
    path = helpers.arc_checkpoint(tmp_path / "step-1", task_ids=("aaa", "bbb"), variants=3)
    code, out, _ = cli("info", "--checkpoint", path, "--json")
    data = json.loads(out)
    ckpt = load_checkpoint(path)
    assert data["kind"] == "arc" and data["identifiers"] == {"count": 9, "tasks": 2}
    assert data["parameters"]["puzzle_embedding"] == 9 * 32
    assert data["parameters"]["trunk"] == ckpt.model.num_parameters()["trunk"]
    assert data["parameters"]["total"] == data["parameters"]["trunk"] + data["parameters"]["puzzle_embedding"]
    code, out, _ = cli("info", "--checkpoint", path, "--tasks")
    assert code == 0 and out.split() == ["aaa", "bbb"]


def test_info_errors(cli, tmp_path):
    code, _, err = cli("info", "--checkpoint", tmp_path / "missing")
    assert code == 2 and "not found" in err and err.count("\n") == 1
