"""The Tiny Recursive Model (TRM, Jolicoeur-Martineau 2025, arXiv 2510.04871), as its reference code runs it.

Reference: SamsungSAILMontreal/TinyRecursiveModels @ e7b6871, ``models/recursive_reasoning/trm.py`` and
``config/arch/trm.yaml``. Paper symbol → code name

============================  ==========================================================================
paper / reference             code
============================  ==========================================================================
net (``L_level``)             ``TRMCore.net``: ONE stack of ``num_layers`` blocks used for both updates
x (embedded input)            ``x`` in ``TRMCore.forward`` (:class:`~hrm.model.common.InputEmbedding`)
y (answer), z (latent)        the states ``z_H`` and ``z_L`` (the reference's names)
n (``L_cycles``)              ``TRMConfig.low_cycles``: latent updates z_L ← net(z_L, z_H + x) per recursion
T (``H_cycles``)              ``TRMConfig.high_cycles``: full recursions per segment (n latent + 1 answer
                              update z_H ← net(z_H, z_L)); the first T − 1 under no_grad
N_sup (``halt_max_steps``)    ``TRMConfig.halt_max_steps``
``mlp_t``                     ``TRMConfig.mlp_t``: a SwiGLU across the sequence axis replaces attention
``puzzle_emb_len``            ``TRMConfig.puzzle_emb_len`` (0 → ceil(puzzle_emb_ndim / hidden_size))
``no_ACT_continue``           ``not TRMConfig.train_q_continue``
============================  ==========================================================================

Unlike HRM's 1-step gradient, the last recursion is backpropagated through all of its n + 1 calls, so activation
memory grows with n. A row halts (in training) when q_halt > 0; with ``train_q_continue`` it halts when
q_halt > q_continue and a second no-grad segment gives the Q-continue target, as in HRM (the reference's branch
for this unpacks the wrong number of values and cannot run; see docs/differences.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from hrm.model.common import (
    HRM_HALTING_FIELDS,
    HRM_SHAPE_FIELDS,
    BlockStack,
    BlockStackArchitecture,
    DatasetFields,
    InputEmbedding,
    ZooModel,
    block_flops,
    build_rotary,
    copy_fields,
    linear_flops,
)
from hrm.model.layers import (
    CastedLinear,
    SwiGLU,
    TransformerBlock,
    at_least_fp32,
    rms_norm,
    trunc_normal_,
)
from hrm.model.limits import MAX_LAYERS, MAX_RECURRENCE


@dataclass(kw_only=True)
class TRMArchitecture(BlockStackArchitecture):
    """Architecture of a TRM. Defaults are the reference's ``config/arch/trm.yaml`` (TRM-Att, 7M trunk); the
    shared fields are :class:`~hrm.model.common.BlockStackArchitecture`'s.

    Attributes:
        num_layers: blocks in the one network (the reference's ``L_layers``; ``H_layers`` is ignored there), 2.
        pos_encodings: ``rope``, ``learned`` or ``none`` (the MLP-mixer recipes use ``none``).
        halt_max_steps: N_sup, the most segments per sample (16).
        puzzle_emb_len: prefix tokens for the puzzle embedding (16 as in the reference; 0 means
            ceil(puzzle_emb_ndim / hidden_size)). Without a puzzle embedding there is no prefix. A
            :class:`TRMConfig` stores the resolved count.
        high_cycles: T, full recursions per segment (``H_cycles``).
        low_cycles: n, latent updates per recursion (``L_cycles``).
        mlp_t: replace attention by a SwiGLU across the sequence axis (TRM-MLP); fixes the sequence length.
        train_q_continue: train the Q-continue head with HRM's bootstrapped target and halt on
            q_halt > q_continue (the reference's ``no_ACT_continue=False``); default: halt on q_halt > 0.
    """

    num_layers: int = 2
    puzzle_emb_len: int = 16
    high_cycles: int = 3
    low_cycles: int = 6
    mlp_t: bool = False
    train_q_continue: bool = False


@dataclass(kw_only=True)
class TRMConfig(TRMArchitecture, DatasetFields):
    """A TRM: the architecture (:class:`TRMArchitecture`) plus the dataset's sizes, validated."""

    family: ClassVar[str] = "trm"

    def __post_init__(self) -> None:
        self._resolve_puzzle_emb()
        self.validate()
        # Stored resolved, so that generic code reading ``puzzle_emb_len`` (prefix tokens, as HRMConfig's) agrees.
        self.puzzle_emb_len = self.puzzle_emb_len_resolved

    def validate(self) -> None:
        self._validate_block_stack(("rope", "rope2d", "learned", "none"))
        self._positive("num_layers", "high_cycles", "low_cycles", "halt_max_steps")
        self._non_negative("puzzle_emb_len")
        self._bounded(MAX_RECURRENCE, "high_cycles", "low_cycles")
        self._bounded(MAX_LAYERS, "puzzle_emb_len", minimum=0)  # prefix tokens: a handful (16 in the reference)
        assert self.puzzle_emb_ndim is not None  # __post_init__ resolved None (and _non_negative checked it)
        if self.puzzle_emb_ndim > self.puzzle_emb_len_resolved * self.hidden_size:
            raise ValueError(
                f"TRMConfig.puzzle_emb_ndim={self.puzzle_emb_ndim} does not fit in puzzle_emb_len="
                f"{self.puzzle_emb_len} prefix tokens of width {self.hidden_size}; raise puzzle_emb_len or set it to 0"
            )
        self._check_values(self._block_stack_values(self.num_layers, self.total_len, mixer=self.mlp_t))

    @property
    def puzzle_emb_len_resolved(self) -> int:
        """Prefix tokens actually used: 0 without a puzzle embedding (the reference would fail on a shape)."""
        if not self.puzzle_emb_ndim:
            return 0
        return self.puzzle_emb_len if self.puzzle_emb_len > 0 else -(-self.puzzle_emb_ndim // self.hidden_size)

    @property
    def total_len(self) -> int:
        return self.seq_len + self.puzzle_emb_len_resolved


class MixerBlock(nn.Module):
    """TRM's ``mlp_t`` block: h ← norm(h + SwiGLU_seq(h)) over the sequence axis, then h ← norm(h + SwiGLU(h))."""

    def __init__(self, hidden_size: int, total_len: int, expansion: float, norm_eps: float):
        super().__init__()
        self.mlp_t = SwiGLU(total_len, expansion)
        self.mlp = SwiGLU(hidden_size, expansion)
        self.norm_eps = norm_eps

    def forward(self, h: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        t = h.transpose(1, 2)  # [B, D, L]: the SwiGLU mixes positions, and the norm runs over positions too
        t = t + self.mlp_t(t)
        # Written out (as the reference) rather than F.rms_norm: these elementwise ops keep the [B, L, D] memory
        # layout, so the transpose back is contiguous and the channel SwiGLU's matmul needs no copy of its input.
        t = t * torch.rsqrt(t.square().mean(-1, keepdim=True) + self.norm_eps)
        h = t.transpose(1, 2)
        return rms_norm(h + self.mlp(h), self.norm_eps)


class TRMCore(nn.Module):
    """One TRM segment: T recursions of (n latent updates, 1 answer update), then the heads."""

    z_H_init: torch.Tensor  # buffers, [hidden_size]
    z_L_init: torch.Tensor

    def __init__(self, config: TRMConfig):
        super().__init__()
        self.config = config
        self.forward_dtype = torch.float32  # set by hrm.runtime's dtype policy (bf16 on CUDA)
        D = config.hidden_size
        P = config.puzzle_emb_len_resolved
        puzzle_emb_ndim = config.puzzle_emb_ndim
        assert puzzle_emb_ndim is not None  # TRMConfig.__post_init__ resolves None to hidden_size
        self.embed = InputEmbedding(
            config.vocab_size,
            D,
            config.num_puzzle_identifiers,
            puzzle_emb_ndim,
            P,
            config.pos_encodings,
            config.total_len,
        )
        self.rotary = build_rotary(config, config.total_len)
        layers: list[nn.Module]
        if config.mlp_t:
            layers = [
                MixerBlock(D, config.total_len, config.expansion, config.rms_norm_eps) for _ in range(config.num_layers)
            ]
        else:
            layers = [
                TransformerBlock(D, config.num_heads, config.expansion, config.rms_norm_eps)
                for _ in range(config.num_layers)
            ]
        self.net = BlockStack(layers)
        self.lm_head = CastedLinear(D, config.vocab_size)
        self.q_head = CastedLinear(D, 2, bias=True)
        with torch.no_grad():
            self.q_head.weight.zero_()
            assert self.q_head.bias is not None  # built with bias=True
            self.q_head.bias.fill_(-5.0)  # start by (almost) never halting, as the reference
        self.register_buffer("z_H_init", trunc_normal_(torch.empty(D), std=1.0))
        self.register_buffer("z_L_init", trunc_normal_(torch.empty(D), std=1.0))

    def initial_states(self, batch_size: int, seq_len: int, device: torch.device | None = None):
        shape = (batch_size, seq_len + self.config.puzzle_emb_len_resolved, self.config.hidden_size)
        device = device if device is not None else self.z_H_init.device
        z_H = self.z_H_init.to(self.forward_dtype).expand(shape).to(device).clone()
        z_L = self.z_L_init.to(self.forward_dtype).expand(shape).to(device).clone()
        return z_H, z_L

    def forward(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor):
        """Run one segment. Returns (z_H, z_L) detached, logits [B, seq_len, V], q_halt [B], q_continue [B]."""
        cfg = self.config
        rotary = self.rotary(z_H.shape[1]) if self.rotary is not None else None
        x = self.embed(inputs, puzzle_identifiers, self.forward_dtype)
        # z_H + x is the same for the n latent updates of a recursion, so it is formed once per recursion (the
        # reference adds it inside the loop: the same values, and in backward one gradient flow instead of n).
        with torch.no_grad():
            for _ in range(cfg.high_cycles - 1):
                injection = z_H + x
                for _ in range(cfg.low_cycles):
                    z_L = self.net(z_L, injection, rotary)
                z_H = self.net(z_H, z_L, rotary)
        # The last recursion is in the autograd graph through all of its n + 1 calls.
        injection = z_H + x
        for _ in range(cfg.low_cycles):
            z_L = self.net(z_L, injection, rotary)
        z_H = self.net(z_H, z_L, rotary)
        logits = self.lm_head(z_H)[:, cfg.puzzle_emb_len_resolved :]
        q = at_least_fp32(self.q_head(z_H[:, 0]))  # the halt head reads position 0 (a prefix token)
        return z_H.detach(), z_L.detach(), logits, q[..., 0], q[..., 1]


class TRM(ZooModel):
    """TRM with deep supervision and halt-only ACT over a persistent carry (see :class:`OuterLoop`)."""

    family: ClassVar[str] = "trm"
    has_halting_head = True
    core: TRMCore

    def __init__(self, config: TRMConfig):
        super().__init__()
        self.config = config
        self.core = TRMCore(config)

    @property
    def trains_q_continue(self) -> bool:
        return self.config.train_q_continue

    def halts(self, q_halt: torch.Tensor, q_continue: torch.Tensor | None) -> torch.Tensor:
        if self.config.train_q_continue:
            assert q_continue is not None  # TRMCore always computes both Q logits
            return q_halt > q_continue
        return q_halt > 0

    def initial_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        z_H, z_L = self.core.initial_states(inputs.shape[0], inputs.shape[1], inputs.device)
        return {"z_H": z_H, "z_L": z_L}

    def fresh_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        dtype = self.core.forward_dtype
        return {"z_H": self.core.z_H_init.to(dtype), "z_L": self.core.z_L_init.to(dtype)}  # [D], broadcast

    def _segment(self, state: dict[str, torch.Tensor], inputs: torch.Tensor, puzzle_identifiers: torch.Tensor):
        z_H, z_L, logits, q_halt, q_continue = self.core(state["z_H"], state["z_L"], inputs, puzzle_identifiers)
        return {"z_H": z_H, "z_L": z_L}, logits, q_halt, q_continue

    @property
    def fixed_length(self) -> bool:
        return self.config.mlp_t or self.config.pos_encodings == "learned"

    def flops_per_segment(self, batch_size: int, seq_len: int | None = None) -> int:
        cfg = self.config
        length = (cfg.seq_len if seq_len is None else seq_len) + cfg.puzzle_emb_len_resolved
        calls = cfg.high_cycles * (cfg.low_cycles + 1)
        per_call = cfg.num_layers * block_flops(batch_size, length, cfg.hidden_size, cfg.expansion, cfg.mlp_t)
        heads = linear_flops(batch_size * length, cfg.hidden_size, cfg.vocab_size) + linear_flops(
            batch_size, cfg.hidden_size, 2
        )
        return calls * per_call + heads


def size_like_hrm(section: TRMArchitecture, hrm: Any) -> None:
    """TRM beside an HRM: its width, heads, positions, loss, puzzle embedding and M_max; one stack of
    ``low_layers`` blocks, T = high_cycles, n = low_cycles; ceil(ndim / D) prefix tokens (not 16: a small grid would
    be mostly prefix)."""
    copy_fields(section, hrm, HRM_SHAPE_FIELDS + HRM_HALTING_FIELDS)
    section.num_layers = hrm.low_layers
    section.high_cycles = hrm.high_cycles
    section.low_cycles = hrm.low_cycles
    section.puzzle_emb_len = 0
