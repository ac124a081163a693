"""Participation ratio (PR) of the high- and low-level states: the paper's dimensionality hierarchy (Fig. 8).

The paper reports that after training the high-level state z_H spans about 3× as many dimensions as the
low-level state z_L (PR 89.95 vs 30.22 on Sudoku-Extreme), while an untrained network of the same architecture
shows no such gap (about 42 vs 41). The PR of a cloud of points with covariance eigenvalues λ_i is

    PR = (Σ λ_i)² / Σ λ_i²

which is 1 when all variance lies along one direction and d when it is spread evenly over d directions.

Method (what is a sample)
-------------------------
The paper says PR is computed from the neural states "across trajectories" but does not spell out the sample
axis. We state ours:

1. Run the model (eval semantics, every row runs the same number of segments, no early exit) on ``num_puzzles``
   examples drawn with a fixed seed from a dataset split, and record z_H and z_L **at the end of every segment**
   (:meth:`hrm.model.HRM.trace` with ``return_states``). A trajectory is one puzzle's sequence of states.
2. ``sample="token"`` (default): every (puzzle, segment, grid position) gives one sample, the D-dimensional state
   vector at that position (the puzzle-embedding prefix positions are left out: they are not grid cells). PR is
   then bounded by D, as the paper's numbers (≤ 512 for D = 512) imply. Position is the natural "neuron
   population" unit of a Transformer: every position holds the same D units, the analogue of one recording site.
   The covariance is accumulated in float64 over batches, so memory does not grow with the number of puzzles.
3. ``sample="sequence"``: every (puzzle, segment) gives one sample, the whole state flattened to
   (positions × D). PR is then bounded by the number of samples − 1 (computed through the Gram matrix); use it
   to ask how many independent whole-board patterns the trajectories span.
4. The covariance is centred on the mean over all samples; its eigenvalues give PR.
5. The untrained control is ``HRM(config)`` of the same config, initialised with ``torch.manual_seed(seed)``,
   run on exactly the same examples and puzzle IDs.
6. PR is also reported for growing numbers of trajectories (1, 2, 4, ... puzzles), the paper's Fig. 8c/e: PR of a
   module that uses more dimensions for more varied problems keeps rising with more trajectories.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from hrm.model import HRM
from hrm.runtime.files import atomic_path, check_output_file

SampleUnit = Literal["token", "sequence"]
SAMPLE_UNITS: tuple[str, ...] = ("token", "sequence")
PAPER_VALUES = {"trained": {"z_H": 89.95, "z_L": 30.22}, "untrained": {"z_H": 42.09, "z_L": 40.75}}


def participation_ratio_from_eigenvalues(eigenvalues: np.ndarray) -> float:
    """(Σλ)² / Σλ² of the (clipped at 0) eigenvalues; 0.0 for an all-zero spectrum."""
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None)
    denom = float(np.sum(lam**2))
    return float(np.sum(lam) ** 2 / denom) if denom > 0 else 0.0


def participation_ratio(samples: np.ndarray | torch.Tensor) -> float:
    """PR of a sample matrix [num_samples, dim] (rows are samples), centred on the sample mean.

    The non-zero eigenvalues of XᵀX and XXᵀ coincide, so the smaller of the two is decomposed.
    """
    x = torch.as_tensor(samples).to(torch.float64)
    if x.ndim != 2:
        raise ValueError(f"samples must be [num_samples, dim], got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        return 0.0
    x = x - x.mean(0, keepdim=True)
    gram = x @ x.T if x.shape[0] <= x.shape[1] else x.T @ x
    return participation_ratio_from_eigenvalues(torch.linalg.eigvalsh(gram).numpy())


class CovarianceAccumulator:
    """Streaming sum and sum of outer products (float64) of D-dimensional samples; PR at any point."""

    def __init__(self, dim: int):
        self.dim = dim
        self.count = 0
        self.total = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)

    def add(self, samples: torch.Tensor) -> None:
        x = samples.reshape(-1, self.dim).to(device="cpu", dtype=torch.float64)
        self.count += x.shape[0]
        self.total += x.sum(0)
        self.outer += x.T @ x

    def covariance(self) -> torch.Tensor:
        mean = self.total / max(self.count, 1)
        return self.outer / max(self.count, 1) - torch.outer(mean, mean)

    def participation_ratio(self) -> float:
        if self.count < 2:
            return 0.0
        return participation_ratio_from_eigenvalues(torch.linalg.eigvalsh(self.covariance()).numpy())


@dataclass
class DimensionalityResult:
    """PR of z_H and z_L of one model over the same trajectories."""

    label: str  # "trained" or "untrained"
    pr_high: float  # PR of z_H
    pr_low: float  # PR of z_L
    num_puzzles: int
    num_segments: int
    num_samples: int  # samples per module
    sample_dim: int  # dimension of one sample (D for "token", positions × D for "sequence")
    # PR against the number of trajectories: (num_puzzles, pr_high, pr_low)
    curve: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """PR(z_H) / PR(z_L); the paper's trained Sudoku model gives 89.95 / 30.22 ≈ 2.98."""
        return self.pr_high / self.pr_low if self.pr_low > 0 else math.inf


@dataclass
class DimensionalityReport:
    trained: DimensionalityResult
    untrained: DimensionalityResult
    sample: str
    split: str
    seed: int
    checkpoint: str = ""
    data: str = ""

    def to_dict(self) -> dict:
        out = asdict(self)
        out["trained"]["ratio"] = self.trained.ratio
        out["untrained"]["ratio"] = self.untrained.ratio
        out["paper"] = PAPER_VALUES
        return out


def _curve_points(num_puzzles: int) -> list[int]:
    points, n = [], 1
    while n < num_puzzles:
        points.append(n)
        n *= 2
    return points + [num_puzzles]


def _chunks(num_puzzles: int, batch_size: int, points: Iterable[int]) -> list[tuple[int, int]]:
    """Batches of at most ``batch_size`` rows whose boundaries include every curve point."""
    stops = sorted(set(points) | set(range(batch_size, num_puzzles, batch_size)) | {num_puzzles})
    out, start = [], 0
    for stop in stops:
        if stop > start:
            out.append((start, stop))
            start = stop
    return out


def _state(segment: dict[str, torch.Tensor | None], key: str) -> torch.Tensor:
    """A state entry of one segment of ``trace(..., return_states=True)`` (a tensor, unlike absent Q logits)."""
    state = segment[key]
    assert state is not None
    return state


@torch.no_grad()
def measure_dimensionality(
    model: HRM,
    inputs: np.ndarray | torch.Tensor,
    puzzle_identifiers: np.ndarray | torch.Tensor,
    *,
    num_segments: int | None = None,
    sample: SampleUnit = "token",
    batch_size: int = 32,
    label: str = "trained",
) -> DimensionalityResult:
    """PR of z_H and z_L over the trajectories of ``inputs`` [N, seq_len] (see the module docstring)."""
    if sample not in SAMPLE_UNITS:
        raise ValueError(f"sample must be one of {SAMPLE_UNITS}, got {sample!r}")
    inputs = torch.as_tensor(np.asarray(inputs), dtype=torch.long)
    puzzle_identifiers = torch.as_tensor(np.asarray(puzzle_identifiers), dtype=torch.long)
    num_puzzles = inputs.shape[0]
    if num_puzzles < 1:
        raise ValueError("need at least one puzzle")
    cfg = model.config
    num_segments = model.max_segments if num_segments is None else int(num_segments)
    prefix, D = cfg.puzzle_emb_len, cfg.hidden_size
    device = next(model.parameters()).device
    model.eval()
    points = _curve_points(num_puzzles)
    if sample == "token":
        acc = {"z_H": CovarianceAccumulator(D), "z_L": CovarianceAccumulator(D)}
    else:
        stored: dict[str, list[torch.Tensor]] = {"z_H": [], "z_L": []}
    curve: list[tuple[int, float, float]] = []
    for start, stop in _chunks(num_puzzles, batch_size, points):
        segments = model.trace(
            inputs[start:stop].to(device),
            puzzle_identifiers[start:stop].to(device),
            num_segments=num_segments,
            return_states=True,
        )
        for key in ("z_H", "z_L"):
            states = torch.stack([_state(seg, key)[:, prefix:].float().cpu() for seg in segments], 1)  # [b, M, S, D]
            if sample == "token":
                acc[key].add(states)
            else:
                stored[key].append(states.reshape(states.shape[0] * num_segments, -1))
        if stop in points:
            if sample == "token":
                curve.append((stop, acc["z_H"].participation_ratio(), acc["z_L"].participation_ratio()))
            else:
                curve.append(
                    (stop, participation_ratio(torch.cat(stored["z_H"])), participation_ratio(torch.cat(stored["z_L"])))
                )
    seq_positions = inputs.shape[1]
    num_samples = num_puzzles * num_segments * (seq_positions if sample == "token" else 1)
    sample_dim = D if sample == "token" else seq_positions * D
    return DimensionalityResult(
        label=label,
        pr_high=curve[-1][1],
        pr_low=curve[-1][2],
        num_puzzles=num_puzzles,
        num_segments=num_segments,
        num_samples=num_samples,
        sample_dim=sample_dim,
        curve=curve,
    )


def untrained_like(model: HRM, seed: int = 0) -> HRM:
    """A freshly initialised HRM of the same config (seeded), on the same device and activation dtype."""
    devices = {p.device for p in model.parameters()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = type(model)(model.config)
    fresh.forward_dtype = model.forward_dtype
    return fresh.to(next(iter(devices))).eval()


def compare_trained_untrained(
    model: HRM,
    inputs: np.ndarray | torch.Tensor,
    puzzle_identifiers: np.ndarray | torch.Tensor,
    *,
    num_segments: int | None = None,
    sample: SampleUnit = "token",
    batch_size: int = 32,
    seed: int = 0,
    split: str = "",
    checkpoint: str = "",
    data: str = "",
) -> DimensionalityReport:
    """PR of the trained ``model`` and of an untrained model of the same config on the same trajectories."""
    trained = measure_dimensionality(
        model,
        inputs,
        puzzle_identifiers,
        num_segments=num_segments,
        sample=sample,
        batch_size=batch_size,
        label="trained",
    )
    untrained = measure_dimensionality(
        untrained_like(model, seed),
        inputs,
        puzzle_identifiers,
        num_segments=num_segments,
        sample=sample,
        batch_size=batch_size,
        label="untrained",
    )
    return DimensionalityReport(
        trained=trained, untrained=untrained, sample=sample, split=split, seed=seed, checkpoint=checkpoint, data=data
    )


def format_report(report: DimensionalityReport) -> str:
    """Plain-text table of the numbers, with the paper's values for reference."""
    t, u = report.trained, report.untrained
    lines = [
        f"participation ratio PR = (Σλ)²/Σλ² of the state covariance; sample unit: {report.sample} "
        f"(dimension {t.sample_dim}), {t.num_puzzles} puzzles × {t.num_segments} segments = {t.num_samples} "
        f"samples per module",
        f"{'model':<10} {'PR(z_H)':>10} {'PR(z_L)':>10} {'z_H/z_L':>9}",
    ]
    for r in (t, u):
        lines.append(f"{r.label:<10} {r.pr_high:>10.2f} {r.pr_low:>10.2f} {r.ratio:>9.2f}")
    lines.append("paper (Sudoku-Extreme, D=512): trained 89.95 / 30.22 (2.98×), untrained 42.09 / 40.75")
    lines.append("PR against number of trajectories (trained z_H, z_L | untrained z_H, z_L):")
    for (n, th, tl), (_, uh, ul) in zip(t.curve, u.curve):
        lines.append(f"  {n:>6} puzzles: {th:8.2f} {tl:8.2f} | {uh:8.2f} {ul:8.2f}")
    return "\n".join(lines)


def plot_report(report: DimensionalityReport, path: str | Path) -> Path:
    """Bar plot of PR(z_H), PR(z_L) for the trained and untrained models, and PR against trajectories."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(10, 4))
    ax_bar, ax_curve = fig.subplots(1, 2)
    labels = ["trained", "untrained"]
    results = [report.trained, report.untrained]
    xs = np.arange(len(labels))
    width = 0.38
    high = [r.pr_high for r in results]
    low = [r.pr_low for r in results]
    bars_h = ax_bar.bar(xs - width / 2, high, width, label="z_H (high level)", color="#d62728")
    bars_l = ax_bar.bar(xs + width / 2, low, width, label="z_L (low level)", color="#1f77b4")
    for bars in (bars_h, bars_l):
        for bar in bars:
            ax_bar.annotate(
                f"{bar.get_height():.1f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax_bar.set_xticks(xs, labels)
    ax_bar.set_ylabel("participation ratio")
    ax_bar.set_title(f"PR ({report.sample} samples, dim {report.trained.sample_dim})")
    ax_bar.legend()
    for r, style in ((report.trained, "-"), (report.untrained, "--")):
        n = [c[0] for c in r.curve]
        ax_curve.plot(n, [c[1] for c in r.curve], style, color="#d62728", marker="o", label=f"z_H {r.label}")
        ax_curve.plot(n, [c[2] for c in r.curve], style, color="#1f77b4", marker="o", label=f"z_L {r.label}")
    ax_curve.set_xscale("log", base=2)
    ax_curve.set_xlabel("number of trajectories (puzzles)")
    ax_curve.set_ylabel("participation ratio")
    ax_curve.set_title("PR against trajectories")
    ax_curve.legend(fontsize=7)
    fig.tight_layout()
    path = check_output_file(path, "--plot")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return path
