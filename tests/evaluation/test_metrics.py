"""Metrics on hand-made logits: reference semantics (rows with >= 1 supervised token; exact = all correct)."""

from __future__ import annotations

import math

import pytest
import torch

from hrm.evaluation.metrics import MetricAccumulator, format_histogram, row_metrics
from hrm.model import act_loss
from hrm.model.losses import IGNORE_LABEL_ID

X = IGNORE_LABEL_ID


def _logits(tokens: list[list[int]], vocab: int = 4) -> torch.Tensor:
    """Logits whose argmax is ``tokens``."""
    t = torch.tensor(tokens)
    return torch.nn.functional.one_hot(t, vocab).float() * 5.0 - 1.0


def test_row_metrics_by_hand():
    logits = _logits([[1, 2, 3], [1, 0, 3], [0, 0, 0], [2, 2, 2]])
    labels = torch.tensor([[1, 2, 3], [1, 2, X], [X, X, X], [2, 1, X]])
    q_halt = torch.tensor([3.0, -1.0, 0.0, 0.5])
    rows = row_metrics(logits, labels, q_halt)
    assert rows.counted.tolist() == [True, True, False, True]
    assert rows.exact.tolist() == [True, False, True, False]  # a row without labels is "correct" (reference)
    assert torch.allclose(rows.token_accuracy, torch.tensor([1.0, 0.5, 0.0, 0.5]))
    assert rows.q_halt_correct.tolist() == [True, True, True, False]


def test_accumulator_summary_and_histogram():
    acc = MetricAccumulator(max_segments=4)
    logits = _logits([[1, 2, 3], [1, 0, 3], [0, 0, 0], [2, 2, 2]])
    labels = torch.tensor([[1, 2, 3], [1, 2, X], [X, X, X], [2, 1, X]])
    acc.update(logits, labels, torch.tensor([3.0, -1.0, 0.0, 0.5]), torch.tensor([1, 4, 2, 4]))
    # A padding row (valid False) with labels is excluded too.
    acc.update(
        _logits([[1, 1, 1], [3, 3, 3]]),
        torch.tensor([[1, 1, 1], [3, 3, 3]]),
        torch.tensor([1.0, 1.0]),
        2,
        valid=torch.tensor([True, False]),
    )
    s = acc.summary()
    assert s.count == 4
    assert s.exact_accuracy == pytest.approx(2 / 4)
    assert s.token_accuracy == pytest.approx((1 + 0.5 + 0.5 + 1) / 4)
    assert s.q_halt_accuracy == pytest.approx(3 / 4)
    assert s.mean_segments == pytest.approx((1 + 4 + 4 + 2) / 4)
    assert s.halting_histogram == [1, 1, 0, 2]
    text = format_histogram(s.halting_histogram)
    assert text.splitlines()[0].startswith("   1 |") and "50.0%" in text


def test_accumulator_matches_act_loss_metrics():
    """Same numbers as the training loss's metrics (which count halted rows with labels)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, 3, generator=g)
    labels = logits.argmax(-1).clone()
    labels[0, 0] = (labels[0, 0] + 1) % 3
    labels[1, :2] = X
    labels[2] = X
    q_halt = torch.randn(6, generator=g)
    steps = torch.tensor([1, 2, 3, 4, 4, 2], dtype=torch.int32)
    _, ref = act_loss(
        {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_halt},
        labels,
        torch.ones(6, dtype=torch.bool),
        steps,
    )
    acc = MetricAccumulator(4)
    acc.update(logits, labels, q_halt, steps)
    s = acc.summary()
    n = float(ref["count"])
    assert s.count == n
    assert s.exact_accuracy == pytest.approx(float(ref["exact_accuracy"]) / n)
    assert s.token_accuracy == pytest.approx(float(ref["accuracy"]) / n)
    assert s.q_halt_accuracy == pytest.approx(float(ref["q_halt_accuracy"]) / n)
    assert s.mean_segments == pytest.approx(float(ref["steps"]) / n)


def test_segments_out_of_range_rejected():
    acc = MetricAccumulator(2)
    with pytest.raises(ValueError):
        acc.update(_logits([[1]]), torch.tensor([[1]]), None, 3)


def test_empty_summary_has_zero_count():
    s = MetricAccumulator(3).summary()
    assert s.count == 0 and s.halting_histogram == [0, 0, 0] and not math.isnan(s.exact_accuracy)
