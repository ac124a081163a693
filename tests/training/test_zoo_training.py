"""Every model family trains with the same trainer: ``model=NAME`` on the tiny recipe learns, its checkpoint
records the family and round-trips, loading it as another family is a one-line error, and resume is exact."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import hrm.cli
from hrm.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from hrm.cli.info import checkpoint_info, format_info
from hrm.data import load_split
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.errors import UserError
from hrm.evaluation import evaluate_split
from hrm.inference.render import format_result, format_trace
from hrm.inference.solve import solve
from hrm.model import registry
from hrm.model.registry import family_spec
from hrm.training.config import ConfigError, TrainConfig, apply_overrides
from hrm.training.recipes import get_recipe
from hrm.training.trainer import train

FAMILIES = tuple(name for name in registry.FAMILIES if name != "hrm")  # every other registered family


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=32, givens=8, seed=0, show_progress=False)
    )
    return root


def _config(family: str, data: Path, steps: int, *extra: str) -> TrainConfig:
    return apply_overrides(
        get_recipe("tiny"),
        [
            f"model={family}",
            f"data={data}",
            f"max_steps={steps}",
            "logging.log_every=5",
            "runtime.num_threads=1",
            "schedule.eval_every_steps=0",
            "checkpoint.every_eval=false",
            *extra,
        ],
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_recipe_learns_and_checkpoint_round_trips(family, tiny_data, tmp_path):
    config = _config(family, tiny_data, 40, "optim.lr=1e-2")
    result = train(config, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["lm_loss"] for r in records if r["split"] == "train"]
    assert losses[-1] < 0.9 * losses[0], losses  # the loss falls

    ckpt = load_checkpoint(result.checkpoint)
    assert type(ckpt.model) is family_spec(family).model_cls and ckpt.family == family
    assert ckpt.model_config == config.model_config(6, 16, 1)
    assert json.loads((result.checkpoint / "config.json").read_text())["family"] == family
    copy = save_checkpoint(tmp_path / "copy" / "step-1", ckpt.model)
    again = load_checkpoint(copy)
    inputs = torch.randint(0, 6, (4, 16))
    pids = torch.zeros(4, dtype=torch.long)
    first, second = ckpt.model.predict(inputs, pids), again.model.predict(inputs, pids)
    torch.testing.assert_close(first["logits"], second["logits"], rtol=0, atol=0)
    info = checkpoint_info(ckpt)
    assert info["family"] == family and info["flops_per_segment"] == ckpt.model.flops_per_segment(1)
    assert f"model family: {family}" in format_info(info)
    answer = solve(ckpt, "1...2...3...4...", trace=True)  # any family solves; no halting head: no confidence
    by_object = solve(ckpt.model, "1...2...3...4...", kind="sudoku")  # the model object itself, like an HRM's
    assert np.array_equal(by_object.answer, solve(ckpt, "1...2...3...4...").answer)
    assert answer.segments <= ckpt.model.max_segments and len(answer.trace) == answer.segments
    assert (answer.to_dict()["confidence"] is None) == (not ckpt.model.has_halting_head)
    report = format_result(answer)
    assert ("confidence:" in report) == ckpt.model.has_halting_head
    assert format_trace(answer)
    analyses = ("halting",) if ckpt.model.has_halting_head else ()
    analyses += ("dimensionality",) if family == "trm" else ()
    for analysis in {"halting", "dimensionality"} - set(analyses):  # what does not apply is a one-line error
        argv = ["analyze", analysis, "--checkpoint", str(result.checkpoint), "--data", str(tiny_data)]
        assert hrm.cli.main([*argv, "--num-puzzles", "4", "--plot", str(tmp_path / "p.png")]) == 2
    metrics = evaluate_split(ckpt.model, load_split(tiny_data / "test"), batch_size=8, progress=False).metrics
    # q_halt accuracy only where there is a halting head: "n/a" (NaN; null in eval.json) otherwise, not 0%.
    assert math.isnan(metrics.q_halt_accuracy) != ckpt.model.has_halting_head
    assert (metrics.as_dict()["q_halt_accuracy"] is None) != ckpt.model.has_halting_head
    other = "hrm" if family != "hrm" else "trm"
    with pytest.raises(UserError, match=f"holds a '{family}' model, not '{other}'"):
        load_checkpoint(result.checkpoint, family=other)


def assert_same_weights(a_dir: Path, b_dir: Path) -> None:
    a = load_file(str(a_dir / "model.safetensors"))
    b = load_file(str(b_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].equal(b[key]), key


def _full_and_cut_run(config, tmp_path: Path, step: int) -> tuple[Path, Path]:
    """A full run, and a copy cut back to its state at ``step`` (later checkpoints and metrics removed)."""
    full = tmp_path / "full"
    train(config, full)
    partial = tmp_path / "partial"
    shutil.copytree(full, partial)
    for at, path in list_checkpoints(partial):
        if at > step:
            shutil.rmtree(path)
    lines = (partial / "metrics.jsonl").read_text().splitlines()
    (partial / "metrics.jsonl").write_text("".join(f"{x}\n" for x in lines if json.loads(x)["step"] <= step))
    return full, partial


@pytest.mark.parametrize("family", ["trm", "gru"])
def test_resume_is_exact(family, tiny_data, tmp_path):
    """Resuming from a mid-run checkpoint (a carry with state, and one without) ends with identical weights."""
    extra = ("runtime.deterministic=true", "checkpoint.every_steps=4", "checkpoint.keep_last=10")
    config = _config(family, tiny_data, 12, *extra)
    full, partial = _full_and_cut_run(config, tmp_path, 4)
    train(config, partial, resume=True)
    assert_same_weights(full / "step-12", partial / "step-12")


def test_an_hrm_run_saved_under_the_former_names_resumes_exactly(tiny_data, tmp_path):
    """Checkpoints written before HRM shared the families' code name f_I's tables ``core.embed_tokens`` (not
    ``core.embed.embed_tokens``) in the weights, the EMA shadow and the live parameters, and keep the carry's states
    unprefixed (``z_H``); such a run resumes to the same weights as an uninterrupted one."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from hrm.checkpoints.format import MODEL_FILE, TRAIN_STATE_FILE
    from hrm.model.hrm import LEGACY_PREFIXES

    def old_name(key: str) -> str:
        for old, new in LEGACY_PREFIXES:
            if key.startswith(new):
                return old + key[len(new) :]
        return key

    extra = ("runtime.deterministic=true", "checkpoint.every_steps=4", "checkpoint.keep_last=10", "ema.enabled=true")
    config = _config("hrm", tiny_data, 12, *extra)
    full, partial = _full_and_cut_run(config, tmp_path, 4)
    step_dir = partial / "step-4"
    with safe_open(str(step_dir / MODEL_FILE), "pt") as f:
        metadata = f.metadata()
    weights = load_file(str(step_dir / MODEL_FILE))
    assert any(old_name(k) != k for k in weights)  # the test renames something
    save_file({old_name(k): v for k, v in weights.items()}, str(step_dir / MODEL_FILE), metadata=metadata)
    state = torch.load(step_dir / TRAIN_STATE_FILE, weights_only=True)
    state["carry"] = {k.removeprefix("state."): v for k, v in state["carry"].items()}
    state["ema"]["shadow"] = {old_name(k): v for k, v in state["ema"]["shadow"].items()}
    if state.get("live_parameters") is not None:
        state["live_parameters"] = {old_name(k): v for k, v in state["live_parameters"].items()}
    torch.save(state, step_dir / TRAIN_STATE_FILE)
    assert "z_H" in state["carry"]
    train(config, partial, resume=True)
    assert_same_weights(full / "step-12", partial / "step-12")


def test_model_selection_errors_name_the_choices():
    with pytest.raises(ConfigError, match="model must be one of gru, hrm, looped, lstm, transformer, trm"):
        apply_overrides(get_recipe("tiny"), ["model=rnn"])
    with pytest.raises(ConfigError, match="trm.low_cycles must be a positive integer"):
        apply_overrides(get_recipe("tiny"), ["model=trm", "trm.low_cycles=0"])
    config = get_recipe("trm-sudoku-mlp")
    assert config.model == "trm" and config.trm.mlp_t and config.ema.enabled
    assert config.model_config(11, 81, 1).total_len == 97
    assert TrainConfig.from_dict({k: v for k, v in config.to_dict().items() if k != "model"}).model == "hrm"


def test_samples_loaded_counts_the_puzzles_a_run_took_and_survives_resume(tiny_data, tmp_path):
    """A row takes a new puzzle when it halts: one per row per step for a single-pass family, one per M_max steps
    with a fixed number of segments (the tiny recipe's batch is 16, its M_max 3)."""
    assert train(_config("gru", tiny_data, 6), tmp_path / "gru").samples_loaded == 6 * 16
    fixed = _config("hrm", tiny_data, 6, "arch.act=false")
    assert train(fixed, tmp_path / "fixed").samples_loaded == 2 * 16  # loaded at steps 1 and 4
    extra = ("runtime.deterministic=true", "checkpoint.every_steps=4", "checkpoint.keep_last=10")
    config = _config("hrm", tiny_data, 12, *extra)
    full, partial = _full_and_cut_run(config, tmp_path / "act", 4)
    expected = train(config, tmp_path / "again").samples_loaded
    assert 16 <= expected <= 12 * 16
    assert train(config, partial, resume=True).samples_loaded == expected  # counted across the resume
    # A state saved before the count existed resumes, and says it does not know.
    state_file = partial / "step-12" / "train_state.pt"
    state = torch.load(state_file, weights_only=True)
    del state["samples_loaded"]
    torch.save(state, state_file)
    shutil.rmtree(partial / "step-8", ignore_errors=True)
    longer = _config("hrm", tiny_data, 14, *extra)
    assert train(longer, partial, resume=True).samples_loaded is None
