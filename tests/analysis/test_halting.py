"""Halting analysis: segments used with early exit and accuracy against segments, from one pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrm.analysis.examples import load_examples
from hrm.analysis.halting import analyze_halting, format_halting, plot_halting
from hrm.model.losses import IGNORE_LABEL_ID
from tests.inference import helpers


def test_accuracy_against_segments_with_own_predictions_as_labels(tmp_path):
    model = helpers.tiny_model(6, 16, halt_max_steps=3)
    rng = np.random.default_rng(0)
    inputs = rng.integers(1, 6, size=(9, 16))
    ids = np.zeros(9, dtype=np.int64)
    segs = model.trace(torch.as_tensor(inputs), torch.as_tensor(ids), num_segments=3)
    labels = segs[1]["logits"].argmax(-1).numpy()  # the segment-2 answers are "right"
    labels[:, :3] = IGNORE_LABEL_ID  # unsupervised tokens are skipped
    report = analyze_halting(model, inputs, labels, ids, batch_size=4)
    assert report.count == 9 and report.max_segments == 3
    assert report.accuracy_fixed[1] == 1.0
    # q_head starts at (-5, -5): never halts early, so every example uses the cap.
    assert report.histogram == [0, 0, 9] and report.mean_segments == 3.0 and report.halted_before_max == 0.0
    assert report.accuracy_at_halt == report.accuracy_fixed[2]
    assert report.accuracy_by_halt[:2] == [None, None]
    text = format_halting(report)
    assert "segments used" in text and "acc if all stop here" in text
    assert plot_halting(report, tmp_path / "h.png").stat().st_size > 5000


def test_halting_at_first_segment(sudoku4_data):
    model = helpers.tiny_model(6, 16, halt_max_steps=4, halt_bias=(5.0, -5.0))
    ex = load_examples(sudoku4_data, "test", num=7)
    report = analyze_halting(model, ex.inputs, ex.labels, ex.puzzle_identifiers, max_segments=4)
    assert report.histogram == [7, 0, 0, 0] and report.mean_segments == 1.0
    assert report.halted_before_max == 1.0
    assert report.accuracy_at_halt == report.accuracy_fixed[0]
    assert report.accuracy_by_halt[0] == pytest.approx(report.accuracy_fixed[0])
    assert len(report.accuracy_fixed) == 4
