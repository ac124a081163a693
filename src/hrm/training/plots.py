"""Training curves of a run directory as one PNG (``hrm plot RUN_DIR``; also rewritten at each evaluation).

Panels: the LM loss, the Q losses, train and eval exact accuracy (and token accuracy), the mean number of segments
per halted row, and the learning rate, all against the optimiser step. Uses matplotlib's Agg backend, so it works
without a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.runtime.files import atomic_path, check_output_file
from hrm.runtime.logging import read_metrics

CURVES_FILE = "curves.png"


def _series(records: list[dict[str, Any]], split: str, key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for record in records:
        if record.get("split") == split and isinstance(record.get(key), (int, float)):
            xs.append(int(record["step"]))
            ys.append(float(record[key]))
    return xs, ys


def _smooth(values: list[float], window: int) -> list[float]:
    if window <= 1 or len(values) < 3:
        return values
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the curves of ``run_dir/metrics.jsonl`` to ``out`` (default ``run_dir/curves.png``); returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    if not records:
        raise UserError(f"{run_dir}: no metrics.jsonl records to plot; is this a run directory?")
    out = Path(out) if out is not None else run_dir / CURVES_FILE
    num_train = sum(1 for r in records if r.get("split") == "train")
    window = max(1, num_train // 100)

    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    panels = [
        (axes[0, 0], "LM loss", [("train", "lm_loss", "train")], [("eval", "lm_loss", "eval")], True),
        (
            axes[0, 1],
            "Q losses",
            [("train", "q_halt_loss", "q_halt"), ("train", "q_continue_loss", "q_continue")],
            [("eval", "q_halt_loss", "eval q_halt")],
            True,
        ),
        (
            axes[0, 2],
            "exact accuracy",
            [("train", "exact_accuracy", "train (halted rows)")],
            [("eval", "exact_accuracy", "eval")],
            False,
        ),
        (axes[1, 0], "token accuracy", [("train", "accuracy", "train")], [("eval", "accuracy", "eval")], False),
        (axes[1, 1], "segments per halted row", [("train", "steps", "train")], [], False),
        (axes[1, 2], "learning rate", [("train", "lr", "lr")], [], False),
    ]
    for ax, title, lines, points, log_scale in panels:
        for split, key, label in lines:
            xs, ys = _series(records, split, key)
            if xs:
                ax.plot(xs, _smooth(ys, window), label=label, linewidth=1.2)
        for split, key, label in points:
            xs, ys = _series(records, split, key)
            if xs:
                ax.plot(xs, ys, marker="o", linestyle="--", label=label)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        if log_scale and any(line.get_ydata().size and (line.get_ydata() > 0).all() for line in ax.get_lines()):
            ax.set_yscale("log")
        if ax.get_lines():
            ax.legend(fontsize=8)
    fig.suptitle(f"{run_dir.name}" + (f" (smoothed over {window} logs)" if window > 1 else ""))
    try:
        with atomic_path(check_output_file(out, "--out")) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
    finally:
        plt.close(fig)
    return out
