"""``hrm solve --effort N``: more test-time compute for one puzzle, level by level, until an answer keeps the rules.

Each level is a fixed combination of the test-time methods of :mod:`hrm.evaluation.test_time` (M is the segment
cap of level 0: ``--max-segments``, default the model's M_max):

===== ==========================================================================================================
level what runs, and who picks the answer
===== ==========================================================================================================
0     the plain answer: one run with per-sample early exit (the Q-head halts it), at most M segments
1     one run of every segment up to 4×M, no early exit (inference-time scaling: more recurrent computation)
2     augmentation vote: 8 symmetric views of the puzzle (Sudoku digit relabelling and row/column shuffles, maze
      rotations and reflections), 4×M segments each, answers mapped back; the most frequent answer wins (ties:
      mean sigmoid(q_halt)). View 0 is level 1's run, so it is not repeated
3     level 2's 8 views plus 16 noisy trajectories (Gaussian noise, std 0.1 × the state's RMS, after every
      recursion step; families that iterate a state), 4×M segments each; the answer is **picked by the rule
      check**: only candidates that keep the puzzle's rules compete (then the vote among them)
===== ==========================================================================================================

``hrm solve`` runs level 0, then 1, 2, ... up to N and stops at the first level whose answer keeps the rules. The
rule check of level 3 is a verifier outside the model (the Sudoku rules, the maze's shortest path): fine for a
user's own puzzle, whose rules are known, and named as such in the output ("picked by the rule check"); in
``hrm evaluate`` the same check is reported as oracle pass@K, since it is not the model's choice.
Levels 2 and 3 are for Sudoku and mazes (ARC votes over its own views: ``--views``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hrm.errors import UserError
from hrm.inference.puzzles import AnswerCheck, Puzzle, check_answer
from hrm.model.limits import MAX_RECURRENCE

SEGMENTS_X = 4  # levels 1-3 run this many times level 0's segment cap
VIEWS = 8  # augmentation views at levels 2 and 3 (a maze has at most 8: the dihedral group)
NOISY = 16  # noisy trajectories added at level 3
NOISE_STD = 0.1


@dataclass(frozen=True)
class EffortLevel:
    """One documented combination of test-time methods (see the module docstring)."""

    level: int
    what: str
    segments_x: int  # segment cap as a multiple of level 0's
    views: int = 0  # augmentation views (0: one run of the puzzle itself)
    noisy: int = 0  # noisy trajectories on top of the views
    rule_check: bool = False  # only candidates that keep the rules may win


EFFORT_LEVELS: tuple[EffortLevel, ...] = (
    EffortLevel(0, "plain answer: early exit by the Q-head, at most M segments", 1),
    EffortLevel(1, f"every segment up to {SEGMENTS_X}×M, no early exit", SEGMENTS_X),
    EffortLevel(2, f"augmentation vote over {VIEWS} symmetric views, {SEGMENTS_X}×M segments each", SEGMENTS_X, VIEWS),
    EffortLevel(
        3,
        f"{VIEWS} views + {NOISY} noisy trajectories, {SEGMENTS_X}×M segments each, picked by the rule check",
        SEGMENTS_X,
        VIEWS,
        NOISY,
        rule_check=True,
    ),
)
MAX_EFFORT = len(EFFORT_LEVELS) - 1


def check_effort(effort: int, kind: str, test_time: Any) -> None:
    """UserError for an effort level that does not exist, or does not apply to this puzzle or request."""
    if isinstance(effort, bool) or not isinstance(effort, int) or not 0 <= effort <= MAX_EFFORT:
        raise UserError(f"--effort must be one of 0..{MAX_EFFORT}, got {effort!r}")
    if effort and test_time is not None:
        raise UserError(
            "--effort chooses its own test-time methods; drop --augment-votes / --noise-samples / --rule-check, "
            "or use --effort 0 with them"
        )
    if effort >= 2 and kind == "arc":
        raise UserError(
            f"--effort {effort} uses Sudoku and maze symmetries; an ARC task takes --effort 0 or 1 (and --views N "
            "to vote over the task's own augmented views)"
        )


def level_cap(cap: int, level: EffortLevel) -> int:
    return min(cap * level.segments_x, MAX_RECURRENCE)


@dataclass
class SegmentRun:
    """One pass of a model's segment loop over some rows (the puzzle, or its ARC views)."""

    tokens: np.ndarray  # int64 [B, S]: each row's answer at its last segment
    q_halt: np.ndarray  # float [B] (NaN for a family without a halting head)
    q_continue: np.ndarray  # float [B]
    segments: np.ndarray  # int64 [B]: segments each row ran
    max_segments: int
    early_exit: bool
    traced: list[tuple[torch.Tensor, float, float]] = field(default_factory=list)  # row 0: logits, q_halt, q_cont

    @property
    def has_q(self) -> bool:
        return bool(np.isfinite(self.q_halt).all())


@torch.no_grad()
def run_rows(model: Any, rows: torch.Tensor, pids: torch.Tensor, cap: int, early_exit: bool, trace: bool) -> SegmentRun:
    """Run ``rows`` through at most ``cap`` segments; with ``trace``, keep row 0's output after each of its
    segments (it is the answer's own run, so the last traced answer is the answer)."""
    traced: list[tuple[torch.Tensor, float, float]] = []
    nan = torch.full((rows.shape[0],), float("nan"), device=rows.device)  # a family without a halting head
    for step in model.run_segments(rows, pids, max_segments=cap, early_exit=early_exit):
        q_halt = nan if step.q_halt_logits is None else step.q_halt_logits
        q_cont = nan if step.q_continue_logits is None else step.q_continue_logits
        if trace and bool(step.active[0]):
            traced.append((step.logits[0], float(q_halt[0]), float(q_cont[0])))
    return SegmentRun(
        tokens=step.logits.argmax(-1).cpu().numpy().astype(np.int64),
        q_halt=q_halt.float().cpu().numpy(),
        q_continue=q_cont.float().cpu().numpy(),
        segments=step.segments.cpu().numpy().astype(np.int64),
        max_segments=cap,
        early_exit=early_exit,
        traced=traced,
    )


def sigmoid(x: float) -> float:
    return float(torch.sigmoid(torch.tensor(float(x), dtype=torch.float64)))


@dataclass
class Attempt:
    """What one effort level produced: its answer, the check of that answer and what it cost."""

    level: EffortLevel
    answer: np.ndarray
    check: AnswerCheck
    seconds: float
    segments_run: int  # segments this level ran, over all its runs (runs reused from a lower level not counted)
    candidates: int  # answers it chose among (1 for a single run)
    picked_by: str  # who chose the answer, in words
    rule_check: bool  # the answer was chosen by the rule check (a verifier outside the model)
    segments: int  # segments of the answer's own run
    max_segments: int
    early_exit: bool
    confidence: float  # sigmoid(q_halt) of the answer's run (a vote: mean over the candidates that gave it)
    q_halt: float
    q_continue: float
    votes: int = 1  # candidates (or ARC views) that gave this answer
    notes: list[str] = field(default_factory=list)
    run: SegmentRun | None = None  # levels 0 and 1: the run itself (its trace)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.level,
            "what": self.level.what,
            "valid": self.check.valid,
            "reason": self.check.reason,
            "seconds": self.seconds,
            "segments_run": self.segments_run,
            "max_segments": self.max_segments,
            "candidates": self.candidates,
            "agreeing": self.votes,
            "picked_by": self.picked_by,
            "rule_check": self.rule_check,
        }


def candidate_attempt(
    model: Any,
    puzzle: Puzzle,
    rows: torch.Tensor,
    pids: torch.Tensor,
    level: EffortLevel,
    base: SegmentRun,
    decode: Callable[[np.ndarray], np.ndarray],
    reference: np.ndarray | None,
    seed: int,
    previous: Any = None,
) -> tuple[Attempt, Any]:
    """Levels 2 and 3: candidates from symmetric views (and noisy trajectories), one picked; returns the attempt and
    its candidates (a :class:`~hrm.evaluation.test_time.Candidates`, which the next level builds on).

    ``base`` is level 1's run (view 0 and the clean trajectory); ``previous`` the candidates of level 2, reused
    by level 3 rather than recomputed.
    """
    from hrm.evaluation import test_time as tt
    from hrm.evaluation.batches import EvalBatch

    start = time.perf_counter()
    options = tt.TestTimeOptions(
        augment=level.views,
        noise=level.noisy + 1 if level.noisy else 0,  # + the clean run, which noise_candidates counts as run 0
        noise_std=NOISE_STD,
        seed=seed,
        max_segments=base.max_segments,
    )
    plain = (base.tokens, base.q_halt if base.has_q else None, base.segments)
    batch = EvalBatch(inputs=rows, puzzle_identifiers=pids)
    notes: list[str] = []
    if previous is None:
        if puzzle.kind == "sudoku":
            views: Any = tt.SudokuViews(puzzle.shape[0], level.views, np.random.default_rng(seed))
        else:
            views = tt.MazeViews(puzzle.shape[0], level.views)
        cands = tt.augment_candidates(model, batch, views, options, plain)
        new_segments = int(cands.segments[1:].sum())
    else:
        cands, new_segments = previous, 0
    if level.noisy:
        if tt.recurrent_modules(model):
            generator = torch.Generator().manual_seed(seed)
            noisy = tt.noise_candidates(model, batch, options, plain, generator)
            # Run 0 of the noisy set is the clean run, already view 0 of the views.
            q_halt = None
            if cands.q_halt is not None and noisy.q_halt is not None:
                q_halt = np.concatenate([cands.q_halt, noisy.q_halt[1:]])
            cands = tt.Candidates(
                np.concatenate([cands.predictions, noisy.predictions[1:]]),
                q_halt,
                np.concatenate([cands.segments, noisy.segments[1:]]),
            )
            new_segments += int(noisy.segments[1:].sum())
        else:
            notes.append(f"no noisy trajectories: a {type(model).family!r} model iterates no latent state")
    count = int(cands.predictions.shape[0])
    allowed = None
    keeping = 0
    if level.rule_check:
        allowed = np.array([[check_answer(puzzle, decode(c[0]), reference).valid] for c in cands.predictions])
        keeping = int(allowed.sum())
    picked = tt.pick(cands, "vote", allowed)[0]
    agree = [k for k in range(count) if np.array_equal(cands.predictions[k, 0], picked)]
    first = agree[0]
    q = cands.q_halt[agree, 0] if cands.q_halt is not None else None
    if level.rule_check and keeping:
        picked_by = (
            f"the rule check: {keeping} of {count} candidates keep the rules, and among them the vote "
            f"({len(agree)} gave this answer)"
        )
    elif level.rule_check:
        picked_by = f"the vote of {count} candidates ({len(agree)} gave this answer); none keeps the rules"
    else:
        picked_by = f"the vote of {count} views ({len(agree)} gave this answer)"
    answer = decode(picked)
    attempt = Attempt(
        level=level,
        answer=answer,
        check=check_answer(puzzle, answer, reference),
        seconds=time.perf_counter() - start,
        segments_run=new_segments,
        candidates=count,
        picked_by=picked_by,
        rule_check=bool(level.rule_check and keeping),
        segments=int(cands.segments[first, 0]),
        max_segments=base.max_segments,
        early_exit=False,
        confidence=float(np.mean([sigmoid(v) for v in q])) if q is not None else math.nan,
        q_halt=float(cands.q_halt[first, 0]) if cands.q_halt is not None else math.nan,
        q_continue=math.nan,  # candidate runs keep q_halt only
        votes=len(agree),
        notes=notes,
    )
    return attempt, cands
