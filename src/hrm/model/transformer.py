"""Transformer baselines built from HRM's blocks.

Two modes, chosen by ``halt_max_steps``:

- ``halt_max_steps == 1`` (default): a plain non-recurrent encoder. One pass, one loss, no carry, no halting head:
  logits = lm_head(blocks(f_I(x))). The default depth (8 blocks at width 512) matches HRM's 27M trunk.
- ``halt_max_steps > 1``: HRM's outer loop (deep supervision + ACT) around the same encoder, the ARC Prize
  "transformer in place of the hierarchy" baseline (public reference: TinyRecursiveModels'
  ``transformers_baseline.py``): each segment runs z_H ← blocks(z_H + x̃) once, with gradient, and the Q-head reads
  position 0; halting and the Q-continue target follow HRM. ``act=False`` runs a fixed number of segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from hrm.model.common import (
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


@dataclass(kw_only=True)
class TransformerArchitecture(BlockStackArchitecture):
    """A Transformer encoder of HRM's post-norm blocks (shared fields in
    :class:`~hrm.model.common.BlockStackArchitecture`).

    Attributes:
        num_layers: blocks. The default 8 at width 512 has HRM's parameter count (HRM: 4 + 4 blocks).
        pos_encodings: ``rope`` or ``learned``.
        halt_max_steps: 1 (default) = plain single-pass encoder; > 1 = HRM's outer loop with at most this many
            segments (``halt_exploration_prob`` and ``act`` apply only then).
        act: adaptive halting in training; ``False`` = every sample runs halt_max_steps segments.
    """

    num_layers: int = 8
    pos_encodings: Literal["rope", "rope2d", "learned"] = "rope"
    halt_max_steps: int = 1
    act: bool = True


@dataclass(kw_only=True)
class TransformerConfig(TransformerArchitecture, DatasetFields):
    """A Transformer baseline: :class:`TransformerArchitecture` plus the dataset's sizes, validated."""

    family: ClassVar[str] = "transformer"

    def __post_init__(self) -> None:
        self._resolve_puzzle_emb()
        self.validate()

    def validate(self) -> None:
        self._validate_block_stack(("rope", "rope2d", "learned"))
        self._positive("num_layers", "halt_max_steps")
        self._check_values(self._block_stack_values(self.num_layers, self.total_len))

    @property
    def puzzle_emb_len(self) -> int:
        return self.prefix_tokens

    @property
    def total_len(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    @property
    def outer_loop(self) -> bool:
        return self.halt_max_steps > 1


class TransformerCore(AttentionStackCore):
    """f_I, the block stack, f_O, and (with the outer loop) the Q-head and the fixed initial state."""

    config: TransformerConfig
    z_H_init: torch.Tensor  # buffer, [hidden_size] (with the outer loop only)

    def __init__(self, config: TransformerConfig):
        super().__init__(config, halting=config.outer_loop)
        D = config.hidden_size
        if config.outer_loop:
            self.register_buffer("z_H_init", trunc_normal_(torch.empty(D), std=1.0))

    def forward(self, z_H: torch.Tensor | None, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor):
        """One pass (z_H None) or one outer-loop segment. Returns (z_H detached or None, logits, q_halt, q_cont)."""
        x = self.embed(inputs, puzzle_identifiers, self.forward_dtype)
        rotary = self.rotary(x.shape[1]) if self.rotary is not None else None
        h = self.blocks(x if z_H is None else z_H, None if z_H is None else x, rotary)
        logits = self.lm_head(h)[:, self.config.puzzle_emb_len :]
        if self.q_head is None:
            return None, logits, None, None
        q = at_least_fp32(self.q_head(h[:, 0]))
        return h.detach(), logits, q[..., 0], q[..., 1]


class Transformer(ZooModel):
    """The Transformer baseline under the family protocol (single pass, or HRM's outer loop)."""

    family: ClassVar[str] = "transformer"

    core: TransformerCore

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.core = TransformerCore(config)

    @property
    def has_halting_head(self) -> bool:
        return self.config.outer_loop

    def initial_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.config.outer_loop:
            return {}
        shape = (inputs.shape[0], inputs.shape[1] + self.config.puzzle_emb_len, self.config.hidden_size)
        z_H = self.core.z_H_init.to(self.forward_dtype).expand(shape).to(inputs.device).clone()
        return {"z_H": z_H}

    def _segment(self, state: dict[str, torch.Tensor], inputs: torch.Tensor, puzzle_identifiers: torch.Tensor):
        z_H, logits, q_halt, q_continue = self.core(state.get("z_H"), inputs, puzzle_identifiers)
        return ({} if z_H is None else {"z_H": z_H}), logits, q_halt, q_continue

    def flops_per_segment(self, batch_size: int, seq_len: int | None = None) -> int:
        cfg = self.config
        length = (cfg.seq_len if seq_len is None else seq_len) + cfg.puzzle_emb_len
        blocks = cfg.num_layers * block_flops(batch_size, length, cfg.hidden_size, cfg.expansion)
        heads = linear_flops(batch_size * length, cfg.hidden_size, cfg.vocab_size)
        if cfg.outer_loop:
            heads += linear_flops(batch_size, cfg.hidden_size, 2)
        return blocks + heads


def size_like_hrm(section: TransformerArchitecture, hrm: Any) -> None:
    """The Transformer beside an HRM: its width, heads, positions, loss and puzzle embedding; high_layers +
    low_layers blocks in one pass (HRM's parameter count)."""
    copy_fields(section, hrm, HRM_SHAPE_FIELDS)
    section.num_layers = hrm.high_layers + hrm.low_layers
