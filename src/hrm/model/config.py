"""Typed, validated architecture config for HRM."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from hrm.model.common import FamilyConfig
from hrm.model.limits import MAX_RECURRENCE

PosEncoding = Literal["rope", "rope2d", "learned"]
LossType = Literal["stablemax", "softmax"]


@dataclass(kw_only=True)
class HRMArchitecture(FamilyConfig):
    """The architecture choices of an HRM, without what the dataset fixes (see :class:`HRMConfig`).

    A training config's ``arch`` section is this class (its family section, from the registry), so the two never
    drift apart.
    """

    puzzle_emb_ndim: int | None = None
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    high_layers: int = 4
    low_layers: int = 4
    high_cycles: int = 2
    low_cycles: int = 2
    pos_encodings: PosEncoding = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    loss_type: LossType = "stablemax"
    act: bool = True
    grad_window: int = 2
    flat: bool = False


@dataclass(kw_only=True)
class HRMConfig(HRMArchitecture):
    """Architecture of an HRM. Defaults are the reference's (`hrm_v1.yaml`, the 27M model).

    The dataset fixes ``vocab_size``, ``seq_len`` and ``num_puzzle_identifiers``; every other field comes from
    :class:`HRMArchitecture`.

    Attributes:
        vocab_size: number of token ids (Sudoku 11, Maze 6, ARC 12).
        seq_len: grid tokens per example, excluding puzzle-embedding prefix tokens.
        num_puzzle_identifiers: rows of the puzzle-ID embedding table (1 for Sudoku/Maze; one per ARC variant).
        puzzle_emb_ndim: width of a puzzle-ID embedding; ``None`` means ``hidden_size``; 0 disables it.
        hidden_size: model width D.
        num_heads: attention heads (head_dim = hidden_size / num_heads).
        expansion: SwiGLU expansion factor before the 2/3 and round-up-to-256 rule.
        high_layers / low_layers: Transformer blocks in f_H / f_L.
        high_cycles: N, high-level cycles per segment.
        low_cycles: T, low-level steps per high-level cycle.
        pos_encodings: ``rope`` (rotary), ``rope2d`` (ours: rows and columns of a square grid rotated separately,
            :class:`~hrm.model.layers.Rotary2DEmbedding`) or ``learned`` (added table, scaled by 1/√2).
        rope_theta: rotary base.
        rms_norm_eps: epsilon inside RMSNorm.
        halt_max_steps: M_max, the most segments per sample.
        halt_exploration_prob: ε, probability of forcing a random minimum of segments in training.
        loss_type: ``stablemax`` (the reference default, small-data runs) or ``softmax`` cross-entropy.

    Ablations (ours; the defaults are HRM as published). With ``halt_max_steps=1`` there is no deep supervision
    (one segment per sample) and with ``puzzle_emb_ndim=0`` no puzzle embedding; besides those:

    Attributes:
        act: adaptive halting in training; ``False`` = every sample runs ``halt_max_steps`` segments (the ARC
            Prize analysis's fixed-loop runs; the Q-head still learns its halt target, no Q-continue segment).
        grad_window: how many of a segment's last f_L/f_H calls are in the autograd graph. 2 = the paper's
            1-step gradient (the last f_L and f_H call); ``low_cycles + 1`` = the whole last high-level cycle;
            ``high_cycles * (low_cycles + 1)`` = full backpropagation through the segment.
        flat: remove the hierarchy at equal parameters and compute: one state z (stored as z_H) updated by f_L and
            f_H in HRM's call order, every call seeing the input (z ← f(z + x̃)); z_L stays at its initial value.
    """

    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int = 1

    family: ClassVar[str] = "hrm"

    def __post_init__(self) -> None:
        self._resolve_puzzle_emb()
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first impossible value (the checks every block-stack family shares,
        then HRM's own: cycles and the gradient window); a hostile or mistyped size (vocab_size=1e11) is refused
        before any tensor exists."""
        self._validate_block_stack(("rope", "rope2d", "learned"), layers=("high_layers", "low_layers"))
        self._bounded(MAX_RECURRENCE, "high_cycles", "low_cycles")
        calls = self.high_cycles * (self.low_cycles + 1)
        if (
            isinstance(self.grad_window, bool)
            or not isinstance(self.grad_window, int)
            or not 1 <= self.grad_window <= calls
        ):
            raise ValueError(
                f"HRMConfig.grad_window must be an integer in [1, high_cycles*(low_cycles+1)={calls}], "
                f"got {self.grad_window!r}"
            )
        if not math.isfinite(self.expansion):
            raise ValueError(f"HRMConfig.expansion must be finite, got {self.expansion!r}")
        self._check_values(self.approx_num_values())

    def approx_num_values(self) -> float:
        """About how many values the weights and the per-example activations of one row take (no allocation).

        An upper estimate used only for the sanity bound in :meth:`validate`: token embedding and output head,
        the puzzle-ID table, position tables, the transformer blocks, and one row's states.
        """
        assert self.puzzle_emb_ndim is not None  # __post_init__ resolves None to hidden_size
        h = float(self.hidden_size)
        total_len = float(self.seq_len) + math.ceil(self.puzzle_emb_ndim / self.hidden_size)
        blocks = (self.high_layers + self.low_layers) * (4 * h * h + 3 * h * math.ceil(self.expansion * h))
        tables = 2 * float(self.vocab_size) * h + float(self.num_puzzle_identifiers) * self.puzzle_emb_ndim
        return blocks + tables + 4 * total_len * h

    @property
    def puzzle_emb_len(self) -> int:
        """Prefix tokens taken by the puzzle-ID embedding: ceil(puzzle_emb_ndim / hidden_size), as every family's."""
        return self.prefix_tokens

    @property
    def total_len(self) -> int:
        """Internal sequence length: prefix tokens + grid tokens."""
        return self.seq_len + self.puzzle_emb_len
