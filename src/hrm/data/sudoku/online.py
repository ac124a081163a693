"""Online Sudoku augmentation for training (``data.online_augment``): a fresh validity-preserving shuffle for every
row of every batch."""

from __future__ import annotations

import math

import numpy as np

from hrm.data.augment import sample_sudoku_transforms
from hrm.data.sudoku.grid import box_shape
from hrm.errors import UserError


class SudokuBatchAugmenter:
    """Online Sudoku augmentation: a fresh validity-preserving shuffle for every row of every training batch.

    The shuffles of step ``s`` are drawn for the whole *global* batch from a generator keyed by (seed, s), and each
    rank applies its slice, so the result depends on neither the number of processes nor on where a run resumed.
    Tokens follow the Sudoku encoding (0 = pad, 1 = blank, digit d = d + 1); ignored labels (-100) stay ignored.
    """

    def __init__(self, seq_len: int, seed: int, global_batch_size: int, rank: int, world_size: int):
        n = math.isqrt(seq_len)
        if n * n != seq_len:
            raise UserError(f"data.online_augment needs square Sudoku boards; seq_len {seq_len} is not a square")
        self.box = box_shape(n)
        self.seed = seed
        self.global_batch_size = global_batch_size
        local = global_batch_size // world_size
        self.rows = slice(rank * local, (rank + 1) * local)

    def __call__(self, batch: dict[str, np.ndarray], step: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 0x5D0C, step])
        transforms = sample_sudoku_transforms(rng, self.global_batch_size, self.box)
        sources = transforms.cell_sources()[self.rows]  # [B, n*n]: output cell j reads input cell sources[:, j]
        digit_maps = transforms.digit_maps[self.rows].astype(np.int32)  # [B, n+1], digit → digit, 0 fixed
        B = digit_maps.shape[0]
        token_maps = np.concatenate(
            [np.zeros((B, 1), np.int32), np.ones((B, 1), np.int32), digit_maps[:, 1:] + 1], axis=1
        )  # [B, n+2], token → token
        out = dict(batch)
        for key in ("inputs", "labels"):
            moved = np.take_along_axis(batch[key], sources, axis=1)
            ignored = moved < 0
            mapped = np.take_along_axis(token_maps, np.where(ignored, 0, moved), axis=1)
            out[key] = np.where(ignored, moved, mapped).astype(np.int32)
        return out
