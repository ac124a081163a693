"""``hrm train``/``plot``/``convert-reference`` on the command line: errors are one line with exit code 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hrm.cli import convert as convert_cli
from hrm.cli import plot as plot_cli
from hrm.cli import train as train_cli
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.errors import UserError


def hrm(*argv: str) -> int:
    """Run ``hrm ARGV`` through the commands of this area (independent of the other commands' modules)."""
    parser = argparse.ArgumentParser(prog="hrm")
    sub = parser.add_subparsers(dest="command")
    for module in (train_cli, plot_cli, convert_cli):
        module.register(sub)
    args = parser.parse_args(list(argv))
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"hrm: error: {exc}")
        return 2


def one_error_line(capsys) -> str:
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if line.startswith("hrm: error:")]
    assert len(lines) == 1
    return lines[0]


def test_unknown_override_key(capsys):
    assert hrm("train", "tiny", "arch.hidden=64") == 2
    line = one_error_line(capsys)
    assert "unknown config key 'arch.hidden'" in line and "arch.hidden_size" in line


def test_bad_override_value(capsys):
    assert hrm("train", "tiny", "lr=fast") == 2
    assert "optim.lr=fast: expected a number" in one_error_line(capsys)


def test_unknown_recipe(capsys):
    assert hrm("train", "sudoku-huge") == 2
    assert "unknown recipe 'sudoku-huge'" in one_error_line(capsys)


def test_missing_data(capsys, tmp_path):
    assert hrm("train", "sudoku-extreme-1k", f"data={tmp_path / 'absent'}", "--out", str(tmp_path / "run")) == 2
    assert "no train/ split folder" in one_error_line(capsys)


def test_resume_of_a_non_run_directory(capsys, tmp_path):
    assert hrm("train", "--resume", str(tmp_path)) == 2
    assert "not a run directory" in one_error_line(capsys)


def test_print_config_applies_overrides_given_after_options(capsys, tmp_path):
    assert hrm("train", "tiny", "--out", str(tmp_path), "--print-config", "arch.hidden_size=64", "lr=0.01") == 0
    config = json.loads(capsys.readouterr().out)
    assert config["arch"]["hidden_size"] == 64 and config["optim"]["lr"] == 0.01


def test_list_and_keys(capsys):
    assert hrm("train", "--list") == 0
    out = capsys.readouterr().out
    assert "sudoku-extreme-1k" in out and "cpu-sudoku-6x6" in out and "tiny" in out
    assert hrm("train", "--keys") == 0
    assert "schedule.time_budget_minutes" in capsys.readouterr().out.split()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=32, givens=8, seed=0, show_progress=False)
    )
    return root


def test_train_then_plot(capsys, tiny_data, tmp_path):
    run = tmp_path / "run"
    assert hrm("train", "tiny", f"data={tiny_data}", "max_steps=4", "runtime.num_threads=1", "--out", str(run)) == 0
    assert (run / "step-4" / "model.safetensors").is_file()
    assert hrm("plot", str(run), "--out", str(tmp_path / "c.png")) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert hrm("plot", str(tmp_path)) == 2
    assert "no metrics.jsonl" in one_error_line(capsys)


def test_convert_reference_missing_file(capsys, tmp_path):
    assert hrm("convert-reference", str(tmp_path / "step_100"), str(tmp_path / "out")) == 2
    assert "not found" in one_error_line(capsys)


def test_convert_reference_writes_a_step_directory(capsys, tmp_path):
    from hrm.checkpoints import load_checkpoint, resolve_checkpoint
    from tests.checkpoints.test_reference import CASES, _write_reference

    _write_reference(tmp_path, CASES["rope-1-prefix"])
    assert hrm("convert-reference", str(tmp_path / "step_1234"), str(tmp_path / "ours" / "step-1234")) == 0
    assert "step 1234" in capsys.readouterr().out
    path = resolve_checkpoint(tmp_path / "ours")
    assert path == tmp_path / "ours" / "step-1234" and load_checkpoint(path).step == 1234


def test_through_the_hrm_entry_point(capsys):
    from hrm.cli import main

    assert main(["train", "tiny", "schedule.epochs=0"]) == 2
    assert "schedule.epochs must be >= 1" in one_error_line(capsys)


def demo(*argv: str) -> int:
    from hrm.cli import demo as demo_cli

    parser = argparse.ArgumentParser(prog="hrm")
    demo_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", *argv])
    return int(args.func(args) or 0)


def test_demo_pipeline_end_to_end(capsys, tmp_path):
    # The demo's whole pipeline (generate, train, evaluate, print) with a few steps on small data.
    assert (
        demo(
            "--out",
            str(tmp_path),
            "--minutes",
            "5",
            "max_steps=3",
            "data.gen_num_train=128",
            "data.gen_num_test=16",
            "arch.hidden_size=32",
            "global_batch_size=32",
            "runtime.num_threads=1",
            "logging.progress=false",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "held-out exact accuracy:" in out and "of 16 puzzles" in out and "after 3 training steps" in out
    assert "puzzle (held out)" in out and "HRM's answer" in out
    assert (tmp_path / "run" / "step-3" / "model.safetensors").is_file()


SMALL_DEMO = (
    "max_steps=3",
    "data.gen_num_train=128",
    "data.gen_num_test=16",
    "arch.hidden_size=32",
    "global_batch_size=32",
    "runtime.num_threads=1",
    "logging.progress=false",
)


def test_demo_falls_back_to_eager_when_compile_fails(capsys, tmp_path, monkeypatch):
    import torch

    from hrm.errors import UserError
    from hrm.runtime import compile as compile_mod
    from hrm.training import trainer

    def no_compiler(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    monkeypatch.setattr(compile_mod, "_PROBED", {})
    monkeypatch.setattr(trainer, "AUTO_COMPILE_MIN_STEPS", 0)  # this 3-step demo would otherwise stay eager
    assert demo("--out", str(tmp_path / "auto"), "--minutes", "5", *SMALL_DEMO) == 0
    captured = capsys.readouterr()
    assert "torch.compile is not usable here" in captured.err and "after 3 training steps" in captured.out
    assert (tmp_path / "auto" / "run" / "step-3" / "model.safetensors").is_file()
    with pytest.raises(UserError, match="InvalidCxxCompiler"):  # --compile on: no silent fallback
        demo("--out", str(tmp_path / "on"), "--minutes", "5", "--compile", "on", *SMALL_DEMO)


@pytest.mark.slow
def test_demo_learns_in_ten_minutes(capsys, tmp_path):
    """The README's promise: ≥ 85% held-out exact accuracy on 6×6 Sudoku in 10 minutes on 2 CPU cores."""
    import re

    assert demo("--out", str(tmp_path), "--minutes", "10", "logging.progress=false") == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"held-out exact accuracy: ([\d.]+)%", out).group(1))
    assert accuracy >= 85.0, out


@pytest.mark.slow
def test_cpu_sudoku_6x6_reaches_95_percent_in_twenty_minutes(tmp_path):
    """The issue's CPU learning target: ≥ 95% held-out exact on 6×6 Sudoku (20 givens) in ≤ 20 min on 2 cores.

    Time-budgeted, so it needs an otherwise idle machine: other jobs on the same cores cost it steps.
    """
    from hrm.training.config import apply_overrides
    from hrm.training.recipes import get_recipe
    from hrm.training.trainer import train

    config = apply_overrides(
        get_recipe("cpu-sudoku-6x6"), [f"data={tmp_path / 'data'}", "logging.progress=false", "logging.plot=false"]
    )
    result = train(config, tmp_path / "run")
    assert result.elapsed_s <= 20 * 60 + 30  # the budget, plus the final evaluation
    assert result.last_eval is not None and result.last_eval["exact_accuracy"] >= 0.95, result.last_eval
