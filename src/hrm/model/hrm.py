"""The Hierarchical Reasoning Model: one segment (:class:`HRMCore`) and the model with deep supervision and ACT
(:class:`HRM`, on the families' shared outer loop).

Paper symbol → code name

============================  ==========================================================================
paper                         code
============================  ==========================================================================
f_I (input network)           ``HRMCore.embed`` (the families' :class:`~hrm.model.common.InputEmbedding`)
x̃ (embedded input)            ``x_tilde`` in ``HRMCore.forward``
f_L (low-level module)        ``HRMCore.low_level`` (a :class:`~hrm.model.common.BlockStack` of post-norm blocks)
f_H (high-level module)       ``HRMCore.high_level``
f_O (output network)          ``HRMCore.lm_head``
Q-head (halt / continue)      ``HRMCore.q_head``, read at position 0 (the puzzle-embedding token)
z_L, z_H (states)             ``Carry.state["z_L"]``, ``Carry.state["z_H"]``; initial values ``z_L_init``/``z_H_init``
N (high-level cycles)         ``HRMConfig.high_cycles``
T (low-level steps per cycle) ``HRMConfig.low_cycles``
segment m (deep supervision)  one call of ``HRM.forward`` (:class:`~hrm.model.common.OuterLoop`); ``Carry.steps``
M_max                         ``HRMConfig.halt_max_steps``
M_min / ε (exploration)       ``HRMConfig.halt_exploration_prob``; M_min ~ U{2..M_max} with probability ε
Ĝ_halt, Ĝ_continue (targets)  ``act_loss`` (halt) and ``outputs["target_q_continue"]`` (continue)
============================  ==========================================================================

One segment runs N·T low-level steps and N high-level steps. Everything except the last f_L and the last f_H call
runs under ``no_grad`` (the 1-step gradient approximation), so memory does not grow with N·T.

:class:`HRM` implements the model protocol (:mod:`hrm.model.protocol`) as every family does: training runs the
shared :class:`~hrm.model.common.OuterLoop` (carry, reset of halted rows, ACT with exploration, the Q-continue
target), inference the one segment loop (``run_segments``) that ``predict`` and ``trace`` are built on. Our
additions to the reference behaviour (each documented in ``docs/differences.md``): per-sample early exit at
inference (a row stops once q_halt > q_continue) and ``trace``, which returns every segment's outputs.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from hrm.model.common import BlockStack, InputEmbedding, ZooModel, block_flops, build_rotary
from hrm.model.config import HRMConfig
from hrm.model.layers import (
    CastedLinear,
    Rotary2DEmbedding,
    RotaryEmbedding,
    TransformerBlock,
    at_least_fp32,
    trunc_normal_,
)
from hrm.model.protocol import SegmentOutput

# Weights written before HRM shared the families' input network (hrm < 0.x, and the shipped checkpoint) name
# f_I's tables directly under ``core.``; they load under today's names.
LEGACY_PREFIXES = (
    ("core.embed_tokens.", "core.embed.embed_tokens."),
    ("core.puzzle_emb.", "core.embed.puzzle_emb."),
    ("core.embed_pos.", "core.embed.embed_pos."),
)


def _blocks(config: HRMConfig, layers: int) -> BlockStack:
    return BlockStack(
        [
            TransformerBlock(config.hidden_size, config.num_heads, config.expansion, config.rms_norm_eps)
            for _ in range(layers)
        ]
    )


class HRMCore(nn.Module):
    """One segment of HRM: f_I, then N cycles of (T × f_L, f_H), then f_O and the Q-head."""

    z_H_init: torch.Tensor  # buffers, [hidden_size]
    z_L_init: torch.Tensor
    rotary: RotaryEmbedding | Rotary2DEmbedding | None

    def __init__(self, config: HRMConfig):
        super().__init__()
        self.config = config
        self.forward_dtype = torch.float32  # set by hrm.runtime's dtype policy (bf16 on CUDA)
        D = config.hidden_size
        assert config.puzzle_emb_ndim is not None  # HRMConfig.__post_init__ resolves None to hidden_size
        # The order in which tensors are made here is the order the random initialisation draws them: fixed.
        self.embed = InputEmbedding(
            config.vocab_size,
            D,
            config.num_puzzle_identifiers,
            config.puzzle_emb_ndim,
            config.puzzle_emb_len,
            config.pos_encodings,
            config.total_len,
        )
        self.rotary = build_rotary(config, config.total_len)
        self.low_level = _blocks(config, config.low_layers)
        self.high_level = _blocks(config, config.high_layers)
        self.lm_head = CastedLinear(D, config.vocab_size)
        self.q_head = CastedLinear(D, 2, bias=True)
        with torch.no_grad():
            # Both Q values start at sigmoid(-5) ≈ 0.007: the model begins by never halting early.
            self.q_head.weight.zero_()
            assert self.q_head.bias is not None  # built with bias=True
            self.q_head.bias.fill_(-5.0)
        # Fixed (untrained) initial states, one vector broadcast over every position.
        self.register_buffer("z_H_init", trunc_normal_(torch.empty(D), std=1.0))
        self.register_buffer("z_L_init", trunc_normal_(torch.empty(D), std=1.0))

    def initial_states(self, batch_size: int, device: torch.device | None = None, seq_len: int | None = None):
        """Initial (z_H, z_L) for ``batch_size`` rows of ``seq_len`` grid tokens (default: the config's)."""
        seq_len = self.config.seq_len if seq_len is None else seq_len
        shape = (batch_size, seq_len + self.config.puzzle_emb_len, self.config.hidden_size)
        device = device if device is not None else self.z_H_init.device
        z_H = self.z_H_init.to(self.forward_dtype).expand(shape).to(device).clone()
        z_L = self.z_L_init.to(self.forward_dtype).expand(shape).to(device).clone()
        return z_H, z_L

    def forward(
        self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor
    ) -> SegmentOutput:
        """Run one segment: state ``{"z_H", "z_L"}`` detached, logits [B, seq_len, V], q_halt/q_continue [B] fp32."""
        cfg = self.config
        rotary = self.rotary(z_H.shape[1]) if self.rotary is not None else None
        # Outside no_grad: the embeddings get their gradient through the final f_L call's injection.
        x_tilde = self.embed(inputs, puzzle_identifiers, self.forward_dtype)
        # Only the last ``grad_window`` of the segment's N·(T + 1) calls are in the autograd graph (default 2: the
        # 1-step gradient through the last f_L and the last f_H call), so memory does not grow with N·T.
        grad = torch.is_grad_enabled()
        calls = cfg.high_cycles * (cfg.low_cycles + 1)
        first_with_grad = calls - cfg.grad_window
        call = 0
        for _cycle in range(cfg.high_cycles):  # N high-level cycles ...
            for _step in range(cfg.low_cycles):  # ... of T low-level steps each
                with torch.set_grad_enabled(grad and call >= first_with_grad):
                    if cfg.flat:  # ablation: one state (kept in z_H), every call sees the input
                        z_H = self.low_level(z_H, x_tilde, rotary)
                    else:
                        z_L = self.low_level(z_L, z_H + x_tilde, rotary)
                call += 1
            with torch.set_grad_enabled(grad and call >= first_with_grad):
                z_H = self.high_level(z_H, x_tilde if cfg.flat else z_L, rotary)
            call += 1
        logits = self.lm_head(z_H)[:, cfg.puzzle_emb_len :]
        q = at_least_fp32(self.q_head(z_H[:, 0]))
        return SegmentOutput(
            state={"z_H": z_H.detach(), "z_L": z_L.detach()},
            logits=logits,
            q_halt_logits=q[..., 0],
            q_continue_logits=q[..., 1],
        )


class HRM(ZooModel):
    """HRM with adaptive computation time (ACT) and deep supervision via a persistent carry.

    Each call runs **one segment** for every row (:meth:`~hrm.model.common.OuterLoop.forward`). Rows whose previous
    call halted are reset to the initial states and take the sample at the same row index of ``batch``; other rows
    keep their sample (the new batch's sample in their slot is discarded, as in the reference). In training, a row
    halts when q_halt > q_continue (after an ε-exploration minimum) or at M_max, and one more no-grad segment gives
    the Q-continue target; with ``act=False`` every row runs M_max segments. In eval mode every row runs exactly
    M_max segments.
    """

    family: ClassVar[str] = "hrm"
    has_halting_head = True
    core: HRMCore

    def __init__(self, config: HRMConfig):
        super().__init__()
        self.config = config
        self.core = HRMCore(config)

    @classmethod
    def upgrade_key(cls, name: str) -> str:
        for old, new in LEGACY_PREFIXES:
            if name.startswith(old):
                return new + name[len(old) :]
        return name

    def initial_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        """The fixed initial ``z_H`` / ``z_L`` for every row of ``inputs`` [B, seq_len]."""
        z_H, z_L = self.core.initial_states(inputs.shape[0], inputs.device, inputs.shape[1])
        return {"z_H": z_H, "z_L": z_L}

    def fresh_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        dtype = self.core.forward_dtype
        return {"z_H": self.core.z_H_init.to(dtype), "z_L": self.core.z_L_init.to(dtype)}  # [D], broadcast

    def _segment(
        self, state: dict[str, torch.Tensor], inputs: torch.Tensor, puzzle_identifiers: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        out = self.core(state["z_H"], state["z_L"], inputs, puzzle_identifiers)
        return out.state, out.logits, out.q_halt_logits, out.q_continue_logits

    def flops_per_segment(self, batch_size: int, seq_len: int | None = None) -> int:
        """Matmul FLOPs of one segment's forward (all N·T f_L and N f_H calls, the output and Q heads)."""
        cfg = self.config
        seq_len = cfg.seq_len if seq_len is None else seq_len
        length = seq_len + cfg.puzzle_emb_len
        block = block_flops(batch_size, length, cfg.hidden_size, cfg.expansion)
        blocks = cfg.high_cycles * cfg.low_cycles * cfg.low_layers + cfg.high_cycles * cfg.high_layers
        # f_O runs on every position (the prefix is dropped afterwards); the Q-head on position 0 only.
        heads = 2 * batch_size * length * cfg.hidden_size * cfg.vocab_size + 2 * batch_size * cfg.hidden_size * 2
        return blocks * block + heads
