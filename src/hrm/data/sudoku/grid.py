"""Sudoku boards: box shapes, tokens (token = digit + 1; blank 1, PAD 0), parsing and formatting, unit indices
and validity checks (hrm-reference.md §4.3)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from hrm.errors import UserError

PAD_ID = 0
BLANK_TOKEN = 1
SUBSAMPLE_FILE = "train_subsample.json"
_BOX_SHAPES = {1: (1, 1), 4: (2, 2), 6: (2, 3), 8: (2, 4), 9: (3, 3), 12: (3, 4), 16: (4, 4)}
TEXT_SIZES = (4, 6, 8, 9)  # sizes whose digits are single characters 1..n


def box_shape(n: int) -> tuple[int, int]:
    """Box (rows, cols) of an n×n Sudoku: 4 → (2, 2), 6 → (2, 3), 9 → (3, 3), ..."""
    try:
        return _BOX_SHAPES[int(n)]
    except KeyError:
        raise UserError(
            f"unsupported Sudoku size {n}; supported: {', '.join(map(str, sorted(_BOX_SHAPES)[1:]))}"
        ) from None


def vocab_size(n: int) -> int:
    return n + 2


def board_side(vocab: int, seq_len: int) -> int | None:
    """n when (vocab, seq_len) is the encoding of n×n boards of a supported size (vocab n + 2, seq_len n²)."""
    n = vocab - 2
    return n if n in _BOX_SHAPES and n > 1 and n * n == seq_len else None


# ----------------------------------------------------------------------------------------------------------------
# Parsing, encoding, validation


def parse_sudoku(text: str, size: int | None = None) -> np.ndarray:
    """Parse one puzzle: n² characters row-major, ``.`` or ``0`` for blanks, digits 1..n; whitespace ignored.

    Returns an (n, n) uint8 array of digits (0 = blank). Raises UserError naming the problem.
    """
    chars = "".join(text.split())
    length = len(chars)
    n = size if size is not None else math.isqrt(length)
    if n not in TEXT_SIZES:
        raise UserError(f"a Sudoku must have 16, 36, 64 or 81 cells (4×4, 6×6, 8×8, 9×9); got {length} characters")
    if length != n * n:
        raise UserError(f"a {n}×{n} Sudoku needs {n * n} characters, got {length}")
    out = np.zeros(n * n, dtype=np.uint8)
    for i, ch in enumerate(chars):
        if ch in ".0":
            continue
        if not ch.isdigit() or not 1 <= int(ch) <= n:
            raise UserError(
                f"bad character {ch!r} at cell {i + 1} (row {i // n + 1}, column {i % n + 1}); "
                f"use 1-{n} for givens and '.' or '0' for blanks"
            )
        out[i] = int(ch)
    return out.reshape(n, n)


def format_sudoku(grid: np.ndarray, blank: str = ".") -> str:
    """One line of n² characters (inverse of :func:`parse_sudoku` for n ≤ 9)."""
    flat = np.asarray(grid).reshape(-1)
    return "".join(blank if d == 0 else str(int(d)) for d in flat)


def encode(grid: np.ndarray) -> np.ndarray:
    """Digits (0 blank) → tokens d + 1 (blank → 1, digits → 2..n+1), uint8.

    An (n, n) grid or a batch (..., n, n) is flattened over its last two axes; flat boards (n²,) or (N, n²)
    keep their shape.
    """
    g = np.asarray(grid)
    if g.ndim >= 2 and g.shape[-1] == g.shape[-2] and g.shape[-1] in _BOX_SHAPES and g.shape[-1] > 1:
        g = g.reshape(*g.shape[:-2], g.shape[-1] * g.shape[-2])
    return g.astype(np.uint8) + 1


def decode(tokens: np.ndarray, n: int | None = None) -> np.ndarray:
    """Tokens → (n, n) digits (0 blank). PAD (0) and out-of-range tokens decode as blank."""
    t = np.asarray(tokens).reshape(-1).astype(np.int64)
    if n is None:
        n = math.isqrt(t.shape[0])
    d = t - 1
    d[(d < 0) | (d > n)] = 0
    return d.astype(np.uint8).reshape(n, n)


@cache
def unit_indices(n: int) -> np.ndarray:
    """[3n, n] cell indices of the rows, columns and boxes of an n×n board."""
    br, bc = box_shape(n)
    rows = [[r * n + c for c in range(n)] for r in range(n)]
    cols = [[r * n + c for r in range(n)] for c in range(n)]
    boxes = []
    for b in range(n):
        r0, c0 = (b // (n // bc)) * br, (b % (n // bc)) * bc
        boxes.append([(r0 + i // bc) * n + c0 + i % bc for i in range(n)])
    return np.array(rows + cols + boxes, dtype=np.intp)


def _unit_name(n: int, u: int) -> str:
    kind = ("row", "column", "box")[u // n]
    return f"{kind} {u % n + 1}"


def solutions_valid(solutions: np.ndarray, n: int) -> np.ndarray:
    """[N] bool: each row of ``solutions`` [N, n*n] (digits) is a complete valid grid."""
    s = np.asarray(solutions).reshape(-1, n * n)
    units = s[:, unit_indices(n)]  # [N, 3n, n]
    return np.all(np.sort(units, axis=2) == np.arange(1, n + 1, dtype=s.dtype), axis=(1, 2))


def consistent_with_givens(puzzles: np.ndarray, solutions: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(puzzles).reshape(-1, n * n)
    s = np.asarray(solutions).reshape(-1, n * n)
    return np.all((p == 0) | (p == s), axis=1)


def is_valid_solution(grid: np.ndarray, givens: np.ndarray | None = None) -> bool:
    """True if ``grid`` (digits) is a complete valid board and agrees with the non-blank ``givens``."""
    g = np.asarray(grid)
    n = math.isqrt(g.size)
    if n * n != g.size or n not in _BOX_SHAPES:
        return False
    ok = bool(solutions_valid(g.reshape(1, -1), n)[0])
    if ok and givens is not None:
        ok = bool(consistent_with_givens(np.asarray(givens).reshape(1, -1), g.reshape(1, -1), n)[0])
    return ok


_TIMES = {2: "twice", 3: "three times"}


def unit_conflicts(grid: np.ndarray, n: int) -> list[str]:
    """Every (unit, digit) pair of one board that breaks the rule "each digit once per row, column and box", as
    ``"digit 3 appears twice in row 1"``, rows first, then columns, then boxes (blanks, 0, are not digits)."""
    flat = np.asarray(grid).reshape(n * n)
    found = []
    for u, unit in enumerate(unit_indices(n)):
        digits, counts = np.unique(flat[unit], return_counts=True)
        for digit, times in zip(digits.tolist(), counts.tolist()):
            if digit > 0 and times > 1:
                found.append(f"digit {digit} appears {_TIMES.get(times, f'{times} times')} in {_unit_name(n, u)}")
    return found


def givens_conflict(puzzles: np.ndarray, n: int) -> tuple[np.ndarray, list[str]]:
    """For puzzles [N, n*n]: bool [N] "two equal givens share a unit", and a description of the first such puzzle."""
    p = np.asarray(puzzles).reshape(-1, n * n)
    units = np.sort(p[:, unit_indices(n)], axis=2)  # [N, 3n, n]
    dup = (units[:, :, 1:] == units[:, :, :-1]) & (units[:, :, 1:] > 0)
    bad = dup.any(axis=(1, 2))
    msgs = []
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        u, j = np.argwhere(dup[i])[0]
        msgs.append(f"digit {int(units[i, u, j + 1])} appears twice in {_unit_name(n, int(u))}")
    return bad, msgs
