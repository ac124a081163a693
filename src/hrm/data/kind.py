"""What kind of puzzles a dataset holds: ``sudoku`` | ``maze`` | ``arc`` | ``custom``.

Our builders record it in ``build.json`` (:class:`hrm.data.build.BuildSummary`) and the trainer copies it into every
checkpoint's ``dataset.json``. :func:`dataset_kind` is the one answer for a dataset folder: the recorded kind, or
for datasets written without one (the reference's builders) a guess from the vocabulary and sequence length
(:func:`kind_from_shape`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hrm.data import arc, maze, sudoku
from hrm.data.build import BUILD_FILE
from hrm.errors import UserError


def normalise_kind(kind: Any) -> str | None:
    """A recorded kind as one of our names (``arc-agi-2`` and friends are ``arc``); None when it is not a name."""
    if not isinstance(kind, str) or not kind:
        return None
    return "arc" if kind.startswith("arc") else kind


def kind_in(record: Any, depth: int = 0) -> str | None:
    """The ``kind`` of a provenance record (``build.json``, a checkpoint's ``dataset.json``), searched two levels
    deep (a checkpoint may hold the build record under ``"build"``)."""
    if not isinstance(record, dict) or depth > 2:
        return None
    kind = normalise_kind(record.get("kind"))
    if kind is not None:
        return kind
    for value in record.values():
        found = kind_in(value, depth + 1)
        if found is not None:
            return found
    return None


def kind_from_shape(vocab_size: int, seq_len: int) -> str | None:
    """The guess for data that records no kind: ARC's 12-token 30×30 canvas, the Sudoku encoding of an n×n board
    (vocab n + 2, seq_len n²), a square maze (vocab 6); None otherwise."""
    if vocab_size == arc.VOCAB_SIZE and seq_len == arc.SEQ_LEN:
        return "arc"
    if sudoku.board_side(vocab_size, seq_len) is not None:
        return "sudoku"
    if vocab_size == maze.VOCAB_SIZE and math.isqrt(seq_len) ** 2 == seq_len:
        return "maze"
    return None


def dataset_kind(root: str | Path | None, metadata: Any = None) -> str | None:
    """The kind of the dataset at ``root``: recorded in its ``build.json``, else guessed from ``metadata`` (a
    :class:`~hrm.data.format.DatasetMetadata`, for datasets built without one); None when neither tells."""
    if root is not None and (Path(root) / BUILD_FILE).is_file():
        try:
            kind = kind_in(json.loads((Path(root) / BUILD_FILE).read_text()))
        except (OSError, json.JSONDecodeError):
            kind = None
        if kind is not None:
            if metadata is not None and not kind_fits_shape(kind, metadata.vocab_size, metadata.seq_len):
                raise UserError(
                    f"{Path(root) / BUILD_FILE}: says {kind}, but the data has vocab_size {metadata.vocab_size} and "
                    f"seq_len {metadata.seq_len}, which {kind} data never has; rebuild the dataset (or fix build.json)"
                )
            return kind
    if metadata is not None:
        return kind_from_shape(metadata.vocab_size, metadata.seq_len)
    return None


def kind_fits_shape(kind: str, vocab_size: int, seq_len: int) -> bool:
    """Whether data of ``kind`` can have this vocabulary and sequence length (``custom``: any)."""
    if kind == "arc":
        return vocab_size == arc.VOCAB_SIZE and seq_len == arc.SEQ_LEN
    if kind == "sudoku":
        return sudoku.board_side(vocab_size, seq_len) is not None
    if kind == "maze":
        return vocab_size == maze.VOCAB_SIZE and math.isqrt(seq_len) ** 2 == seq_len
    return True
