"""HRM's ablation keys: gradient window, flat (no hierarchy), fixed segments without ACT."""

from __future__ import annotations

import pytest
import torch

from hrm.model import HRM
from tests.conftest import tiny_batch, tiny_config
from tests.model.zoo_helpers import saved_activation_bytes


def _calls(model: HRM) -> list[tuple[str, bool]]:
    calls = []
    for name, module in (("L", model.core.low_level), ("H", model.core.high_level)):
        module.register_forward_hook(lambda m, i, o, n=name: calls.append((n, torch.is_grad_enabled())))
    return calls


@pytest.mark.parametrize("window", [1, 2, 3, 6])
def test_grad_window_counts_calls_from_the_end(window):
    model = HRM(tiny_config(high_cycles=2, low_cycles=2, grad_window=window)).train()
    calls = _calls(model)
    batch = tiny_batch(model.config)
    model.core(*model.core.initial_states(4), batch["inputs"], batch["puzzle_identifiers"])
    assert [c for c, _ in calls] == ["L", "L", "H", "L", "L", "H"]
    assert [g for _, g in calls] == [False] * (6 - window) + [True] * window


def test_grad_window_memory_grows_only_when_asked():
    def saved(window, T=2):
        torch.manual_seed(0)
        model = HRM(tiny_config(high_cycles=2, low_cycles=T, grad_window=window)).train()
        batch = tiny_batch(model.config)
        state = model.core.initial_states(4)
        return saved_activation_bytes(lambda: model.core(*state, batch["inputs"], batch["puzzle_identifiers"]))

    assert saved(2, T=2) == saved(2, T=5)  # the 1-step gradient: flat in T
    assert saved(6) > 2.5 * saved(2)  # full backprop through the segment keeps every call
    with pytest.raises(ValueError, match="grad_window"):
        tiny_config(high_cycles=2, low_cycles=2, grad_window=7)


def test_flat_has_one_state_and_the_same_compute():
    torch.manual_seed(0)
    model = HRM(tiny_config(flat=True)).eval()
    calls = _calls(model)
    batch = tiny_batch(model.config)
    z_H, z_L = model.core.initial_states(4)
    out = model.core(z_H, z_L, batch["inputs"], batch["puzzle_identifiers"])
    assert [c for c, _ in calls] == ["L", "L", "H", "L", "L", "H"]
    torch.testing.assert_close(out.z_L, z_L)  # unused: the hierarchy is gone
    assert not torch.allclose(out.z_H, z_H)
    torch.manual_seed(0)
    two_level = HRM(tiny_config())
    assert two_level.num_parameters() == model.num_parameters()
    assert two_level.flops_per_segment(4) == model.flops_per_segment(4)


def test_act_off_runs_every_segment_in_training():
    torch.manual_seed(0)
    model = HRM(tiny_config(act=False, halt_max_steps=3, halt_exploration_prob=0.0)).train()
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([5.0, -5.0]))  # would halt at once with ACT
    batch = tiny_batch(model.config)
    carry = model.initial_carry(batch)
    halted = []
    for _ in range(3):
        carry, out = model(carry, batch)
        halted.append(bool(carry.halted.all()))
        assert "target_q_continue" not in out
    assert halted == [False, False, True]
