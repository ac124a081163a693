"""runtime.compile: auto compiles where a compiler works and falls back to eager with one line; true fails loudly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.runtime import compile as compile_mod
from hrm.runtime.compile import CompileError, compile_modules
from hrm.training import trainer
from hrm.training.config import apply_overrides
from hrm.training.recipes import get_recipe


def _no_compiler(*args, **kwargs):
    raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found")


@pytest.fixture
def fresh_probe(monkeypatch):
    monkeypatch.setattr(compile_mod, "_PROBED", {})


def test_false_never_compiles_and_other_devices_stay_eager(monkeypatch, fresh_probe):
    monkeypatch.setattr(torch, "compile", _no_compiler)  # would raise if anything tried to compile
    module = nn.Linear(2, 2)
    assert compile_modules([module], False, torch.device("cpu")) is False
    assert compile_modules([module], "auto", torch.device("meta")) is False  # e.g. MPS: eager, silently
    assert getattr(module, "_compiled_call_impl", None) is None


def test_auto_falls_back_with_one_line_and_true_fails(monkeypatch, capsys, fresh_probe):
    monkeypatch.setattr(torch, "compile", _no_compiler)
    module = nn.Linear(2, 2)
    assert compile_modules([module], "auto", torch.device("cpu")) is False
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torch.compile is not usable here (RuntimeError: InvalidCxxCompiler" in err
    with pytest.raises(CompileError, match="InvalidCxxCompiler.*runtime.compile=false"):
        compile_modules([module], True, torch.device("cpu"))
    assert getattr(module, "_compiled_call_impl", None) is None  # nothing left half-compiled


def test_the_probe_is_cached_per_device_type(monkeypatch, fresh_probe):
    calls = []

    def counting(fn, **kwargs):
        calls.append(1)
        return fn  # "compiles" to the eager function: the probe passes

    monkeypatch.setattr(torch, "compile", counting)
    assert compile_mod.compiler_problem(torch.device("cpu")) is None
    assert compile_mod.compiler_problem(torch.device("cpu")) is None
    assert len(calls) == 1


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=32, givens=8, seed=0, show_progress=False)
    )
    return root


def _config(data, *overrides):
    return apply_overrides(
        get_recipe("tiny"), [f"data={data}", "max_steps=2", "logging.progress=false", "logging.plot=false", *overrides]
    )


def test_auto_is_the_default_and_short_runs_stay_eager(monkeypatch, tmp_path, tiny_data, fresh_probe):
    assert get_recipe("tiny").runtime.compile == "auto"
    assert get_recipe("sudoku-extreme-1k").runtime.compile == "auto"
    monkeypatch.setattr(torch, "compile", _no_compiler)  # a short run must not even probe
    result = trainer.train(_config(tiny_data), tmp_path / "run")
    assert result.step == 2


def test_auto_falls_back_when_the_first_compiled_step_fails(monkeypatch, capsys, tmp_path, tiny_data, fresh_probe):
    """A compiler that passes the probe but fails on the model: the run continues eagerly from the same step."""

    def compiles_then_fails(fn, **kwargs):
        def compiled(*args, **kw):
            raise RuntimeError("BackendCompilerFailed: inductor gave up")

        return compiled

    monkeypatch.setattr(compile_mod, "compiler_problem", lambda device: None)
    monkeypatch.setattr(torch, "compile", compiles_then_fails)
    monkeypatch.setattr(trainer, "AUTO_COMPILE_MIN_STEPS", 0)
    eager = trainer.train(_config(tiny_data, "runtime.compile=false"), tmp_path / "eager")
    capsys.readouterr()
    fallback = trainer.train(_config(tiny_data, "runtime.compile=auto"), tmp_path / "auto")
    err = capsys.readouterr().err
    assert "torch.compile is not usable here (RuntimeError: BackendCompilerFailed" in err
    assert fallback.step == eager.step == 2
    with pytest.raises(CompileError, match="BackendCompilerFailed"):
        trainer.train(_config(tiny_data, "runtime.compile=true"), tmp_path / "true")
