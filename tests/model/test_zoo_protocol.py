"""Every zoo family implements the model protocol: registry, one segment loop, early exit, FLOP counts."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hrm.model import ReasoningModel, SegmentOutput, build_model, family_spec
from hrm.model.looped import LoopedConfig
from hrm.model.recurrent import GRUConfig, LSTMConfig
from hrm.model.transformer import TransformerConfig
from hrm.model.trm import TRMConfig
from tests.model.zoo_helpers import batch_for

DATA = dict(vocab_size=6, seq_len=16, num_puzzle_identifiers=3)
CONFIGS = {
    "trm": TRMConfig(
        **DATA, hidden_size=16, num_heads=2, high_cycles=2, low_cycles=2, halt_max_steps=3, puzzle_emb_len=2
    ),
    "trm-mlp": TRMConfig(
        **DATA, hidden_size=16, num_heads=2, halt_max_steps=3, puzzle_emb_len=2, mlp_t=True, pos_encodings="none"
    ),
    "transformer": TransformerConfig(**DATA, hidden_size=16, num_heads=2, num_layers=2),
    "transformer-outer": TransformerConfig(**DATA, hidden_size=16, num_heads=2, num_layers=2, halt_max_steps=3),
    "looped": LoopedConfig(**DATA, hidden_size=16, num_heads=2, num_layers=1, loops=3, halt_max_steps=3),
    "gru": GRUConfig(**DATA, hidden_size=16),
    "lstm": LSTMConfig(**DATA, hidden_size=16),
}


def _model(key: str):
    torch.manual_seed(0)
    config = CONFIGS[key]
    model = build_model(config.family, config.to_dict()).eval()
    if model.has_halting_head:
        with torch.no_grad():  # a Q head that halts some rows early and not others
            model.core.q_head.weight.normal_(0.0, 1.0)
            model.core.q_head.bias.zero_()
    return model


@pytest.mark.parametrize("key", list(CONFIGS))
def test_family_implements_the_protocol(key):
    model = _model(key)
    assert isinstance(model, ReasoningModel)
    assert family_spec(model.family).model_cls is type(model)
    assert type(model.config).from_dict(model.config.to_dict()) == model.config
    batch = batch_for(model.config)
    out = model.segment(
        model.initial_state(batch["inputs"], batch["puzzle_identifiers"]), batch["inputs"], batch["puzzle_identifiers"]
    )
    assert isinstance(out, SegmentOutput) and out.logits.shape == (3, 16, 6)
    assert (out.q_halt_logits is not None) == model.has_halting_head
    assert all(not v.requires_grad for v in out.state.values())


@pytest.mark.parametrize("key", list(CONFIGS))
def test_trace_matches_the_training_carry_in_eval_mode(key):
    """run_segments (inference) and forward(carry) (training, eval mode) run the same segments."""
    model = _model(key)
    batch = batch_for(model.config)
    trace = model.trace(batch["inputs"], batch["puzzle_identifiers"], return_states=True)
    assert len(trace) == model.max_segments
    carry = model.initial_carry(batch)
    with torch.no_grad():
        for seg in trace:
            carry, out = model(carry, batch)
            torch.testing.assert_close(seg["logits"], out["logits"].float())
            for name, value in carry.state.items():
                torch.testing.assert_close(seg[name], value)


@pytest.mark.parametrize("key", ["trm", "transformer-outer", "looped"])
def test_early_exit_uses_the_family_rule(key):
    model = _model(key)
    batch = batch_for(model.config, batch_size=8)
    trace = model.trace(batch["inputs"], batch["puzzle_identifiers"])
    pred = model.predict(batch["inputs"], batch["puzzle_identifiers"])
    for row in range(8):
        used = next(
            (i + 1 for i, s in enumerate(trace) if bool(model.halts(s["q_halt_logits"], s["q_continue_logits"])[row])),
            len(trace),
        )
        assert int(pred["segments"][row]) == used
        torch.testing.assert_close(pred["logits"][row], trace[used - 1]["logits"][row])


def test_trm_halts_on_positive_q_halt_only():
    model = _model("trm")
    q_halt = torch.tensor([0.5, -0.5, 0.5])
    q_continue = torch.tensor([1.0, -1.0, 0.0])
    assert model.halts(q_halt, q_continue).tolist() == [True, False, True]


@pytest.mark.parametrize("key", ["trm", "trm-mlp", "transformer", "transformer-outer", "looped"])
def test_flops_per_segment_counts_every_matmul(key):
    model = _model(key)
    cfg = model.config
    batch = batch_for(cfg, batch_size=4)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.segment(
            model.initial_state(batch["inputs"], batch["puzzle_identifiers"]),
            batch["inputs"],
            batch["puzzle_identifiers"],
        )
    counted = counter.get_total_flops()
    assert model.flops_per_segment(8) == 2 * model.flops_per_segment(4)
    if key == "trm-mlp":
        assert model.flops_per_segment(4) == counted  # no attention at all
        return
    if key == "trm":
        calls = cfg.high_cycles * (cfg.low_cycles + 1) * cfg.num_layers
    elif key == "looped":
        calls = cfg.loops * cfg.num_layers
    else:
        calls = cfg.num_layers
    length = cfg.total_len
    attention = calls * 4 * 4 * length**2 * cfg.hidden_size  # SDPA's QKᵀ and AV, invisible to the CPU counter
    assert model.flops_per_segment(4) in (counted + attention, counted)


@pytest.mark.parametrize("key", ["gru", "lstm"])
def test_recurrent_flops_match_the_gate_matmuls(key):
    model = _model(key)
    cfg = model.config
    L, u, g = cfg.total_len, cfg.units, cfg.gates
    per_dir = 2 * L * (cfg.hidden_size * g * u + u * g * u) + 2 * L * (2 * u * g * u + u * g * u)
    assert model.flops_per_segment(1) == 2 * per_dir + 2 * L * 2 * u * cfg.vocab_size


def test_inputs_are_checked():
    model = _model("trm-mlp")
    with pytest.raises(ValueError, match="seq_len=16"):
        model.predict(torch.zeros(2, 12, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="input tokens"):
        model.predict(torch.full((2, 16), 9), torch.zeros(2, dtype=torch.long))
