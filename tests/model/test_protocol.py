"""The model protocol: HRM implements it, the one segment loop agrees with a hand-written loop over HRMCore, the
registry builds families by name, and FLOPs per segment match a count of the matmuls."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hrm.model import (
    HRM,
    FamilySpec,
    HRMConfig,
    ReasoningModel,
    SegmentOutput,
    build_model,
    family_spec,
    register_family,
)
from hrm.model.registry import FAMILIES
from tests.conftest import tiny_batch, tiny_config


def _model(**kw) -> HRM:
    torch.manual_seed(0)
    model = HRM(tiny_config(**kw)).eval()
    with torch.no_grad():  # a Q head that halts some rows early and not others
        model.core.q_head.weight.normal_(0.0, 1.0)
        model.core.q_head.bias.zero_()
    return model


def _by_hand(model: HRM, inputs, pids, max_segments: int, early_exit: bool):
    """Each row on its own, segment after segment, straight from HRMCore: (logits, q_halt, q_continue, segments)."""
    rows = []
    for i in range(inputs.shape[0]):
        x, p = inputs[i : i + 1], pids[i : i + 1]
        z_H, z_L = model.core.initial_states(1, seq_len=x.shape[1])
        for seg in range(1, max_segments + 1):
            with torch.no_grad():
                out = model.core(z_H, z_L, x, p)
            z_H, z_L, used = out.z_H, out.z_L, seg
            if early_exit and bool(out.q_halt_logits[0] > out.q_continue_logits[0]):
                break
        rows.append((out.logits[0].double(), out.q_halt_logits[0], out.q_continue_logits[0], used))
    return rows


def test_hrm_implements_the_protocol():
    model = _model()
    assert isinstance(model, ReasoningModel)
    assert model.family == "hrm" and model.max_segments == model.config.halt_max_steps and model.has_halting_head
    batch = tiny_batch(model.config)
    state = model.initial_state(batch["inputs"], batch["puzzle_identifiers"])
    assert set(state) == {"z_H", "z_L"}
    out = model.segment(state, batch["inputs"], batch["puzzle_identifiers"])
    assert isinstance(out, SegmentOutput) and out.logits.shape == (4, 16, 7)
    assert out.q_halt_logits.dtype == torch.float32 and out.q_halt_logits.shape == (4,)
    assert not out.z_H.requires_grad and out.z_H is out.state["z_H"]


@pytest.mark.parametrize("early_exit", [False, True])
def test_predict_and_run_segments_match_a_hand_written_loop(early_exit):
    # float64: one row at a time and eight at a time may pick different fp32 kernels on some CPUs, and a halting
    # decision q_halt > q_continue near a tie would then flip with the CPU.
    model = _model().double()
    model.forward_dtype = torch.float64
    batch = tiny_batch(model.config, batch_size=8, seed=3)
    inputs, pids = batch["inputs"], batch["puzzle_identifiers"]
    expected = _by_hand(model, inputs, pids, 4, early_exit)
    out = model.predict(inputs, pids, max_segments=4, early_exit=early_exit)
    for i, (logits, qh, qc, seg) in enumerate(expected):
        assert out["logits"].dtype == torch.float64
        torch.testing.assert_close(out["logits"][i], logits, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(out["q_halt_logits"][i], qh, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(out["q_continue_logits"][i], qc, atol=1e-10, rtol=1e-10)
        assert int(out["segments"][i]) == seg
    segments = [seg for *_, seg in expected]
    if early_exit:
        assert min(segments) < 4, "the test needs a row that exits early"
    else:
        assert segments == [4] * 8


def test_segment_steps():
    model = _model()
    batch = tiny_batch(model.config, batch_size=8, seed=3)
    steps = list(
        model.run_segments(batch["inputs"], batch["puzzle_identifiers"], 4, early_exit=True, return_states=True)
    )
    first = steps[0].logits.clone()
    running = torch.ones(8, dtype=torch.bool)
    for step in steps:
        assert step.active.dtype == torch.bool and torch.equal(step.active, running)
        assert step.segments.dtype == torch.int64 and torch.all(step.segments[step.active] == step.segment)
        assert set(step.state) == {"z_H", "z_L"} and step.state["z_H"].shape[0] == 8
        running = running & ~(step.q_halt_logits > step.q_continue_logits)
    assert torch.equal(steps[0].logits, first), "later segments must not overwrite an earlier step's tensors"
    assert len(steps) < 4 or not bool(steps[-1].active.all())
    # trace is run_segments without early exit, in today's dict form.
    trace = model.trace(batch["inputs"], batch["puzzle_identifiers"], 2, return_states=True)
    assert [sorted(t) for t in trace] == [["logits", "q_continue_logits", "q_halt_logits", "z_H", "z_L"]] * 2
    torch.testing.assert_close(trace[0]["logits"], steps[0].logits)


def test_max_segments_must_be_positive():
    model = _model()
    batch = tiny_batch(model.config)
    with pytest.raises(ValueError, match="max_segments"):
        model.predict(batch["inputs"], batch["puzzle_identifiers"], max_segments=0)


def test_registry():
    spec = family_spec("hrm")
    assert (spec.name, spec.config_cls, spec.model_cls, spec.config_section) == ("hrm", HRMConfig, HRM, "arch")
    config = tiny_config()
    assert isinstance(build_model("hrm", config), HRM)
    assert build_model("hrm", config.to_dict()).config == config
    with pytest.raises(ValueError, match="known families: .*hrm"):
        family_spec("nope")
    with pytest.raises(TypeError, match="HRMConfig"):
        build_model("hrm", object())

    class Other(HRM):
        family = "other-test"

    try:
        register_family(FamilySpec("other-test", HRMConfig, Other))
        assert type(build_model("other-test", config)) is Other
    finally:
        FAMILIES.pop("other-test", None)


@pytest.mark.parametrize("kw", [{}, {"pos_encodings": "learned"}, {"puzzle_emb_ndim": 64}])
def test_flops_per_segment_counts_every_matmul(kw):
    model = _model(**kw)
    cfg = model.config
    batch = tiny_batch(cfg)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.segment(
            model.initial_state(batch["inputs"], batch["puzzle_identifiers"]),
            batch["inputs"],
            batch["puzzle_identifiers"],
        )
    # The counter sees the projections and heads; on CPU it does not see SDPA's QKᵀ and AV, added here.
    calls = cfg.high_cycles * cfg.low_cycles * cfg.low_layers + cfg.high_cycles * cfg.high_layers
    attention = calls * 4 * 4 * cfg.total_len**2 * cfg.hidden_size
    assert model.flops_per_segment(8) == 2 * model.flops_per_segment(4)
    counted = counter.get_total_flops()
    assert model.flops_per_segment(4) in (counted + attention, counted)  # the latter: a torch that counts SDPA
