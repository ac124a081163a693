"""Exact accuracy against puzzle difficulty: a row consumer that splits the metrics by each row's difficulty.

:class:`DifficultyBreakdown` is fed every cap's outputs by :func:`hrm.evaluation.evaluate.evaluate_batches` (as
:class:`~hrm.evaluation.sudoku_check.SudokuChecker` is) and, for every segment cap, accumulates the counted rows,
the exactly solved rows and the summed token accuracy per difficulty value. Rows are counted as in
:mod:`hrm.evaluation.metrics` (at least one supervised token), so the groups' counts add up to the cap's ``count``.

The difficulty of a row depends on the data kind (:mod:`hrm.data.kind`; :func:`difficulty_for`):

* ``sudoku`` — **givens**: input cells that hold a digit (token ≥ 2; blank 1 and PAD 0 are not givens,
  :mod:`hrm.data.sudoku`). More givens = easier.
* ``maze`` — **path length**: moves on the shortest S→G path, i.e. the label cells holding the path token ``o``
  plus 1 (S and G keep their letters in the label, :mod:`hrm.data.maze`). Longer = harder.
* any other kind: no breakdown.

Grouping rule (:func:`group_ranges`): with at most :data:`MAX_GROUPS` (12) distinct values every value is its own
row. With more, the values are grouped into contiguous equal-width integer ranges anchored at the smallest value:
``width = ceil((max - min + 1) / MAX_GROUPS)``, range k covers ``[min + k·width, min + (k+1)·width - 1]``; ranges
that hold no row are left out. So a table never has more than 12 rows.

``hrm evaluate`` adds it for Sudoku and maze data (:mod:`hrm.evaluation.inputs`) and stores each cap's
:class:`Breakdown` on its :class:`~hrm.evaluation.evaluate.EvalResult`. As a library call::

    breakdown = DifficultyBreakdown(GIVENS)  # or difficulty_for(kind), None for kinds without one
    scaling_sweep(model, split, [1, 8], consumers=[breakdown])
    table = breakdown.result(8)  # Breakdown: .groups, .as_dict(); format_breakdown(table) prints it
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hrm.data import maze, sudoku
from hrm.evaluation.metrics import row_metrics

if TYPE_CHECKING:
    from hrm.evaluation.batches import EvalBatch
    from hrm.evaluation.evaluate import SegmentOutputs

MAX_GROUPS = 12


def sudoku_givens(inputs: np.ndarray) -> np.ndarray:
    """Givens per row of Sudoku inputs [B, S] (tokens): cells holding a digit, not blank (1) or PAD (0)."""
    return np.count_nonzero(np.asarray(inputs) > sudoku.BLANK_TOKEN, axis=-1).astype(np.int64)


def maze_path_length(labels: np.ndarray) -> np.ndarray:
    """Shortest-path length in moves per row of maze labels [B, S]: the cells marked ``o`` (between S and G), + 1."""
    return np.count_nonzero(np.asarray(labels) == maze.PATH, axis=-1).astype(np.int64) + 1


@dataclass(frozen=True)
class Difficulty:
    """How to read one row's difficulty from a batch: ``measure(inputs, labels)`` → int per row."""

    key: str  # the JSON name: "givens" | "path_length"
    label: str  # the printed name: "givens" | "path length"
    measure: Callable[[np.ndarray, np.ndarray], np.ndarray]


GIVENS = Difficulty("givens", "givens", lambda inputs, labels: sudoku_givens(inputs))
PATH_LENGTH = Difficulty("path_length", "path length", lambda inputs, labels: maze_path_length(labels))


def difficulty_for(kind: str | None) -> Difficulty | None:
    """The difficulty measure of a data kind (``sudoku``: givens, ``maze``: path length); None for the others."""
    return {"sudoku": GIVENS, "maze": PATH_LENGTH}.get(kind or "")


def group_ranges(values: list[int] | np.ndarray, max_groups: int = MAX_GROUPS) -> list[tuple[int, int]]:
    """The inclusive ``(low, high)`` ranges of the table for these difficulty values (the module's grouping rule).

    ≤ ``max_groups`` distinct values: one range per value. Otherwise equal-width ranges from the smallest value,
    ``width = ceil((max - min + 1) / max_groups)``; only ranges holding at least one value are returned.
    """
    distinct = sorted({int(v) for v in np.asarray(values).reshape(-1).tolist()})
    if not distinct:
        return []
    if len(distinct) <= max_groups:
        return [(v, v) for v in distinct]
    low, high = distinct[0], distinct[-1]
    width = math.ceil((high - low + 1) / max_groups)
    occupied = sorted({(v - low) // width for v in distinct})
    return [(low + k * width, low + (k + 1) * width - 1) for k in occupied]


@dataclass
class BreakdownGroup:
    """One row of the table: the difficulty range (inclusive), its counted rows and their accuracies."""

    low: int
    high: int
    count: int
    exact_accuracy: float
    token_accuracy: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Breakdown:
    """Exact and token accuracy per difficulty group at one segment cap (the table ``hrm evaluate`` prints)."""

    by: str  # Difficulty.key
    label: str  # Difficulty.label
    max_segments: int
    distinct_values: int
    groups: list[BreakdownGroup]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: every group has at least one row, so every number is finite."""
        return {
            "by": self.by,
            "distinct_values": self.distinct_values,
            "groups": [g.as_dict() for g in self.groups],
        }


class DifficultyBreakdown:
    """Row consumer: per segment cap and difficulty value, counted rows, exact rows and summed token accuracy."""

    def __init__(self, difficulty: Difficulty, max_groups: int = MAX_GROUPS):
        self.difficulty = difficulty
        self.max_groups = max_groups
        # cap -> difficulty value -> [counted rows, exact rows, summed token accuracy]
        self.sums: dict[int, dict[int, list[float]]] = {}

    @classmethod
    def for_kind(cls, kind: str | None) -> DifficultyBreakdown | None:
        """The consumer for a data kind (Sudoku: givens, maze: path length); None for kinds without a measure."""
        difficulty = difficulty_for(kind)
        return cls(difficulty) if difficulty is not None else None

    def __call__(self, cap: int, batch: EvalBatch, outputs: SegmentOutputs) -> None:
        if batch.labels is None:  # nothing is counted without labels (as in the metrics)
            return
        rows = row_metrics(outputs.predictions, batch.labels, None, batch.valid)
        counted = rows.counted.cpu().numpy()
        if not counted.any():
            return
        inputs = batch.inputs.cpu().numpy()[counted]
        labels = batch.labels.cpu().numpy()[counted]
        values = self.difficulty.measure(inputs, labels)
        exact = rows.exact.cpu().numpy()[counted]
        token = rows.token_accuracy.cpu().numpy()[counted].astype(np.float64)
        per_value = self.sums.setdefault(cap, {})
        for v in np.unique(values).tolist():
            pick = values == v
            acc = per_value.setdefault(int(v), [0, 0, 0.0])
            acc[0] += int(pick.sum())
            acc[1] += int(exact[pick].sum())
            acc[2] += float(token[pick].sum())

    def result(self, cap: int) -> Breakdown | None:
        """The table at ``cap``; None when no row was counted there."""
        per_value = self.sums.get(cap)
        if not per_value:
            return None
        groups = []
        for low, high in group_ranges(list(per_value), self.max_groups):
            inside = [s for v, s in per_value.items() if low <= v <= high]
            count = int(sum(s[0] for s in inside))
            groups.append(
                BreakdownGroup(
                    low=low,
                    high=high,
                    count=count,
                    exact_accuracy=sum(s[1] for s in inside) / count,
                    token_accuracy=sum(s[2] for s in inside) / count,
                )
            )
        return Breakdown(
            by=self.difficulty.key,
            label=self.difficulty.label,
            max_segments=cap,
            distinct_values=len(per_value),
            groups=groups,
        )


def format_breakdown(breakdown: Breakdown) -> str:
    """The printed table: "exact by givens (M=8):" then one line per value or range."""
    header = [breakdown.label, "rows", "exact%", "token%"]
    rows = [
        [
            str(g.low) if g.low == g.high else f"{g.low}-{g.high}",
            f"{g.count:,}",
            f"{100.0 * g.exact_accuracy:6.2f}",
            f"{100.0 * g.token_accuracy:6.2f}",
        ]
        for g in breakdown.groups
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [f"exact by {breakdown.label} (M={breakdown.max_segments}):"]
    lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)
