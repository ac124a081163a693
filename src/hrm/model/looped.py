"""A looped (Universal-Transformer-style) model: one block stack applied K times with input injection.

Each segment runs z ← blocks(z + x̃) ``loops`` (K) times from the carried state z. The last ``grad_window`` calls
are in the autograd graph (0 = all K: full backpropagation through the loop); the earlier ones run under
``no_grad``, so activation memory grows with ``grad_window``, not with K. With ``halt_max_steps > 1`` the model
is trained with deep supervision over segments and HRM's ACT (Q-head at position 0, halt when q_halt > q_continue,
bootstrapped Q-continue target); ``act=False`` runs a fixed number of segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from hrm.model.common import (
    HRM_HALTING_FIELDS,
    HRM_SHAPE_FIELDS,
    AttentionStackCore,
    BlockStackArchitecture,
    DatasetFields,
    ZooModel,
    block_flops,
    copy_fields,
    linear_flops,
)
from hrm.model.layers import at_least_fp32, trunc_normal_
from hrm.model.limits import MAX_RECURRENCE


@dataclass(kw_only=True)
class LoopedArchitecture(BlockStackArchitecture):
    """A block stack looped K times per segment (the shared fields: :class:`~hrm.model.common.BlockStackArchitecture`).

    Attributes:
        num_layers: blocks in the stack (default 4).
        pos_encodings: ``rope`` or ``learned``.
        halt_max_steps: segments with deep supervision and ACT (default 16); 1 = a single supervised pass.
        loops: K, applications of the stack per segment. The default 6 × 4 blocks = 24 block applications per
            segment, HRM's default (2·2 f_L calls + 2 f_H calls of 4 blocks), with half of HRM's parameters.
        grad_window: the last this many applications carry gradient; 0 = all of them (full backprop). The
            default 2 (8 blocks) is as deep as HRM's 1-step gradient (the last f_L and f_H call).
        act: adaptive halting in training; ``False`` = every sample runs halt_max_steps segments.
    """

    pos_encodings: Literal["rope", "rope2d", "learned"] = "rope"
    loops: int = 6
    grad_window: int = 2
    act: bool = True


@dataclass(kw_only=True)
class LoopedConfig(LoopedArchitecture, DatasetFields):
    """A looped Transformer: :class:`LoopedArchitecture` plus the dataset's sizes, validated."""

    family: ClassVar[str] = "looped"

    def __post_init__(self) -> None:
        self._resolve_puzzle_emb()
        self.validate()

    def validate(self) -> None:
        self._validate_block_stack(("rope", "rope2d", "learned"))
        self._positive("num_layers", "loops", "halt_max_steps")
        self._bounded(MAX_RECURRENCE, "loops")
        self._check_values(self._block_stack_values(self.num_layers, self.total_len))
        self._non_negative("grad_window")
        if self.grad_window > self.loops:
            raise ValueError(f"LoopedConfig.grad_window ({self.grad_window}) must be <= loops ({self.loops}); 0 = all")

    @property
    def puzzle_emb_len(self) -> int:
        return self.prefix_tokens

    @property
    def total_len(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    @property
    def calls_with_grad(self) -> int:
        return self.loops if self.grad_window == 0 else self.grad_window


class LoopedCore(AttentionStackCore):
    z_init: torch.Tensor  # buffer, [hidden_size]
    config: LoopedConfig

    def __init__(self, config: LoopedConfig):
        super().__init__(config, halting=config.halt_max_steps > 1)
        D = config.hidden_size
        self.register_buffer("z_init", trunc_normal_(torch.empty(D), std=1.0))

    def forward(self, z: torch.Tensor, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor):
        cfg = self.config
        x = self.embed(inputs, puzzle_identifiers, self.forward_dtype)
        rotary = self.rotary(z.shape[1]) if self.rotary is not None else None
        with torch.no_grad():
            for _ in range(cfg.loops - cfg.calls_with_grad):
                z = self.blocks(z, x, rotary)
        for _ in range(cfg.calls_with_grad):
            z = self.blocks(z, x, rotary)
        logits = self.lm_head(z)[:, cfg.puzzle_emb_len :]
        if self.q_head is None:
            return z.detach(), logits, None, None
        q = at_least_fp32(self.q_head(z[:, 0]))
        return z.detach(), logits, q[..., 0], q[..., 1]


class Looped(ZooModel):
    """The looped Transformer under the family protocol."""

    family: ClassVar[str] = "looped"

    core: LoopedCore

    def __init__(self, config: LoopedConfig):
        super().__init__()
        self.config = config
        self.core = LoopedCore(config)

    @property
    def has_halting_head(self) -> bool:
        return self.config.halt_max_steps > 1

    def initial_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        shape = (inputs.shape[0], inputs.shape[1] + self.config.puzzle_emb_len, self.config.hidden_size)
        return {"z": self.core.z_init.to(self.forward_dtype).expand(shape).to(inputs.device).clone()}

    def _segment(self, state: dict[str, torch.Tensor], inputs: torch.Tensor, puzzle_identifiers: torch.Tensor):
        z, logits, q_halt, q_continue = self.core(state["z"], inputs, puzzle_identifiers)
        return {"z": z}, logits, q_halt, q_continue

    def flops_per_segment(self, batch_size: int, seq_len: int | None = None) -> int:
        cfg = self.config
        length = (cfg.seq_len if seq_len is None else seq_len) + cfg.puzzle_emb_len
        per_call = cfg.num_layers * block_flops(batch_size, length, cfg.hidden_size, cfg.expansion)
        heads = linear_flops(batch_size * length, cfg.hidden_size, cfg.vocab_size)
        if cfg.halt_max_steps > 1:
            heads += linear_flops(batch_size, cfg.hidden_size, 2)
        return cfg.loops * per_call + heads


def size_like_hrm(section: LoopedArchitecture, hrm: Any) -> None:
    """The looped Transformer beside an HRM: its width, heads, positions, loss, puzzle embedding and M_max;
    ``low_layers`` blocks looped to HRM's block applications per segment, the gradient window as deep as HRM's
    1-step gradient."""
    copy_fields(section, hrm, HRM_SHAPE_FIELDS + HRM_HALTING_FIELDS)
    blocks = hrm.high_cycles * (hrm.low_cycles * hrm.low_layers + hrm.high_layers)
    section.num_layers = hrm.low_layers
    section.loops = max(1, round(blocks / hrm.low_layers))
    section.grad_window = min(section.loops, -(-(hrm.low_layers + hrm.high_layers) // hrm.low_layers))
