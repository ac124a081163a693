"""Pieces shared by the model-zoo families (TRM, Transformer, looped Transformer, GRU/LSTM).

- :class:`FamilyConfig`: the ``to_dict`` / ``from_dict`` / validation helpers of every family's config dataclass;
  :class:`BlockStackArchitecture`: the fields every family built from HRM's attention blocks shares.
- :class:`InputEmbedding`: f_I as HRM builds it (token table, puzzle-ID prefix tokens, optional learned positions,
  scaled by √D), so that every family sees the same input.
- :class:`Carry` and :class:`OuterLoop`: deep supervision + ACT over segments with a persistent carry
  (rows that halted are reset and refilled), written once for every family whose segment maps a state dict to a
  new state dict. A family with ``halt_max_steps == 1`` and no state is a plain single-pass model under it.
- FLOP counting helpers for :meth:`flops_per_segment`.

Pure torch; no devices, files or logging.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, cast

import torch
import torch.nn.functional as F
from torch import nn

from hrm.model.layers import (
    CastedEmbedding,
    CastedLinear,
    Rotary2DEmbedding,
    RotaryEmbedding,
    TransformerBlock,
    swiglu_width,
)
from hrm.model.limits import MAX_LAYERS, MAX_RECURRENCE, check_count, check_model_values
from hrm.model.protocol import FamilyModule, SegmentOutput, SegmentRunner
from hrm.model.puzzle_embedding import PuzzleEmbedding

LEARNED_POS_SCALE = 0.707106781  # the reference's literal for 1/√2, applied before the √D scale


# What a family sized to compare with an HRM takes from HRM's architecture as it is (size_like_hrm in each family).
HRM_SHAPE_FIELDS = (
    "hidden_size", "num_heads", "expansion", "puzzle_emb_ndim", "rope_theta", "rms_norm_eps", "loss_type",
    "pos_encodings",
)  # fmt: skip
HRM_HALTING_FIELDS = ("halt_max_steps", "halt_exploration_prob")


def copy_fields(target: Any, source: Any, names: tuple[str, ...]) -> None:
    """``target.x = source.x`` for each name (one family's config section sized from another's)."""
    for name in names:
        setattr(target, name, getattr(source, name))


class FamilyConfig:
    """Helpers of the zoo's config dataclasses (``to_dict`` / ``from_dict`` / validation).

    Each family has an ``XArchitecture`` dataclass (the choices a training config exposes, like
    :class:`~hrm.model.config.HRMArchitecture`) and an ``XConfig(XArchitecture, DatasetFields)`` that adds what the
    dataset fixes and validates everything.
    """

    family: ClassVar[str] = ""
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass on each config class
    if TYPE_CHECKING:  # fields the shared helpers below read; each family's dataclass declares its own
        hidden_size: int
        num_heads: int
        puzzle_emb_ndim: int | None
        pos_encodings: str

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid keys: {sorted(names)}")
        data = dict(data)
        for f in dataclasses.fields(cls):
            # JSON turns tuples into lists; every tuple field here is a plain tuple of numbers.
            if f.name in data and isinstance(data[f.name], list):
                data[f.name] = tuple(data[f.name])
        return cls(**data)

    def _name(self, field_name: str) -> str:
        return f"{type(self).__name__}.{field_name}"

    def _positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{self._name(name)} must be a positive integer, got {value!r}")

    def _non_negative(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{self._name(name)} must be an integer >= 0, got {value!r}")

    def _choice(self, name: str, choices: tuple[str, ...]) -> None:
        if getattr(self, name) not in choices:
            raise ValueError(f"{self._name(name)} must be one of {list(choices)}, got {getattr(self, name)!r}")

    def _probability(self, name: str) -> None:
        value = getattr(self, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{self._name(name)} must be in [0, 1], got {value!r}")

    def _greater_than_zero(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{self._name(name)} must be > 0, got {value!r}")

    def _bounded(self, limit: int, *names: str, minimum: int = 1) -> None:
        """Each of ``names`` an integer in [minimum, limit] (:mod:`hrm.model.limits`), before anything is built."""
        for name in names:
            check_count(self._name(name), getattr(self, name), limit, minimum=minimum)

    def _check_values(self, values: float) -> None:
        """Refuse a model of more than :data:`hrm.model.limits.MAX_MODEL_VALUES` values, before anything is built."""
        check_model_values(
            type(self).__name__,
            values,
            ", ".join(
                f"{name}={getattr(self, name)}"
                for name in (
                    "vocab_size",
                    "seq_len",
                    "hidden_size",
                    "rnn_hidden",
                    "num_layers",
                    "num_puzzle_identifiers",
                )
                if hasattr(self, name)
            ),
        )

    def _block_stack_values(self, layers: int, total_len: int, mixer: bool = False) -> float:
        """About how many values a stack of ``layers`` attention (or ``mixer``: TRM-MLP) blocks, the token, puzzle
        and position tables and one row's activations take: the upper estimate behind :meth:`_check_values`."""
        h, length = float(self.hidden_size), float(total_len)
        expansion = float(getattr(self, "expansion", 4.0))
        channel = 3 * h * math.ceil(expansion * h)
        mixing = 3 * length * math.ceil(expansion * length) if mixer else 4 * h * h
        tables = 2 * float(getattr(self, "vocab_size", 0)) * h + length * h
        ndim = float(self.puzzle_emb_ndim or 0)
        tables += float(getattr(self, "num_puzzle_identifiers", 0)) * ndim
        return layers * (mixing + channel) + tables + 4 * length * h

    # --- what every zoo config shares: the puzzle-ID prefix and (for attention stacks) the block shape ----------

    def _resolve_puzzle_emb(self) -> None:
        """``puzzle_emb_ndim=None`` means one prefix token's width (``hidden_size``), as in HRMConfig."""
        if self.puzzle_emb_ndim is None:
            self.puzzle_emb_ndim = self.hidden_size

    def _validate_block_stack(self, pos_encodings: tuple[str, ...], layers: tuple[str, ...] = ("num_layers",)) -> None:
        """The checks of stacks of HRM's attention blocks (width, heads, ``layers`` per stack, positions, loss,
        halting exploration)."""
        self._positive("vocab_size", "seq_len", "num_puzzle_identifiers", "hidden_size", "num_heads")
        self._non_negative("puzzle_emb_ndim")
        self._bounded(MAX_LAYERS, *layers)
        self._bounded(MAX_RECURRENCE, "halt_max_steps")
        self._choice("pos_encodings", pos_encodings)
        self._choice("loss_type", ("stablemax", "softmax"))
        self._greater_than_zero("expansion", "rope_theta", "rms_norm_eps")
        self._probability("halt_exploration_prob")
        hidden, heads = self.hidden_size, self.num_heads
        if hidden % heads != 0:
            raise ValueError(f"{self._name('hidden_size')} ({hidden}) must be divisible by num_heads ({heads})")
        if self.pos_encodings == "rope" and (hidden // heads) % 2 != 0:
            raise ValueError(f"{type(self).__name__}: rope needs an even head_dim (hidden_size / num_heads)")
        if self.pos_encodings == "rope2d":
            if (hidden // heads) % 4 != 0:
                raise ValueError(
                    f"{type(self).__name__}: rope2d needs head_dim (hidden_size / num_heads) divisible by 4"
                )
            seq_len = int(getattr(self, "seq_len", 0))
            if math.isqrt(seq_len) ** 2 != seq_len:
                raise ValueError(
                    f"{type(self).__name__}: rope2d needs a square grid, but seq_len={seq_len} is not a square"
                )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def prefix_tokens(self) -> int:
        """Prefix tokens of the puzzle-ID embedding: ceil(puzzle_emb_ndim / hidden_size), as HRM's."""
        ndim = self.puzzle_emb_ndim
        assert ndim is not None  # _resolve_puzzle_emb ran in __post_init__
        return -(-ndim // self.hidden_size)


@dataclass(kw_only=True)
class BlockStackArchitecture(FamilyConfig):
    """The choices every family built from HRM's post-norm attention blocks shares (TRM, Transformer, looped).

    Each family subclasses it, adds its own fields and re-declares a field only to change its default (the
    field keeps its place in ``--keys`` and config.json) or to narrow ``pos_encodings``.

    Attributes:
        puzzle_emb_ndim: puzzle-ID embedding width; ``None`` means ``hidden_size``; 0 disables it.
        hidden_size / num_heads / expansion: width, attention heads, SwiGLU expansion (before the 2/3 rule), as HRM.
        num_layers: blocks in the family's stack.
        pos_encodings: ``rope``, ``rope2d`` (2-D rotary for square grids, ours), ``learned`` or (TRM's MLP-mixer
            only) ``none``.
        rope_theta / rms_norm_eps: RoPE base and the post-norm's epsilon, as HRM.
        halt_max_steps: the most segments per sample (deep supervision with ACT when > 1).
        halt_exploration_prob: ε of ACT's exploration minimum.
        loss_type: ``stablemax`` or ``softmax`` cross-entropy.
    """

    puzzle_emb_ndim: int | None = None
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    num_layers: int = 4
    pos_encodings: Literal["rope", "rope2d", "learned", "none"] = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    loss_type: Literal["stablemax", "softmax"] = "stablemax"


@dataclass(kw_only=True)
class DatasetFields:
    """What the dataset fixes: vocabulary, grid tokens per example (prefix excluded), puzzle-ID table rows."""

    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int = 1


class InputEmbedding(nn.Module):
    """f_I: token embedding, ``prefix_len`` puzzle-ID prefix tokens (zero-padded), learned positions if asked, ×√D.

    ``pos_encodings`` is ``"learned"`` (an added table over prefix + grid, scaled by 1/√2 as in the reference),
    or anything else (``"rope"`` / ``"none"``: nothing is added here).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        num_puzzle_identifiers: int,
        puzzle_emb_ndim: int,
        prefix_len: int,
        pos_encodings: str,
        total_len: int,
    ):
        super().__init__()
        if puzzle_emb_ndim > prefix_len * hidden_size:
            raise ValueError(
                f"puzzle_emb_ndim={puzzle_emb_ndim} does not fit in {prefix_len} prefix tokens of width {hidden_size}"
            )
        self.hidden_size = hidden_size
        self.prefix_len = prefix_len
        self.embed_scale = math.sqrt(hidden_size)
        self.embed_tokens = CastedEmbedding(vocab_size, hidden_size, init_std=1.0 / self.embed_scale)
        self.puzzle_emb = PuzzleEmbedding(num_puzzle_identifiers, puzzle_emb_ndim) if puzzle_emb_ndim > 0 else None
        self.embed_pos = (
            CastedEmbedding(total_len, hidden_size, init_std=1.0 / self.embed_scale)
            if pos_encodings == "learned"
            else None
        )

    def forward(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        x = self.embed_tokens(inputs, dtype)
        if self.puzzle_emb is not None:
            prefix = self.puzzle_emb(puzzle_identifiers, dtype)
            pad = self.prefix_len * self.hidden_size - prefix.shape[-1]
            if pad > 0:
                prefix = F.pad(prefix, (0, pad))
            x = torch.cat((prefix.view(-1, self.prefix_len, self.hidden_size), x), dim=-2)
        if self.embed_pos is not None:
            x = LEARNED_POS_SCALE * (x + self.embed_pos.weight.to(dtype))
        return self.embed_scale * x


@dataclass
class Carry:
    """The training carry of every family: the family's recurrent state plus the outer loop's bookkeeping.

    ``state`` maps names (``z_H``, ``z_L``, ...) to batch-first tensors; a stateless family has ``{}``.
    """

    state: dict[str, torch.Tensor]
    steps: torch.Tensor  # int32 [B], segments run on the current sample
    halted: torch.Tensor  # bool [B]; a halted row is reset and refilled on the next call
    current_data: dict[str, torch.Tensor]

    def to(self, device: torch.device | str) -> Carry:
        return Carry(
            state={k: v.to(device) for k, v in self.state.items()},
            steps=self.steps.to(device),
            halted=self.halted.to(device),
            current_data={k: v.to(device) for k, v in self.current_data.items()},
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = {"steps": self.steps, "halted": self.halted}
        out.update({f"state.{k}": v for k, v in self.state.items()})
        out.update({f"current_data.{k}": v for k, v in self.current_data.items()})
        return out

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> Carry:
        def section(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

        # A carry saved by HRM before it shared this class holds its states unprefixed (``z_H``, ``z_L``).
        legacy = {k: v for k, v in state.items() if k not in ("steps", "halted") and "." not in k}
        return cls(
            state={**legacy, **section("state.")},
            steps=state["steps"],
            halted=state["halted"],
            current_data=section("current_data."),
        )


class OuterLoop:
    """Deep supervision + ACT with a persistent carry, for families built on :class:`Carry`.

    The family provides ``config`` (with ``halt_max_steps``, ``halt_exploration_prob``), ``has_halting_head``,
    ``initial_state(inputs, puzzle_identifiers)``, ``_segment(state, inputs, puzzle_identifiers)`` returning
    ``(state, logits, q_halt, q_continue)`` with the state detached, ``halts(q_halt, q_continue)`` and
    ``trains_q_continue`` (whether a second no-grad segment gives the Q-continue target, as in HRM) and
    ``max_segments`` (M_max; 1 for a single-pass family).

    Each call runs one segment for every row. Rows whose previous call halted are reset and take the sample at
    their index of ``batch``. In training a row halts when ``halts(...)`` says so (after the ε-exploration
    minimum) or at M_max; in eval mode every row runs exactly M_max segments (the reference's rule).
    """

    batch_keys = ("inputs", "labels", "puzzle_identifiers")

    if TYPE_CHECKING:  # provided by the family class (see above)
        config: Any
        training: bool

        @property
        def has_halting_head(self) -> bool: ...

        def initial_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]: ...

        def _segment(
            self, state: dict[str, torch.Tensor], inputs: torch.Tensor, puzzle_identifiers: torch.Tensor
        ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None, torch.Tensor | None]: ...

    def initial_carry(self, batch: dict[str, torch.Tensor]) -> Carry:
        """A carry with every row halted, so the first call loads the whole batch."""
        inputs = batch["inputs"]
        batch_size, device = inputs.shape[0], inputs.device
        pids = batch.get("puzzle_identifiers", torch.zeros(batch_size, dtype=torch.int32, device=device))
        return Carry(
            state=self.initial_state(inputs, pids),
            steps=torch.zeros(batch_size, dtype=torch.int32, device=device),
            halted=torch.ones(batch_size, dtype=torch.bool, device=device),
            current_data={k: torch.zeros_like(v) for k, v in batch.items()},
        )

    def forward(self, carry: Carry, batch: dict[str, torch.Tensor]) -> tuple[Carry, dict[str, torch.Tensor]]:
        cfg = self.config
        halted = carry.halted
        data = {
            k: torch.where(halted.view((-1,) + (1,) * (batch[k].ndim - 1)), batch[k], v)
            for k, v in carry.current_data.items()
        }
        state = carry.state
        if state:
            fresh = self.fresh_state(data["inputs"], data["puzzle_identifiers"])
            state = {
                k: torch.where(halted.view((-1,) + (1,) * (v.ndim - 1)), fresh[k].to(v.dtype), v)
                for k, v in state.items()
            }
        steps = torch.where(halted, 0, carry.steps)
        state, logits, q_halt, q_continue = self._segment(state, data["inputs"], data["puzzle_identifiers"])
        outputs = {"logits": logits}
        if self.has_halting_head:
            assert q_halt is not None and q_continue is not None  # a halting head gives both
            outputs["q_halt_logits"] = q_halt
            outputs["q_continue_logits"] = q_continue
        with torch.no_grad():
            max_steps = self.max_segments
            steps = steps + 1
            is_last = steps >= max_steps
            new_halted = is_last
            adaptive = getattr(cfg, "act", True)  # act=False: a fixed number of segments (ARC Prize's ablation)
            if self.training and self.has_halting_head and adaptive and max_steps > 1:
                assert q_halt is not None  # a halting head
                new_halted = new_halted | self.halts(q_halt, q_continue)
                explore = torch.rand_like(q_halt) < cfg.halt_exploration_prob
                min_steps = explore * torch.randint_like(steps, low=2, high=max_steps + 1)
                new_halted = new_halted & (steps >= min_steps)
                if self.trains_q_continue:
                    # Q-continue target from one more segment on the updated state (γ = 1, no target network).
                    _, _, next_halt, next_continue = self._segment(state, data["inputs"], data["puzzle_identifiers"])
                    assert next_halt is not None and next_continue is not None
                    outputs["target_q_continue"] = torch.sigmoid(
                        torch.where(is_last, next_halt, torch.maximum(next_halt, next_continue))
                    )
        return Carry(state=state, steps=steps, halted=new_halted, current_data=data), outputs

    def fresh_state(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        """The state a halted row restarts from, only read (broadcast by ``torch.where``) on every call.

        Defaults to ``initial_state``; a family whose initial state is one vector per tensor returns it unexpanded,
        so the refill does not build (and copy) a full batch-sized state each step.
        """
        return self.initial_state(inputs, puzzle_identifiers)

    def halts(self, q_halt: torch.Tensor, q_continue: torch.Tensor | None) -> torch.Tensor:
        """HRM's rule: halt when q_halt > q_continue. TRM overrides it (q_halt > 0)."""
        assert q_continue is not None  # a family with this rule has a Q-continue head
        return q_halt > q_continue

    @property
    def max_segments(self) -> int:
        return self.config.halt_max_steps

    @property
    def trains_q_continue(self) -> bool:
        return self.has_halting_head


def check_model_inputs(config: Any, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor, fixed_len: bool) -> None:
    """ValueErrors for inputs a family cannot run (shape, token range, puzzle IDs)."""
    if inputs.ndim != 2:
        raise ValueError(f"inputs must be [batch, seq_len], got shape {tuple(inputs.shape)}")
    if inputs.is_floating_point() or puzzle_identifiers.is_floating_point():
        raise ValueError("inputs and puzzle_identifiers must be integer tensors")
    if fixed_len and inputs.shape[1] != config.seq_len:
        raise ValueError(f"inputs have {inputs.shape[1]} tokens but the model expects seq_len={config.seq_len}")
    if inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= config.vocab_size):
        raise ValueError(
            f"input tokens must be in [0, {config.vocab_size}), got [{int(inputs.min())}, {int(inputs.max())}]"
        )
    if puzzle_identifiers.shape != inputs.shape[:1]:
        raise ValueError(
            f"puzzle_identifiers must be [batch]={inputs.shape[0]}, got shape {tuple(puzzle_identifiers.shape)}"
        )
    if puzzle_identifiers.numel() and (
        int(puzzle_identifiers.min()) < 0 or int(puzzle_identifiers.max()) >= config.num_puzzle_identifiers
    ):
        raise ValueError(f"puzzle_identifiers must be in [0, {config.num_puzzle_identifiers})")


def count_parameters(model: nn.Module, puzzle_emb: PuzzleEmbedding | None) -> dict[str, int]:
    """Trainable parameters (the papers' count) and the puzzle-ID table's size, reported separately."""
    trunk = sum(p.numel() for p in model.parameters())
    table = puzzle_emb.weight.numel() if puzzle_emb is not None else 0
    return {"trunk": trunk, "puzzle_embedding": table, "total": trunk + table}


# --- forward FLOPs (2 per multiply-add; matmuls only, which dominate: norms and activations are ignored) ---


def linear_flops(rows: int, in_features: int, out_features: int) -> int:
    return 2 * rows * in_features * out_features


def swiglu_flops(rows: int, hidden_size: int, expansion: float) -> int:
    width = swiglu_width(hidden_size, expansion)
    return linear_flops(rows, hidden_size, 2 * width) + linear_flops(rows, width, hidden_size)


def attention_flops(batch: int, length: int, hidden_size: int) -> int:
    rows = batch * length
    projections = linear_flops(rows, hidden_size, 3 * hidden_size) + linear_flops(rows, hidden_size, hidden_size)
    scores = 2 * 2 * batch * length * length * hidden_size  # QKᵀ and attention·V over all heads
    return projections + scores


def block_flops(batch: int, length: int, hidden_size: int, expansion: float, mixer: bool = False) -> int:
    """One post-norm block: attention (or the sequence-axis SwiGLU of TRM's ``mlp_t``) plus the channel SwiGLU."""
    token_mixing = (
        swiglu_flops(batch * hidden_size, length, expansion) if mixer else attention_flops(batch, length, hidden_size)
    )
    return token_mixing + swiglu_flops(batch * length, hidden_size, expansion)


def build_rotary(config: Any, total_len: int) -> RotaryEmbedding | Rotary2DEmbedding | None:
    """The rotary tables ``config.pos_encodings`` asks for: 1-D ``rope``, 2-D ``rope2d`` (rows and columns of a
    square grid rotated separately), or None (learned positions, or none)."""
    if config.pos_encodings == "rope":
        return RotaryEmbedding(config.head_dim, total_len, config.rope_theta)
    if config.pos_encodings == "rope2d":
        return Rotary2DEmbedding(config.head_dim, config.puzzle_emb_len, total_len, config.rope_theta)
    return None


class BlockStack(nn.Module):
    """A recurrent module (HRM's f_L or f_H, TRM's net, a looped stack): add the injected input once (``None``:
    nothing), then run the blocks in order."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(
        self, state: torch.Tensor, injection: torch.Tensor | None, rotary: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        h = state if injection is None else state + injection
        for layer in self.layers:
            h = layer(h, rotary)
        return h


class AttentionStackCore(nn.Module):
    """What the plain and the looped Transformer build alike: f_I, RoPE tables, one stack of post-norm attention
    blocks, f_O and (``halting``) the Q-head, initialised as HRM's (weight 0, bias -5, so that early training never
    halts). Each family adds its initial state buffer after this, in its own ``__init__``; the order in which
    tensors are made here is the order the random initialisation draws them, so it is fixed."""

    q_head: CastedLinear | None

    def __init__(self, config: BlockStackArchitecture, halting: bool):
        super().__init__()
        cfg = cast(Any, config)  # a BlockStackArchitecture with its DatasetFields (vocab_size, total_len, ...)
        total_len = cfg.total_len
        self.config = config
        self.forward_dtype = torch.float32
        D = config.hidden_size
        assert config.puzzle_emb_ndim is not None  # the config's __post_init__ resolves None to hidden_size
        self.embed = InputEmbedding(
            cfg.vocab_size,
            D,
            cfg.num_puzzle_identifiers,
            config.puzzle_emb_ndim,
            cfg.puzzle_emb_len,
            config.pos_encodings,
            total_len,
        )
        self.rotary = build_rotary(config, total_len)
        self.blocks = BlockStack(
            [
                TransformerBlock(D, config.num_heads, config.expansion, config.rms_norm_eps)
                for _ in range(config.num_layers)
            ]
        )
        self.lm_head = CastedLinear(D, cfg.vocab_size)
        self.q_head = CastedLinear(D, 2, bias=True) if halting else None
        if self.q_head is not None:
            with torch.no_grad():
                self.q_head.weight.zero_()
                assert self.q_head.bias is not None  # built with bias=True
                self.q_head.bias.fill_(-5.0)


class ZooCore(Protocol):
    """What :class:`ZooModel` needs of a family's ``core`` module."""

    forward_dtype: torch.dtype
    embed: InputEmbedding

    def children(self) -> Iterator[nn.Module]: ...


class ZooModel(OuterLoop, SegmentRunner, FamilyModule):
    """Base of the zoo's model classes (the :class:`~hrm.model.protocol.ReasoningModel` protocol).

    ``self.core`` holds ``forward_dtype`` and ``embed`` (an InputEmbedding). Subclasses set ``family``,
    ``has_halting_head`` and implement ``initial_state``, ``_segment`` and ``flops_per_segment``;
    ``fixed_length`` says whether inputs must have exactly ``config.seq_len`` tokens. Training runs
    :meth:`OuterLoop.forward`, inference :class:`SegmentRunner`'s loop over :meth:`segment`: both call ``_segment``.
    """

    family: ClassVar[str] = ""
    carry_cls = Carry  # what the trainer rebuilds a saved carry with
    core: ZooCore  # each family declares its own core class

    @property
    def has_halting_head(self) -> bool:
        """Default False; TRM sets it, Transformer and Looped derive it from the config."""
        return False

    def compile_targets(self) -> list[nn.Module]:
        """The modules ``runtime.compile`` compiles: the block stacks (none for the RNN baselines)."""
        return [m for m in self.core.children() if isinstance(m, BlockStack)]

    @property
    def forward_dtype(self) -> torch.dtype:
        return self.core.forward_dtype

    @forward_dtype.setter
    def forward_dtype(self, dtype: torch.dtype) -> None:
        self.core.forward_dtype = dtype

    @property
    def puzzle_emb(self) -> PuzzleEmbedding | None:
        return self.core.embed.puzzle_emb

    @property
    def fixed_length(self) -> bool:
        return getattr(self.config, "pos_encodings", "rope") == "learned"

    def check_inputs(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> None:
        check_model_inputs(self.config, inputs, puzzle_identifiers, fixed_len=self.fixed_length)

    def prepare_inputs(self, inputs: Any, puzzle_identifiers: Any) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, puzzle_identifiers = super().prepare_inputs(inputs, puzzle_identifiers)
        self.check_inputs(inputs, puzzle_identifiers)
        return inputs, puzzle_identifiers

    def segment(
        self, state: dict[str, torch.Tensor], inputs: torch.Tensor, puzzle_identifiers: torch.Tensor
    ) -> SegmentOutput:
        new_state, logits, q_halt, q_continue = self._segment(state, inputs, puzzle_identifiers)
        return SegmentOutput(state=new_state, logits=logits, q_halt_logits=q_halt, q_continue_logits=q_continue)

    def num_parameters(self) -> dict[str, int]:
        return count_parameters(self, self.puzzle_emb)
