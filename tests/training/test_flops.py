"""Measured training FLOPs count what a step runs (issue 22, item 2)."""

from __future__ import annotations

import torch

from hrm.model import HRM
from hrm.model.registry import build_model
from hrm.training.config import apply_overrides
from hrm.training.flops import measure_step_flops
from hrm.training.recipes import get_recipe
from tests.conftest import tiny_config


def flops(**overrides) -> tuple[int, int]:
    torch.manual_seed(0)
    model = HRM(tiny_config(**overrides))
    return measure_step_flops(model, 4, model.config.seq_len), model.flops_per_segment(4)


def test_full_backprop_without_the_halting_target_is_three_forwards_plus_the_attention_recompute():
    # Every matmul's backward is two matmuls of its size (forward + backward = 3 x one segment's forward), and the
    # attention backward recomputes the scores (2.5 x the attention's forward, torch's formula for these kernels).
    measured, segment = flops(act=False, grad_window=6)  # N=T=2: all 6 calls in the graph
    config = tiny_config()
    blocks = config.high_cycles * (config.low_cycles * config.low_layers + config.high_layers)
    attention = blocks * 4 * 4 * config.total_len**2 * config.hidden_size  # QKᵀ and AV of every block, batch 4
    assert measured == 3 * segment + attention // 2


def test_the_one_step_gradient_and_the_halting_target_are_counted():
    full, segment = flops(act=False, grad_window=6)
    one_step, _ = flops(act=False, grad_window=2)
    with_target, _ = flops(act=True, grad_window=2)
    assert one_step < full  # the backward covers only the last f_L and f_H calls
    assert with_target == one_step + segment  # ACT's Q-continue target: one more no-grad segment


def test_measuring_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    config = apply_overrides(get_recipe("tiny"), ["model=trm"])
    model = build_model("trm", config.model_config(6, 16, 1)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert measure_step_flops(model, 8, 16) == 8 * measure_step_flops(model, 1, 16)
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert model.puzzle_emb is None or model.puzzle_emb.pop_pending() == []
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
