"""Looped Transformer: the gradient window decides which calls are in the graph and how memory grows."""

from __future__ import annotations

import pytest
import torch

from hrm.model.looped import Looped, LoopedConfig
from tests.model.zoo_helpers import batch_for, record_grad_mode, saved_activation_bytes


def tiny(**over) -> LoopedConfig:
    base = dict(
        vocab_size=6,
        seq_len=16,
        num_puzzle_identifiers=3,
        hidden_size=16,
        num_heads=2,
        num_layers=1,
        loops=4,
        grad_window=1,
        halt_max_steps=1,
    )
    base.update(over)
    return LoopedConfig(**base)


@pytest.mark.parametrize("loops, window, expected", [(4, 1, 1), (4, 3, 3), (4, 0, 4), (2, 2, 2)])
def test_gradient_window(loops, window, expected):
    model = Looped(tiny(loops=loops, grad_window=window)).train()
    calls = record_grad_mode(model.core.blocks)
    batch = batch_for(model.config)
    _, out = model(model.initial_carry(batch), batch)
    assert calls == [False] * (loops - expected) + [True] * expected
    out["logits"].sum().backward()
    assert model.core.embed.embed_tokens.weight.grad is not None  # input injection reaches the embedding


def test_memory_flat_in_loops_with_a_window_and_growing_without():
    def saved(loops, window):
        torch.manual_seed(0)
        model = Looped(tiny(loops=loops, grad_window=window)).train()
        batch = batch_for(model.config)
        carry = model.initial_carry(batch)
        return saved_activation_bytes(lambda: model(carry, batch))

    assert saved(8, 1) == saved(2, 1)  # flat in K with a fixed window
    assert saved(8, 0) > 3 * saved(2, 0)  # full backprop grows with K


def test_deep_supervision_carries_state():
    torch.manual_seed(0)
    model = Looped(tiny(halt_max_steps=3, halt_exploration_prob=0.0)).train()
    assert model.has_halting_head and model.max_segments == 3
    batch = batch_for(model.config)
    carry, out = model(model.initial_carry(batch), batch)
    assert out["q_halt_logits"].shape == (3,) and "target_q_continue" in out
    assert not bool(carry.halted.any())  # the Q-head starts at q_halt = q_continue = -5: no early halt
    assert carry.state["z"].shape == (3, 17, 16)
    single = Looped(tiny())
    _, out = single(single.initial_carry(batch), batch)
    assert set(out) == {"logits"}


def test_deterministic_and_validation():
    def run():
        torch.manual_seed(2)
        model = Looped(tiny(halt_max_steps=2)).train()
        batch = batch_for(model.config)
        _, out = model(model.initial_carry(batch), batch)
        return out["logits"].detach()

    torch.testing.assert_close(run(), run(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="grad_window"):
        tiny(loops=2, grad_window=3)
    assert LoopedConfig.from_dict(tiny().to_dict()) == tiny()
    assert Looped(tiny()).flops_per_segment(1) < Looped(tiny(loops=8)).flops_per_segment(1)
