"""The evaluation: every segment cap from one pass over the model's segment loop, and the trainer's evaluation.

* :func:`outputs_by_cap` / :func:`evaluate_batches` — the one evaluation behind ``hrm evaluate``: one pass over
  the batches runs ``max(segment caps)`` segments of :meth:`~hrm.model.protocol.SegmentRunner.run_segments` and
  records, for every cap M, each row's output at segment M (or at its first ``q_halt > q_continue`` with
  ``early_exit``), so a sweep over ``1,2,4,...,32`` costs 32 segments per row, not 63. Rows that have halted for
  every cap are dropped from the batch (early exit saves compute). Metrics per cap come from
  :mod:`hrm.evaluation.metrics`; row consumers (ARC voting, the Sudoku checker) see every cap's outputs.
* :func:`evaluate_split` / :func:`scaling_sweep` — the same on a :class:`~hrm.data.format.PuzzleSplit`, as library
  calls.
* :func:`evaluate_model` — what the trainer's periodic evaluation calls. It is the reference's evaluation
  (spec §2.2 step 5, §2.4): the ACT wrapper in eval mode, every row runs ``halt_max_steps`` segments, metrics are
  taken from the last segment, summed over batches (and ranks) and divided by the count.

It takes batches (:mod:`hrm.evaluation.batches`) and returns one :class:`EvalResult` per cap; it reads no files and
writes none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from hrm.data.format import PuzzleSplit
from hrm.data.sampling import num_eval_batches
from hrm.errors import UserError
from hrm.evaluation.batches import EvalBatch, split_batches, split_rows
from hrm.evaluation.metrics import MetricAccumulator, MetricSummary
from hrm.model.limits import MAX_RECURRENCE
from hrm.model.losses import IGNORE_LABEL_ID, act_loss
from hrm.model.protocol import ReasoningModel
from hrm.runtime.device import Precision, widest_float

DEFAULT_SWEEP = (1, 2, 4, 8, 16, 32)


@dataclass
class SegmentOutputs:
    """Each row's final output under one segment cap: argmax tokens, Q logits and segments used."""

    predictions: torch.Tensor  # long [B, S]
    q_halt_logits: torch.Tensor  # float32 [B]
    q_continue_logits: torch.Tensor  # float32 [B]
    segments: torch.Tensor  # long [B], 1..cap


@dataclass
class EvalResult:
    """Results of one evaluation at one segment cap.

    ``metrics`` is per row (per augmented view for ARC); ``arc`` holds the voted ARC scores when the data is
    ARC; ``extra`` holds task-specific numbers (e.g. ``valid_solution_rate`` for Sudoku); ``breakdown`` holds the
    metrics per difficulty value (Sudoku givens, maze path length) when it was asked for. ``seconds`` is the
    wall time of the whole pass, shared by every cap of a sweep.
    """

    max_segments: int
    early_exit: bool
    metrics: MetricSummary
    seconds: float = 0.0
    arc: Any | None = None  # hrm.evaluation.arc_vote.ArcScore
    extra: dict[str, float] = field(default_factory=dict)
    breakdown: Any | None = None  # hrm.evaluation.breakdown.Breakdown

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "max_segments": self.max_segments,
            "early_exit": self.early_exit,
            "seconds": self.seconds,
            **self.metrics.as_dict(),
            **self.extra,
        }
        if self.arc is not None:
            out["arc"] = self.arc.as_dict()
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown.as_dict()
        return out


# A consumer sees every batch's outputs under every cap: (cap, batch, outputs). ARC voting is one.
RowConsumer = Callable[[int, EvalBatch, SegmentOutputs], None]


def parse_segments(text: str | int | Sequence[int]) -> list[int]:
    """``"16"`` → [16]; ``"1,2,4,8"`` → [1, 2, 4, 8] (sorted, unique); UserError on anything else."""
    if isinstance(text, int):
        values = [text]
    elif isinstance(text, str):
        try:
            values = [int(part) for part in text.replace(" ", "").split(",") if part]
        except ValueError as exc:
            raise UserError(
                f"--max-segments {text!r}: expected an integer or a comma list such as 1,2,4,8,16,32"
            ) from exc
    else:
        values = [int(v) for v in text]
    if not values or any(v < 1 for v in values):
        raise UserError(f"--max-segments {text!r}: every value must be an integer >= 1 (e.g. 16 or 1,2,4,8,16,32)")
    if any(v > MAX_RECURRENCE for v in values):
        raise UserError(f"--max-segments {text!r}: at most {MAX_RECURRENCE} segments (a sanity bound)")
    return sorted(set(values))


@torch.no_grad()
def outputs_by_cap(
    model: ReasoningModel,
    inputs: torch.Tensor,
    puzzle_identifiers: torch.Tensor,
    caps: Sequence[int],
    early_exit: bool = False,
) -> dict[int, SegmentOutputs]:
    """Each row's output under every segment cap in ``caps``, from one pass of the model's segment loop
    (:meth:`~hrm.model.protocol.SegmentRunner.run_segments`, ``max(caps)`` segments).

    Without ``early_exit`` a row's output under cap M is its segment-M output (the reference's eval). With it, a
    row stops at the first segment where the model halts (as :meth:`predict`), or at M; rows stop being computed
    once they halt.
    """
    caps = sorted(set(int(c) for c in caps))
    if not caps or caps[0] < 1:
        raise ValueError(f"segment caps must be >= 1, got {caps}")
    B, S = inputs.shape
    device = inputs.device
    out = {
        m: SegmentOutputs(
            predictions=torch.zeros(B, S, dtype=torch.long, device=device),
            q_halt_logits=torch.zeros(B, dtype=torch.float32, device=device),
            q_continue_logits=torch.zeros(B, dtype=torch.float32, device=device),
            segments=torch.zeros(B, dtype=torch.long, device=device),
        )
        for m in caps
    }
    early_exit = early_exit and model.has_halting_head
    for step in model.run_segments(inputs, puzzle_identifiers, caps[-1], early_exit=early_exit):
        seg = step.segment
        q_halt, q_continue = step.q_halt_logits, step.q_continue_logits
        if early_exit:
            assert q_halt is not None and q_continue is not None  # early exit implies a halting head
            halted = step.active & model.halts(q_halt, q_continue)
        else:
            halted = torch.zeros_like(step.active)
        for m in caps:
            if m < seg:
                continue
            final = halted if m != seg else step.active  # a cap's last segment ends every row still running
            if not bool(final.any()):
                continue
            rows = final.nonzero().squeeze(1)
            res = out[m]
            res.predictions[rows] = step.logits[rows].argmax(-1)
            if q_halt is not None:
                assert q_continue is not None  # a halting head gives both
                res.q_halt_logits[rows] = q_halt[rows]
                res.q_continue_logits[rows] = q_continue[rows]
            res.segments[rows] = seg
    return out


def check_compatible(
    model: ReasoningModel, vocab_size: int, seq_len: int, num_puzzle_identifiers: int | None, what: str
) -> None:
    """UserError (one line, with the fix) when data made for another model is fed to ``model``."""
    cfg = model.config
    if vocab_size != cfg.vocab_size or seq_len != cfg.seq_len:
        raise UserError(
            f"{what} has vocab_size {vocab_size} and seq_len {seq_len} but the checkpoint's model has "
            f"vocab_size {cfg.vocab_size} and seq_len {cfg.seq_len}; evaluate with the dataset (or "
            "puzzle type) the model was trained on"
        )
    if num_puzzle_identifiers is not None and num_puzzle_identifiers > cfg.num_puzzle_identifiers:
        raise UserError(
            f"{what} has {num_puzzle_identifiers} puzzle identifiers but the checkpoint's model has "
            f"{cfg.num_puzzle_identifiers}; the data was built differently from the training data: pass the "
            "dataset the model was trained on with --data (or rebuild it with the same sources and seed)"
        )


def apply_precision(model: ReasoningModel, precision: Precision | None) -> ReasoningModel:
    """Move ``model`` to ``precision.device`` with its forward dtype (``None``: leave it as it is)."""
    if precision is not None:
        model.to(precision.device)
        model.forward_dtype = precision.forward_dtype
    return model.eval()


def model_device(model: ReasoningModel | torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def evaluate_batches(
    model: ReasoningModel,
    batches: Iterable[EvalBatch],
    caps: Sequence[int],
    *,
    early_exit: bool = False,
    consumers: Sequence[RowConsumer] = (),
    total: int | None = None,
    progress: bool = True,
    desc: str = "evaluate",
) -> dict[int, EvalResult]:
    """The engine behind :func:`evaluate_split`: metrics for every cap in one pass over ``batches``."""
    caps = sorted(set(int(c) for c in caps))
    accumulators = {m: MetricAccumulator(m) for m in caps}
    halting = model.has_halting_head  # without a halting head q_halt accuracy is not applicable (NaN, "n/a")
    model.eval()
    start = time.perf_counter()
    with tqdm(total=total, desc=desc, unit="row", disable=not progress, leave=False) as bar:
        for batch in batches:
            if batch.size == 0:
                continue
            outputs = outputs_by_cap(model, batch.inputs, batch.puzzle_identifiers, caps, early_exit)
            labels = batch.labels if batch.labels is not None else torch.full_like(batch.inputs, IGNORE_LABEL_ID)
            for m in caps:
                accumulators[m].update(
                    outputs[m].predictions,
                    labels,
                    outputs[m].q_halt_logits if halting else None,
                    outputs[m].segments,
                    batch.valid,
                )
                for consume in consumers:
                    consume(m, batch, outputs[m])
            n = int(batch.valid.sum()) if batch.valid is not None else batch.size
            bar.update(n)
    seconds = time.perf_counter() - start
    return {
        m: EvalResult(max_segments=m, early_exit=early_exit, metrics=accumulators[m].summary(), seconds=seconds)
        for m in caps
    }


def check_split(model: ReasoningModel, split: PuzzleSplit) -> None:
    from hrm.data.format import check_token_range

    meta = split.metadata
    check_compatible(model, meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers, f"dataset {split.path}")
    check_token_range(split)


def evaluate_split(
    model: ReasoningModel,
    split: PuzzleSplit,
    *,
    batch_size: int = 256,
    max_segments: int | None = None,
    early_exit: bool = False,
    precision: Precision | None = None,
    progress: bool = True,
    consumers: Sequence[RowConsumer] = (),
) -> EvalResult:
    """Evaluate on a :class:`hrm.data.format.PuzzleSplit` at one segment cap (default: the model's M_max).

    ``precision`` moves the model and sets its forward dtype (``None`` keeps its current device and dtype).
    """
    cap = model.max_segments if max_segments is None else int(max_segments)
    return scaling_sweep(
        model,
        split,
        [cap],
        batch_size=batch_size,
        early_exit=early_exit,
        precision=precision,
        progress=progress,
        consumers=consumers,
    )[0]


def scaling_sweep(
    model: ReasoningModel,
    split: PuzzleSplit,
    segments: Sequence[int] = DEFAULT_SWEEP,
    *,
    batch_size: int = 256,
    early_exit: bool = False,
    precision: Precision | None = None,
    progress: bool = True,
    consumers: Sequence[RowConsumer] = (),
) -> list[EvalResult]:
    """Inference-time scaling: one :class:`EvalResult` per segment cap, ascending, from a single data pass."""
    apply_precision(model, precision)
    check_split(model, split)
    device = model_device(model)
    results = evaluate_batches(
        model,
        split_batches(split, batch_size, device),
        segments,
        early_exit=early_exit,
        consumers=consumers,
        total=split_rows(split),
        progress=progress,
    )
    return [results[m] for m in sorted(results)]


@torch.no_grad()
def evaluate_model(
    model: ReasoningModel,
    split: PuzzleSplit,
    global_batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    *,
    stablemax_dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> dict[str, float]:
    """The reference's periodic evaluation (for the trainer): ``{count, accuracy, exact_accuracy,
    q_halt_accuracy, steps, lm_loss, q_halt_loss}``.

    Each rank takes its slice of every global batch; the ACT wrapper runs in eval mode (every row runs
    ``halt_max_steps`` segments) and the metrics of the last call are summed, all-reduced across ranks when
    ``torch.distributed`` is initialised, and divided by ``count`` (rows with >= 1 supervised token). Padding
    rows of the last batch are not run, so the losses cover the real rows only. The model's training/eval mode
    is restored afterwards.
    """
    was_training = model.training
    model.eval()
    device = model_device(model)
    keys = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss")
    sum_dtype = widest_float(device)
    sums = torch.zeros(len(keys), dtype=sum_dtype, device=device)
    try:
        batches = split_batches(split, global_batch_size, device, rank, world_size)
        total = num_eval_batches(split, global_batch_size)
        for batch in tqdm(batches, desc="eval", total=total, disable=not progress, leave=False):
            if batch.size == 0:  # this rank's slice of the last global batch was all padding
                continue
            labels = batch.labels if batch.labels is not None else torch.full_like(batch.inputs, IGNORE_LABEL_ID)
            data = {
                "inputs": batch.inputs.to(torch.int32),
                "labels": labels,
                "puzzle_identifiers": batch.puzzle_identifiers.to(torch.int32),
            }
            carry = model.initial_carry(data)
            while True:
                carry, outputs = model(carry, data)
                if bool(carry.halted.all()):
                    break
            _, metrics = act_loss(
                outputs,
                carry.current_data["labels"],
                carry.halted,
                carry.steps,
                model.config.loss_type,
                stablemax_dtype,
            )
            zero = torch.zeros((), device=device)  # a family without a halting head has no q_halt metrics
            sums += torch.stack([metrics.get(k, zero).to(sum_dtype) for k in keys])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(sums, op=torch.distributed.ReduceOp.SUM)
    finally:
        model.train(was_training)
    values = dict(zip(keys, sums.cpu().tolist()))
    count = values.pop("count")
    out = {k: v / max(count, 1.0) for k, v in values.items()}
    out["count"] = count
    if not getattr(model, "has_halting_head", True):
        out.pop("q_halt_accuracy")
        out.pop("q_halt_loss")
    return out
