"""Exact accuracy per difficulty: Sudoku givens, maze path length, the grouping rule and the row consumer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from hrm.data import maze, sudoku
from hrm.evaluation.batches import EvalBatch
from hrm.evaluation.breakdown import (
    GIVENS,
    MAX_GROUPS,
    PATH_LENGTH,
    DifficultyBreakdown,
    difficulty_for,
    format_breakdown,
    group_ranges,
    maze_path_length,
    sudoku_givens,
)
from hrm.evaluation.evaluate import SegmentOutputs
from hrm.evaluation.metrics import MetricAccumulator
from hrm.model.losses import IGNORE_LABEL_ID

SOLUTION_4 = np.array([[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]], dtype=np.uint8)


def _puzzle(keep: int) -> np.ndarray:
    """SOLUTION_4 with only its first ``keep`` cells (row-major) given."""
    flat = SOLUTION_4.reshape(-1).copy()
    flat[keep:] = 0
    return flat


def _outputs(predictions: torch.Tensor) -> SegmentOutputs:
    b = predictions.shape[0]
    return SegmentOutputs(
        predictions=predictions,
        q_halt_logits=torch.zeros(b),
        q_continue_logits=torch.zeros(b),
        segments=torch.ones(b, dtype=torch.long),
    )


def test_sudoku_givens_counts_digit_tokens_not_blank_or_pad():
    rows = np.stack([sudoku.encode(_puzzle(k)) for k in (5, 9, 16)])
    assert sudoku_givens(rows).tolist() == [5, 9, 16]
    padded = rows.copy()
    padded[0, :3] = sudoku.PAD_ID  # PAD is not a given either
    assert sudoku_givens(padded)[0] == 5 - 3


MAZE = [
    "#######",
    "#S  # #",
    "# # # #",
    "# #   #",
    "### # #",
    "#    G#",
    "#######",
]


def test_maze_path_length_is_path_cells_plus_one_and_matches_the_solver():
    grid = maze.encode(MAZE)
    label, length, _ = maze.solve(grid)
    assert length == 8  # e.g. S (1,1) → (1,3) → (5,3) → G (5,5): 2 + 4 + 2 moves
    assert maze_path_length(label.reshape(1, -1)).tolist() == [8]
    # S next to G: no path cell, one move.
    near = maze.encode(["###", "#SG", "###"])
    assert maze_path_length(maze.solve(near)[0].reshape(1, -1)).tolist() == [1]


def test_difficulty_by_kind():
    assert difficulty_for("sudoku") is GIVENS and difficulty_for("maze") is PATH_LENGTH
    assert difficulty_for("arc") is None and difficulty_for("puzzles") is None and difficulty_for(None) is None
    sudoku_consumer = DifficultyBreakdown.for_kind("sudoku")
    assert sudoku_consumer is not None and sudoku_consumer.difficulty is GIVENS
    assert DifficultyBreakdown.for_kind("arc") is None and DifficultyBreakdown.for_kind(None) is None


def test_grouping_rule():
    assert group_ranges([40, 30, 35, 30]) == [(30, 30), (35, 35), (40, 40)]
    assert group_ranges(list(range(30, 30 + MAX_GROUPS))) == [(v, v) for v in range(30, 42)]
    assert group_ranges([]) == []
    # 13 distinct values 1..13: width ceil(13 / 12) = 2, anchored at 1.
    assert group_ranges(list(range(1, 14))) == [(k, k + 1) for k in range(1, 14, 2)]
    # Mazes: path lengths 12..130 (119 values) → width 10; ranges without values are left out.
    values = list(range(12, 60)) + [95, 130]
    ranges = group_ranges(values)
    assert ranges[0] == (12, 21) and (92, 101) in ranges and ranges[-1] == (122, 131)
    assert all(hi - lo + 1 == 10 for lo, hi in ranges) and len(ranges) <= MAX_GROUPS
    assert all(any(lo <= v <= hi for v in values) for lo, hi in ranges)  # every range holds a value
    assert all(sum(lo <= v <= hi for lo, hi in ranges) == 1 for v in values)  # every value in exactly one


def test_consumer_counts_exact_and_token_accuracy_per_givens():
    puzzles = [_puzzle(k) for k in (6, 6, 9, 9, 9)]
    inputs = torch.as_tensor(np.stack([sudoku.encode(p) for p in puzzles]), dtype=torch.long)
    labels = torch.as_tensor(np.tile(sudoku.encode(SOLUTION_4.reshape(-1)), (5, 1)), dtype=torch.long)
    predictions = labels.clone()
    predictions[1, :4] = 1  # row 1 (6 givens): 12/16 right
    predictions[3, 15] = 1  # row 3 (9 givens): 15/16 right
    valid = torch.tensor([True, True, True, True, False])  # the last row is padding: not counted
    batch = EvalBatch(inputs=inputs, puzzle_identifiers=torch.zeros(5, dtype=torch.long), labels=labels, valid=valid)
    consumer = DifficultyBreakdown(GIVENS)
    for cap in (1, 2):
        consumer(cap, batch, _outputs(predictions if cap == 2 else labels))
    perfect = consumer.result(1)
    assert perfect is not None and [g.exact_accuracy for g in perfect.groups] == [1.0, 1.0]
    result = consumer.result(2)
    assert result is not None and result.by == "givens" and result.distinct_values == 2 and result.max_segments == 2
    assert [(g.low, g.high, g.count) for g in result.groups] == [(6, 6, 2), (9, 9, 2)]
    assert [g.exact_accuracy for g in result.groups] == [0.5, 0.5]
    assert result.groups[0].token_accuracy == pytest.approx((1 + 12 / 16) / 2)
    assert result.groups[1].token_accuracy == pytest.approx((1 + 15 / 16) / 2)
    # The groups add up to the cap's metrics.
    acc = MetricAccumulator(2)
    acc.update(predictions, labels, None, 1, valid)
    summary = acc.summary()
    assert sum(g.count for g in result.groups) == summary.count == 4
    assert sum(g.exact_accuracy * g.count for g in result.groups) / 4 == pytest.approx(summary.exact_accuracy)
    assert sum(g.token_accuracy * g.count for g in result.groups) / 4 == pytest.approx(summary.token_accuracy)
    assert consumer.result(3) is None  # a cap it never saw
    # Plain JSON, no NaN; and the printed table.
    text = json.dumps(result.as_dict(), allow_nan=False)
    assert json.loads(text)["groups"][1] == {
        "low": 9,
        "high": 9,
        "count": 2,
        "exact_accuracy": 0.5,
        "token_accuracy": pytest.approx((1 + 15 / 16) / 2),
    }
    table = format_breakdown(result).splitlines()
    assert table[0] == "exact by givens (M=2):"
    assert table[1].split() == ["givens", "rows", "exact%", "token%"]
    assert table[3].split() == ["6", "2", "50.00", f"{100 * (1 + 12 / 16) / 2:.2f}"]


def test_consumer_on_mazes_and_without_labels():
    grid = maze.encode(MAZE)
    label = maze.solve(grid)[0].reshape(-1)
    near = np.full(49, maze.WALL, dtype=np.uint8)
    near[8], near[9], near[10] = maze.START, maze.GOAL, maze.OPEN
    near_label = near.copy()
    inputs = torch.as_tensor(np.stack([grid.reshape(-1), near]), dtype=torch.long)
    labels = torch.as_tensor(np.stack([label, near_label]), dtype=torch.long)
    consumer = DifficultyBreakdown(PATH_LENGTH)
    wrong = labels.clone()
    wrong[0, labels[0] == maze.PATH] = maze.OPEN  # the long maze's path is missed entirely
    consumer(
        4, EvalBatch(inputs=inputs, puzzle_identifiers=torch.zeros(2, dtype=torch.long), labels=labels), _outputs(wrong)
    )
    result = consumer.result(4)
    assert result is not None and result.label == "path length"
    assert [(g.low, g.count, g.exact_accuracy) for g in result.groups] == [(1, 1, 1.0), (8, 1, 0.0)]
    assert result.groups[1].token_accuracy == pytest.approx((49 - 7) / 49)
    assert format_breakdown(result).startswith("exact by path length (M=4):")
    # Rows without labels (or only unsupervised tokens) count nowhere, as in the metrics.
    empty = DifficultyBreakdown(PATH_LENGTH)
    empty(1, EvalBatch(inputs=inputs, puzzle_identifiers=torch.zeros(2, dtype=torch.long)), _outputs(labels))
    ignored = torch.full_like(labels, IGNORE_LABEL_ID)
    empty(
        1,
        EvalBatch(inputs=inputs, puzzle_identifiers=torch.zeros(2, dtype=torch.long), labels=ignored),
        _outputs(labels),
    )
    assert empty.result(1) is None


def test_many_values_are_grouped_in_the_result():
    consumer = DifficultyBreakdown(GIVENS)
    values = list(range(4, 17))  # 13 distinct givens counts on 4×4 boards → ranges of 2
    inputs = torch.as_tensor(np.stack([sudoku.encode(_puzzle(k)) for k in values]), dtype=torch.long)
    labels = torch.as_tensor(np.tile(sudoku.encode(SOLUTION_4.reshape(-1)), (len(values), 1)), dtype=torch.long)
    batch = EvalBatch(inputs=inputs, puzzle_identifiers=torch.zeros(len(values), dtype=torch.long), labels=labels)
    consumer(1, batch, _outputs(labels))
    result = consumer.result(1)
    assert result is not None and result.distinct_values == 13
    assert [(g.low, g.high, g.count) for g in result.groups] == [
        (k, k + 1, 2 if k < 16 else 1) for k in range(4, 17, 2)
    ]
    assert "16-17" in format_breakdown(result)
    assert all(math.isfinite(g.token_accuracy) for g in result.groups)
