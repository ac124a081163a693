"""Transformer baseline: parameter matching, single pass vs HRM's outer loop, gradient window, determinism."""

from __future__ import annotations

import pytest
import torch

from hrm.model import HRM, HRMConfig
from hrm.model.transformer import Transformer, TransformerConfig
from tests.model.zoo_helpers import batch_for, record_grad_mode, saved_activation_bytes


def tiny(**over) -> TransformerConfig:
    base = dict(vocab_size=6, seq_len=16, num_puzzle_identifiers=3, hidden_size=16, num_heads=2, num_layers=2)
    base.update(over)
    return TransformerConfig(**base)


def test_default_depth_matches_hrm_parameters():
    with torch.device("meta"):
        hrm = HRM(HRMConfig(vocab_size=11, seq_len=81)).num_parameters()["trunk"]
        plain = Transformer(TransformerConfig(vocab_size=11, seq_len=81)).num_parameters()["trunk"]
        looped = Transformer(TransformerConfig(vocab_size=11, seq_len=81, halt_max_steps=16)).num_parameters()
    assert plain == hrm - 1026  # HRM's trunk = the same 8 blocks + embeddings + heads; no Q-head here
    assert looped["trunk"] == hrm


def test_single_pass_has_no_carry_state_and_no_halting_head():
    torch.manual_seed(0)
    model = Transformer(tiny()).train()
    assert model.max_segments == 1 and not model.has_halting_head
    batch = batch_for(model.config)
    carry = model.initial_carry(batch)
    carry, out = model(carry, batch)
    assert set(out) == {"logits"} and out["logits"].shape == (3, 16, 6)
    assert carry.state == {} and bool(carry.halted.all())  # every row is done after one pass
    calls = record_grad_mode(model.core.blocks)
    model(carry, batch)
    assert calls == [True]


def test_outer_loop_carries_state_and_trains_q_continue():
    torch.manual_seed(0)
    model = Transformer(tiny(halt_max_steps=4)).train()
    assert model.has_halting_head and model.max_segments == 4
    batch = batch_for(model.config)
    calls = record_grad_mode(model.core.blocks)
    carry, out = model(model.initial_carry(batch), batch)
    assert calls == [True, False]  # the segment, then the no-grad segment for the Q-continue target
    assert carry.state["z_H"].shape == (3, 17, 16) and not carry.state["z_H"].requires_grad
    assert out["target_q_continue"].shape == (3,)
    # the state is carried: the second segment's logits differ from a fresh first segment's
    carry2, out2 = model(carry, batch)
    assert not torch.allclose(out2["logits"], out["logits"])


def test_fixed_segments_without_act():
    torch.manual_seed(0)
    model = Transformer(tiny(halt_max_steps=3, act=False, halt_exploration_prob=0.0)).train()
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([5.0, -5.0]))  # would halt at once under ACT
    batch = batch_for(model.config)
    carry = model.initial_carry(batch)
    halted = []
    for _ in range(3):
        carry, _ = model(carry, batch)
        halted.append(bool(carry.halted.all()))
    assert halted == [False, False, True]


def test_memory_is_one_pass():
    def saved(layers):
        model = Transformer(tiny(num_layers=layers)).train()
        batch = batch_for(model.config)
        carry = model.initial_carry(batch)
        return saved_activation_bytes(lambda: model(carry, batch))

    assert saved(4) == pytest.approx(2 * saved(2), rel=0.05)  # grows with depth, nothing else


def test_deterministic_and_round_trip():
    def run():
        torch.manual_seed(1)
        model = Transformer(tiny(halt_max_steps=2)).train()
        batch = batch_for(model.config)
        _, out = model(model.initial_carry(batch), batch)
        return out["logits"].detach()

    torch.testing.assert_close(run(), run(), rtol=0, atol=0)
    cfg = tiny(pos_encodings="learned")
    assert TransformerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="num_layers"):
        tiny(num_layers=0)
