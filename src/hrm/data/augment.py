"""Augmentations and their exact inverses: dihedral, colour permutation, ARC translation, Sudoku shuffles.

Conventions follow the reference (hrm-reference.md §4.3-4.5, §5.2):

* Dihedral transform ids 0..7: identity, rot90, rot180, rot270 (``np.rot90``, counter-clockwise), flip left-right,
  flip up-down, transpose, anti-transpose (``fliplr(rot90(x))``). The inverse of ``tid`` is
  ``DIHEDRAL_INVERSE[tid]`` = [0, 3, 2, 1, 4, 5, 6, 7].
* ARC colour maps are length-10 arrays with ``map[0] == 0`` (black fixed); a grid maps as ``map[grid]`` and the
  inverse map is ``argsort(map)``. An ARC variant applies the colour map and the dihedral transform (they commute).
* A Sudoku shuffle relabels digits (blank 0 fixed), optionally transposes (square boxes only), and permutes rows
  (bands of ``box_rows`` rows, then rows inside each band) and columns (stacks, then columns inside each stack).
  Applied in the reference's order: transpose, then the cell permutation, then the digit map.

Every sampler takes an explicit ``np.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIHEDRAL_INVERSE: tuple[int, ...] = (0, 3, 2, 1, 4, 5, 6, 7)
NUM_DIHEDRAL = 8


def dihedral_transform(arr: np.ndarray, tid: int) -> np.ndarray:
    """Apply dihedral transform ``tid`` (0..7) to the last two axes of ``arr``."""
    if tid == 0:
        return arr
    if tid == 1:
        return np.rot90(arr, k=1, axes=(-2, -1))
    if tid == 2:
        return np.rot90(arr, k=2, axes=(-2, -1))
    if tid == 3:
        return np.rot90(arr, k=3, axes=(-2, -1))
    if tid == 4:
        return np.flip(arr, axis=-1)
    if tid == 5:
        return np.flip(arr, axis=-2)
    if tid == 6:
        return np.swapaxes(arr, -1, -2)
    if tid == 7:
        return np.flip(np.rot90(arr, k=1, axes=(-2, -1)), axis=-1)
    raise ValueError(f"dihedral transform id must be 0..7, got {tid}")


def inverse_dihedral_transform(arr: np.ndarray, tid: int) -> np.ndarray:
    return dihedral_transform(arr, DIHEDRAL_INVERSE[tid])


def dihedral_shape(shape: tuple[int, int], tid: int) -> tuple[int, int]:
    """Shape of an (h, w) grid after transform ``tid``."""
    h, w = shape
    return (w, h) if tid in (1, 3, 6, 7) else (h, w)


# ----------------------------------------------------------------------------------------------------------------
# Colour permutations (ARC)

NUM_COLOURS = 10


def random_colour_maps(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` colour maps [count, 10] uint8: 0 -> 0, colours 1..9 permuted uniformly."""
    perms = rng.permuted(np.tile(np.arange(1, NUM_COLOURS, dtype=np.uint8), (count, 1)), axis=1)
    return np.concatenate([np.zeros((count, 1), np.uint8), perms], axis=1)


def invert_colour_map(colour_map: np.ndarray) -> np.ndarray:
    """Inverse permutation: ``invert_colour_map(m)[m[c]] == c``."""
    return np.argsort(np.asarray(colour_map), axis=-1).astype(np.uint8)


def colour_map_name(colour_map: np.ndarray) -> str:
    """The reference's 10-digit spelling of a colour map, e.g. ``0371945826``."""
    return "".join(str(int(c)) for c in colour_map)


def parse_colour_map(text: str) -> np.ndarray:
    if len(text) != NUM_COLOURS or not text.isdigit() or sorted(text) != list("0123456789") or text[0] != "0":
        raise ValueError(f"not a colour map: {text!r}")
    return np.array([int(c) for c in text], dtype=np.uint8)


def arc_augment(grid: np.ndarray, tid: int, colour_map: np.ndarray) -> np.ndarray:
    """One ARC variant of a grid: colour map, then dihedral transform (the two commute)."""
    return np.ascontiguousarray(dihedral_transform(np.asarray(colour_map)[grid], tid))


def arc_invert(grid: np.ndarray, tid: int, colour_map: np.ndarray) -> np.ndarray:
    """Undo :func:`arc_augment`: inverse dihedral, then inverse colour map (as the reference's evaluation)."""
    return np.ascontiguousarray(invert_colour_map(colour_map)[inverse_dihedral_transform(np.asarray(grid), tid)])


# ----------------------------------------------------------------------------------------------------------------
# Sudoku shuffles


@dataclass(frozen=True)
class SudokuTransform:
    """One validity-preserving Sudoku shuffle for an n×n board with boxes of ``box = (rows, cols)``.

    ``apply(x)``: ``x' = x.T if transpose``; ``y[r, c] = x'[row_perm[r], col_perm[c]]``; ``z = digit_map[y]``.
    ``digit_map`` has n + 1 entries with ``digit_map[0] == 0`` (blank fixed).
    """

    digit_map: np.ndarray
    transpose: bool
    row_perm: np.ndarray
    col_perm: np.ndarray

    @property
    def size(self) -> int:
        return int(self.row_perm.shape[0])

    def apply(self, board: np.ndarray) -> np.ndarray:
        n = self.size
        x = np.asarray(board).reshape(n, n)
        if self.transpose:
            x = x.T
        y = x[self.row_perm][:, self.col_perm]
        return np.asarray(self.digit_map)[y]

    def inverse(self) -> SudokuTransform:
        inv_rows = np.argsort(self.row_perm)
        inv_cols = np.argsort(self.col_perm)
        inv_digits = np.argsort(self.digit_map).astype(self.digit_map.dtype)
        # apply^-1 = transpose ∘ P^-1 ∘ D^-1; written as "transpose first" the row/col roles swap.
        if self.transpose:
            return SudokuTransform(inv_digits, True, inv_cols, inv_rows)
        return SudokuTransform(inv_digits, False, inv_rows, inv_cols)


@dataclass(frozen=True)
class SudokuTransforms:
    """A batch of K shuffles as arrays: digit_maps [K, n+1], transpose [K], row_perm [K, n], col_perm [K, n]."""

    digit_maps: np.ndarray
    transpose: np.ndarray
    row_perm: np.ndarray
    col_perm: np.ndarray

    def __len__(self) -> int:
        return int(self.transpose.shape[0])

    def __getitem__(self, i: int) -> SudokuTransform:
        return SudokuTransform(self.digit_maps[i], bool(self.transpose[i]), self.row_perm[i], self.col_perm[i])

    def cell_sources(self) -> np.ndarray:
        """[K, n*n] int: output cell j takes input cell ``cell_sources[k, j]`` (transpose folded in)."""
        n = self.row_perm.shape[1]
        rows = self.row_perm[:, :, None].astype(np.intp)
        cols = self.col_perm[:, None, :].astype(np.intp)
        plain = rows * n + cols  # x[row_perm[r], col_perm[c]]
        transposed = cols * n + rows  # x.T[row_perm[r], col_perm[c]] = x[col_perm[c], row_perm[r]]
        return np.where(self.transpose[:, None, None], transposed, plain).reshape(len(self), n * n)

    def apply(self, boards: np.ndarray) -> np.ndarray:
        """Apply transform k to board k: ``boards`` [K, n*n] digits (0 blank) -> [K, n*n]."""
        boards = np.asarray(boards)
        moved = np.take_along_axis(boards, self.cell_sources(), axis=1)
        return np.take_along_axis(self.digit_maps, moved.astype(np.intp), axis=1).astype(boards.dtype)


def _block_permutations(rng: np.random.Generator, count: int, num_blocks: int, block: int) -> np.ndarray:
    """[count, num_blocks*block]: permute the blocks, then the positions inside each block."""
    order = rng.permuted(np.tile(np.arange(num_blocks), (count, 1)), axis=1)
    inner = rng.permuted(np.tile(np.arange(block), (count, num_blocks, 1)), axis=2)
    return (order[:, :, None] * block + inner).reshape(count, num_blocks * block)


def sample_sudoku_transforms(rng: np.random.Generator, count: int, box: tuple[int, int]) -> SudokuTransforms:
    """``count`` random shuffles for boxes of ``box = (rows, cols)`` (n = rows*cols).

    Digit relabelling and row/column permutations as the reference; transpose with p = 0.5 when the boxes are
    square (a transpose turns r×c boxes into c×r boxes, which is another puzzle type when r ≠ c).
    """
    box_rows, box_cols = box
    n = box_rows * box_cols
    digits = rng.permuted(np.tile(np.arange(1, n + 1, dtype=np.uint8), (count, 1)), axis=1)
    digit_maps = np.concatenate([np.zeros((count, 1), np.uint8), digits], axis=1)
    if box_rows == box_cols:
        transpose = rng.random(count) < 0.5
    else:
        transpose = np.zeros(count, dtype=bool)
    row_perm = _block_permutations(rng, count, n // box_rows, box_rows)  # bands of box_rows rows
    col_perm = _block_permutations(rng, count, n // box_cols, box_cols)  # stacks of box_cols columns
    return SudokuTransforms(digit_maps, transpose, row_perm, col_perm)
