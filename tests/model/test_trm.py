"""TRM: parameter counts of the paper's configs, shapes, gradient window, activation memory, halting, determinism."""

from __future__ import annotations

import pytest
import torch

from hrm.model.trm import TRM, TRMConfig
from tests.model.zoo_helpers import batch_for, record_grad_mode, saved_activation_bytes


def tiny(**over) -> TRMConfig:
    base = dict(
        vocab_size=6,
        seq_len=16,
        num_puzzle_identifiers=3,
        hidden_size=16,
        num_heads=2,
        num_layers=2,
        high_cycles=2,
        low_cycles=2,
        halt_max_steps=3,
        puzzle_emb_len=2,
    )
    base.update(over)
    return TRMConfig(**base)


@pytest.mark.parametrize("mlp_t, pos, expected", [(False, "rope", 6_828_034), (True, "none", 5_028_866)])
def test_paper_sudoku_trunk_parameters(mlp_t, pos, expected):
    """The TRM paper's "7M" (attention) and "5M" (MLP-mixer) Sudoku models; puzzle embeddings are excluded."""
    config = TRMConfig(vocab_size=11, seq_len=81, num_puzzle_identifiers=1, mlp_t=mlp_t, pos_encodings=pos)
    with torch.device("meta"):
        model = TRM(config)
    counts = model.num_parameters()
    assert counts["trunk"] == expected
    assert counts["puzzle_embedding"] == 512 and counts["total"] == expected + 512


@pytest.mark.parametrize("mlp_t", [False, True])
def test_shapes_and_detached_state(mlp_t):
    torch.manual_seed(0)
    config = tiny(mlp_t=mlp_t, pos_encodings="none" if mlp_t else "rope")
    model = TRM(config).train()
    batch = batch_for(config)
    carry = model.initial_carry(batch)
    carry, out = model(carry, batch)
    assert out["logits"].shape == (3, 16, 6)
    assert out["q_halt_logits"].shape == (3,) and out["q_halt_logits"].dtype == torch.float32
    assert "target_q_continue" not in out  # no_ACT_continue is the default
    assert carry.state["z_H"].shape == (3, 18, 16) and not carry.state["z_H"].requires_grad
    out["logits"].sum().backward()
    assert model.core.net.layers[0].mlp.down_proj.weight.grad is not None


@pytest.mark.parametrize("T, n", [(3, 2), (2, 4), (1, 3)])
def test_gradient_window_is_the_whole_last_recursion(T, n):
    model = TRM(tiny(high_cycles=T, low_cycles=n)).train()
    calls = record_grad_mode(model.core.net)
    batch = batch_for(model.config)
    model(model.initial_carry(batch), batch)
    assert calls == [False] * ((T - 1) * (n + 1)) + [True] * (n + 1)


def test_activation_memory_grows_with_low_cycles_but_not_high_cycles():
    def saved(T, n):
        torch.manual_seed(0)
        model = TRM(tiny(high_cycles=T, low_cycles=n)).train()
        batch = batch_for(model.config)
        carry = model.initial_carry(batch)
        return saved_activation_bytes(lambda: model(carry, batch))

    base = saved(2, 2)
    assert saved(2, 4) > 1.5 * base  # full backprop through n + 1 calls: memory grows with n
    assert saved(4, 2) == base  # the T − 1 no-grad recursions keep nothing


def test_halting_rule_and_continue_target():
    torch.manual_seed(0)
    model = TRM(tiny(halt_exploration_prob=0.0)).train()
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([1.0, 5.0]))  # q_halt > 0 although q_continue is larger
    batch = batch_for(model.config)
    carry, out = model(model.initial_carry(batch), batch)
    assert bool(carry.halted.all())  # TRM halts on q_halt > 0
    model_q = TRM(tiny(halt_exploration_prob=0.0, train_q_continue=True)).train()
    with torch.no_grad():
        model_q.core.q_head.bias.copy_(torch.tensor([1.0, 5.0]))
    carry, out = model_q(model_q.initial_carry(batch), batch)
    assert not bool(carry.halted.any())  # HRM's rule: q_halt > q_continue
    assert out["target_q_continue"].shape == (3,)
    model.eval()
    carry = model.initial_carry(batch)
    for _ in range(2):
        carry, _ = model(carry, batch)
        assert not bool(carry.halted.any())  # eval: always halt_max_steps segments


def test_deterministic_given_seed():
    def run():
        torch.manual_seed(3)
        model = TRM(tiny()).train()
        batch = batch_for(model.config)
        carry = model.initial_carry(batch)
        outs = []
        for _ in range(3):
            carry, out = model(carry, batch)
            outs.append(out["logits"].detach())
        return torch.stack(outs)

    torch.testing.assert_close(run(), run(), rtol=0, atol=0)


def test_config_validation_and_round_trip():
    cfg = tiny(puzzle_emb_len=0, puzzle_emb_ndim=40)
    assert cfg.puzzle_emb_len_resolved == 3 and cfg.puzzle_emb_len == 3  # stored resolved
    assert TRMConfig.from_dict(cfg.to_dict()) == cfg
    assert tiny(puzzle_emb_ndim=0).puzzle_emb_len_resolved == 0
    with pytest.raises(ValueError, match="does not fit"):
        tiny(puzzle_emb_ndim=64, puzzle_emb_len=2)
    with pytest.raises(ValueError, match="pos_encodings"):
        tiny(pos_encodings="alibi")
    with pytest.raises(ValueError, match="unknown TRMConfig keys"):
        TRMConfig.from_dict({**cfg.to_dict(), "H_layers": 2})


def test_flops_per_segment_counts_every_call():
    model = TRM(tiny())
    one = model.flops_per_segment(1)
    assert model.flops_per_segment(4) == 4 * one
    deeper = TRM(tiny(low_cycles=5))
    assert deeper.flops_per_segment(1) > one
