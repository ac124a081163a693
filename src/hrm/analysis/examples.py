"""A seeded sample of examples from a dataset split, as arrays, for the analyses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrm.data.format import PuzzleSplit, load_split
from hrm.errors import UserError
from hrm.model.losses import IGNORE_LABEL_ID


@dataclass
class Examples:
    """``num`` examples of one split: tokens, labels (IGNORE_LABEL_ID where unsupervised) and puzzle IDs."""

    inputs: np.ndarray  # int64 [N, seq_len]
    labels: np.ndarray  # int64 [N, seq_len]
    puzzle_identifiers: np.ndarray  # int64 [N]
    indices: np.ndarray  # int64 [N], row numbers in the split's (first) set
    split: PuzzleSplit

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def open_split(data: str | Path, split: str = "test") -> PuzzleSplit:
    """``data`` is a dataset root (holding ``split/``) or a split folder itself (as ``hrm evaluate --data``)."""
    from hrm.data.format import locate_split

    folder, _ = locate_split(Path(data), split)
    return load_split(folder)


def load_examples(data: str | Path, split: str = "test", num: int | None = None, seed: int = 0) -> Examples:
    """Up to ``num`` examples (all when ``None``) drawn without replacement with ``seed``, in ascending order."""
    puzzle_split = open_split(data, split)
    arrays = puzzle_split.set()
    total = int(arrays["inputs"].shape[0])
    if total == 0:
        raise UserError(f"{puzzle_split.path}: the split holds no examples")
    if num is not None and num < 1:
        raise UserError(f"the number of puzzles must be >= 1, got {num}")
    if num is None or num >= total:
        indices = np.arange(total)
    else:
        indices = np.sort(np.random.default_rng(seed).choice(total, size=num, replace=False))
    inputs = np.asarray(arrays["inputs"][indices], dtype=np.int64)
    labels = np.asarray(arrays["labels"][indices], dtype=np.int64)
    ignore = puzzle_split.metadata.ignore_label_id
    if ignore is not None:
        labels[labels == ignore] = IGNORE_LABEL_ID
    # puzzle_indices is CSR: example i belongs to puzzle p with indices[p] <= i < indices[p + 1].
    puzzle = np.searchsorted(arrays["puzzle_indices"], indices, side="right") - 1
    puzzle_identifiers = np.asarray(arrays["puzzle_identifiers"][puzzle], dtype=np.int64)
    return Examples(
        inputs=inputs,
        labels=labels,
        puzzle_identifiers=puzzle_identifiers,
        indices=indices.astype(np.int64),
        split=puzzle_split,
    )
