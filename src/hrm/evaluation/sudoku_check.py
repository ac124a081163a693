"""Sudoku validity: a row consumer counting predictions that are valid grids agreeing with the givens.

``valid_solution_rate`` is the right notion of success for puzzles with several solutions (exact match compares
with one stored solution). :class:`SudokuChecker` is fed every cap's outputs by
:func:`hrm.evaluation.evaluate.evaluate_batches`; with ``keep`` it also stores one cap's predicted grids and writes
them as ``predictions.txt`` (one puzzle per line, file order).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hrm.data import sudoku
from hrm.runtime.files import check_output_file, write_text_atomic

if TYPE_CHECKING:
    from hrm.evaluation.batches import EvalBatch
    from hrm.evaluation.evaluate import SegmentOutputs


class SudokuChecker:
    """Row consumer: counts predictions that are valid complete grids agreeing with the givens (per cap).

    The givens come from the inputs (token 1 = blank), so it works on datasets and on direct files alike. With
    ``keep`` it also stores every row's predicted grid for that cap (by row index) to write a predictions file.
    """

    def __init__(self, n: int, keep: int | None = None):
        self.n = n
        self.keep = keep
        self.valid: dict[int, int] = {}
        self.rows: dict[int, int] = {}
        self.predictions: dict[int, np.ndarray] = {}

    def __call__(self, cap: int, batch: EvalBatch, outputs: SegmentOutputs) -> None:
        n = self.n
        mask = batch.valid.cpu().numpy() if batch.valid is not None else np.ones(batch.size, dtype=bool)
        givens = batch.inputs.cpu().numpy()[mask].astype(np.int64) - 1
        givens[(givens < 0) | (givens > n)] = 0
        pred = outputs.predictions.cpu().numpy()[mask].astype(np.int64) - 1
        pred[(pred < 0) | (pred > n)] = 0
        ok = sudoku.solutions_valid(pred, n) & sudoku.consistent_with_givens(givens, pred, n)
        self.valid[cap] = self.valid.get(cap, 0) + int(ok.sum())
        self.rows[cap] = self.rows.get(cap, 0) + int(mask.sum())
        if cap == self.keep:
            index = batch.index.cpu().numpy()[mask] if batch.index is not None else None
            if index is not None:
                for i, row in zip(index.tolist(), pred):
                    self.predictions[i] = row.astype(np.uint8)

    def rate(self, cap: int) -> float:
        return self.valid.get(cap, 0) / max(self.rows.get(cap, 0), 1)

    def write(self, path: str | Path) -> Path:
        """One line per puzzle (file order): the predicted grid, n² digits ('.' where the model gave no digit)."""
        path = check_output_file(path, "predictions")
        lines = [sudoku.format_sudoku(self.predictions[i]) for i in sorted(self.predictions)]
        write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
        return path
