"""Reference interop: a checkpoint in the reference's Appendix-A layout loads, and our forward matches an
independent functional re-derivation of the reference segment written from the spec (hrm-reference.md §1).

Both sides run in float64 (the RoPE tables hold the reference's fp32-computed values on both), so the check is
tight and does not depend on which fp32 kernels a CPU picks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import yaml

from hrm import convert_reference_checkpoint, load_checkpoint, load_reference_checkpoint
from hrm.errors import UserError


def _tn(shape, std, g):
    return (torch.randn(shape, generator=g) * std).clamp(-2 * std, 2 * std)


def _reference_state(D, heads, V, P, E, seq_len, pos, layers, g, expansion=4.0):
    inter = -(-round(expansion * D * 2 / 3) // 256) * 256
    s = {
        "inner.H_init": _tn([D], 1.0, g).bfloat16(),  # stored in the forward dtype, bf16 in real runs
        "inner.L_init": _tn([D], 1.0, g).bfloat16(),
        "inner.embed_tokens.embedding_weight": _tn([V, D], D**-0.5, g),
        "inner.lm_head.weight": _tn([V, D], D**-0.5, g),
        "inner.q_head.weight": _tn([2, D], 0.1, g),
        "inner.q_head.bias": torch.tensor([-0.3, 0.2]),
    }
    if E:
        s["inner.puzzle_emb.weights"] = _tn([P, E], 0.5, g)
    if pos == "learned":
        s["inner.embed_pos.embedding_weight"] = _tn([seq_len + -(-E // D), D], D**-0.5, g)
    for level in ("H", "L"):
        for i in range(layers):
            p = f"inner.{level}_level.layers.{i}."
            s[p + "self_attn.qkv_proj.weight"] = _tn([3 * D, D], D**-0.5, g)
            s[p + "self_attn.o_proj.weight"] = _tn([D, D], D**-0.5, g)
            s[p + "mlp.gate_up_proj.weight"] = _tn([2 * inter, D], D**-0.5, g)
            s[p + "mlp.down_proj.weight"] = _tn([D, inter], inter**-0.5, g)
    return {"_orig_mod." + k: v for k, v in s.items()}  # as saved from a compiled model


def _ref_segment(s, arch, zH, zL, inputs, ids):
    """Independent re-derivation of one reference segment (float64) from the spec, on the raw state dict."""
    s = {k.removeprefix("_orig_mod."): v.double() for k, v in s.items()}
    D, heads = arch["hidden_size"], arch["num_heads"]
    hd = D // heads
    x = s["inner.embed_tokens.embedding_weight"][inputs.long()]
    plen = 0
    if "inner.puzzle_emb.weights" in s:
        pe = s["inner.puzzle_emb.weights"][ids.long()]
        plen = -(-pe.shape[-1] // D)
        pe = F.pad(pe, (0, plen * D - pe.shape[-1]))
        x = torch.cat([pe.view(-1, plen, D), x], 1)
    if arch["pos_encodings"] == "learned":
        x = 0.707106781 * (x + s["inner.embed_pos.embedding_weight"])
    x = math.sqrt(D) * x
    L = x.shape[1]
    inv = 1.0 / (arch.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.outer(torch.arange(L).float(), inv)
    cos, sin = torch.cat([ang, ang], -1).cos().double(), torch.cat([ang, ang], -1).sin().double()

    def norm(h):
        return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-5)

    def rot(t):
        t1, t2 = t[..., : hd // 2], t[..., hd // 2 :]
        return t * cos[None, :, None] + torch.cat([-t2, t1], -1) * sin[None, :, None]

    def block(p, h):
        B = h.shape[0]
        qkv = (h @ s[p + "self_attn.qkv_proj.weight"].T).view(B, L, 3, heads, hd)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if arch["pos_encodings"] == "rope":
            q, k = rot(q), rot(k)
        att = torch.softmax(torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(hd), -1)
        a = torch.einsum("bhlm,bmhd->blhd", att, v).reshape(B, L, D) @ s[p + "self_attn.o_proj.weight"].T
        h = norm(h + a)
        gate, up = (h @ s[p + "mlp.gate_up_proj.weight"].T).chunk(2, -1)
        return norm(h + (F.silu(gate) * up) @ s[p + "mlp.down_proj.weight"].T)

    def level(name, state, inj):
        h = state + inj
        for i in range(arch[f"{name}_layers"]):
            h = block(f"inner.{name}_level.layers.{i}.", h)
        return h

    for c in range(arch["H_cycles"]):
        for t in range(arch["L_cycles"]):
            if not (c == arch["H_cycles"] - 1 and t == arch["L_cycles"] - 1):
                zL = level("L", zL, zH + x)
        if c != arch["H_cycles"] - 1:
            zH = level("H", zH, zL)
    zL = level("L", zL, zH + x)
    zH = level("H", zH, zL)
    logits = (zH @ s["inner.lm_head.weight"].T)[:, plen:]
    q = zH[:, 0] @ s["inner.q_head.weight"].T + s["inner.q_head.bias"]
    return zH, zL, logits, q[:, 0], q[:, 1]


CASES = {
    "rope-1-prefix": dict(D=64, heads=4, V=11, P=3, E=64, seq_len=9, pos="rope"),
    "learned-2-prefix": dict(D=64, heads=4, V=12, P=5, E=96, seq_len=12, pos="learned"),
}


def _write_reference(tmp_path, case):
    g = torch.Generator().manual_seed(0)
    arch = {
        "H_cycles": 2,
        "L_cycles": 3,
        "H_layers": 2,
        "L_layers": 1,
        "hidden_size": case["D"],
        "num_heads": case["heads"],
        "expansion": 4,
        "pos_encodings": case["pos"],
        "puzzle_emb_ndim": case["E"],
        "halt_max_steps": 4,
        "halt_exploration_prob": 0.1,
        "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"},
    }
    state = _reference_state(
        case["D"], case["heads"], case["V"], case["P"], case["E"], case["seq_len"], case["pos"], 2, g
    )
    state = {k: v for k, v in state.items() if ".L_level.layers.1." not in k}  # the arch has 1 L layer
    torch.save(state, tmp_path / "step_1234")
    (tmp_path / "all_config.yaml").write_text(
        yaml.safe_dump({"arch": arch, "data_path": "data/missing", "global_batch_size": 768, "lr": 1e-4})
    )
    return arch, state


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("eps_factor", [1.0, 10.0])
def test_reference_checkpoint_matches_independent_forward(tmp_path, name, eps_factor):
    case = CASES[name]
    arch, state = _write_reference(tmp_path, case)
    model = load_reference_checkpoint(tmp_path / "step_1234")
    model.double()
    model.forward_dtype = torch.float64
    for module in model.modules():  # eps_factor 10: the check must catch a ~1e-4-sized change of the model
        if hasattr(module, "norm_eps"):
            module.norm_eps *= eps_factor
    assert not model.training and model.config.vocab_size == case["V"]
    assert model.config.num_puzzle_identifiers == case["P"] and model.config.puzzle_emb_ndim == case["E"]
    if case["pos"] == "learned":
        assert model.config.seq_len == case["seq_len"]
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, case["V"], (3, case["seq_len"]), generator=g)
    ids = torch.randint(0, case["P"], (3,), generator=g)
    trace = model.trace(inputs, ids, num_segments=3)
    plen = -(-case["E"] // case["D"])
    L = case["seq_len"] + plen
    zH = state["_orig_mod.inner.H_init"].double().expand(3, L, -1)
    zL = state["_orig_mod.inner.L_init"].double().expand(3, L, -1)
    error = 0.0
    for seg in trace:
        zH, zL, logits, qh, qc = _ref_segment(state, arch, zH, zL, inputs, ids)
        assert seg["logits"].dtype == torch.float64
        for got, want in ((seg["logits"], logits), (seg["q_halt_logits"], qh), (seg["q_continue_logits"], qc)):
            error = max(error, (got - want).abs().max().item())
    if eps_factor == 1.0:
        assert error <= 1e-9
    else:
        assert error > 1e-6


def test_convert_reference_is_one_call(tmp_path):
    _write_reference(tmp_path, CASES["learned-2-prefix"])
    converted = convert_reference_checkpoint(tmp_path / "step_1234", tmp_path / "ours" / "step-1234")
    loaded = load_checkpoint(tmp_path / "ours" / "step-1234")
    assert loaded.step == 1234 and loaded.meta["reference_config"]["lr"] == 1e-4
    inputs = torch.randint(0, 12, (2, 12))
    a = converted.model.trace(inputs, torch.tensor([0, 4]), 2)
    b = loaded.model.trace(inputs, torch.tensor([0, 4]), 2)
    assert torch.equal(a[-1]["logits"], b[-1]["logits"])


def test_reference_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_reference_checkpoint(tmp_path / "step_1")
    torch.save({"x": torch.zeros(1)}, tmp_path / "step_1")
    with pytest.raises(UserError, match="all_config.yaml"):
        load_reference_checkpoint(tmp_path / "step_1")
    (tmp_path / "all_config.yaml").write_text("arch: {H_cycles: 2}\n")
    with pytest.raises(UserError, match="token embedding"):
        load_reference_checkpoint(tmp_path / "step_1")
    (tmp_path / "step_1").write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a readable"):
        load_reference_checkpoint(tmp_path / "step_1")
