"""Test-time compute as depth × breadth: K trajectories per puzzle, up to hundreds of segments, one answer chosen.

EqR (arXiv 2605.21488) scales *depth* (more segments of the same recurrence) and *breadth* (several trajectories
from different initial states) and picks the trajectory that has converged best; PTRM (arXiv 2605.19943) adds noise
to TRM's state and picks by the halting head. This module runs both axes in one batch and, from that one run, the
accuracy of every (breadth, depth, choice rule) combination up to the largest asked for, with its cost:

* **breadth**: ``starts`` trajectories per view, run side by side in one batch. Trajectory 0 starts from the
  family's own initial state (the plain model); the others from a perturbed one: ``init="noise"`` adds Gaussian
  noise of ``init_std`` × the state's RMS to every initial state tensor, ``init="random"`` draws a fresh state from
  a truncated normal (±2σ) with the initial state's RMS as σ, one vector per trajectory broadcast over positions as
  HRM's and TRM's learned ``z_init`` vectors are (a family whose initial state is zero gets σ = 1).
  ``views`` symmetric views of the puzzle (Sudoku shuffles, maze dihedral transforms; :mod:`hrm.evaluation.
  test_time`) multiply the trajectories: K = views × starts, and every answer is mapped back before it is compared.
* **depth**: up to ``depth`` segments, memory flat in the number of segments (only the current state and each
  trajectory's current answer are kept), with per-trajectory early exit (``exit``): ``halt`` (the family's halting
  rule, e.g. HRM's q_halt > q_continue), ``fixed-point`` (the state's relative change between consecutive segments
  below ``fixed_point_tol``) or ``none``. An exited trajectory's answer is frozen and costs nothing more.
* **step noise** (PTRM as its paper describes it): ``step_noise`` σ adds noise of σ × the state's RMS to the state
  once per deep recursion step (before every segment after the first), on trajectories other than 0.
* **choosing an answer** among a subset of the trajectories: ``single`` (trajectory 0: the baseline), ``halt``
  (highest q_halt logit at the trajectory's last segment), ``converge`` (smallest relative state change at its
  last segment: nearest to a fixed point), ``vote`` (most frequent answer; ties to the smaller state change) and
  ``oracle`` (a vote among the answers that pass the task's rule check, when any does: on uniquely solvable
  puzzles that is a perfect verifier, so it is always labelled oracle).

Cost: segments run (summed over trajectories, early exits counted) × the FLOPs of one segment of one row, measured
once by ``torch.utils.flop_counter`` (:func:`hrm.evaluation.flops.measure_segment_flops`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hrm.errors import UserError
from hrm.evaluation.batches import EvalBatch

CHOICE_RULES = ("single", "halt", "converge", "vote", "oracle")
INIT_MODES = ("noise", "random")
EXIT_RULES = ("none", "halt", "fixed-point")
ORACLE_NOTE = "oracle: a perfect verifier on uniquely solvable puzzles (the rule check picks), not the model's choice"


def curve_depths(depth: int) -> list[int]:
    """The depths the accuracy curve is read at: every segment to 16, then about four points per doubling."""
    points = set(range(1, min(depth, 16) + 1))
    d = 16.0
    while d < depth:
        d *= 2**0.25
        points.add(min(depth, int(round(d))))
    points.add(depth)
    return sorted(points)


@dataclass
class DepthBreadthOptions:
    """One depth × breadth run (the largest of each axis; every smaller combination is read from it).

    Attributes:
        starts: trajectories per view, from different initial states (``starts[i]`` are the breadths reported;
            the run uses the largest).
        views: symmetric views per puzzle (1 = the puzzle only; Sudoku and Maze only); the run uses the largest.
        depth: the most segments any trajectory runs.
        init: how trajectories other than 0 start: ``noise`` or ``random`` (module docstring).
        init_std: ``noise`` only: std relative to the initial state's RMS.
        step_noise: PTRM's noise once per segment on trajectories other than 0 (0 = off).
        exit: per-trajectory early exit: ``none``, ``halt`` or ``fixed-point``.
        fixed_point_tol: the relative state change below which ``fixed-point`` exits.
        choose: the choice rules reported.
        seed: seeds the initial states, the noise and the views.
        limit: only the first this many rows (0 = all).
    """

    starts: list[int] = field(default_factory=lambda: [1])
    views: list[int] = field(default_factory=lambda: [1])
    depth: int = 16
    init: str = "random"
    init_std: float = 0.5
    step_noise: float = 0.0
    exit: str = "none"
    fixed_point_tol: float = 1e-3
    choose: list[str] = field(default_factory=lambda: list(CHOICE_RULES))
    seed: int = 0
    limit: int = 0

    def settings(self) -> dict[str, Any]:
        """What decides the trajectories (not which rules are reported or how many rows), as JSON."""
        return {
            "starts": self.starts,
            "views": self.views,
            "depth": self.depth,
            "init": self.init,
            "init_std": self.init_std,
            "step_noise": self.step_noise,
            "exit": self.exit,
            "fixed_point_tol": self.fixed_point_tol,
            "seed": self.seed,
        }

    @property
    def trajectories(self) -> int:
        return max(self.starts) * max(self.views)

    def check(self, kind: str, model: Any, has_verifier: bool) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise UserError(message)

        need(all(s >= 1 for s in self.starts), f"--breadth {self.starts}: every value must be >= 1")
        need(all(v >= 1 for v in self.views), f"--views {self.views}: every value must be >= 1")
        need(self.depth >= 1, f"--depth {self.depth}: must be >= 1")
        need(self.init in INIT_MODES, f"--init {self.init!r}: choose one of {', '.join(INIT_MODES)}")
        need(self.exit in EXIT_RULES, f"--exit {self.exit!r}: choose one of {', '.join(EXIT_RULES)}")
        need(math.isfinite(self.init_std) and self.init_std > 0, f"--init-std {self.init_std}: must be > 0")
        need(math.isfinite(self.step_noise) and self.step_noise >= 0, f"--step-noise {self.step_noise}: must be >= 0")
        need(self.fixed_point_tol > 0, f"--fixed-point-tol {self.fixed_point_tol}: must be > 0")
        need(self.limit >= 0, f"--test-time-rows {self.limit}: must be >= 0")
        bad = [c for c in self.choose if c not in CHOICE_RULES]
        need(not bad, f"--choose {','.join(bad)}: unknown; choose among {', '.join(CHOICE_RULES)}")
        if max(self.views) > 1:
            need(kind in ("sudoku", "maze"), f"--views works on Sudoku and Maze data; this data is {kind!r}")
            need(kind != "maze" or max(self.views) <= 8, "--views: a maze has 8 dihedral views at most")
        if "oracle" in self.choose:
            need(has_verifier, f"--choose oracle needs a rule check for this data ({kind!r} has none); drop it")
        if max(self.starts) > 1 or self.step_noise > 0 or self.exit == "fixed-point":
            device = next(model.parameters()).device
            tokens = torch.zeros(1, int(model.config.seq_len), dtype=torch.long, device=device)
            probe = model.initial_state(tokens, torch.zeros(1, dtype=torch.long, device=device))
            need(
                bool(probe),
                f"a {type(model).family!r} model has no recurrent state: breadth, step noise and fixed-point exit "
                "need one (use --views for breadth over symmetric views)",
            )
        if self.exit == "halt":
            need(model.has_halting_head, f"--exit halt: a {type(model).family!r} model has no halting head")
        if "halt" in self.choose:
            need(model.has_halting_head, f"--choose halt: a {type(model).family!r} model has no halting head; drop it")


def _rms(t: torch.Tensor) -> torch.Tensor:
    return t.float().pow(2).mean(-1, keepdim=True).sqrt()


def _relative_change(new: dict[str, torch.Tensor], old: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per row: ||new − old|| / ||new|| over every state tensor together (a fixed point has 0)."""
    num = sum(((new[k].float() - old[k].float()) ** 2).flatten(1).sum(1) for k in new)
    den = sum((new[k].float() ** 2).flatten(1).sum(1) for k in new)
    assert isinstance(num, torch.Tensor) and isinstance(den, torch.Tensor)
    return (num / den.clamp_min(1e-30)).sqrt()


def perturbed_initial_state(
    state: dict[str, torch.Tensor], starts: int, options: DepthBreadthOptions, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """``state`` is [R·starts, ...] in trajectory-major blocks of R rows; block 0 stays as it is."""
    out = {}
    for name, value in state.items():
        rows = value.shape[0] // starts
        x = value.float().clone()
        for s in range(1, starts):
            block = x[s * rows : (s + 1) * rows]
            if options.init == "noise":
                noise = torch.randn(block.shape, generator=generator).to(block.device)
                block.add_(options.init_std * _rms(block) * noise)
            else:
                rms = float(_rms(block).mean())
                sigma = rms if rms > 0 else 1.0
                draw = torch.empty((rows, *([1] * (block.dim() - 2)), block.shape[-1]))
                torch.nn.init.trunc_normal_(draw, std=sigma, a=-2 * sigma, b=2 * sigma, generator=generator)
                block.copy_(draw.to(block.device).expand_as(block))
        out[name] = x.to(value.dtype)
    return out


@dataclass
class _Trajectories:
    """The run's per-trajectory bookkeeping at the current depth, all [K, B] (answers [K, B, S], numpy)."""

    answers: np.ndarray  # in each puzzle's own frame
    q_halt: np.ndarray | None
    change: np.ndarray  # relative state change at the last segment run (inf before the second)
    segments: np.ndarray  # segments run so far


def _choose(rule: str, t: _Trajectories, subset: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """The chosen answer [B, S] among trajectories ``subset`` (indices into K)."""
    answers = t.answers[subset]  # [k, B, S]
    k, B, _ = answers.shape
    rows = np.arange(B)
    if rule == "single" or k == 1:
        return answers[0]
    if rule == "halt":
        assert t.q_halt is not None
        return answers[np.argmax(t.q_halt[subset], axis=0), rows]
    change = t.change[subset]
    if rule == "converge":
        return answers[np.argmin(change, axis=0), rows]
    # vote (and oracle: a vote among the valid answers when a row has any)
    same = (answers[:, None] == answers[None]).all(-1)  # [k, k, B]
    eligible = np.ones((k, B), dtype=bool)
    if rule == "oracle":
        assert valid is not None
        ok = valid[subset]
        eligible = np.where(ok.any(0, keepdims=True), ok, True)
    votes = (same & eligible[None]).sum(1).astype(np.float64)  # how many eligible trajectories agree with each
    # Ties go to the better-converged trajectory: the change is < 1 in practice, inf before a second segment.
    score = np.where(eligible, votes - np.minimum(change, 1e6) * 1e-9, -np.inf)
    return answers[np.argmax(score, axis=0), rows]


def run_depth_breadth(
    model: Any,
    batches: Iterable[EvalBatch],
    options: DepthBreadthOptions,
    *,
    views_for: Callable[[int], Any] | None = None,
    verifier: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    segment_flops: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run ``options`` over ``batches``; the curve of every (views, starts, rule) at every depth, with its cost.

    ``views_for(count)`` returns the views object (``apply``/``invert`` on token arrays, view 0 the identity) when
    ``views`` > 1; ``verifier(inputs [B, S], answers [B, S]) -> bool [B]`` is the task's rule check (oracle).
    Returns a dict: ``rows``, ``segment_flops``, ``depths``, ``seconds``, ``trajectories`` and ``curves``, a list of
    ``{"views", "starts", "choose", "oracle", "exact"[d], "segments_per_puzzle"[d], "flops_per_puzzle"[d]}``.
    """
    model.eval()
    V, R = max(options.views), max(options.starts)
    K = V * R
    depths = curve_depths(options.depth)
    want = set(depths)
    subsets = [(v, s) for v in sorted(set(options.views)) for s in sorted(set(options.starts))]
    rules = [r for r in options.choose if r in CHOICE_RULES]
    exact = {(v, s, r): np.zeros(len(depths)) for v, s in subsets for r in rules}
    cost = {(v, s): np.zeros(len(depths)) for v, s in subsets}
    generator = torch.Generator().manual_seed(options.seed)
    views = views_for(V) if V > 1 and views_for is not None else None
    seen = 0
    total = 0  # labelled rows measured
    start_time = time.perf_counter()
    for batch in batches:
        if options.limit and seen >= options.limit:
            break
        if batch.labels is None:
            continue
        rows = np.arange(batch.size)
        if batch.valid is not None:
            rows = rows[batch.valid.cpu().numpy().astype(bool)]
        if options.limit:
            rows = rows[: max(0, options.limit - seen)]
        if rows.size == 0:
            continue
        seen += rows.size
        index = torch.as_tensor(rows, device=batch.inputs.device)
        inputs, pids, labels = batch.inputs[index], batch.puzzle_identifiers[index], batch.labels[index]
        B = inputs.shape[0]
        host_inputs = inputs.cpu().numpy()
        # Trajectory k = view v, start s with k = v·R + s; rows are trajectory-major: row k·B + b.
        per_view = [host_inputs if v == 0 or views is None else views.apply(host_inputs, v) for v in range(V)]
        all_inputs = torch.as_tensor(
            np.concatenate([per_view[v] for v in range(V) for _ in range(R)]), dtype=inputs.dtype
        ).to(inputs.device)
        all_pids = pids.repeat(K)
        state = model.initial_state(all_inputs, all_pids)
        if R > 1:
            blocks = []  # perturb the starts of each view's block of R·B rows
            for v in range(V):
                part = {k: t[v * R * B : (v + 1) * R * B] for k, t in state.items()}
                blocks.append(perturbed_initial_state(part, R, options, generator))
            state = {k: torch.cat([b[k] for b in blocks]) for k in state}
        labels_np = labels.cpu().numpy()
        counted = (labels_np >= 0).any(1) if labels_np.ndim == 2 else np.ones(B, dtype=bool)
        traj = _Trajectories(
            answers=np.zeros((K, B, inputs.shape[1]), dtype=np.int64),
            q_halt=np.zeros((K, B), dtype=np.float32) if model.has_halting_head else None,
            change=np.full((K, B), np.inf),
            segments=np.zeros((K, B), dtype=np.int64),
        )
        active = torch.ones(K * B, dtype=torch.bool, device=inputs.device)
        logits_answer = torch.zeros((K * B, inputs.shape[1]), dtype=torch.long, device=inputs.device)
        change = torch.full((K * B,), float("inf"), device=inputs.device)
        q_halt = torch.zeros(K * B, device=inputs.device)
        segments = torch.zeros(K * B, dtype=torch.long, device=inputs.device)
        traj_id = torch.arange(K * B, device=inputs.device) // B
        with torch.no_grad():
            for depth in range(1, options.depth + 1):
                idx = active.nonzero().squeeze(1)
                if idx.numel() > 0:
                    sub = {k: v[idx] for k, v in state.items()}
                    if options.step_noise > 0 and depth > 1:
                        noisy = traj_id[idx] % R != 0  # trajectory 0 of every view stays clean
                        for k, v in sub.items():
                            noise = torch.randn(v.shape, generator=generator).to(v.device)
                            scale = options.step_noise * _rms(v) * noisy.view(-1, *([1] * (v.dim() - 1)))
                            sub[k] = (v.float() + scale * noise).to(v.dtype)
                    out = model.segment(sub, all_inputs[idx], all_pids[idx])
                    if depth > 1:
                        change[idx] = _relative_change(out.state, sub)
                    state = {k: v.index_put((idx,), out.state[k]) for k, v in state.items()}
                    logits_answer[idx] = out.logits.argmax(-1)
                    if out.q_halt_logits is not None:
                        q_halt[idx] = out.q_halt_logits.float()
                    segments[idx] += 1
                    if options.exit == "halt":
                        assert out.q_halt_logits is not None and out.q_continue_logits is not None
                        stop = model.halts(out.q_halt_logits.float(), out.q_continue_logits.float())
                        active[idx[stop]] = False
                    elif options.exit == "fixed-point" and depth > 1:
                        active[idx[change[idx] < options.fixed_point_tol]] = False
                if depth not in want:
                    continue
                # Read the curve: answers back in each puzzle's frame, then every subset and rule.
                answers = logits_answer.view(K, B, -1).cpu().numpy()
                if views is not None:
                    for v in range(1, V):
                        for s in range(R):
                            answers[v * R + s] = views.invert(answers[v * R + s], v)
                traj.answers = answers
                traj.change = change.view(K, B).cpu().numpy().astype(np.float64)
                traj.segments = segments.view(K, B).cpu().numpy()
                if traj.q_halt is not None:
                    traj.q_halt = q_halt.view(K, B).cpu().numpy()
                valid = None
                if "oracle" in rules and verifier is not None:
                    valid = np.stack([verifier(host_inputs, answers[k]) for k in range(K)])
                d = depths.index(depth)
                for v, s in subsets:
                    subset = np.array([vv * R + ss for vv in range(v) for ss in range(s)])
                    cost[(v, s)][d] += float(traj.segments[subset][:, counted].sum())
                    for rule in rules:
                        chosen = _choose(rule, traj, subset, valid)
                        right = ((chosen == labels_np) | (labels_np < 0)).all(1)
                        exact[(v, s, rule)][d] += float(right[counted].sum())
        total += int(counted.sum())
        if progress is not None:
            progress(batch.size)
    if total == 0:
        raise UserError("no labelled rows to measure depth x breadth on")
    curves = []
    for v, s in subsets:
        for rule in rules:
            if (rule != "single") == (v * s == 1):
                continue  # one trajectory: every rule is the single answer; several: "single" is that same curve
            segs = cost[(v, s)] / total
            curves.append(
                {
                    "views": v,
                    "starts": s,
                    "choose": rule,
                    "oracle": rule == "oracle",
                    "exact": (exact[(v, s, rule)] / total).tolist(),
                    "segments_per_puzzle": segs.tolist(),
                    "flops_per_puzzle": (segs * segment_flops).tolist(),
                }
            )
    return {
        "rows": total,
        "trajectories": K,
        "segment_flops": int(segment_flops),
        "depths": depths,
        "seconds": time.perf_counter() - start_time,
        "options": options.settings(),
        "curves": curves,
    }


def verifier_for(kind: str, side: int | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """The task's rule check as ``verifier(inputs [B, S], answers [B, S]) -> bool [B]``, or None (ARC, others).

    Sudoku: a complete valid grid agreeing with the givens; maze: a shortest S→G path marked and nothing else
    changed (:func:`hrm.data.maze.label_problems`)."""
    if kind == "sudoku" and side is not None:
        from hrm.evaluation.test_time import sudoku_answers_valid

        n = side
        return lambda inputs, answers: sudoku_answers_valid(inputs, answers, n)
    if kind == "maze":
        from hrm.data.maze import label_problems

        def maze(inputs: np.ndarray, answers: np.ndarray) -> np.ndarray:
            return np.array([not label_problems(i, a) for i, a in zip(inputs, answers)], dtype=bool)

        return maze
    return None


def views_for(kind: str, side: int | None, seq_len: int, seed: int) -> Callable[[int], Any] | None:
    """``count -> views`` for the symmetric views of Sudoku (shuffles) and mazes (dihedral transforms)."""
    from hrm.evaluation.test_time import MazeViews, SudokuViews

    if kind == "sudoku" and side is not None:
        return lambda count: SudokuViews(side, count, np.random.default_rng(seed))
    if kind == "maze":
        return lambda count: MazeViews(int(round(seq_len**0.5)), count)
    return None


def curve_label(curve: dict[str, Any]) -> str:
    parts = [curve["choose"]]
    if curve["views"] > 1:
        parts.append(f"{curve['views']} views")
    if curve["starts"] > 1:
        parts.append(f"{curve['starts']} starts")
    return " x ".join(parts) + (" [oracle]" if curve["oracle"] else "")


def summarise(result: dict[str, Any], max_segments: int) -> list[dict[str, Any]]:
    """Per curve: exact at the model's M_max on trajectory 0 (the baseline), the best exact and where it is, and
    where the curve flattens (the first depth within 0.5 points of its best)."""
    depths = result["depths"]
    base_curve = next(c for c in result["curves"] if c["choose"] == "single" and c["views"] * c["starts"] == 1)
    at = depths.index(min(max_segments, depths[-1])) if min(max_segments, depths[-1]) in depths else 0
    base = base_curve["exact"][at]
    rows = []
    for c in result["curves"]:
        best = int(np.argmax(c["exact"]))
        flat = next(i for i, e in enumerate(c["exact"]) if e >= c["exact"][best] - 0.005)
        rows.append(
            {
                "label": curve_label(c),
                "oracle": c["oracle"],
                "best_exact": c["exact"][best],
                "exact_at_depth": c["exact"][-1],  # at the run's --depth: a choice not read off these rows
                "best_depth": depths[best],
                "gain_pp_over_single_at_mmax": 100 * (c["exact"][best] - base),
                "flops_per_puzzle_at_best": c["flops_per_puzzle"][best],
                "flattens_at_depth": depths[flat],
            }
        )
    return rows


def format_depth_breadth(result: dict[str, Any], max_segments: int) -> str:
    lines = [
        f"depth x breadth on {result['rows']} puzzles ({result['trajectories']} trajectories each at most; one "
        f"segment of one row = {result['segment_flops'] / 1e6:.1f} MFLOP; {result['seconds']:.1f} s):",
        f"{'choice':<38} {'exact% at ' + str(result['depths'][-1]):>12} {'best exact%':>11} {'at depth':>8} "
        f"{'gain pp':>8} {'GFLOP/puzzle':>13} {'flat from':>9}",
    ]
    for r in summarise(result, max_segments):
        lines.append(
            f"{r['label']:<38} {100 * r['exact_at_depth']:>12.2f} {100 * r['best_exact']:>11.2f} {r['best_depth']:>8} "
            f"{r['gain_pp_over_single_at_mmax']:>+8.2f} {r['flops_per_puzzle_at_best'] / 1e9:>13.3f} "
            f"{r['flattens_at_depth']:>9}"
        )
    lines.append(
        f"best: the best depth read off these same rows (optimistic); gain pp: best over one trajectory at M_max "
        f"({max_segments} segments). {ORACLE_NOTE}."
    )
    return "\n".join(lines)


def plot_depth_breadth(result: dict[str, Any], path: Any, title: str = "") -> None:
    """Exact accuracy against test-time FLOPs per puzzle: one line per (views, starts, choice rule)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    for c in result["curves"]:
        ax.plot(
            c["flops_per_puzzle"],
            [100 * e for e in c["exact"]],
            label=curve_label(c),
            linestyle="--" if c["oracle"] else "-",
            marker=".",
            markersize=3,
        )
    ax.set_xscale("log")
    ax.set_xlabel("test-time FLOPs per puzzle")
    ax.set_ylabel("exact accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title or f"depth x breadth ({result['rows']} puzzles; dashed: oracle verifier)")
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
