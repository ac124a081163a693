"""How many segments HRM uses (per-sample early exit) and how accuracy depends on them.

One pass runs every example for ``max_segments`` segments (the model's segment loop, through
:func:`hrm.evaluation.evaluate.outputs_by_cap`, no early exit) and records, for every segment m, whether the
segment-m answer is exactly right and whether the Q-head says halt (q_halt > q_continue). From that one pass:

* ``histogram[m-1]``: examples whose early exit happens at segment m (the first halt; M when none), which is what
  ``hrm solve`` and :meth:`hrm.model.HRM.predict` do;
* ``accuracy_at_halt``: exact accuracy of those early-exit answers;
* ``accuracy_fixed[m-1]``: exact accuracy when every example is stopped at segment m (inference-time scaling,
  the reference's eval when m = M);
* ``accuracy_by_halt[m-1]``: exact accuracy among the examples that halted at segment m (None when none did).

Early exit needs no separate pass: a row's computation does not depend on other rows, so its segment-m output is
the same whether or not the run went on past its halt.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from hrm.evaluation.batches import EvalBatch
from hrm.evaluation.evaluate import SegmentOutputs, evaluate_batches, model_device
from hrm.evaluation.metrics import format_histogram, row_metrics
from hrm.model import HRM
from hrm.runtime.files import atomic_path, check_output_file


@dataclass
class HaltingReport:
    max_segments: int
    count: int  # examples with at least one supervised token
    histogram: list[int]  # histogram[m-1]: examples whose early exit is at segment m
    mean_segments: float
    accuracy_at_halt: float
    accuracy_fixed: list[float]  # accuracy_fixed[m-1]: exact accuracy when all stop at segment m
    accuracy_by_halt: list[float | None]  # exact accuracy among examples that halted at segment m
    halted_before_max: float  # fraction of examples whose Q-head halted before max_segments

    def to_dict(self) -> dict:
        return asdict(self)


class _Collector:
    """A :data:`hrm.evaluation.evaluate.RowConsumer`: per segment, each real row's exactness and halt flag."""

    def __init__(self) -> None:
        self.exact: dict[int, list[np.ndarray]] = {}
        self.halt: dict[int, list[np.ndarray]] = {}

    def __call__(self, cap: int, batch: EvalBatch, outputs: SegmentOutputs) -> None:
        assert batch.labels is not None  # analyze_halting's batches all carry labels
        rows = row_metrics(outputs.predictions, batch.labels, valid=batch.valid)
        keep = rows.counted
        self.exact.setdefault(cap, []).append(rows.exact[keep].cpu().numpy())
        self.halt.setdefault(cap, []).append((outputs.q_halt_logits > outputs.q_continue_logits)[keep].cpu().numpy())

    def arrays(self, max_segments: int) -> tuple[np.ndarray, np.ndarray]:
        """exact, halt: bool [N, max_segments]."""
        exact = np.stack([np.concatenate(self.exact[m]) for m in range(1, max_segments + 1)], 1)
        halt = np.stack([np.concatenate(self.halt[m]) for m in range(1, max_segments + 1)], 1)
        return exact, halt


def analyze_halting(
    model: HRM,
    inputs: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    puzzle_identifiers: np.ndarray | torch.Tensor,
    *,
    max_segments: int | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> HaltingReport:
    """Halting statistics of ``model`` on examples (labels use IGNORE_LABEL_ID for unsupervised tokens)."""
    M = model.max_segments if max_segments is None else int(max_segments)
    if M < 1:
        raise ValueError(f"max_segments must be >= 1, got {M}")
    device = model_device(model)
    inputs = torch.as_tensor(np.asarray(inputs), dtype=torch.long)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    puzzle_identifiers = torch.as_tensor(np.asarray(puzzle_identifiers), dtype=torch.long)
    batches = (
        EvalBatch(
            inputs=inputs[i : i + batch_size].to(device),
            labels=labels[i : i + batch_size].to(device),
            puzzle_identifiers=puzzle_identifiers[i : i + batch_size].to(device),
            valid=torch.ones(min(batch_size, inputs.shape[0] - i), dtype=torch.bool, device=device),
        )
        for i in range(0, inputs.shape[0], batch_size)
    )
    collector = _Collector()
    results = evaluate_batches(
        model,
        batches,
        list(range(1, M + 1)),
        early_exit=False,
        consumers=[collector],
        total=int(inputs.shape[0]),
        progress=progress,
        desc="halting",
    )
    if results[M].metrics.count == 0:
        raise ValueError("no example has a supervised token")
    exact, halt = collector.arrays(M)
    count = exact.shape[0]
    # First segment whose Q-head says halt; M when it never does (the cap).
    halt_at = np.where(halt.any(1), halt.argmax(1) + 1, M)
    correct_at_halt = exact[np.arange(count), halt_at - 1]
    histogram = np.bincount(halt_at - 1, minlength=M)[:M]
    by_halt: list[float | None] = []
    for m in range(1, M + 1):
        chosen = halt_at == m
        by_halt.append(float(correct_at_halt[chosen].mean()) if chosen.any() else None)
    return HaltingReport(
        max_segments=M,
        count=count,
        histogram=histogram.tolist(),
        mean_segments=float(halt_at.mean()),
        accuracy_at_halt=float(correct_at_halt.mean()),
        accuracy_fixed=[float(results[m].metrics.exact_accuracy) for m in range(1, M + 1)],
        accuracy_by_halt=by_halt,
        halted_before_max=float((halt_at < M).mean()) if M > 1 else 0.0,
    )


def format_halting(report: HaltingReport) -> str:
    lines = [
        f"{report.count} examples, at most {report.max_segments} segments each",
        f"early exit (first q_halt > q_continue): mean {report.mean_segments:.2f} segments, "
        f"{100 * report.halted_before_max:.1f}% halted before the cap, exact accuracy "
        f"{100 * report.accuracy_at_halt:.2f}%",
        "segments used (early exit):",
        format_histogram(report.histogram),
        f"{'segment':>7} {'acc if all stop here':>21} {'halted here':>12} {'acc of those':>13}",
    ]
    for m in range(1, report.max_segments + 1):
        by = report.accuracy_by_halt[m - 1]
        lines.append(
            f"{m:>7} {100 * report.accuracy_fixed[m - 1]:>20.2f}% {report.histogram[m - 1]:>12} "
            f"{'-' if by is None else f'{100 * by:.2f}%':>13}"
        )
    return "\n".join(lines)


def plot_halting(report: HaltingReport, path: str | Path) -> Path:
    """Histogram of segments used (early exit) and exact accuracy against segments."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(10, 4))
    ax_hist, ax_acc = fig.subplots(1, 2)
    segs = np.arange(1, report.max_segments + 1)
    ax_hist.bar(segs, report.histogram, color="#7f7f7f")
    ax_hist.set_xlabel("segments used (early exit)")
    ax_hist.set_ylabel("examples")
    ax_hist.set_title(f"halting: mean {report.mean_segments:.2f} segments")
    ax_acc.plot(segs, [100 * a for a in report.accuracy_fixed], marker="o", label="all examples stop at m")
    by = [math.nan if a is None else 100 * a for a in report.accuracy_by_halt]
    ax_acc.plot(segs, by, marker="s", linestyle="none", label="examples that halted at m")
    ax_acc.axhline(100 * report.accuracy_at_halt, color="grey", linestyle=":", label="early-exit answers")
    ax_acc.set_xlabel("segment m")
    ax_acc.set_ylabel("exact accuracy (%)")
    ax_acc.set_ylim(-2, 102)
    ax_acc.set_title("accuracy against segments")
    ax_acc.legend(fontsize=8)
    for ax in (ax_hist, ax_acc):
        ax.set_xticks(segs)
    fig.tight_layout()
    path = check_output_file(path, "--plot")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return path
