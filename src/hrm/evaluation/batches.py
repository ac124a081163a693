"""Rows on the model's device: :class:`EvalBatch`, made from a dataset split or from rows read from a file.

The one batch type every evaluation consumes (:mod:`hrm.evaluation.evaluate`, :mod:`~hrm.evaluation.segment_trace`,
the halting analysis). Two sources: :func:`split_batches` (a built :class:`~hrm.data.format.PuzzleSplit`, through
:func:`hrm.data.sampling.iter_eval_batches`) and :func:`direct_batches` (a puzzle file encoded by
:mod:`hrm.evaluation.direct`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from hrm.data.format import PuzzleSplit
from hrm.data.sampling import iter_eval_batches
from hrm.model.losses import IGNORE_LABEL_ID

if TYPE_CHECKING:
    from hrm.evaluation.direct import DirectData


@dataclass
class EvalBatch:
    """One batch of rows on the model's device. ``valid`` marks real rows (False for padding)."""

    inputs: torch.Tensor  # int [B, S]
    puzzle_identifiers: torch.Tensor  # int [B]
    labels: torch.Tensor | None = None  # int [B, S], IGNORE_LABEL_ID where unsupervised
    valid: torch.Tensor | None = None  # bool [B]
    index: torch.Tensor | None = None  # long [B], each row's position in the evaluated data (when known)

    @property
    def size(self) -> int:
        return int(self.inputs.shape[0])


def split_batches(
    split: PuzzleSplit, batch_size: int, device: torch.device, rank: int = 0, world_size: int = 1
) -> Iterator[EvalBatch]:
    """The data package's evaluation batches (padded last batch) as :class:`EvalBatch` on ``device``."""
    for raw in iter_eval_batches(split, batch_size, rank, world_size):
        yield _to_eval_batch(raw, device)


def _to_eval_batch(raw: dict[str, np.ndarray], device: torch.device) -> EvalBatch:
    """A batch of :func:`hrm.data.sampling.iter_eval_batches` (numpy, labels already -100) as tensors.

    Padding rows (``valid`` False) are dropped here: they carry no data, and the last batch of a small split
    would otherwise cost a full batch of compute.
    """
    valid = np.asarray(raw["valid"], dtype=bool) if "valid" in raw else np.ones(len(raw["inputs"]), dtype=bool)
    keep = None if valid.all() else np.flatnonzero(valid)

    def tensor(name: str, dtype: torch.dtype) -> torch.Tensor:
        value = np.asarray(raw[name])
        if keep is not None:
            value = value[keep]
        return torch.as_tensor(value, device=device).to(dtype)

    inputs = tensor("inputs", torch.long)
    return EvalBatch(
        inputs=inputs,
        puzzle_identifiers=tensor("puzzle_identifiers", torch.long),
        labels=tensor("labels", torch.long) if raw.get("labels") is not None else None,
        valid=torch.ones(inputs.shape[0], dtype=torch.bool, device=device),
        index=tensor("example_index", torch.long) if "example_index" in raw else None,
    )


def split_rows(split: PuzzleSplit, rank: int = 0, world_size: int = 1) -> int:
    """Number of real examples this rank evaluates (for progress bars)."""
    n = split.num_examples
    return n if world_size == 1 else -(-n // world_size)


def direct_batches(data: DirectData, batch_size: int, device: torch.device) -> Iterator[EvalBatch]:
    """Rows read from a puzzle file (:class:`~hrm.evaluation.direct.DirectData`) as :class:`EvalBatch`."""
    n = len(data)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        labels = None
        if data.labels is not None:
            labels = torch.as_tensor(np.asarray(data.labels[start:stop], dtype=np.int64), device=device)
            if data.ignore_label_id is not None:
                labels[labels == data.ignore_label_id] = IGNORE_LABEL_ID
        yield EvalBatch(
            inputs=torch.as_tensor(np.asarray(data.inputs[start:stop], dtype=np.int64), device=device),
            puzzle_identifiers=torch.as_tensor(
                np.asarray(data.puzzle_identifiers[start:stop], dtype=np.int64), device=device
            ),
            labels=labels,
            valid=torch.ones(stop - start, dtype=torch.bool, device=device),
            index=torch.arange(start, stop, device=device),
        )
