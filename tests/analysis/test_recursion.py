"""Per-recursion-step analyses for every family: forward residuals, PCA trajectories, PR; inference scaling."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from hrm.analysis.recursion import analyze_recursion, recurrent_modules
from hrm.cli import main
from hrm.errors import UserError
from hrm.model.registry import build_model
from hrm.training.recipes import get_recipe


def tiny_model(family: str, **section):
    config = get_recipe("tiny")
    config.model = family
    for key, value in section.items():
        setattr(config.architecture, key, value)
    torch.manual_seed(0)
    return build_model(family, config.model_config(vocab_size=6, seq_len=16, num_puzzle_identifiers=2))


def data(n: int = 6):
    g = np.random.default_rng(0)
    return g.integers(1, 6, size=(n, 16)), np.ones(n, dtype=np.int64)


class Halving(nn.Module):
    def forward(self, z, injection):
        return 0.5 * z


class ContractingFamily(nn.Module):
    """A fake family whose one recurrent module halves the state three times per segment."""

    family = "fake"
    max_segments = 2

    def __init__(self):
        super().__init__()
        self.step = Halving()

    def compile_targets(self):
        return [self.step]

    def prepare_inputs(self, inputs, ids):
        return torch.as_tensor(inputs), torch.as_tensor(ids)

    def initial_state(self, inputs, ids):
        return {"z": torch.ones(inputs.shape[0], 4, 2)}

    def segment(self, state, inputs, ids):
        z = state["z"]
        for _ in range(3):
            z = self.step(z, None)
        return SimpleNamespace(state={"z": z})


def test_residuals_are_measured_at_every_recurrent_call():
    report = analyze_recursion(ContractingFamily(), *data(5), batch_size=2)
    (stream,) = report.streams
    assert stream.name == "z" and report.calls_per_segment == 3
    assert stream.steps == [1, 2, 3, 4, 5, 6] and stream.segments == [1, 1, 1, 2, 2, 2]
    norm0 = np.sqrt(8)  # ||ones(4, 2)||
    expected = [norm0 * 0.5**t for t in range(1, 7)]  # ||z_t - z_(t-1)|| = 0.5^t ||z_0||
    assert stream.residual == pytest.approx(expected)
    assert stream.relative_residual == pytest.approx([0.5] * 6)


def test_hrm_streams_follow_the_two_timescales():
    model = tiny_model("hrm", high_cycles=2, low_cycles=3)
    report = analyze_recursion(model, *data(), segments=2, batch_size=4)
    by_name = {s.name: s for s in report.streams}
    assert set(by_name) == {"z_H", "z_L"} and report.calls_per_segment == 2 * (3 + 1)
    assert len(by_name["z_L"].residual) == 2 * 2 * 3 and len(by_name["z_H"].residual) == 2 * 2
    # z_H is updated at the end of each cycle: after every 3 z_L updates
    assert by_name["z_H"].steps == [4, 8, 12, 16]
    for stream in report.streams:
        assert all(r >= 0 for r in stream.residual) and stream.participation_ratio > 1
        assert len(stream.pca_trajectories) == 6 and len(stream.pca_trajectories[0]) == len(stream.residual)
        assert 0 < sum(stream.pca_explained) <= 1 + 1e-9


def test_trm_shared_net_is_split_into_its_two_states():
    report = analyze_recursion(tiny_model("trm"), *data(), segments=2)
    cfg = get_recipe("tiny").trm
    by_name = {s.name: s for s in report.streams}
    assert len(by_name["z_L"].residual) == 2 * cfg.high_cycles * cfg.low_cycles
    assert len(by_name["z_H"].residual) == 2 * cfg.high_cycles


def test_looped_stack_is_one_state_and_single_pass_families_are_refused():
    report = analyze_recursion(tiny_model("looped"), *data(), segments=2)
    assert [s.name for s in report.streams] == ["z"]
    assert recurrent_modules(tiny_model("gru")) == []
    for family in ("gru", "lstm", "transformer"):
        with pytest.raises(UserError, match="recursion analysis needs"):
            analyze_recursion(tiny_model(family), *data(), segments=2)


@pytest.mark.parametrize("analysis", ["recursion", "scaling"])
def test_analyze_cli_writes_plot_and_json(tmp_path, sudoku4_ckpt, sudoku4_data, analysis, capsys):
    plot, js = tmp_path / "p.png", tmp_path / "r.json"
    args = ["analyze", analysis, "--checkpoint", str(sudoku4_ckpt), "--data", str(sudoku4_data)]
    assert main([*args, "--num-puzzles", "8", "--plot", str(plot), "--json", str(js)]) == 0
    assert plot.stat().st_size > 1000
    report = json.loads(js.read_text())
    if analysis == "recursion":
        assert {s["name"] for s in report["streams"]} == {"z_H", "z_L"}
    else:
        assert [p["segments"] for p in report["fixed"]] == [1, 2, 4, 8, 16]
        assert all(p["mean_segments"] <= p["segments"] for p in report["early_exit"])
