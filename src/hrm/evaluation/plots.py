"""Plots of evaluation results (matplotlib, headless ``Agg`` backend)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from hrm.evaluation.evaluate import EvalResult
from hrm.runtime.files import atomic_path, check_output_file


def plot_scaling_sweep(results: Sequence[EvalResult], path: str | os.PathLike, title: str | None = None) -> Path:
    """Accuracy against the segment cap (log2 x axis) for an inference-time scaling sweep; returns ``path``.

    Plots exact accuracy (and ARC pass@2 when present) on the left axis and mean segments used on the right.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads and without a display

    results = sorted(results, key=lambda r: r.max_segments)
    caps = [r.max_segments for r in results]
    fig = Figure(figsize=(6.0, 4.0), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    exact = [100.0 * r.metrics.exact_accuracy for r in results]
    ax.plot(caps, exact, marker="o", label="exact accuracy (per row)")
    if any(r.arc is not None for r in results):
        pass2 = [100.0 * r.arc.pass_at.get(2, math.nan) if r.arc is not None else math.nan for r in results]
        ax.plot(caps, pass2, marker="s", label="ARC pass@2 (voted)")
    token = [100.0 * r.metrics.token_accuracy for r in results]
    ax.plot(caps, token, marker=".", linestyle="--", alpha=0.6, label="token accuracy")
    ax.set_xscale("log", base=2)
    ax.set_xticks(caps)
    ax.set_xticklabels([str(c) for c in caps])
    ax.set_xlabel("max segments at test time (M)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    right = ax.twinx()
    right.plot(
        caps,
        [r.metrics.mean_segments for r in results],
        color="grey",
        marker="x",
        linestyle=":",
        label="mean segments used",
    )
    right.set_ylabel("mean segments used")
    right.set_ylim(0, max(caps) * 1.05)
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = right.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="lower right", fontsize="small")
    mode = "early exit" if results and results[0].early_exit else "all rows run M segments"
    ax.set_title(title or f"Inference-time scaling ({mode})")
    fig.tight_layout()
    path = check_output_file(path, "plot")
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    return path
