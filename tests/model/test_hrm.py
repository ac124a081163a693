"""Semantics of one segment (call order, 1-step gradient, O(1) memory) and of the ACT carry."""

from __future__ import annotations

import pytest
import torch

from hrm.model import HRM, act_loss
from hrm.model.common import BlockStack
from hrm.model.layers import TransformerBlock
from tests.conftest import tiny_batch, tiny_config


def _record_calls(model: HRM):
    calls = []
    for name, module in (("L", model.core.low_level), ("H", model.core.high_level)):
        module.register_forward_hook(lambda m, i, o, n=name: calls.append((n, torch.is_grad_enabled())))
    return calls


@pytest.mark.parametrize("N, T", [(2, 2), (3, 2), (1, 3), (2, 1)])
def test_call_order_and_grad_window(N, T):
    torch.manual_seed(0)
    model = HRM(tiny_config(high_cycles=N, low_cycles=T)).train()
    calls = _record_calls(model)
    batch = tiny_batch(model.config)
    model.core(*model.core.initial_states(4), batch["inputs"], batch["puzzle_identifiers"])
    expected = []
    for cycle in range(N):
        for step in range(T):
            if not (cycle == N - 1 and step == T - 1):
                expected.append(("L", False))
        if cycle != N - 1:
            expected.append(("H", False))
    expected += [("L", True), ("H", True)]
    assert calls == expected
    if (N, T) == (2, 2):
        assert [c for c, _ in calls] == ["L", "L", "H", "L", "L", "H"]


def _graph_nodes(tensor: torch.Tensor) -> list[str]:
    seen, stack, names = set(), [tensor.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.append(type(fn).__name__)
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return names


def _attention_nodes(model, N, T):
    batch = tiny_batch(model.config)
    out = model.core(*model.core.initial_states(4), batch["inputs"], batch["puzzle_identifiers"])
    names = _graph_nodes(out.logits.sum() + out.q_halt_logits.sum())
    attention = sum(any(k in n for k in ("ScaledDotProduct", "Efficient", "Flash", "Math")) for n in names)
    return attention, len(names)


def test_gradient_graph_holds_only_final_low_and_high_calls():
    torch.manual_seed(0)
    cfg = tiny_config(high_layers=2, low_layers=3)
    model = HRM(cfg).train()
    attn_small, nodes_small = _attention_nodes(model, 2, 2)
    assert attn_small == cfg.low_layers + cfg.high_layers  # one attention per block of the last f_L and f_H
    big = HRM(tiny_config(high_layers=2, low_layers=3, high_cycles=5, low_cycles=5)).train()
    attn_big, nodes_big = _attention_nodes(big, 5, 5)
    assert attn_big == attn_small and nodes_big == nodes_small  # graph size independent of N×T


def test_gradients_reach_embeddings_and_both_modules_but_not_inits():
    torch.manual_seed(0)
    model = HRM(tiny_config()).train()
    batch = tiny_batch(model.config)
    carry = model.initial_carry(batch)
    carry, out = model(carry, batch)
    loss, _ = act_loss(out, carry.current_data["labels"], carry.halted, carry.steps)
    loss.backward()
    core = model.core
    for p in (
        core.embed.embed_tokens.weight,
        core.low_level.layers[0].mlp.down_proj.weight,
        core.high_level.layers[0].self_attn.qkv_proj.weight,
        core.lm_head.weight,
        core.q_head.bias,
    ):
        assert p.grad is not None and p.grad.abs().sum() > 0
    pending = core.embed.puzzle_emb.pop_pending()
    assert len(pending) == 1  # only the grad-enabled segment records rows, not the target-Q segment
    ids, rows = pending[0]
    assert rows.grad is not None and rows.grad.abs().sum() > 0
    assert not core.z_H_init.requires_grad and not core.z_L_init.requires_grad


def test_saved_activation_memory_constant_in_cycles():
    def saved_bytes(N, T):
        torch.manual_seed(0)
        model = HRM(tiny_config(high_cycles=N, low_cycles=T)).train()
        batch = tiny_batch(model.config)
        total = [0]

        def pack(t):
            total[0] += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.core(*model.core.initial_states(4), batch["inputs"], batch["puzzle_identifiers"])
        return total[0]

    assert saved_bytes(2, 2) == saved_bytes(8, 8)


def test_q_head_init_and_initial_states():
    model = HRM(tiny_config())
    assert torch.count_nonzero(model.core.q_head.weight) == 0
    assert torch.all(model.core.q_head.bias == -5)
    assert torch.count_nonzero(model.core.embed.puzzle_emb.weight) == 0
    z_H, z_L = model.core.initial_states(2)
    assert torch.equal(z_H[1, 3], model.core.z_H_init) and torch.equal(z_L[0, 0], model.core.z_L_init)


def test_carry_refill_keeps_running_rows_and_discards_their_new_sample():
    torch.manual_seed(0)
    model = HRM(tiny_config(halt_max_steps=3)).eval()
    first, second = tiny_batch(model.config, seed=1), tiny_batch(model.config, seed=2)
    carry = model.initial_carry(first)
    carry, _ = model(carry, first)
    assert torch.equal(carry.current_data["inputs"], first["inputs"]) and torch.all(carry.steps == 1)
    # Pretend rows 1 and 3 halted: they are reset and take the new batch's rows; rows 0 and 2 keep their data.
    carry.halted = torch.tensor([False, True, False, True])
    z_H_before = carry.state["z_H"].clone()
    carry, _ = model(carry, second)
    assert torch.equal(carry.current_data["inputs"][[0, 2]], first["inputs"][[0, 2]])
    assert torch.equal(carry.current_data["inputs"][[1, 3]], second["inputs"][[1, 3]])
    assert torch.equal(carry.current_data["labels"][[1, 3]], second["labels"][[1, 3]])
    assert carry.steps.tolist() == [2, 1, 2, 1]
    # A refilled row starts from the initial state: same result as a fresh carry on the new batch.
    fresh, _ = model(model.initial_carry(second), second)
    torch.testing.assert_close(carry.state["z_H"][[1, 3]], fresh.state["z_H"][[1, 3]])
    assert not torch.allclose(carry.state["z_H"][[0, 2]], fresh.state["z_H"][[0, 2]])
    assert not torch.equal(z_H_before, carry.state["z_H"])


def test_eval_mode_runs_exactly_max_segments():
    torch.manual_seed(0)
    model = HRM(tiny_config(halt_max_steps=4)).eval()
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([5.0, -5.0]))  # Q says "halt now" everywhere
    batch = tiny_batch(model.config)
    carry = model.initial_carry(batch)
    for step in range(1, 5):
        carry, out = model(carry, batch)
        assert "target_q_continue" not in out
        assert carry.halted.all().item() == (step == 4)


def test_training_halting_exploration_statistics():
    torch.manual_seed(0)
    M, eps = 6, 0.4
    model = HRM(tiny_config(halt_max_steps=M, halt_exploration_prob=eps)).train()
    with torch.no_grad():
        model.core.q_head.bias.copy_(torch.tensor([5.0, -5.0]))  # always wants to halt
    B = 4000
    batch = tiny_batch(model.config, batch_size=B)
    carry = model.initial_carry(batch)
    halt_step = torch.zeros(B, dtype=torch.long)
    with torch.no_grad():
        for step in range(1, M + 1):
            carry, _ = model(carry, batch)
            newly = carry.halted & (halt_step == 0)
            halt_step[newly] = step
            carry.halted = carry.halted & False  # keep every row on its sample to observe its halting step
    frac_first = (halt_step == 1).float().mean().item()
    assert abs(frac_first - (1 - eps)) < 0.03
    # M_min is redrawn on every call (as in the reference): a row still running at step s halts with
    # probability (1 − ε) + ε·P(M_min ≤ s) = (1 − ε) + ε·(s − 1)/(M − 1), and surely at M.
    for s in range(2, M + 1):
        at_risk = (halt_step == 0) | (halt_step >= s)
        hazard = ((halt_step == s) & at_risk).sum().item() / at_risk.sum().item()
        expected = 1.0 if s == M else (1 - eps) + eps * (s - 1) / (M - 1)
        tolerance = 0.0 if s == M else 4 * (expected * (1 - expected) / at_risk.sum().item()) ** 0.5 + 0.01
        assert abs(hazard - expected) <= tolerance, (s, hazard, expected)
    assert int(halt_step.min()) >= 1 and int(halt_step.max()) <= M


def test_no_early_halting_when_single_segment_or_continue_preferred():
    torch.manual_seed(0)
    model = HRM(tiny_config(halt_max_steps=3, halt_exploration_prob=0.0)).train()
    batch = tiny_batch(model.config)
    carry = model.initial_carry(batch)
    carry, _ = model(carry, batch)  # q_halt == q_continue at init (both bias −5): strict > means no halt
    assert not carry.halted.any()


def test_target_q_formula_uses_next_segment_from_new_carry():
    torch.manual_seed(0)
    model = HRM(tiny_config(halt_max_steps=2, halt_exploration_prob=0.0)).train()
    with torch.no_grad():
        model.core.q_head.weight.normal_(0, 0.5)
        model.core.q_head.bias.zero_()
    batch = tiny_batch(model.config)
    carry = model.initial_carry(batch)
    for _ in range(2):
        carry.halted = torch.zeros_like(carry.halted) if _ else carry.halted
        carry, out = model(carry, batch)
        with torch.no_grad():
            nxt = model.core(
                carry.state["z_H"],
                carry.state["z_L"],
                carry.current_data["inputs"],
                carry.current_data["puzzle_identifiers"],
            )
            nh, nc = nxt.q_halt_logits, nxt.q_continue_logits
        is_last = carry.steps >= 2
        expected = torch.sigmoid(torch.where(is_last, nh, torch.maximum(nh, nc)))
        torch.testing.assert_close(out["target_q_continue"], expected)
    assert torch.all(carry.steps == 2)


def test_predict_early_exit_per_row():
    torch.manual_seed(0)
    model = HRM(tiny_config(halt_max_steps=5)).eval()
    batch = tiny_batch(model.config, batch_size=3)
    full = model.predict(batch["inputs"], batch["puzzle_identifiers"], early_exit=False)
    assert full["segments"].tolist() == [5, 5, 5]
    trace = model.trace(batch["inputs"], batch["puzzle_identifiers"], 5)
    torch.testing.assert_close(full["logits"], trace[-1]["logits"])
    # Make row 1 halt after its first segment: q_halt depends on the puzzle ID's prefix vector (position 0).
    ids = torch.tensor([0, 1, 0])
    with torch.no_grad():
        model.core.q_head.weight.zero_()
        model.core.q_head.weight[0, 0] = 1.0  # q_halt reads feature 0 of z_H at position 0
        model.core.q_head.bias.zero_()
    trace = model.trace(batch["inputs"], ids, 5)
    halts = torch.stack([(t["q_halt_logits"] > t["q_continue_logits"]) for t in trace], dim=1)  # [B, 5]
    first = torch.where(halts.any(1), halts.float().argmax(1) + 1, torch.tensor(5))
    out = model.predict(batch["inputs"], ids, max_segments=5)
    assert out["segments"].tolist() == first.tolist()
    for row, seg in enumerate(first.tolist()):
        torch.testing.assert_close(out["logits"][row], trace[seg - 1]["logits"][row])


def test_trace_is_deterministic_and_accepts_numpy():
    torch.manual_seed(0)
    model = HRM(tiny_config()).eval()
    batch = tiny_batch(model.config)
    a = model.trace(batch["inputs"], batch["puzzle_identifiers"], 3)
    b = model.trace(batch["inputs"].numpy(), batch["puzzle_identifiers"].numpy(), 3)
    assert len(a) == 3 and a[0]["logits"].shape == (4, 16, 7) and a[0]["logits"].dtype == torch.float32
    for x, y in zip(a, b):
        assert torch.equal(x["logits"], y["logits"]) and torch.equal(x["q_halt_logits"], y["q_halt_logits"])


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(inputs=torch.zeros(2, 16, 1, dtype=torch.long)), "inputs must be"),
        (dict(inputs=torch.full((2, 16), 7)), "input tokens must be in"),
        (dict(ids=torch.tensor([0, 5])), "puzzle_identifiers must be in"),
        (dict(ids=torch.tensor([0])), "puzzle_identifiers must be"),
        (dict(inputs=torch.zeros(2, 16)), "integer"),
    ],
)
def test_trace_rejects_bad_inputs(bad, message):
    model = HRM(tiny_config()).eval()
    inputs = bad.get("inputs", torch.zeros(2, 16, dtype=torch.long))
    ids = bad.get("ids", torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=message):
        model.trace(inputs, ids, 1)


def test_learned_positions_and_multi_token_prefix_shapes():
    torch.manual_seed(0)
    model = HRM(tiny_config(pos_encodings="learned", puzzle_emb_ndim=40)).eval()  # 40 > 32 → 2 prefix tokens
    assert model.config.puzzle_emb_len == 2
    batch = tiny_batch(model.config)
    out = model.trace(batch["inputs"], batch["puzzle_identifiers"], 2, return_states=True)
    assert out[0]["logits"].shape == (4, 16, 7) and out[0]["z_H"].shape == (4, 18, 32)


def test_reasoning_module_adds_injection_once():
    torch.manual_seed(0)
    module = BlockStack([TransformerBlock(16, 2, 2.0, 1e-5)])
    state, inj = torch.randn(1, 3, 16), torch.randn(1, 3, 16)
    torch.testing.assert_close(module(state, inj, None), module.layers[0](state + inj, None))
