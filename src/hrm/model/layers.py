"""Building blocks shared by every recurrent module: norm, rotary positions, attention, SwiGLU, init.

Weights are stored in fp32 and cast to the activation dtype at call time (the reference keeps fp32 master
weights for the optimiser and runs bf16 activations on CUDA without autocast). Norm and rotary math run in fp32,
or in float64 when the activations are float64 (the parity tests run both sides in float64 against float64 truth,
so the result does not depend on which fp32 kernels a CPU picks).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def trunc_normal_(tensor: torch.Tensor, std: float = 1.0, lower: float = -2.0, upper: float = 2.0) -> torch.Tensor:
    """Truncated normal whose *realised* standard deviation equals ``std`` (JAX/Flax convention).

    ``torch.nn.init.trunc_normal_`` truncates at absolute bounds and does not correct the std, so a
    "LeCun normal truncated at 2 sigma" from it is about 12% too narrow. Here the std is divided by the std of
    a unit normal truncated to [lower, upper] before sampling, and samples are drawn by inverse-CDF.
    """
    with torch.no_grad():
        if std == 0:
            return tensor.zero_()
        sqrt2 = math.sqrt(2.0)
        a = math.erf(lower / sqrt2)
        b = math.erf(upper / sqrt2)
        z = (b - a) / 2.0
        c = (2.0 * math.pi) ** -0.5
        pdf_u = c * math.exp(-0.5 * upper**2)
        pdf_l = c * math.exp(-0.5 * lower**2)
        comp_std = std / math.sqrt(1.0 - (upper * pdf_u - lower * pdf_l) / z - ((pdf_u - pdf_l) / z) ** 2)
        tensor.uniform_(a, b)
        tensor.erfinv_()
        tensor.mul_(sqrt2 * comp_std)
        tensor.clip_(lower * comp_std, upper * comp_std)
    return tensor


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in fp32, or unchanged when it is already fp32 or wider (float64 stays float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learnable scale, computed in (at least) fp32 and cast back."""
    return F.rms_norm(at_least_fp32(x), (x.shape[-1],), eps=eps).to(x.dtype)


class CastedLinear(nn.Module):
    """Linear layer with an fp32 weight (truncated LeCun normal) cast to the input's dtype."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(out_features, in_features), std=in_features**-0.5))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    """Embedding table with an fp32 weight; lookups are cast to ``dtype``."""

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(num_embeddings, embedding_dim), std=init_std))

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return F.embedding(ids.to(torch.int32), self.weight.to(dtype))


def _signed_tables(freqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Angles [length, head_dim / 2] of the rotation pairs → the (cos, signed sin) tables [length, head_dim] that
    :func:`apply_rotary` reads: each pair's angle on both halves, the sin table's first half negated."""
    angles = torch.cat((freqs, freqs), dim=-1)
    sin = angles.sin()
    sin[:, : freqs.shape[-1]].neg_()
    return angles.cos(), sin


class RotaryEmbedding(nn.Module):
    """Rotate-half RoPE tables (cos, signed sin) of shape [length, head_dim]; not saved in checkpoints.

    The sin table's first half is negated (``[-sin, sin]``), so that rotate-half becomes a plain swap of the halves
    in :func:`apply_rotary`: one negation less per call, which adds up over the dozens of calls of a segment.

    The table is precomputed for ``max_len`` positions and extended on the fly for longer inputs (a position's
    angles do not depend on the table's length), so a rope model accepts any sequence length.
    """

    cos: torch.Tensor  # buffers, [max_len, head_dim]
    sin: torch.Tensor

    def __init__(self, head_dim: int, max_len: int, theta: float):
        super().__init__()
        self.head_dim = head_dim
        self.theta = theta
        cos, sin = self._tables(max_len, torch.device("cpu"))
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def _tables(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        inv_freq = 1.0 / (
            self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32, device=device) / self.head_dim)
        )
        positions = torch.arange(length, dtype=torch.float32, device=device)
        return _signed_tables(torch.outer(positions, inv_freq))

    def forward(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        if length > self.cos.shape[0]:
            return self._tables(length, self.cos.device)
        return self.cos[:length], self.sin[:length]


class Rotary2DEmbedding(nn.Module):
    """2-D RoPE for square grids (``pos_encodings="rope2d"``): the same tables as :class:`RotaryEmbedding`, with
    the rotation pairs split in two — the first quarter of the frequencies rotated by a token's row, the second by
    its column — so attention scores depend on (row, column) offsets instead of the 1-D distance in reading order.

    The ``prefix_len`` puzzle-embedding tokens sit on row 0 (columns 0.. prefix_len-1); grid cell (r, c) of an
    s×s grid on row r + 1, column c. A length whose grid part is not a square is a ValueError.
    """

    cos: torch.Tensor  # buffers, [length, head_dim] for the length they were made for
    sin: torch.Tensor

    def __init__(self, head_dim: int, prefix_len: int, length: int, theta: float):
        super().__init__()
        if head_dim % 4 != 0:
            raise ValueError(f"rope2d needs head_dim divisible by 4, got {head_dim}")
        self.head_dim, self.prefix_len, self.theta = head_dim, prefix_len, theta
        cos, sin = self._tables(length, torch.device("cpu"))
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def positions(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, column) of every position of a sequence of ``length`` tokens."""
        cells = length - self.prefix_len
        side = math.isqrt(max(cells, 0))
        if cells < 1 or side * side != cells:
            raise ValueError(f"rope2d needs a square grid: {cells} grid tokens is not a square")
        index = torch.arange(length, device=device)
        grid = (index - self.prefix_len).clamp(min=0)
        is_prefix = index < self.prefix_len
        rows = torch.where(is_prefix, 0, grid // side + 1)
        cols = torch.where(is_prefix, index, grid % side)
        return rows.to(torch.float32), cols.to(torch.float32)

    def _tables(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.head_dim // 2  # rotation pairs; each axis takes half of them
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, half, 2, dtype=torch.float32, device=device) / half))
        rows, cols = self.positions(length, device)
        return _signed_tables(torch.cat((torch.outer(rows, inv_freq), torch.outer(cols, inv_freq)), dim=-1))

    def forward(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        if length != self.cos.shape[0]:
            return self._tables(length, self.cos.device)
        return self.cos, self.sin


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [B, L, H, D] by position (the tables of :class:`RotaryEmbedding`); fp32 math, cast back.

    Equals ``x·cos + rotate_half(x)·sin`` with ``rotate_half(x) = [-x₂, x₁]``: the sign lives in ``signed_sin``.
    """
    dtype = x.dtype
    x = at_least_fp32(x)
    half = x.shape[-1] // 2
    swapped = torch.cat((x[..., half:], x[..., :half]), dim=-1)
    return (x * cos.unsqueeze(-2) + swapped * signed_sin.unsqueeze(-2)).to(dtype)  # tables broadcast over heads


class Attention(nn.Module):
    """Non-causal multi-head self-attention with a fused q|k|v projection (no bias, no mask).

    The projection's rows are laid out q, then k, then v, heads contiguous inside each, as in the reference
    checkpoints. SDPA wants [B, H, L, D] while the projection gives [B, L, H, D], hence the transposes.
    """

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = CastedLinear(hidden_size, 3 * hidden_size)
        self.o_proj = CastedLinear(hidden_size, hidden_size)

    def forward(self, h: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        batch, length, _ = h.shape
        qkv = self.qkv_proj(h).view(batch, length, 3 * self.num_heads, self.head_dim)
        qk, v = qkv.split((2 * self.num_heads, self.num_heads), dim=2)
        if rotary is not None:
            qk = apply_rotary(qk, *rotary)  # q and k in one call: half the elementwise launches
        q, k = qk.split(self.num_heads, dim=2)  # each [B, L, H, D]
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))


def swiglu_width(hidden_size: int, expansion: float) -> int:
    """Intermediate width: round(expansion·hidden·2/3) rounded *up* to a multiple of 256 (the reference's rule)."""
    width = round(expansion * hidden_size * 2 / 3)
    return -(-width // 256) * 256


class SwiGLU(nn.Module):
    def __init__(self, hidden_size: int, expansion: float):
        super().__init__()
        width = swiglu_width(hidden_size, expansion)
        self.gate_up_proj = CastedLinear(hidden_size, 2 * width)
        self.down_proj = CastedLinear(width, hidden_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(h).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class TransformerBlock(nn.Module):
    """Post-norm block: h ← norm(h + attn(h)); h ← norm(h + mlp(h)).

    Post-norm keeps the recurrent state's scale fixed across many applications, which the paper relates to
    the stability of the Q-learning targets.
    """

    def __init__(self, hidden_size: int, num_heads: int, expansion: float, norm_eps: float):
        super().__init__()
        self.self_attn = Attention(hidden_size, num_heads)
        self.mlp = SwiGLU(hidden_size, expansion)
        self.norm_eps = norm_eps

    def forward(self, h: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        h = rms_norm(h + self.self_attn(h, rotary), self.norm_eps)
        return rms_norm(h + self.mlp(h), self.norm_eps)
