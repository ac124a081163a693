"""What happens inside the recursion, for any model family: hierarchical convergence, PCA trajectories and the
participation ratio of each module's state (paper §3, Figs. 3 and 8).

**Hierarchical convergence.** The paper's forward residual ‖z_t − z_{t−1}‖ of each module at every recursion
step: in HRM the low-level module converges within a cycle (its residual falls) and is "reset" by every
high-level update (the residual jumps), while the high-level state keeps moving over the whole computation; a plain
recurrent stack converges once and then stays put (its residual decays toward zero).

**How the steps are observed (no change to the families).** A family's *recurrent modules* are the modules it
applies repeatedly inside a segment with the state they update as first argument and the new state as output —
``model.recurrent_modules()`` when a family defines it, else ``model.compile_targets()`` (HRM: f_L and f_H; TRM:
its one net; looped: its block stack; transformer: its block stack). Forward hooks record every call; a call
belongs to the *stream* (state) whose latest value is its first argument, matched by tensor storage: the initial
state's entries name the streams (``z_H``, ``z_L``, ``z``), so TRM's one shared net is split into its z_L and
z_H updates exactly. A stream with one call per segment (a single-pass block stack) has no recursion to
measure. Families without recurrent modules (the GRU/LSTM baselines) run once over the sequence: nothing iterates.

Every example runs ``segments`` segments (no early exit) from the initial state, as in the paper's figure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrm.analysis.dimensionality import CovarianceAccumulator
from hrm.errors import UserError
from hrm.evaluation.test_time import recurrent_modules

MAX_TRAJECTORIES = 8
__all__ = ["RecursionReport", "StreamReport", "analyze_recursion", "recurrent_modules"]


@dataclass
class StreamReport:
    """One module's state over the recursion (mean over the examples)."""

    name: str
    steps: list[int]  # global recursion step of each update (1-based, counting every recurrent call)
    segments: list[int]  # the segment each update belongs to
    residual: list[float]  # mean over examples of ||z_t - z_{t-1}|| (over positions x hidden units)
    relative_residual: list[float]  # the same divided by ||z_{t-1}||
    participation_ratio: float  # PR over every update's token states (samples = example x update x position)
    pca_explained: list[float] = field(default_factory=list)  # variance fraction of PC1, PC2
    pca_trajectories: list[list[list[float]]] = field(default_factory=list)  # [example][update] -> (PC1, PC2)


@dataclass
class RecursionReport:
    family: str
    checkpoint: str
    data: str
    num_examples: int
    segments: int
    calls_per_segment: int
    streams: list[StreamReport]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Recorder:
    """Forward hooks that assign every recurrent call to a state stream and accumulate its statistics."""

    def __init__(self) -> None:
        self.owner: dict[int, str] = {}  # data_ptr of a live state tensor -> stream name
        self.previous: dict[str, torch.Tensor] = {}
        self.residual: dict[str, list[torch.Tensor]] = {}
        self.relative: dict[str, list[torch.Tensor]] = {}
        self.step: dict[str, list[int]] = {}
        self.segment: dict[str, list[int]] = {}
        self.means: dict[str, list[torch.Tensor]] = {}  # [B, D] position-mean state per update
        self.cov: dict[str, CovarianceAccumulator] = {}
        self.calls = 0
        self.current_segment = 0
        self.unknown = 0

    def seed(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in state.items():
            self.owner[tensor.data_ptr()] = name
            self.previous[name] = tensor.detach().float()

    def hook(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        if not args or not isinstance(args[0], torch.Tensor) or not isinstance(output, torch.Tensor):
            return
        self.calls += 1
        name = self.owner.get(args[0].data_ptr())
        if name is None:  # not a state we know: a single-pass stack's input, its own stream per call
            self.unknown += 1
            name = f"call-{self.unknown}"
        new = output.detach().float()
        self.owner[output.data_ptr()] = name
        old = self.previous.get(name)
        self.previous[name] = new
        if old is None or old.shape != new.shape:
            return
        diff = (new - old).flatten(1).norm(dim=1)
        self.residual.setdefault(name, []).append(diff.cpu())
        self.relative.setdefault(name, []).append((diff / old.flatten(1).norm(dim=1).clamp_min(1e-12)).cpu())
        self.step.setdefault(name, []).append(self.calls)
        self.segment.setdefault(name, []).append(self.current_segment)
        self.means.setdefault(name, []).append(new.mean(1).cpu())
        if name not in self.cov:
            self.cov[name] = CovarianceAccumulator(new.shape[-1])
        self.cov[name].add(new.reshape(-1, new.shape[-1]).double().cpu())


@torch.no_grad()
def analyze_recursion(
    model: Any,
    inputs: np.ndarray | torch.Tensor,
    puzzle_identifiers: np.ndarray | torch.Tensor,
    *,
    segments: int | None = None,
    batch_size: int = 32,
    checkpoint: str = "",
    data: str = "",
) -> RecursionReport:
    """Run every example for ``segments`` segments (default M_max) and measure each module's state at every
    recursion step (see the module docstring). UserError for a family with nothing that iterates."""
    modules = recurrent_modules(model)
    family = getattr(type(model), "family", type(model).__name__)
    if not modules:
        raise UserError(
            f"a {family!r} model has no recurrent modules (it runs once over the sequence); the recursion analysis "
            "needs a family that iterates a state: hrm, trm, looped, or transformer with the outer loop"
        )
    segments = int(model.max_segments if segments is None else segments)
    if segments < 1:
        raise UserError(f"--segments {segments}: must be >= 1")
    model.eval()
    inputs_t = torch.as_tensor(np.asarray(inputs))
    ids_t = torch.as_tensor(np.asarray(puzzle_identifiers))
    n = int(inputs_t.shape[0])
    keep = min(MAX_TRAJECTORIES, n)
    recorders = []
    for start in range(0, n, batch_size):
        recorder = _Recorder()
        handles = [m.register_forward_hook(recorder.hook) for m in modules]
        try:
            x, ids = model.prepare_inputs(inputs_t[start : start + batch_size], ids_t[start : start + batch_size])
            state = model.initial_state(x, ids)
            recorder.seed(state)
            for seg in range(1, segments + 1):
                recorder.current_segment = seg
                state = model.segment(state, x, ids).state
                recorder.seed(state)  # the state handed to the next segment (detached views of the same storage)
        finally:
            for handle in handles:
                handle.remove()
        recorders.append(recorder)
    first = recorders[0]
    calls_per_segment = first.calls // segments if segments else 0
    streams = []
    notes = []
    for name in first.residual:
        if name.startswith("call-"):
            continue
        residual = torch.cat([torch.stack(r.residual[name], 1) for r in recorders], 0)  # [N, updates]
        relative = torch.cat([torch.stack(r.relative[name], 1) for r in recorders], 0)
        cov = first.cov[name]
        for other in recorders[1:]:
            cov.count += other.cov[name].count
            cov.total += other.cov[name].total
            cov.outer += other.cov[name].outer
        means = torch.cat([torch.stack(r.means[name], 1) for r in recorders], 0)  # [N, updates, D]
        explained, trajectories = _pca(means, means[:keep])
        streams.append(
            StreamReport(
                name=name,
                steps=first.step[name],
                segments=first.segment[name],
                residual=residual.mean(0).tolist(),
                relative_residual=relative.mean(0).tolist(),
                participation_ratio=cov.participation_ratio(),
                pca_explained=explained,
                pca_trajectories=trajectories,
            )
        )
    if not streams:
        raise UserError(
            f"a {family!r} model applies its block stack once per segment to a fresh input: no state iterates "
            "inside it (single pass); the recursion analysis needs hrm, trm, looped, or transformer with the outer loop"
        )
    if first.unknown:
        notes.append(f"{first.unknown} call(s) per batch took an input that is not a state (not counted)")
    return RecursionReport(
        family=family,
        checkpoint=checkpoint,
        data=data,
        num_examples=n,
        segments=segments,
        calls_per_segment=calls_per_segment,
        streams=sorted(streams, key=lambda s: s.name),
        notes=notes,
    )


def _pca(points: torch.Tensor, shown: torch.Tensor) -> tuple[list[float], list[list[list[float]]]]:
    """PC1/PC2 of every example's position-mean state at every update ([N, updates, D]), and the first
    examples' trajectories in that plane."""
    flat = points.reshape(-1, points.shape[-1]).double()
    if flat.shape[0] < 3:
        return [], []
    mean = flat.mean(0, keepdim=True)
    _, s, v = torch.linalg.svd(flat - mean, full_matrices=False)
    total = float((s**2).sum())
    explained = [float(x) / total if total > 0 else 0.0 for x in (s[:2] ** 2)]
    proj = (shown.double() - mean) @ v[:2].T  # [keep, updates, 2]
    return explained, proj.tolist()


def format_recursion(report: RecursionReport) -> str:
    lines = [
        f"recursion analysis: {report.family} model, {report.num_examples} examples x {report.segments} segments, "
        f"{report.calls_per_segment} recurrent calls per segment",
        f"{'state':<8} {'updates':>8} {'first':>9} {'last':>9} {'min':>9} {'PR':>7} {'PC1+PC2':>8}",
    ]
    for s in report.streams:
        lines.append(
            f"{s.name:<8} {len(s.residual):>8} {s.residual[0]:>9.3g} {s.residual[-1]:>9.3g} {min(s.residual):>9.3g} "
            f"{s.participation_ratio:>7.2f} {100 * sum(s.pca_explained):>7.1f}%"
        )
    lines.append("residual = mean over examples of ||z_t - z_(t-1)|| at each update of that state")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def plot_recursion(report: RecursionReport, path: str | Path) -> Path:
    """Forward residual against recursion step (segment boundaries dashed), PCA trajectories, PR per state."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    streams = report.streams
    fig = Figure(figsize=(5.0 * (2 + len(streams)), 4.2), dpi=110)
    axes = fig.subplots(1, 2 + len(streams), squeeze=False)[0]
    ax = axes[0]
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"]
    for colour, s in zip(colours, streams):
        ax.plot(s.steps, s.residual, marker=".", color=colour, label=s.name)
    if report.calls_per_segment:
        for seg in range(1, report.segments):
            ax.axvline(seg * report.calls_per_segment + 0.5, color="grey", linestyle="--", linewidth=0.7)
    if all(min(s.residual) > 0 for s in streams):
        ax.set_yscale("log")
    ax.set_xlabel("recursion step (every recurrent call; dashed: segment boundaries)")
    ax.set_ylabel("forward residual ||z_t - z_(t-1)||")
    ax.set_title(f"{report.family}: hierarchical convergence")
    ax.legend()
    ax.grid(alpha=0.3)
    for ax, colour, s in zip(axes[1:], colours, streams):
        for trajectory in s.pca_trajectories:
            xy = np.asarray(trajectory)
            if xy.size:
                ax.plot(xy[:, 0], xy[:, 1], color=colour, alpha=0.6, marker=".", markersize=3)
                ax.plot(xy[0, 0], xy[0, 1], "o", color="black", markersize=3)
        pcs = ", ".join(f"{100 * e:.0f}%" for e in s.pca_explained)
        ax.set_title(f"PCA of {s.name} over the recursion ({pcs})")
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.grid(alpha=0.3)
    ax = axes[-1]
    ax.bar([s.name for s in streams], [s.participation_ratio for s in streams], color=colours[: len(streams)])
    ax.set_ylabel("participation ratio")
    ax.set_title("dimensionality per state")
    for i, s in enumerate(streams):
        if math.isfinite(s.participation_ratio):
            ax.text(i, s.participation_ratio, f"{s.participation_ratio:.1f}", ha="center", va="bottom")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
