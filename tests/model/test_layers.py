import math

import pytest
import torch

from hrm.model.layers import (
    Attention,
    RotaryEmbedding,
    apply_rotary,
    rms_norm,
    swiglu_width,
    trunc_normal_,
)


def test_trunc_normal_realised_std_and_bounds():
    torch.manual_seed(0)
    x = trunc_normal_(torch.empty(400_000), std=0.5)
    assert abs(x.std().item() - 0.5) < 0.005  # torch's trunc_normal_ would give ~0.44
    assert x.abs().max().item() <= 2 * 0.5 / 0.87 + 1e-6  # clipped at ±2 corrected sigmas
    assert abs(x.mean().item()) < 0.005


def test_trunc_normal_zero_std_is_zero():
    assert torch.count_nonzero(trunc_normal_(torch.ones(10), std=0.0)) == 0


def test_rms_norm_matches_formula_and_keeps_dtype():
    x = torch.randn(3, 5, 8)
    expected = x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-5)
    torch.testing.assert_close(rms_norm(x, 1e-5), expected)
    assert rms_norm(x.bfloat16(), 1e-5).dtype == torch.bfloat16


def test_swiglu_width_rounds_up_to_256():
    assert swiglu_width(512, 4) == 1536  # round(1365.33) = 1365 → 1536
    assert swiglu_width(64, 4) == 256
    assert swiglu_width(384, 4) == 1024


def test_rope_matches_complex_rotation():
    head_dim, length = 8, 6
    rope = RotaryEmbedding(head_dim, length, theta=10000.0)
    cos, sin = rope(length)
    x = torch.randn(2, length, 3, head_dim)
    out = apply_rotary(x, cos, sin)
    # rotate-half layout: pair (i, i + D/2) rotated by angle pos * theta^(-2i/D)
    half = head_dim // 2
    freqs = 10000.0 ** (-torch.arange(half, dtype=torch.float64) * 2 / head_dim)
    angle = torch.arange(length, dtype=torch.float64)[:, None] * freqs[None, :]  # [L, half]
    z = (
        torch.complex(x[..., :half].double(), x[..., half:].double())
        * torch.polar(torch.ones_like(angle), angle)[None, :, None, :]
    )
    expected = torch.cat((z.real, z.imag), dim=-1).float()
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_rope_extends_beyond_table():
    rope = RotaryEmbedding(8, 4, theta=10000.0)
    cos_long, _ = rope(10)
    cos_ref, _ = RotaryEmbedding(8, 10, theta=10000.0)(10)
    torch.testing.assert_close(cos_long, cos_ref)


def test_attention_matches_manual_multihead_layout():
    torch.manual_seed(0)
    attn = Attention(hidden_size=16, num_heads=2)
    h = torch.randn(2, 5, 16)
    out = attn(h, None)
    qkv = h @ attn.qkv_proj.weight.T  # rows: q (heads contiguous), k, v
    q, k, v = qkv.view(2, 5, 3, 2, 8).unbind(2)  # [B, L, H, D]
    scores = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(8)
    mixed = torch.einsum("bhlm,bmhd->blhd", scores.softmax(-1), v).reshape(2, 5, 16)
    torch.testing.assert_close(out, mixed @ attn.o_proj.weight.T, atol=1e-5, rtol=1e-5)


def test_attention_is_not_causal():
    torch.manual_seed(0)
    attn = Attention(hidden_size=16, num_heads=2)
    h = torch.randn(1, 5, 16)
    base = attn(h, None)
    h2 = h.clone()
    h2[0, -1] += 1.0  # changing the last token must change the first position's output
    assert not torch.allclose(attn(h2, None)[0, 0], base[0, 0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_casted_layers_follow_activation_dtype(dtype):
    attn = Attention(hidden_size=16, num_heads=2)
    assert attn.qkv_proj.weight.dtype == torch.float32
    assert attn(torch.randn(1, 3, 16, dtype=dtype), None).dtype == dtype
