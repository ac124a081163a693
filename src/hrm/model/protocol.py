"""The model protocol: what every model family implements so that training, evaluation, solve and analysis never
special-case one (docs/architecture.md, "The model protocol").

* :class:`SegmentOutput` — what a family's per-segment core returns (state, logits, Q logits).
* :class:`SegmentStep` — what the one segment loop yields after every segment.
* :class:`ReasoningModel` — the documented contract (a ``typing.Protocol``).
* :class:`SegmentRunner` — a mixin that implements the ONE segment loop (:meth:`~SegmentRunner.run_segments`) and
  :meth:`~SegmentRunner.trace` / :meth:`~SegmentRunner.predict` on top of it, from a family's
  ``initial_state`` and ``segment``.

Pure torch: no devices chosen, no files, no logging.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypedDict, runtime_checkable

import torch
from torch import Tensor, nn

from hrm.model.layers import at_least_fp32
from hrm.model.puzzle_embedding import PuzzleEmbedding


@dataclass
class SegmentOutput:
    """One segment's result.

    ``state`` is the recurrent state after the segment, detached, batch-first (HRM: ``{"z_H", "z_L"}``; a family
    without state: ``{}``). ``logits`` are [B, seq_len, V] (grid positions only, prefix tokens removed).
    ``q_halt_logits`` / ``q_continue_logits`` are [B] fp32, or None for a family without a halting head.
    """

    state: dict[str, Tensor]
    logits: Tensor
    q_halt_logits: Tensor | None
    q_continue_logits: Tensor | None

    @property
    def z_H(self) -> Tensor:
        return self.state["z_H"]

    @property
    def z_L(self) -> Tensor:
        return self.state["z_L"]


@dataclass
class SegmentStep:
    """What :meth:`SegmentRunner.run_segments` yields after each segment (under no_grad, eval semantics).

    Every tensor covers ALL rows of the batch; a row that has exited keeps the values of its last segment. The
    tensors of one step are never modified by later steps, so a consumer may keep them.
    """

    segment: int  # 1-based
    logits: Tensor  # [B, seq_len, V] fp32
    q_halt_logits: Tensor | None  # [B] fp32
    q_continue_logits: Tensor | None  # [B] fp32
    segments: Tensor  # int64 [B]: segments each row has used so far
    active: Tensor  # bool [B]: rows computed in this segment
    state: dict[str, Tensor] | None = None  # [B, ...] tensors, only with return_states


class Prediction(TypedDict):
    """What :meth:`SegmentRunner.predict` returns (a plain dict)."""

    logits: Tensor  # [B, seq_len, V] fp32
    q_halt_logits: Tensor | None  # [B] fp32, None without a halting head
    q_continue_logits: Tensor | None
    segments: Tensor  # int64 [B]


@runtime_checkable
class ReasoningModel(Protocol):
    """The contract of a model family (see docs/architecture.md for the full text).

    Training calls ``forward(carry, batch)`` (one segment for every row, with a persistent carry: deep supervision
    and ACT); inference runs :meth:`run_segments` (from :class:`SegmentRunner`), built on :meth:`initial_state` and
    :meth:`segment`.
    """

    family: ClassVar[str]  # "hrm", "trm", "transformer", ...
    config: Any  # the family's config dataclass (to_dict / from_dict)
    forward_dtype: torch.dtype  # settable; hrm.runtime sets bf16 on CUDA

    # Read-only: families define them as class constants or properties.
    @property
    def has_halting_head(self) -> bool:  # False: no early exit and no halting analysis for this family
        ...

    @property
    def batch_keys(self) -> tuple[str, ...]:  # ("inputs", "labels", "puzzle_identifiers")
        ...

    @property
    def puzzle_emb(self) -> PuzzleEmbedding | None:  # the sparse table (for the sign-SGD optimiser), or None
        ...

    @property
    def max_segments(self) -> int:  # M_max for training and evaluation (1 for single-pass families)
        ...

    @property
    def carry_cls(self) -> type[Any]:  # the carry's class: carry_cls.from_state_dict(state) rebuilds a saved carry
        ...

    # The nn.Module surface callers use (every family is an nn.Module).
    training: bool

    def __call__(self, carry: Any, batch: dict[str, Tensor]) -> tuple[Any, dict[str, Tensor]]: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any: ...

    def to(self, device: torch.device | str) -> ReasoningModel: ...

    def train(self, mode: bool = True) -> ReasoningModel: ...

    def eval(self) -> ReasoningModel: ...

    # training
    def initial_carry(self, batch: dict[str, Tensor]) -> Any: ...

    def forward(self, carry: Any, batch: dict[str, Tensor]) -> tuple[Any, dict[str, Tensor]]: ...

    # inference
    def initial_state(self, inputs: Tensor, puzzle_identifiers: Tensor) -> dict[str, Tensor]: ...

    def segment(self, state: dict[str, Tensor], inputs: Tensor, puzzle_identifiers: Tensor) -> SegmentOutput: ...

    def halts(self, q_halt: Tensor, q_continue: Tensor) -> Tensor: ...

    def run_segments(
        self,
        inputs: Tensor,
        puzzle_identifiers: Tensor,
        max_segments: int | None = None,
        early_exit: bool = False,
        return_states: bool = False,
    ) -> Iterator[SegmentStep]: ...

    def trace(
        self, inputs: Tensor, puzzle_identifiers: Tensor, num_segments: int | None = None, return_states: bool = False
    ) -> list[dict[str, Tensor | None]]: ...

    def predict(
        self, inputs: Tensor, puzzle_identifiers: Tensor, max_segments: int | None = None, early_exit: bool = True
    ) -> Prediction: ...

    # reports
    def num_parameters(self) -> dict[str, int]: ...

    def flops_per_segment(self, batch_size: int, seq_len: int | None = None) -> int: ...

    # training speed
    def compile_targets(self) -> list[nn.Module]: ...  # the modules runtime.compile compiles (parameter names kept)

    # checkpoints
    @classmethod
    def upgrade_key(cls, name: str) -> str: ...  # a weight's name in an older checkpoint -> its name today


if TYPE_CHECKING:

    class FamilyModule(nn.Module, ReasoningModel):
        """The base of a family's model class: an ``nn.Module`` implementing :class:`ReasoningModel`, so type
        checkers see both the protocol and the full module API (what :func:`hrm.model.build_model` and checkpoint
        loading return)."""

else:
    FamilyModule = nn.Module  # at run time simply the module class: there is nothing to check


class SegmentRunner:
    """The one segment loop, for any class that provides ``initial_state``, ``segment``, ``max_segments`` and
    ``has_halting_head`` (mix it into the family's ``nn.Module``).

    A family may override :meth:`halts` (the early-exit rule) and :meth:`prepare_inputs` (input checks).
    """

    @property
    def has_halting_head(self) -> bool:
        """Default True; a family overrides it with a class attribute or (when its config decides) a property."""
        return True

    @classmethod
    def upgrade_key(cls, name: str) -> str:
        """The name today's code gives a weight that an older version saved as ``name`` (default: unchanged).

        A family that renames a tensor maps the old name here, so that checkpoints written before keep loading."""
        return name

    def halts(self, q_halt: Tensor, q_continue: Tensor) -> Tensor:
        """Early-exit rule: a row stops after the first segment where this is True (HRM: q_halt > q_continue)."""
        return q_halt > q_continue

    def prepare_inputs(self, inputs: Any, puzzle_identifiers: Any) -> tuple[Tensor, Tensor]:
        """Integer tensors (or arrays) → tensors on the model's device. Families add their own range checks."""
        device = next(self.parameters()).device  # type: ignore[attr-defined]
        inputs = torch.as_tensor(inputs, device=device)
        puzzle_identifiers = torch.as_tensor(puzzle_identifiers, device=device)
        if inputs.is_floating_point() or puzzle_identifiers.is_floating_point():
            raise ValueError("inputs and puzzle_identifiers must be integer tensors")
        return inputs, puzzle_identifiers

    @torch.no_grad()
    def run_segments(
        self,
        inputs: Tensor,
        puzzle_identifiers: Tensor,
        max_segments: int | None = None,
        early_exit: bool = False,
        return_states: bool = False,
    ) -> Iterator[SegmentStep]:
        """Run up to ``max_segments`` segments (default :attr:`max_segments`) from the initial state; yield a
        :class:`SegmentStep` after each.

        With ``early_exit`` (and a halting head) a row stops after the first segment where :meth:`halts` is True;
        only rows still running are computed, and the loop ends when none is left.
        """
        max_segments = self.max_segments if max_segments is None else int(max_segments)  # type: ignore[attr-defined]
        if max_segments < 1:
            raise ValueError(f"max_segments must be >= 1, got {max_segments}")
        early_exit = early_exit and self.has_halting_head
        inputs, puzzle_identifiers = self.prepare_inputs(inputs, puzzle_identifiers)
        B, device = inputs.shape[0], inputs.device
        state = self.initial_state(inputs, puzzle_identifiers)  # type: ignore[attr-defined]
        segments = torch.zeros(B, dtype=torch.long, device=device)
        logits = q_halt = q_continue = None
        active = torch.arange(B, device=device)
        everyone = True  # every row is running, in order: no gather or scatter needed
        for seg in range(1, max_segments + 1):
            if everyone:
                out = self.segment(state, inputs, puzzle_identifiers)  # type: ignore[attr-defined]
                state = out.state
                logits, q_halt, q_continue = (
                    at_least_fp32(out.logits),
                    _float(out.q_halt_logits),
                    _float(out.q_continue_logits),
                )
                segments = torch.full_like(segments, seg)
                running = torch.ones(B, dtype=torch.bool, device=device)
            else:
                # Out of place, so the tensors of earlier steps stay as they were yielded.
                sub = {k: v[active] for k, v in state.items()}
                out = self.segment(sub, inputs[active], puzzle_identifiers[active])  # type: ignore[attr-defined]
                state = {k: v.index_put((active,), out.state[k]) for k, v in state.items()}
                assert logits is not None  # set by the first segment, which runs every row
                logits = logits.index_put((active,), at_least_fp32(out.logits))
                q_halt = _scatter(q_halt, active, out.q_halt_logits)
                q_continue = _scatter(q_continue, active, out.q_continue_logits)
                segments = segments.index_put((active,), torch.tensor(seg, device=device))
                running = torch.zeros(B, dtype=torch.bool, device=device)
                running[active] = True
            yield SegmentStep(
                segment=seg,
                logits=logits,
                q_halt_logits=q_halt,
                q_continue_logits=q_continue,
                segments=segments,
                active=running,
                state=dict(state) if return_states else None,
            )
            if early_exit:
                q_halt_now, q_continue_now = _float(out.q_halt_logits), _float(out.q_continue_logits)
                assert q_halt_now is not None and q_continue_now is not None  # a halting head gives both
                halted = self.halts(q_halt_now, q_continue_now)
                if bool(halted.any()):
                    active = active[~halted]
                    everyone = False
                    if active.numel() == 0:
                        break

    @torch.no_grad()
    def trace(
        self,
        inputs: Tensor,
        puzzle_identifiers: Tensor,
        num_segments: int | None = None,
        return_states: bool = False,
    ) -> list[dict[str, Tensor | None]]:
        """Run ``num_segments`` segments (default M_max) on every row from the initial state (eval semantics).

        Returns one dict per segment with ``logits`` [B, seq_len, V] (fp32), ``q_halt_logits`` [B] and
        ``q_continue_logits`` [B] (None without a halting head); with ``return_states`` also the state's entries
        (HRM: ``z_H``, ``z_L``).
        """
        num_segments = self.max_segments if num_segments is None else int(num_segments)  # type: ignore[attr-defined]
        if num_segments < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        out = []
        for step in self.run_segments(inputs, puzzle_identifiers, num_segments, return_states=return_states):
            seg = {
                "logits": step.logits,
                "q_halt_logits": step.q_halt_logits,
                "q_continue_logits": step.q_continue_logits,
            }
            out.append({**seg, **(step.state or {})})
        return out

    @torch.no_grad()
    def predict(
        self,
        inputs: Tensor,
        puzzle_identifiers: Tensor,
        max_segments: int | None = None,
        early_exit: bool = True,
    ) -> Prediction:
        """Inference with per-sample early exit: each row's output at the first segment where it halts, or at
        ``max_segments`` (default M_max). Returns ``logits`` [B, seq_len, V] fp32, ``q_halt_logits`` /
        ``q_continue_logits`` [B] and ``segments`` [B] (int64)."""
        # Only the last step is kept: every row's output where it stopped.
        step = deque(self.run_segments(inputs, puzzle_identifiers, max_segments, early_exit=early_exit), maxlen=1)[0]
        return {
            "logits": step.logits,
            "q_halt_logits": step.q_halt_logits,
            "q_continue_logits": step.q_continue_logits,
            "segments": step.segments,
        }


def _float(x: Tensor | None) -> Tensor | None:
    return None if x is None else at_least_fp32(x)


def _scatter(into: Tensor | None, rows: Tensor, values: Tensor | None) -> Tensor | None:
    return None if into is None or values is None else into.index_put((rows,), at_least_fp32(values))
