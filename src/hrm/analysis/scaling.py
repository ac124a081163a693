"""Inference-time scaling for any family: held-out accuracy against the number of segments allowed.

Every row runs up to each cap M (one pass over the examples computes all caps); with a halting head the same is
measured with per-sample early exit (a row stops at its first q_halt > q_continue), so the curve shows both what
more segments buy and how many the halting head actually spends. A single-pass family gives one point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hrm.analysis.examples import Examples
from hrm.evaluation.evaluate import EvalBatch, evaluate_batches, model_device


def _batches(examples: Examples, batch_size: int, device: torch.device):
    for start in range(0, len(examples), batch_size):
        stop = start + batch_size
        yield EvalBatch(
            inputs=torch.as_tensor(examples.inputs[start:stop], device=device),
            puzzle_identifiers=torch.as_tensor(examples.puzzle_identifiers[start:stop], device=device),
            labels=torch.as_tensor(examples.labels[start:stop], device=device),
        )


def analyze_scaling(model: Any, examples: Examples, caps: list[int], *, batch_size: int = 256) -> dict[str, Any]:
    """``{"family", "num_examples", "fixed": [...], "early_exit": [...]}``: per cap, exact and token accuracy,
    mean segments used and the pass's wall seconds (shared by the caps of one pass)."""
    if model.max_segments <= 1:
        caps = [1]
    device = model_device(model)
    modes = [False, True] if model.has_halting_head else [False]
    out: dict[str, Any] = {"family": type(model).family, "num_examples": len(examples), "caps": caps}
    for early in modes:
        results = evaluate_batches(
            model, _batches(examples, batch_size, device), caps, early_exit=early, progress=False, desc="scaling"
        )
        out["early_exit" if early else "fixed"] = [
            {
                "segments": m,
                "exact_accuracy": r.metrics.exact_accuracy,
                "token_accuracy": r.metrics.token_accuracy,
                "mean_segments": r.metrics.mean_segments,
                "seconds": r.seconds,
            }
            for m, r in sorted(results.items())
        ]
    return out


def format_scaling(report: dict[str, Any]) -> str:
    lines = [
        f"inference-time scaling: {report['family']} model, {report['num_examples']} examples",
        f"{'cap':>5} {'exact%':>8} {'token%':>8}" + (f" {'exact% (early exit)':>20} {'segments':>9}"
                                                      if "early_exit" in report else ""),
    ]  # fmt: skip
    early = {p["segments"]: p for p in report.get("early_exit", [])}
    for point in report["fixed"]:
        line = f"{point['segments']:>5} {100 * point['exact_accuracy']:>8.1f} {100 * point['token_accuracy']:>8.1f}"
        if point["segments"] in early:
            e = early[point["segments"]]
            line += f" {100 * e['exact_accuracy']:>20.1f} {e['mean_segments']:>9.2f}"
        lines.append(line)
    return "\n".join(lines)


def plot_scaling(report: dict[str, Any], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(6.0, 4.0), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    for key, label in (("fixed", "every row runs the cap"), ("early_exit", "early exit (halting head)")):
        points = report.get(key)
        if points:
            ax.plot([p["segments"] for p in points], [100 * p["exact_accuracy"] for p in points], marker="o",
                    label=label)  # fmt: skip
    caps = [p["segments"] for p in report["fixed"]]
    ax.set_xscale("log", base=2)
    ax.set_xticks(caps, [str(c) for c in caps])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("segments allowed")
    ax.set_ylabel("exact accuracy (%)")
    ax.set_title(f"{report['family']}: inference-time scaling ({report['num_examples']} examples)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
