"""Recurrent baselines: multi-layer bidirectional ``torch.nn.GRU`` / ``torch.nn.LSTM`` over the flattened grid.

The HRM technical notes compare against plain recurrent networks, whose updates converge early (the hidden state
stops changing after a few steps); HRM's two timescales are its answer to that. Here the same f_I as HRM (token
table, puzzle-ID prefix tokens, ×√D) feeds the RNN, which reads prefix + grid as one sequence in both directions;
the output head maps each grid position's concatenated directions to the vocabulary. One pass, one loss, no
halting head (``max_segments`` is 1). The RNN's weights keep torch's default init and its math runs in fp32
whatever ``forward_dtype`` is (torch's fused RNN kernels want input and weights in one dtype).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from hrm.model.common import DatasetFields, FamilyConfig, InputEmbedding, ZooModel, linear_flops
from hrm.model.layers import CastedLinear
from hrm.model.limits import MAX_LAYERS, MAX_MODEL_VALUES


@dataclass(kw_only=True)
class RecurrentArchitecture(FamilyConfig):
    """A multi-layer RNN baseline (the ``gru`` and ``lstm`` families share these fields).

    Attributes:
        vocab_size / seq_len / num_puzzle_identifiers: fixed by the dataset.
        puzzle_emb_ndim: puzzle-ID embedding width (``None`` = hidden_size, 0 = off); ceil(ndim / D) prefix tokens.
        hidden_size: D, the embedding width (the RNN's input).
        num_layers: stacked RNN layers.
        bidirectional: read the sequence in both directions (default; a grid has no causal order).
        rnn_hidden: units per direction; 0 = D / 2 when bidirectional (D outputs per position), else D.
        match_parameters: when > 0 and ``rnn_hidden`` is 0, choose ``rnn_hidden`` so that the trunk's parameter
            count is as close as possible to this number (e.g. 27_275_266 for HRM's 27M).
        loss_type: ``stablemax`` or ``softmax`` cross-entropy.
    """

    puzzle_emb_ndim: int | None = None
    hidden_size: int = 512
    num_layers: int = 2
    bidirectional: bool = True
    rnn_hidden: int = 0
    match_parameters: int = 0
    loss_type: Literal["stablemax", "softmax"] = "stablemax"


@dataclass(kw_only=True)
class RecurrentConfig(RecurrentArchitecture, DatasetFields):
    """An RNN baseline: :class:`RecurrentArchitecture` plus the dataset's sizes (subclasses fix the cell)."""

    family: ClassVar[str] = ""
    gates: ClassVar[int] = 0

    def __post_init__(self) -> None:
        self._resolve_puzzle_emb()
        self.validate()

    def validate(self) -> None:
        self._positive("vocab_size", "seq_len", "num_puzzle_identifiers", "hidden_size", "num_layers")
        self._non_negative("puzzle_emb_ndim", "rnn_hidden", "match_parameters")
        self._bounded(MAX_LAYERS, "num_layers")
        self._bounded(MAX_MODEL_VALUES, "hidden_size", "rnn_hidden", "match_parameters", "puzzle_emb_ndim", minimum=0)
        self._choice("loss_type", ("stablemax", "softmax"))
        if self.rnn_hidden == 0 and self.bidirectional and self.hidden_size % 2:
            raise ValueError(f"{self._name('hidden_size')} must be even for a bidirectional RNN, or set rnn_hidden")
        units = float(self.units)
        activations = 4.0 * self.total_len * self.directions * units * (self.gates + 1)
        puzzle_table = float(self.num_puzzle_identifiers) * float(self.puzzle_emb_ndim or 0)
        self._check_values(self.trunk_parameters(self.units) + puzzle_table + activations)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def puzzle_emb_len(self) -> int:
        return self.prefix_tokens

    @property
    def total_len(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    def trunk_parameters(self, units: int) -> int:
        """Trainable parameters with ``units`` per direction: token table, RNN (2 bias vectors per gate), head."""
        d = self.directions
        rnn = 0
        for layer in range(self.num_layers):
            inputs = self.hidden_size if layer == 0 else d * units
            rnn += d * self.gates * (units * inputs + units * units + 2 * units)
        return self.vocab_size * self.hidden_size + rnn + d * units * self.vocab_size

    @property
    def units(self) -> int:
        """Units per direction after resolving ``rnn_hidden`` / ``match_parameters``."""
        if self.rnn_hidden:
            return self.rnn_hidden
        if self.match_parameters:
            # trunk_parameters is increasing in units: bisect for the closest count.
            lo, hi = 1, max(2, int(math.sqrt(self.match_parameters)) + 1)
            while lo < hi:
                mid = (lo + hi) // 2
                if self.trunk_parameters(mid) < self.match_parameters:
                    lo = mid + 1
                else:
                    hi = mid
            below = max(1, lo - 1)
            return min((below, lo), key=lambda u: (abs(self.trunk_parameters(u) - self.match_parameters), u))
        return self.hidden_size // self.directions


@dataclass(kw_only=True)
class GRUConfig(RecurrentConfig):
    family: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3


@dataclass(kw_only=True)
class LSTMConfig(RecurrentConfig):
    family: ClassVar[str] = "lstm"
    gates: ClassVar[int] = 4


class RecurrentCore(nn.Module):
    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        self.forward_dtype = torch.float32
        puzzle_emb_ndim = config.puzzle_emb_ndim
        assert puzzle_emb_ndim is not None  # RecurrentConfig.__post_init__ resolves None to hidden_size
        self.embed = InputEmbedding(
            config.vocab_size,
            config.hidden_size,
            config.num_puzzle_identifiers,
            puzzle_emb_ndim,
            config.puzzle_emb_len,
            "none",
            config.total_len,
        )
        rnn_cls = nn.GRU if config.family == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            config.hidden_size,
            config.units,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
        )
        self.lm_head = CastedLinear(config.directions * config.units, config.vocab_size)

    def forward(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        x = self.embed(inputs, puzzle_identifiers, self.forward_dtype)
        h, _ = self.rnn(x.to(torch.float32))
        return self.lm_head(h.to(self.forward_dtype))[:, self.config.puzzle_emb_len :]


class _RecurrentBaseline(ZooModel):
    has_halting_head = False
    core: RecurrentCore

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        self.core = RecurrentCore(config)

    @property
    def max_segments(self) -> int:
        return 1

    def initial_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def _segment(self, state: dict[str, torch.Tensor], inputs: torch.Tensor, puzzle_identifiers: torch.Tensor):
        return {}, self.core(inputs, puzzle_identifiers), None, None

    def flops_per_segment(self, batch_size: int, seq_len: int | None = None) -> int:
        cfg = self.config
        length = (cfg.seq_len if seq_len is None else seq_len) + cfg.puzzle_emb_len
        units, d = cfg.units, cfg.directions
        rnn = 0
        for layer in range(cfg.num_layers):
            inputs = cfg.hidden_size if layer == 0 else d * units
            rnn += d * (
                linear_flops(batch_size * length, inputs, cfg.gates * units)
                + linear_flops(batch_size * length, units, cfg.gates * units)
            )
        return rnn + linear_flops(batch_size * length, d * units, cfg.vocab_size)


class GRUBaseline(_RecurrentBaseline):
    """Bidirectional multi-layer GRU over the flattened grid (family ``gru``)."""

    family: ClassVar[str] = "gru"


class LSTMBaseline(_RecurrentBaseline):
    """Bidirectional multi-layer LSTM over the flattened grid (family ``lstm``)."""

    family: ClassVar[str] = "lstm"


def size_like_hrm(section: RecurrentArchitecture, hrm: Any) -> None:
    """A GRU/LSTM beside an HRM: 2 bidirectional layers at HRM's width, its puzzle embedding and loss."""
    section.hidden_size = hrm.hidden_size
    section.num_layers = 2
    section.puzzle_emb_ndim = hrm.puzzle_emb_ndim
    section.loss_type = hrm.loss_type
