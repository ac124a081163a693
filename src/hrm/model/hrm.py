"""The Hierarchical Reasoning Model: one segment (:class:`HRMCore`) and the ACT wrapper (:class:`HRM`).

Paper symbol → code name

============================  ==========================================================================
paper                         code
============================  ==========================================================================
f_I (input network)           ``HRMCore.input_embeddings`` (``embed_tokens``, ``puzzle_emb``, ``embed_pos``)
x̃ (embedded input)            ``x_tilde`` in ``HRMCore.forward``
f_L (low-level module)        ``HRMCore.low_level`` (a :class:`~hrm.model.layers.ReasoningModule`)
f_H (high-level module)       ``HRMCore.high_level``
f_O (output network)          ``HRMCore.lm_head``
Q-head (halt / continue)      ``HRMCore.q_head``, read at position 0 (the puzzle-embedding token)
z_L, z_H (states)             ``Carry.z_L``, ``Carry.z_H``; initial values ``z_L_init``/``z_H_init`` buffers
N (high-level cycles)         ``HRMConfig.high_cycles``
T (low-level steps per cycle) ``HRMConfig.low_cycles``
segment m (deep supervision)  one call of ``HRM.forward``; ``Carry.steps`` counts them per row
M_max                         ``HRMConfig.halt_max_steps``
M_min / ε (exploration)       ``HRMConfig.halt_exploration_prob``; M_min ~ U{2..M_max} with probability ε
Ĝ_halt, Ĝ_continue (targets)  ``act_loss`` (halt) and ``outputs["target_q_continue"]`` (continue)
============================  ==========================================================================

One segment runs N·T low-level steps and N high-level steps. Everything except the last f_L and the last f_H call
runs under ``no_grad`` (the 1-step gradient approximation), so memory does not grow with N·T.

:class:`HRM` implements the model protocol (:mod:`hrm.model.protocol`): ``initial_state`` and ``segment`` feed the
one segment loop (``run_segments``) that ``predict`` and ``trace`` are built on. Our additions to the reference
behaviour (each documented in ``docs/differences.md``): :meth:`~hrm.model.protocol.SegmentRunner.predict` runs
per-sample early exit at inference (a row stops once q_halt > q_continue); ``trace`` returns every segment's
outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import nn

from hrm.model.common import LEARNED_POS_SCALE
from hrm.model.config import HRMConfig
from hrm.model.layers import (
    CastedEmbedding,
    CastedLinear,
    ReasoningModule,
    RotaryEmbedding,
    at_least_fp32,
    swiglu_width,
    transformer_block_flops,
    trunc_normal_,
)
from hrm.model.protocol import FamilyModule, SegmentOutput, SegmentRunner
from hrm.model.puzzle_embedding import PuzzleEmbedding


@dataclass
class Carry:
    """State carried between segments (calls of :meth:`HRM.forward`).

    ``current_data`` holds each row's inputs, labels and puzzle_identifiers: a row keeps its sample until it halts.
    """

    z_H: torch.Tensor  # [B, L_total, D]
    z_L: torch.Tensor  # [B, L_total, D]
    steps: torch.Tensor  # int32 [B], segments run on the current sample
    halted: torch.Tensor  # bool [B]; a halted row is reset and refilled on the next call
    current_data: dict[str, torch.Tensor]

    def to(self, device: torch.device | str) -> Carry:
        return Carry(
            z_H=self.z_H.to(device),
            z_L=self.z_L.to(device),
            steps=self.steps.to(device),
            halted=self.halted.to(device),
            current_data={k: v.to(device) for k, v in self.current_data.items()},
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "current_data"}
        out.update({f"current_data.{k}": v for k, v in self.current_data.items()})
        return out

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> Carry:
        data = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("current_data.")}
        return cls(z_H=state["z_H"], z_L=state["z_L"], steps=state["steps"], halted=state["halted"], current_data=data)


class HRMCore(nn.Module):
    """One segment of HRM: f_I, then N cycles of (T × f_L, f_H), then f_O and the Q-head."""

    z_H_init: torch.Tensor  # buffers, [hidden_size]
    z_L_init: torch.Tensor
    rotary: RotaryEmbedding | None
    embed_pos: CastedEmbedding | None

    def __init__(self, config: HRMConfig):
        super().__init__()
        self.config = config
        self.forward_dtype = torch.float32  # set by hrm.runtime's dtype policy (bf16 on CUDA)
        D = config.hidden_size
        self.embed_scale = math.sqrt(D)
        self.embed_tokens = CastedEmbedding(config.vocab_size, D, init_std=1.0 / self.embed_scale)
        puzzle_emb_ndim = config.puzzle_emb_ndim
        assert puzzle_emb_ndim is not None  # HRMConfig.__post_init__ resolves None to hidden_size
        self.puzzle_emb = (
            PuzzleEmbedding(config.num_puzzle_identifiers, puzzle_emb_ndim) if puzzle_emb_ndim > 0 else None
        )
        if config.pos_encodings == "rope":
            self.rotary = RotaryEmbedding(config.head_dim, config.total_len, config.rope_theta)
            self.embed_pos = None
        else:
            self.rotary = None
            self.embed_pos = CastedEmbedding(config.total_len, D, init_std=1.0 / self.embed_scale)
        block_args = (D, config.num_heads, config.expansion, config.rms_norm_eps)
        self.low_level = ReasoningModule(config.low_layers, *block_args)
        self.high_level = ReasoningModule(config.high_layers, *block_args)
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

    # f_I
    def input_embeddings(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        dtype = self.forward_dtype
        x = self.embed_tokens(inputs, dtype)  # [B, seq_len, D]
        if self.puzzle_emb is not None:
            D = self.config.hidden_size
            prefix = self.puzzle_emb(puzzle_identifiers, dtype)  # [B, E]
            pad = self.config.puzzle_emb_len * D - prefix.shape[-1]
            if pad > 0:
                prefix = torch.nn.functional.pad(prefix, (0, pad))
            x = torch.cat((prefix.view(-1, self.config.puzzle_emb_len, D), x), dim=-2)
        if self.embed_pos is not None:
            x = LEARNED_POS_SCALE * (x + self.embed_pos.weight.to(dtype))
        return self.embed_scale * x

    def reset_states(self, halted: torch.Tensor, z_H: torch.Tensor, z_L: torch.Tensor):
        mask = halted.view(-1, 1, 1)
        return (
            torch.where(mask, self.z_H_init.to(z_H.dtype), z_H),
            torch.where(mask, self.z_L_init.to(z_L.dtype), z_L),
        )

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
        x_tilde = self.input_embeddings(inputs, puzzle_identifiers)
        # The call sequence of a segment: N cycles of (T × f_L, f_H). Only the last ``grad_window`` calls are in the
        # autograd graph (default 2: the 1-step gradient through the last f_L and f_H call), so memory does not
        # grow with N·T.
        calls = ("L",) * cfg.low_cycles + ("H",)
        calls = calls * cfg.high_cycles
        first_with_grad = len(calls) - cfg.grad_window
        for i, level in enumerate(calls):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i >= first_with_grad):
                module = self.low_level if level == "L" else self.high_level
                if cfg.flat:  # ablation: one state, every call sees the input
                    z_H = module(z_H, x_tilde, rotary)
                elif level == "L":
                    z_L = self.low_level(z_L, z_H + x_tilde, rotary)
                else:
                    z_H = self.high_level(z_H, z_L, rotary)
        logits = self.lm_head(z_H)[:, cfg.puzzle_emb_len :]
        q = at_least_fp32(self.q_head(z_H[:, 0]))
        return SegmentOutput(
            state={"z_H": z_H.detach(), "z_L": z_L.detach()},
            logits=logits,
            q_halt_logits=q[..., 0],
            q_continue_logits=q[..., 1],
        )


class HRM(SegmentRunner, FamilyModule):
    """HRM with adaptive computation time (ACT) and deep supervision via a persistent carry.

    Each call runs **one segment** for every row. Rows whose previous call halted are reset to the initial
    states and take the sample at the same row index of ``batch``; other rows keep their sample (the new
    batch's sample in their slot is discarded, as in the reference). In training, a row halts when
    q_halt > q_continue (after an ε-exploration minimum) or at M_max, and one more no-grad segment gives the
    Q-continue target. In eval mode every row runs exactly M_max segments.
    """

    family: ClassVar[str] = "hrm"
    carry_cls = Carry  # what the trainer rebuilds a saved carry with
    batch_keys = ("inputs", "labels", "puzzle_identifiers")
    has_halting_head = True

    def __init__(self, config: HRMConfig):
        super().__init__()
        self.config = config
        self.core = HRMCore(config)

    @property
    def max_segments(self) -> int:
        """M_max (``halt_max_steps``): segments per sample in training and evaluation."""
        return self.config.halt_max_steps

    @property
    def forward_dtype(self) -> torch.dtype:
        return self.core.forward_dtype

    @forward_dtype.setter
    def forward_dtype(self, dtype: torch.dtype) -> None:
        self.core.forward_dtype = dtype

    @property
    def puzzle_emb(self) -> PuzzleEmbedding | None:
        return self.core.puzzle_emb

    def initial_carry(self, batch: dict[str, torch.Tensor]) -> Carry:
        """A carry with every row halted, so the first call loads the whole batch."""
        batch_size = batch["inputs"].shape[0]
        device = batch["inputs"].device
        z_H, z_L = self.core.initial_states(batch_size, device, batch["inputs"].shape[1])
        return Carry(
            z_H=z_H,
            z_L=z_L,
            steps=torch.zeros(batch_size, dtype=torch.int32, device=device),
            halted=torch.ones(batch_size, dtype=torch.bool, device=device),
            current_data={k: torch.zeros_like(v) for k, v in batch.items()},
        )

    def forward(self, carry: Carry, batch: dict[str, torch.Tensor]) -> tuple[Carry, dict[str, torch.Tensor]]:
        cfg = self.config
        z_H, z_L = self.core.reset_states(carry.halted, carry.z_H, carry.z_L)
        steps = torch.where(carry.halted, 0, carry.steps)
        data = {
            k: torch.where(carry.halted.view((-1,) + (1,) * (batch[k].ndim - 1)), batch[k], v)
            for k, v in carry.current_data.items()
        }
        out = self.core(z_H, z_L, data["inputs"], data["puzzle_identifiers"])
        z_H, z_L, q_halt, q_continue = out.z_H, out.z_L, out.q_halt_logits, out.q_continue_logits
        outputs = {"logits": out.logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue}
        with torch.no_grad():
            steps = steps + 1
            is_last = steps >= cfg.halt_max_steps
            halted = is_last
            if self.training and cfg.halt_max_steps > 1 and cfg.act:
                halted = halted | (q_halt > q_continue)
                explore = torch.rand_like(q_halt) < cfg.halt_exploration_prob
                min_steps = explore * torch.randint_like(steps, low=2, high=cfg.halt_max_steps + 1)
                halted = halted & (steps >= min_steps)
                # Target for Q-continue: the value of the next segment, bootstrapped from the updated carry
                # (γ = 1, no target network; a large batch plays the role of parallel environments).
                nxt = self.core(z_H, z_L, data["inputs"], data["puzzle_identifiers"])
                outputs["target_q_continue"] = torch.sigmoid(
                    torch.where(is_last, nxt.q_halt_logits, torch.maximum(nxt.q_halt_logits, nxt.q_continue_logits))
                )
        return Carry(z_H=z_H, z_L=z_L, steps=steps, halted=halted, current_data=data), outputs

    # --- the model protocol's inference side: run_segments / trace / predict come from SegmentRunner ---------

    def initial_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        """The fixed initial ``z_H`` / ``z_L`` for every row of ``inputs`` [B, seq_len]."""
        z_H, z_L = self.core.initial_states(inputs.shape[0], inputs.device, inputs.shape[1])
        return {"z_H": z_H, "z_L": z_L}

    def segment(
        self, state: dict[str, torch.Tensor], inputs: torch.Tensor, puzzle_identifiers: torch.Tensor
    ) -> SegmentOutput:
        return self.core(state["z_H"], state["z_L"], inputs, puzzle_identifiers)

    def prepare_inputs(self, inputs, puzzle_identifiers) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer tensors or arrays on any device → on the model's device, with token and identifier ranges
        checked."""
        inputs, puzzle_identifiers = super().prepare_inputs(inputs, puzzle_identifiers)
        self._check_inputs(inputs, puzzle_identifiers)
        return inputs, puzzle_identifiers

    def _check_inputs(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> None:
        cfg = self.config
        if inputs.ndim != 2:
            raise ValueError(f"inputs must be [batch, seq_len], got shape {tuple(inputs.shape)}")
        if cfg.pos_encodings == "learned" and inputs.shape[1] != cfg.seq_len:
            raise ValueError(f"inputs have {inputs.shape[1]} tokens but the model expects seq_len={cfg.seq_len}")
        if inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= cfg.vocab_size):
            raise ValueError(
                f"input tokens must be in [0, {cfg.vocab_size}), got [{int(inputs.min())}, {int(inputs.max())}]"
            )
        if puzzle_identifiers.numel() and (
            int(puzzle_identifiers.min()) < 0 or int(puzzle_identifiers.max()) >= cfg.num_puzzle_identifiers
        ):
            raise ValueError(f"puzzle_identifiers must be in [0, {cfg.num_puzzle_identifiers})")
        if puzzle_identifiers.shape != inputs.shape[:1]:
            raise ValueError(
                f"puzzle_identifiers must be [batch]={inputs.shape[0]}, got shape {tuple(puzzle_identifiers.shape)}"
            )

    def flops_per_segment(self, batch_size: int, seq_len: int | None = None) -> int:
        """Matmul FLOPs of one segment's forward (all N·T f_L and N f_H calls, the output and Q heads)."""
        cfg = self.config
        seq_len = cfg.seq_len if seq_len is None else seq_len
        length = seq_len + cfg.puzzle_emb_len
        block = transformer_block_flops(
            batch_size, length, cfg.hidden_size, swiglu_width(cfg.hidden_size, cfg.expansion)
        )
        blocks = cfg.high_cycles * cfg.low_cycles * cfg.low_layers + cfg.high_cycles * cfg.high_layers
        # f_O runs on every position (the prefix is dropped afterwards); the Q-head on position 0 only.
        heads = 2 * batch_size * length * cfg.hidden_size * cfg.vocab_size + 2 * batch_size * cfg.hidden_size * 2
        return blocks * block + heads

    def num_parameters(self) -> dict[str, int]:
        """Trainable parameters (the paper's count) and the puzzle-ID table's size, reported separately."""
        trunk = sum(p.numel() for p in self.parameters())
        table = self.core.puzzle_emb.weight.numel() if self.core.puzzle_emb is not None else 0
        return {"trunk": trunk, "puzzle_embedding": table, "total": trunk + table}

    def compile_targets(self) -> list[nn.Module]:
        """The modules ``runtime.compile`` compiles: the recurrent ones."""
        return [self.core.low_level, self.core.high_level]
