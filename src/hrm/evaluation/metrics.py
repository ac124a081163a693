"""Evaluation metrics with the reference code's semantics (spec §2.4, §5.1).

Only rows with at least one supervised token (label != -100) are counted; padding rows of the last batch and
rows without labels drop out automatically.

=====================  ==========================================================================================
metric                 definition (over counted rows)
=====================  ==========================================================================================
``exact_accuracy``     fraction of rows whose every supervised token's argmax equals its label (the headline)
``token_accuracy``     mean over rows of (correct supervised tokens / supervised tokens); the reference's
                       ``accuracy`` (a per-row mean, then a mean over rows, not a pooled token count)
``q_halt_accuracy``    fraction of rows where ``q_halt_logit >= 0`` agrees with "row is exactly correct"
``mean_segments``      mean number of segments run per row (the reference's ``steps``)
``halting_histogram``  rows per segment count 1..M (how many rows stopped after m segments)
=====================  ==========================================================================================

:class:`MetricAccumulator` sums these over batches, then :meth:`MetricAccumulator.summary` divides by the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from hrm.model.losses import IGNORE_LABEL_ID


@dataclass
class RowMetrics:
    """Per-row results of one batch (all tensors [B]); ``counted`` marks rows with >= 1 supervised token."""

    counted: torch.Tensor  # bool
    token_accuracy: torch.Tensor  # float32, correct / supervised (0 where not counted)
    exact: torch.Tensor  # bool, every supervised token correct (True for rows without labels, as the reference)
    q_halt_correct: torch.Tensor  # bool, (q_halt >= 0) == exact


def row_metrics(
    predictions: torch.Tensor,
    labels: torch.Tensor,
    q_halt_logits: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> RowMetrics:
    """Per-row correctness of ``predictions`` (token ids [B, S], or logits [B, S, V]) against ``labels`` [B, S].

    ``valid`` [B] (bool) excludes padding rows in addition to rows without supervised tokens.
    """
    if predictions.ndim == labels.ndim + 1:
        predictions = predictions.argmax(-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} differ in shape")
    mask = labels != IGNORE_LABEL_ID
    n_valid = mask.sum(-1)
    correct = mask & (predictions == labels)
    n_correct = correct.sum(-1)
    counted = n_valid > 0
    if valid is not None:
        counted = counted & valid.to(torch.bool)
    exact = n_correct == n_valid
    token_acc = torch.where(counted, n_correct.to(torch.float32) / n_valid.clamp_min(1).to(torch.float32), 0.0)
    if q_halt_logits is None:
        q_ok = torch.zeros_like(exact)
    else:
        q_ok = (q_halt_logits >= 0) == exact
    return RowMetrics(counted=counted, token_accuracy=token_acc, exact=exact, q_halt_correct=q_ok)


@dataclass
class MetricSummary:
    """Metrics over a whole split (fractions in [0, 1]); ``halting_histogram[m - 1]`` = rows that ran m segments."""

    count: int
    exact_accuracy: float
    token_accuracy: float
    q_halt_accuracy: float
    mean_segments: float
    halting_histogram: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, float | int | list[int] | None]:
        return {
            "count": self.count,
            "exact_accuracy": self.exact_accuracy,
            "token_accuracy": self.token_accuracy,
            "q_halt_accuracy": None if math.isnan(self.q_halt_accuracy) else self.q_halt_accuracy,
            "mean_segments": self.mean_segments,
            "halting_histogram": list(self.halting_histogram),
        }


class MetricAccumulator:
    """Sums of the reference metrics over batches; ``max_segments`` sizes the halting histogram."""

    def __init__(self, max_segments: int):
        if max_segments < 1:
            raise ValueError(f"max_segments must be >= 1, got {max_segments}")
        self.max_segments = int(max_segments)
        self.count = 0
        self.token_accuracy = 0.0
        self.exact = 0
        self.q_halt = 0
        self.q_halt_seen = False  # no batch had q_halt logits (a family without a halting head): NaN, not 0
        self.segments = 0
        self.histogram = np.zeros(self.max_segments, dtype=np.int64)

    def update(
        self,
        predictions: torch.Tensor,
        labels: torch.Tensor,
        q_halt_logits: torch.Tensor | None,
        segments: torch.Tensor | int,
        valid: torch.Tensor | None = None,
    ) -> RowMetrics:
        """Add one batch; ``segments`` is per row [B] or one int for all rows. Returns the per-row metrics."""
        rows = row_metrics(predictions, labels, q_halt_logits, valid)
        counted = rows.counted
        if isinstance(segments, int):
            segments = torch.full(counted.shape, segments, dtype=torch.long, device=counted.device)
        segments = segments.to(torch.long)
        if bool((segments[counted] < 1).any()) or bool((segments[counted] > self.max_segments).any()):
            raise ValueError(f"segments must lie in 1..{self.max_segments}")
        self.count += int(counted.sum())
        self.token_accuracy += float(rows.token_accuracy[counted].sum())
        self.exact += int((rows.exact & counted).sum())
        self.q_halt += int((rows.q_halt_correct & counted).sum())
        self.q_halt_seen = self.q_halt_seen or q_halt_logits is not None
        self.segments += int(segments[counted].sum())
        hist = torch.bincount(segments[counted] - 1, minlength=self.max_segments)
        self.histogram += hist.cpu().numpy()[: self.max_segments]
        return rows

    def summary(self) -> MetricSummary:
        n = max(self.count, 1)
        return MetricSummary(
            count=self.count,
            exact_accuracy=self.exact / n,
            token_accuracy=self.token_accuracy / n,
            q_halt_accuracy=self.q_halt / n if self.q_halt_seen else math.nan,
            mean_segments=self.segments / n,
            halting_histogram=self.histogram.tolist(),
        )


def format_histogram(histogram: list[int], width: int = 40) -> str:
    """A text bar chart of a halting histogram, one line per segment count that occurs."""
    total = sum(histogram)
    if total == 0:
        return "(no rows)"
    peak = max(histogram)
    lines = []
    for m, n in enumerate(histogram, start=1):
        if n == 0:
            continue
        bar = "#" * max(1, round(width * n / peak))
        lines.append(f"{m:>4} | {bar} {n} ({100.0 * n / total:.1f}%)")
    return "\n".join(lines)
