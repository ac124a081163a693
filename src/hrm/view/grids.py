"""Grids: the tokens of one row -> the 2-D grid the page draws (ARC colours, Sudoku digits, maze, raw tokens),
embedded compactly (one character per cell)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def encode_cells(grid: np.ndarray) -> dict[str, Any]:
    """A 2-D grid as ``{"h", "w", "v"}``; ``v`` is one character chr(48 + value) per cell when every value is in
    0..78 (compact, printable), else a list of ints."""
    g = np.asarray(grid)
    if g.ndim != 2:
        raise ValueError(f"expected a 2-D grid, got shape {g.shape}")
    flat = g.reshape(-1).astype(np.int64)
    if flat.size == 0 or (flat.min() >= 0 and flat.max() <= 78):
        v: Any = (flat + 48).astype(np.uint8).tobytes().decode("ascii")
    else:
        v = flat.tolist()
    return {"h": int(g.shape[0]), "w": int(g.shape[1]), "v": v}


def grid_style(kind: str, vocab_size: int, seq_len: int, root: Path | None) -> dict[str, Any]:
    """How the page draws this data's grids: ``arc`` (10 colours), ``sudoku`` (digits, boxes), ``maze``, or
    ``tokens`` (token ids, or the characters of a custom dataset's alphabet)."""
    from hrm.data.sudoku import board_side

    if kind == "arc":
        from hrm.data.arc import ARC_PALETTE

        return {"style": "arc", "palette": list(ARC_PALETTE)}
    n = board_side(vocab_size, seq_len)
    if kind == "sudoku" and n is not None:
        from hrm.data.sudoku import box_shape

        return {"style": "sudoku", "n": n, "box": list(box_shape(n))}
    side = math.isqrt(seq_len)
    if kind == "maze" and side * side == seq_len:
        return {"style": "maze", "n": side}
    alphabet = None
    if root is not None and (root / "custom.json").is_file():
        from hrm.data.custom import load_codec

        alphabet = load_codec(root).alphabet
    width = side if side * side == seq_len else min(seq_len, 32)
    return {"style": "tokens", "width": width, "alphabet": alphabet}


def _bbox_crop(tokens: np.ndarray) -> np.ndarray:
    """An ARC canvas → the colours (0..9) of the bounding box of its colour tokens (works for translated grids)."""
    from hrm.data.arc import COLOUR_OFFSET, MAX_GRID

    t = np.asarray(tokens).reshape(MAX_GRID, MAX_GRID).astype(np.int64)
    colour = (t >= COLOUR_OFFSET) & (t < COLOUR_OFFSET + 10)
    if not colour.any():
        return np.zeros((0, 0), np.int64)
    rows, cols = np.flatnonzero(colour.any(1)), np.flatnonzero(colour.any(0))
    crop = t[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] - COLOUR_OFFSET
    return np.clip(crop, 0, 9)


def display_grid(style: dict[str, Any], tokens: np.ndarray) -> np.ndarray:
    """Tokens of one row → the 2-D grid the page draws (ARC colours, Sudoku digits, maze or raw tokens)."""
    t = np.asarray(tokens).reshape(-1).astype(np.int64)
    s = style["style"]
    if s == "arc":
        return _bbox_crop(np.where(t < 0, 0, t))
    if s == "sudoku":
        n = style["n"]
        d = t - 1
        return np.where((d < 0) | (d > n), 0, d).reshape(n, n)
    if s == "maze":
        return np.where(t < 0, 0, t).reshape(style["n"], style["n"])
    w = style["width"]
    t = np.where(t < 0, 0, t)
    rows = -(-t.size // w)
    return np.pad(t, (0, rows * w - t.size)).reshape(rows, w)
