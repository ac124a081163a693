"""Run a model on one puzzle: :func:`solve` → :class:`SolveResult` (answer, validity, segments, confidence, trace).

The model runs with per-sample early exit (one pass of its segment loop, ``run_segments``): it stops at the first
segment whose Q-head says halt (q_halt > q_continue), or at ``max_segments`` (default the model's M_max). The
confidence is sigmoid(q_halt) at the last segment run, the model's own estimate that its answer is exactly right
(the Q-head is trained towards that target).

The puzzle-ID embedding decides what a puzzle may be:

* Sudoku and maze datasets use one shared identifier (0), so any new puzzle of the trained size works;
* ARC datasets give every task (and each of its augmented variants) its own learned identifier. A task is solved
  under the identifier of its name in the checkpoint's ``identifiers``; a task the model was not trained on has
  none, and :func:`solve` says so instead of answering (see :class:`UnseenTaskError`). With ``views > 1`` the
  augmented variants of the task that the checkpoint knows are run too, their answers mapped back and voted on
  (votes, then mean sigmoid(q_halt)), as the paper's ARC evaluation does.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hrm.checkpoints import Checkpoint, checkpoint_identifiers, checkpoint_kind, find_shipped, open_checkpoint
from hrm.data import arc
from hrm.data.augment import arc_augment, arc_invert
from hrm.data.kind import kind_from_shape, kind_in
from hrm.errors import UserError
from hrm.inference import effort as levels
from hrm.inference.puzzles import (
    KINDS,
    Puzzle,
    check_answer,
    decode_answer,
    encode_puzzle,
    load_puzzle,
    maze_text,
    reference_answer,
    seq_len_for,
    vocab_size_for,
)
from hrm.model import FAMILIES, HRMConfig, ReasoningModel
from hrm.runtime.device import resolve_device


class UnseenTaskError(UserError):
    """An ARC task that the checkpoint has no puzzle identifier for (the embedding is transductive)."""


@dataclass
class SegmentPrediction:
    """The model's answer after one segment."""

    segment: int
    answer: np.ndarray
    confidence: float  # sigmoid(q_halt)
    halt: bool  # q_halt > q_continue: early exit would stop here
    changed: int  # cells that differ from the previous segment's answer (segment 1: from the input)


@dataclass
class SolveResult:
    """What :func:`solve` found. Grids follow :mod:`hrm.inference.puzzles` (Sudoku digits, maze tokens, ARC colours)."""

    kind: str
    puzzle: Puzzle
    answer: np.ndarray
    valid: bool
    reason: str
    correct: bool | None  # None when no reference answer is known (ARC test output not given)
    reference: np.ndarray | None  # Sudoku: the unique solution; maze/ARC: the answer given with the input
    segments: int  # segments run (of the identity view for ARC)
    max_segments: int
    early_exit: bool
    confidence: float  # sigmoid(q_halt) at the last segment (ARC with views: mean over the winning votes)
    q_halt_logit: float
    q_continue_logit: float
    puzzle_identifier: int
    checkpoint: str | None = None
    views: int = 1  # ARC: augmented views run and voted on
    votes: int = 1  # ARC: views that gave this answer
    notes: list[str] = field(default_factory=list)
    trace: list[SegmentPrediction] | None = None
    test_time: dict[str, Any] | None = None  # what test-time scaling did (solve(test_time=...))
    problems: list[str] = field(default_factory=list)  # every rule the answer breaks (empty when valid)
    effort: dict[str, Any] | None = None  # solve(effort=N >= 1): the levels tried, which one answered, the time
    shipped: str | None = None  # the shipped model picked for the puzzle (no checkpoint given), by name

    @property
    def input(self) -> np.ndarray:
        return self.puzzle.grid

    @property
    def halted_early(self) -> bool:
        """True when the Q-head stopped the run before ``max_segments``."""
        return self.segments < self.max_segments

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (grids as nested lists)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "source": self.puzzle.source,
            "input": _grid_json(self.kind, self.puzzle.grid),
            "answer": _grid_json(self.kind, self.answer),
            "valid": self.valid,
            "reason": self.reason,
            "correct": self.correct,
            "segments": self.segments,
            "max_segments": self.max_segments,
            "early_exit": self.early_exit,
            "halted_early": self.halted_early,
            "confidence": _finite_or_none(self.confidence),  # null: the family has no halting head
            "q_halt_logit": _finite_or_none(self.q_halt_logit),
            "q_continue_logit": _finite_or_none(self.q_continue_logit),
            "puzzle_identifier": self.puzzle_identifier,
            "checkpoint": self.checkpoint,
            "shipped": self.shipped,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }
        if self.kind == "arc":
            out.update(
                task_id=self.puzzle.task.task_id if self.puzzle.task else None,
                test_index=self.puzzle.test_index,
                views=self.views,
                votes=self.votes,
            )
        if self.test_time is not None:
            out["test_time"] = self.test_time
        if self.effort is not None:
            out["effort"] = self.effort
        if self.trace is not None:
            out["trace"] = [
                {
                    "segment": s.segment,
                    "answer": _grid_json(self.kind, s.answer),
                    "confidence": _finite_or_none(s.confidence),
                    "halt": s.halt,
                    "changed": s.changed,
                }
                for s in self.trace
            ]
        return out


def _finite_or_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def _grid_json(kind: str, grid: np.ndarray) -> list:
    if kind == "maze":
        return maze_text(grid)
    return np.asarray(grid).astype(int).tolist()


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints


def model_kind(config: HRMConfig, dataset: dict[str, Any] | None = None, ckpt: Checkpoint | None = None) -> str:
    """The puzzle kind to solve with a model: what its checkpoint records (:func:`hrm.checkpoints.checkpoint_kind`:
    the dataset provenance, the recorded dataset's ``build.json``) when it is a kind :func:`solve` knows, else the
    guess from vocab and seq_len; UserError when neither tells."""
    recorded = checkpoint_kind(ckpt) if ckpt is not None else kind_in(dataset)
    kind = recorded if recorded in KINDS else kind_from_shape(config.vocab_size, config.seq_len)
    if kind is None:
        raise UserError(
            f"cannot tell which puzzle type this model was trained on (vocab_size {config.vocab_size}, seq_len "
            f"{config.seq_len}); pass kind= (--kind) explicitly"
        )
    return kind


def describe_model(config: HRMConfig, kind: str) -> str:
    V, S = config.vocab_size, config.seq_len
    n = math.isqrt(S)
    what = {"sudoku": f"{n}×{n} Sudoku", "maze": f"{n}×{n} mazes", "arc": "ARC grids on the 30×30 canvas"}[kind]
    return f"{what} (vocab {V}, seq_len {S})"


def check_fits(puzzle: Puzzle, config: HRMConfig, kind: str) -> None:
    """UserError when the puzzle's encoding does not match the model's vocab and seq_len."""
    need_seq, need_vocab = seq_len_for(puzzle), vocab_size_for(puzzle)
    if config.seq_len != need_seq or config.vocab_size != need_vocab:
        raise UserError(
            f"the checkpoint was trained on {describe_model(config, kind)} but the puzzle is a "
            f"{puzzle.describe()} (needs vocab {need_vocab}, seq_len {need_seq}); pass a checkpoint "
            "trained on this puzzle type and size with --checkpoint"
        )


# ---------------------------------------------------------------------------------------------------------------
# ARC puzzle identifiers


def unseen_task_message(task_id: str | None, identifiers: list[str] | None) -> str:
    known = sum(1 for name in identifiers or [] if name != "<blank>" and arc.parse_variant_name(name)[0] == name)
    name = f"ARC task {task_id!r}" if task_id else "this ARC task"
    return (
        f"{name} is not one of the {known} tasks this checkpoint was trained on, so it has no puzzle identifier: "
        "HRM's puzzle-ID embedding is transductive (one learned vector per training task), and answering under "
        "another task's vector would be nonsense. Options: solve a task it was trained on (`hrm info "
        "--checkpoint DIR --tasks` lists them); rebuild the ARC dataset with this task included (its "
        "demonstration pairs are trained on, the paper's protocol) and train again; or fine-tune a new "
        "identifier on its demonstration pairs (test-time training) before solving"
    )


def arc_views(identifiers: list[str] | None, task_id: str | None, limit: int) -> list[tuple[int, int, np.ndarray]]:
    """``(puzzle identifier, dihedral id, colour map)`` of up to ``limit`` views of a task: the original first."""
    if task_id is None:
        raise UserError(
            "an ARC task needs a task id to find its puzzle identifier: name the file after the task "
            "(<task id>.json) or pass --task-id"
        )
    if not identifiers:
        raise UserError(
            "the checkpoint has no identifiers.json, so ARC task names cannot be mapped to puzzle "
            "identifiers; pass --puzzle-id N to choose the identifier yourself"
        )
    views: list[tuple[int, int, np.ndarray]] = []
    original = None
    prefix = f"{task_id}_t"
    for pid, name in enumerate(identifiers):
        if name == task_id:
            original = (pid, 0, arc.IDENTITY_COLOURS.copy())
        elif name.startswith(prefix) and len(views) < limit:
            base, tid, cmap = arc.parse_variant_name(name)
            if base == task_id:
                views.append((pid, tid, cmap))
    if original is not None:
        views.insert(0, original)
    if not views:
        raise UnseenTaskError(unseen_task_message(task_id, identifiers))
    return views[:limit]


# ---------------------------------------------------------------------------------------------------------------
# Solving


def _family_model(obj: Any) -> bool:
    """Whether ``obj`` is a model of a registered family (HRM, TRM, the baselines: any ``registry.FAMILIES``)."""
    return isinstance(obj, torch.nn.Module) and any(isinstance(obj, spec.model_cls) for spec in FAMILIES.values())


def _as_model(model_or_checkpoint: Any, device: str | torch.device | None) -> tuple[ReasoningModel, Checkpoint | None]:
    if _family_model(model_or_checkpoint):
        return model_or_checkpoint.eval(), None
    if isinstance(model_or_checkpoint, Checkpoint):
        return model_or_checkpoint.model.eval(), model_or_checkpoint
    if model_or_checkpoint is None or isinstance(model_or_checkpoint, (str, os.PathLike)):
        ckpt = open_checkpoint(model_or_checkpoint, resolve_device(str(device) if device is not None else "auto"))
        return ckpt.model, ckpt
    raise TypeError(
        "model_or_checkpoint must be a model of a registered family (HRM, TRM, ...), a Checkpoint, a path or None, "
        f"got {type(model_or_checkpoint).__name__}"
    )


def _changed(previous: np.ndarray, current: np.ndarray) -> int:
    if previous.shape != current.shape:
        return int(current.size)
    return int((previous != current).sum())


def puzzle_size(puzzle: Puzzle) -> int | None:
    """The size a shipped model is picked by: the board side of a Sudoku, the side of a maze (None for ARC)."""
    return puzzle.shape[0] if puzzle.kind in ("sudoku", "maze") else None


def solve(
    model_or_checkpoint: Any = None,
    puzzle: Any = None,
    *,
    kind: str | None = None,
    max_segments: int | None = None,
    early_exit: bool = True,
    trace: bool = False,
    task_id: str | None = None,
    test_index: int = 0,
    views: int = 1,
    puzzle_id: int | None = None,
    device: str | torch.device | None = None,
    test_time: Any = None,
    effort: int = 0,
    seed: int = 0,
) -> SolveResult:
    """Solve one puzzle with a model.

    ``solve(puzzle)`` reads the puzzle first and uses the shipped model for its kind and size
    (:func:`hrm.checkpoints.find_shipped`; a one-line UserError naming what is shipped when there is none);
    ``solve(model_or_checkpoint, puzzle)`` takes a model of any registered family (:class:`~hrm.model.HRM`, TRM,
    the baselines), a :class:`~hrm.checkpoints.Checkpoint`, or a path (step dir or run dir). ``puzzle`` is
    anything :func:`hrm.inference.puzzles.load_puzzle` accepts (a Sudoku string, a file path, a grid, an ARC task
    dict, a :class:`Puzzle`).

    Args:
        kind: the model's puzzle kind; default from the checkpoint's dataset metadata or its vocab/seq_len (without
            a model: the puzzle's kind, which picks the shipped model).
        max_segments: most segments to run (default the model's M_max; more is inference-time scaling).
        early_exit: stop at the first segment where q_halt > q_continue (default); False runs all segments.
        trace: also record the answer after every segment (``SolveResult.trace``).
        task_id / test_index: ARC: the task's name in the checkpoint's identifiers (default: the file name) and
            which of its test inputs to solve.
        views: ARC: run up to this many views (the original and the augmented variants the checkpoint was trained
            on), map the answers back and vote.
        puzzle_id: force the puzzle identifier (advanced; skips the ARC lookup).
        device: where to load a checkpoint given by path (default ``auto``).
        test_time: a :class:`hrm.evaluation.test_time.TestTimeOptions` with ONE method (augmentation voting or
            noisy trajectories, optionally the Sudoku rule check): the answer is the one it picks among its
            candidates; ``SolveResult.test_time`` reports the candidates, agreement and compute beside the plain
            answer.
        effort: 0 (default) answers once; N in 1..3 retries an answer that breaks the rules with the effort levels
            of :mod:`hrm.inference.effort` up to N, stopping at the first valid answer (``SolveResult.effort``
            reports the levels tried, their time, and who picked the answer). Not combined with ``test_time``.
        seed: seeds the views and noise of effort levels 2 and 3.

    Raises UserError (one line) for a bad puzzle, a checkpoint trained on another puzzle type or size, an ARC
    task the checkpoint was not trained on (:class:`UnseenTaskError`), or no shipped model for the puzzle.
    """
    if puzzle is None:
        if model_or_checkpoint is None:
            raise TypeError("solve() needs a puzzle: solve(puzzle) or solve(model_or_checkpoint, puzzle)")
        model_or_checkpoint, puzzle = None, model_or_checkpoint
    if views < 1:
        raise UserError(f"views must be >= 1, got {views}")
    if max_segments is not None and max_segments < 1:
        raise UserError(f"max_segments must be >= 1, got {max_segments}")
    shipped = None
    notes: list[str] = []
    if model_or_checkpoint is None:
        # No model given: the puzzle says what is needed (read once: stdin cannot be read twice).
        puzzle = load_puzzle(puzzle, kind, task_id=task_id, test_index=test_index)
        shipped = find_shipped(puzzle.kind, puzzle_size(puzzle))
        assert shipped.checkpoint is not None  # find_shipped returns readable models only
        model_or_checkpoint = shipped.checkpoint
        notes.append(f"model: the shipped {shipped.name} ({shipped.task}, {shipped.family}); --checkpoint for another")
    model, ckpt = _as_model(model_or_checkpoint, device)
    config = model.config
    dataset = ckpt.dataset if ckpt is not None else None
    model_type = kind if kind is not None else model_kind(config, dataset, ckpt)
    side = math.isqrt(config.seq_len) if model_type == "sudoku" else None
    parsed = load_puzzle(puzzle, model_type, task_id=task_id, test_index=test_index, sudoku_size=side)
    check_fits(parsed, config, model_type)
    levels.check_effort(effort, parsed.kind, test_time)
    cap = model.max_segments if max_segments is None else int(max_segments)
    dev = next(model.parameters()).device
    reference = reference_answer(parsed)

    if parsed.kind == "arc" and puzzle_id is None:
        identifiers = None
        if ckpt is not None:
            identifiers = checkpoint_identifiers(ckpt, notes)  # the checkpoint's, else its dataset's
        chosen = arc_views(identifiers, parsed.task.task_id if parsed.task else None, views)
    else:
        pid = 0 if puzzle_id is None else int(puzzle_id)
        if not 0 <= pid < config.num_puzzle_identifiers:
            raise UserError(
                f"puzzle identifier {pid} is outside the model's table [0, {config.num_puzzle_identifiers})"
            )
        chosen = [(pid, 0, arc.IDENTITY_COLOURS.copy())]
    if parsed.kind == "arc" and len(chosen) < views:
        notes.append(f"the checkpoint knows {len(chosen)} view(s) of this task; ran all of them")

    if parsed.kind == "arc":  # one row per view: the test input augmented as that variant
        inputs = np.stack([arc.encode_grid(arc_augment(parsed.grid, tid, cmap)) for _, tid, cmap in chosen])
    else:
        inputs = encode_puzzle(parsed)[None]
    rows = torch.as_tensor(inputs, dtype=torch.long, device=dev)
    pids = torch.tensor([pid for pid, _, _ in chosen], dtype=torch.long, device=dev)

    def decode(view: int, predicted: np.ndarray) -> np.ndarray:
        # ARC views are answered in their own frame and colours: map back to the task's.
        if parsed.kind == "arc":
            _, tid, cmap = chosen[view]
            return arc_invert(arc.decode_grid(predicted), tid, cmap).astype(np.int64)
        return decode_answer(parsed, predicted)

    def run_attempt(level: levels.EffortLevel, level_cap: int, level_early_exit: bool) -> levels.Attempt:
        """One run of the segment loop over the puzzle (or its ARC views), and the answer it gives."""
        start = time.perf_counter()
        run = levels.run_rows(model, rows, pids, level_cap, level_early_exit, trace)
        answer = decode(0, run.tokens[0])
        confidence = levels.sigmoid(run.q_halt[0])
        votes = 1
        run_notes: list[str] = []
        if parsed.kind == "arc" and len(chosen) > 1:
            from hrm.evaluation.arc_vote import ArcVoter

            voter = ArcVoter()
            for i in range(len(chosen)):
                voter.add("task", parsed.grid, decode(i, run.tokens[i]), levels.sigmoid(run.q_halt[i]))
            _, best = voter.test_input("task", parsed.grid).ranked()[0]
            answer, votes, confidence = best.grid.astype(np.int64), best.votes, best.mean_q
            run_notes.append(
                f"{len(chosen)} views voted: {votes} gave this answer; mean segments {float(run.segments.mean()):.1f}"
            )
        return levels.Attempt(
            level=level,
            answer=answer,
            check=check_answer(parsed, answer, reference),
            seconds=time.perf_counter() - start,
            segments_run=int(run.segments.sum()),
            candidates=len(chosen),
            picked_by="the vote of the task's views" if len(chosen) > 1 else "the model (one run)",
            rule_check=False,
            segments=int(run.segments[0]),
            max_segments=level_cap,
            early_exit=level_early_exit,
            confidence=confidence,
            q_halt=float(run.q_halt[0]),
            q_continue=float(run.q_continue[0]),
            votes=votes,
            notes=run_notes,
            run=run,
        )

    first = run_attempt(levels.EFFORT_LEVELS[0], cap, early_exit)
    attempts = [first]
    tt_report = None
    if test_time is not None:
        assert first.run is not None  # a run attempt keeps its run
        plain = (first.run.tokens, first.run.q_halt, first.run.segments)
        answer, tt_report = _test_time_answer(
            model, parsed, rows, pids, test_time, cap, early_exit, plain, decode, reference, side
        )
        first.answer, first.check = answer, check_answer(parsed, answer, reference)
    candidates = None
    for level in levels.EFFORT_LEVELS[1 : effort + 1]:
        if attempts[-1].check.valid:
            break
        level_cap = levels.level_cap(cap, level)
        if not level.views:
            attempts.append(run_attempt(level, level_cap, False))
            continue
        base = attempts[1].run  # level 1's run at the same cap: view 0 and the clean trajectory
        assert base is not None and base.max_segments == level_cap
        attempt, candidates = levels.candidate_attempt(
            model, parsed, rows, pids, level, base, lambda t: decode(0, t), reference, seed, candidates
        )
        attempts.append(attempt)
    final = attempts[-1]
    traced = next(a for a in reversed(attempts) if a.run is not None)  # level 0 always ran
    if trace and traced is not final:
        notes.append(
            f"the trace is level {traced.level.level}'s run of the puzzle itself; the answer was picked among "
            f"{final.candidates} candidates at level {final.level.level}"
        )
    effort_report = None
    if effort:
        effort_report = {
            "requested": effort,
            "level": final.level.level,
            "solved": final.check.valid,
            "seconds": float(sum(a.seconds for a in attempts)),
            "picked_by": final.picked_by,
            "rule_check": final.rule_check,
            "levels": [a.to_dict() for a in attempts],
        }
    trace_out = None
    if trace and traced.run is not None:
        trace_out = []
        previous = parsed.grid
        for m, (logits, qh, qc) in enumerate(traced.run.traced, start=1):
            grid = decode(0, logits.argmax(-1).cpu().numpy())
            trace_out.append(
                SegmentPrediction(
                    segment=m,
                    answer=grid,
                    confidence=levels.sigmoid(qh),
                    halt=qh > qc,
                    changed=_changed(previous, grid),
                )
            )
            previous = grid
    check = final.check
    return SolveResult(
        kind=parsed.kind,
        puzzle=parsed,
        answer=final.answer,
        valid=check.valid,
        reason=check.reason,
        correct=check.correct,
        reference=check.reference,
        segments=final.segments,
        max_segments=final.max_segments,
        early_exit=final.early_exit,
        confidence=final.confidence,
        q_halt_logit=final.q_halt,
        q_continue_logit=final.q_continue,
        puzzle_identifier=int(chosen[0][0]),
        checkpoint=str(ckpt.path) if ckpt is not None else None,
        views=len(chosen),
        votes=final.votes,
        notes=check.notes + notes + final.notes,
        trace=trace_out,
        test_time=tt_report,
        problems=list(check.problems),
        effort=effort_report,
        shipped=shipped.name if shipped is not None else None,
    )


def _test_time_answer(model, parsed, rows, pids, options, cap, early_exit, plain, decode, reference, side):
    """The answer test-time scaling picks for one Sudoku or maze, and a report of its candidates and cost."""
    import dataclasses

    from hrm.evaluation import test_time as tt
    from hrm.evaluation.evaluate import EvalBatch

    if parsed.kind == "arc":
        raise UserError("test-time options are for Sudoku and mazes; ARC votes over its own views (--views)")
    if options.augment and options.noise:
        raise UserError("hrm solve runs one test-time method at a time: --augment-votes K or --noise-samples K")
    options = dataclasses.replace(options, max_segments=cap, early_exit=early_exit)
    options.check(parsed.kind, model)
    tokens, q_halt, segments = plain
    has_q = bool(np.isfinite(q_halt).all())
    plain_run = (tokens.astype(np.int64), q_halt if has_q else None, segments.astype(np.int64))
    batch = EvalBatch(inputs=rows, puzzle_identifiers=pids)
    rng = np.random.default_rng(options.seed)
    if options.augment:
        views = tt.SudokuViews(side, options.augment, rng) if parsed.kind == "sudoku" else None
        if views is None:
            views = tt.MazeViews(int(round(rows.shape[1] ** 0.5)), options.augment)
        cands = tt.augment_candidates(model, batch, views, options, plain_run)
        method, rule = f"augment-vote x{len(views)}", "vote"
    else:
        generator = torch.Generator().manual_seed(options.seed)
        cands = tt.noise_candidates(model, batch, options, plain_run, generator)
        method, rule = f"noise-{'halt' if cands.q_halt is not None else 'vote'} x{options.noise}", "halt"
    allowed = tt.sudoku_valid(cands, rows.cpu().numpy(), side) if options.rules else None
    picked = tt.pick(cands, rule, allowed)[0]
    agree = int(sum(np.array_equal(c[0], picked) for c in cands.predictions))
    plain_answer = decode(0, tokens[0])
    plain_check = check_answer(parsed, plain_answer, reference)
    report = {
        "method": method + (" + oracle verifier" if options.rules else ""),
        "oracle_verifier": bool(options.rules),
        "candidates": int(cands.predictions.shape[0]),
        "agreeing": agree,
        "segments_run": int(cands.segments.sum()),
        "compute_x": float(cands.segments.sum() / max(int(segments[0]), 1)),
        "changed_answer": not np.array_equal(picked, tokens[0]),
        "plain_valid": plain_check.valid,
        "plain_correct": plain_check.correct,
    }
    return decode(0, picked), report
