"""ARC scoring as the reference's ``arc_eval.ipynb`` does it (spec §5.2).

For every row (one augmented view of one test input of one task):

1. decode the 30×30 canvas: crop to the largest top-left rectangle of colour tokens, subtract 2;
2. undo the view's augmentation: inverse dihedral transform, then the inverse colour permutation;
3. hash the de-augmented prediction and group by (task, de-augmented test input).

Candidates of one test input are ranked by (votes, mean sigmoid(q_halt)), both descending; equal keys keep the
order in which the candidates first appeared. A task counts as solved at pass@K only if **every** one of its test
inputs has its true output among its top K candidates; the denominator is the number of tasks scored.

:class:`ArcVoter` accumulates candidates batch by batch (memory: one grid per distinct candidate), so it can be
fed by :func:`hrm.evaluation.evaluate.evaluate_batches` for every segment cap of a scaling sweep.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm.runtime.files import check_output_file, write_text_atomic

DEFAULT_KS = (1, 2, 10)
ALL_KS = (1, 2, 10, 100, 1000)

Grid = np.ndarray  # int [rows, cols], colours 0..9


def grid_key(grid: Grid) -> str:
    """A stable hash of a grid (shape and values)."""
    grid = np.ascontiguousarray(np.asarray(grid, dtype=np.uint8))
    h = hashlib.sha256(f"{grid.shape[0]}x{grid.shape[1] if grid.ndim == 2 else 0}:".encode())
    h.update(grid.tobytes())
    return h.hexdigest()


@dataclass
class Candidate:
    grid: Grid
    votes: int = 0
    q_sum: float = 0.0

    @property
    def mean_q(self) -> float:
        return self.q_sum / self.votes if self.votes else 0.0


@dataclass
class TestInput:
    """One test input of one task: its voted candidates and (if known) its solution."""

    input_grid: Grid | None = None
    solution_key: str | None = None
    solution: Grid | None = None
    candidates: dict[str, Candidate] = field(default_factory=dict)  # insertion order = first appearance
    solution_from_identity: bool = False

    def ranked(self) -> list[tuple[str, Candidate]]:
        # Stable sort: equal (votes, mean q) keep their first-appearance order.
        return sorted(self.candidates.items(), key=lambda kv: (kv[1].votes, kv[1].mean_q), reverse=True)


@dataclass
class ArcScore:
    """Voted ARC results. ``pass_at[K]`` is the fraction of ``num_tasks`` solved with K attempts per test input."""

    pass_at: dict[int, float]
    num_tasks: int
    num_test_inputs: int
    solved: dict[int, list[str]] = field(default_factory=dict)
    unscored_tasks: list[str] = field(default_factory=list)  # tasks with a test input whose solution is unknown

    def as_dict(self) -> dict[str, Any]:
        return {
            "pass_at": {str(k): v for k, v in sorted(self.pass_at.items())},
            "num_tasks": self.num_tasks,
            "num_test_inputs": self.num_test_inputs,
            "solved": {str(k): v for k, v in sorted(self.solved.items())},
            "unscored_tasks": self.unscored_tasks,
        }


class ArcVoter:
    """Collects de-augmented candidates per (task, test input) and scores pass@K."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, TestInput]] = {}

    def test_input(self, task_id: str, input_grid: Grid) -> TestInput:
        key = grid_key(input_grid)
        entries = self.tasks.setdefault(task_id, {})
        if key not in entries:
            entries[key] = TestInput(input_grid=np.asarray(input_grid))
        return entries[key]

    def add(
        self,
        task_id: str,
        input_grid: Grid,
        prediction: Grid,
        q_halt_prob: float,
        solution: Grid | None = None,
        identity_view: bool = False,
    ) -> None:
        """One vote: a de-augmented ``prediction`` for the de-augmented ``input_grid`` of ``task_id``.

        ``solution`` (de-augmented label) sets the ground truth; one from the identity view (the unaugmented
        original, as the reference uses) takes precedence over one from an augmented view.
        """
        entry = self.test_input(task_id, input_grid)
        if solution is not None and (entry.solution is None or (identity_view and not entry.solution_from_identity)):
            entry.solution = np.asarray(solution)
            entry.solution_key = grid_key(solution)
            entry.solution_from_identity = identity_view
        key = grid_key(prediction)
        cand = entry.candidates.get(key)
        if cand is None:
            cand = entry.candidates[key] = Candidate(grid=np.asarray(prediction))
        cand.votes += 1
        cand.q_sum += float(q_halt_prob)

    def set_solution(self, task_id: str, input_grid: Grid, solution: Grid) -> None:
        entry = self.test_input(task_id, input_grid)
        entry.solution = np.asarray(solution)
        entry.solution_key = grid_key(solution)
        entry.solution_from_identity = True

    def score(self, ks: Sequence[int] = DEFAULT_KS) -> ArcScore:
        """pass@K, all-or-nothing over each task's test inputs; tasks with an unknown solution are left out."""
        ks = sorted(set(int(k) for k in ks))
        solved: dict[int, list[str]] = {k: [] for k in ks}
        scored = 0
        unscored = []
        n_inputs = 0
        for task_id, entries in self.tasks.items():
            if any(e.solution_key is None for e in entries.values()):
                unscored.append(task_id)
                continue
            scored += 1
            n_inputs += len(entries)
            ranks = []
            for e in entries.values():
                keys = [k for k, _ in e.ranked()]
                ranks.append(keys.index(e.solution_key) + 1 if e.solution_key in keys else math.inf)
            worst = max(ranks) if ranks else math.inf
            for k in ks:
                if worst <= k:
                    solved[k].append(task_id)
        return ArcScore(
            pass_at={k: (len(solved[k]) / scored if scored else 0.0) for k in ks},
            num_tasks=scored,
            num_test_inputs=n_inputs,
            solved=solved,
            unscored_tasks=unscored,
        )

    def submission(self, order: dict[str, list[str]] | None = None, attempts: int = 2) -> dict[str, list[dict]]:
        """Predictions in the ARC Prize submission shape ``{task: [{"attempt_1": grid, "attempt_2": grid}, ...]}``.

        One entry per test input, in ``order[task]`` (grid keys of the test inputs) when given, else in first-
        appearance order. Missing attempts repeat the best one; an empty prediction becomes ``[[0]]``.
        """
        out: dict[str, list[dict]] = {}
        for task_id, entries in self.tasks.items():
            keys = order.get(task_id, list(entries)) if order else list(entries)
            rows = []
            for key in keys:
                entry = entries.get(key)
                ranked = [c.grid for _, c in entry.ranked()] if entry is not None else []
                ranked = [g for g in ranked if g.size > 0] or [np.zeros((1, 1), dtype=np.int64)]
                rows.append({f"attempt_{i + 1}": _as_list(ranked[min(i, len(ranked) - 1)]) for i in range(attempts)})
            out[task_id] = rows
        return out

    def details(self, top: int = 10) -> dict[str, list[dict]]:
        """Per task and test input: the top candidates with votes and mean halt probability, and the solution."""
        out: dict[str, list[dict]] = {}
        for task_id, entries in self.tasks.items():
            rows = []
            for e in entries.values():
                ranked = e.ranked()
                rank = next((i + 1 for i, (k, _) in enumerate(ranked) if k == e.solution_key), None)
                rows.append(
                    {
                        "solution_rank": rank,
                        "num_candidates": len(ranked),
                        "votes": sum(c.votes for _, c in ranked),
                        "candidates": [
                            {"grid": _as_list(c.grid), "votes": c.votes, "mean_q_halt": round(c.mean_q, 6)}
                            for _, c in ranked[:top]
                        ],
                        "solution": None if e.solution is None else _as_list(e.solution),
                    }
                )
            out[task_id] = rows
        return out


def _as_list(grid: Grid) -> list[list[int]]:
    return [[int(v) for v in row] for row in np.asarray(grid)]


def write_submission(path: str | os.PathLike, submission: dict[str, list[dict]]) -> Path:
    path = check_output_file(path, "submission")
    write_text_atomic(path, json.dumps(submission, separators=(",", ":")) + "\n")
    return path


# ---------------------------------------------------------------------------------------------------------------
# From model rows to votes


@dataclass(frozen=True)
class ViewInfo:
    """How to undo one puzzle identifier's augmentation: its task and an inverse transform for grids."""

    task_id: str
    invert: Callable[[Grid], Grid]
    identity: bool


# (puzzle identifier, row index or None) -> the row's view, or None to skip the row
ViewLookup = Callable[[int, int | None], ViewInfo | None]


class ArcRowVoter:
    """Feeds model outputs (canvas rows) into one :class:`ArcVoter` per segment cap.

    ``views(puzzle_identifier, row)`` gives a row's :class:`ViewInfo` (``row``: the row's index in the evaluated
    data, or None; rows whose view is None, such as padding, are skipped). ``decode`` turns a canvas row (token
    ids) into a colour grid (default: the reference's crop, :func:`hrm.data.arc.decode_grid`).
    """

    def __init__(self, views: ViewLookup, decode: Callable[[np.ndarray], Grid] | None = None):
        from hrm.data.arc import decode_grid

        self.views = views
        self.decode = decode if decode is not None else decode_grid
        self.voters: dict[int, ArcVoter] = {}

    def voter(self, cap: int) -> ArcVoter:
        return self.voters.setdefault(cap, ArcVoter())

    def __call__(self, cap: int, batch: Any, outputs: Any) -> None:
        """The :data:`hrm.evaluation.evaluate.RowConsumer` interface."""
        voter = self.voter(cap)
        valid = batch.valid.cpu().numpy() if batch.valid is not None else np.ones(batch.size, dtype=bool)
        index = batch.index.cpu().numpy() if batch.index is not None else None
        inputs = batch.inputs.cpu().numpy()
        labels = batch.labels.cpu().numpy() if batch.labels is not None else None
        pids = batch.puzzle_identifiers.cpu().numpy()
        preds = outputs.predictions.cpu().numpy()
        q_prob = 1.0 / (1.0 + np.exp(-outputs.q_halt_logits.float().cpu().numpy().astype(np.float64)))
        for i in np.flatnonzero(valid):
            view = self.views(int(pids[i]), None if index is None else int(index[i]))
            if view is None:
                continue
            input_grid = view.invert(self.decode(inputs[i]))
            solution = None
            if labels is not None and bool((labels[i] >= 0).any()):
                solution = view.invert(self.decode(np.where(labels[i] < 0, 0, labels[i])))
            voter.add(
                view.task_id,
                input_grid,
                view.invert(self.decode(preds[i])),
                float(q_prob[i]),
                solution=solution,
                identity_view=view.identity,
            )

    def scores(self, ks: Sequence[int] = DEFAULT_KS) -> dict[int, ArcScore]:
        return {cap: v.score(ks) for cap, v in sorted(self.voters.items())}


# ---------------------------------------------------------------------------------------------------------------
# Which augmentation each puzzle identifier carries


def make_view(task_id: str, tid: int, colour_map: np.ndarray) -> ViewInfo:
    """The :class:`ViewInfo` of a variant made by dihedral ``tid`` and ``colour_map`` (both undone on invert)."""
    from hrm.data.augment import arc_invert

    colour_map = np.asarray(colour_map, dtype=np.uint8)
    if int(tid) == 0 and bool(np.all(colour_map == np.arange(10))):
        return ViewInfo(task_id=task_id, invert=_identity, identity=True)
    transform = int(tid)

    def invert(grid: Grid) -> Grid:
        return arc_invert(np.asarray(grid), transform, colour_map)

    return ViewInfo(task_id=task_id, invert=invert, identity=False)


def _identity(grid: Grid) -> Grid:
    return np.asarray(grid)


def views_from_identifiers(identifiers: Sequence[str]) -> ViewLookup:
    """Puzzle identifier → :class:`ViewInfo` parsed from its name (``<task>_t<tid>_<map>`` or ``<task>``).

    This is how the reference's evaluation recovers augmentations, and works for datasets built by either code.
    Identifier 0 (the blank, used by padding rows) maps to None.
    """
    from hrm.data.arc import parse_variant_name

    cache: dict[int, ViewInfo | None] = {}

    def lookup(pid: int, row: int | None = None) -> ViewInfo | None:
        if pid not in cache:
            cache[pid] = make_view(*parse_variant_name(identifiers[pid])) if 0 < pid < len(identifiers) else None
        return cache[pid]

    return lookup


def views_from_records(variants: Any) -> ViewLookup:
    """Puzzle identifier → :class:`ViewInfo` from an hrm build's augmentation records
    (:class:`hrm.data.arc.ArcVariants`, ``<root>/augmentations/``)."""
    cache: dict[int, ViewInfo | None] = {}
    num = int(variants.puzzle_task.shape[0])

    def lookup(pid: int, row: int | None = None) -> ViewInfo | None:
        if pid not in cache:
            if not 0 <= pid < num or int(variants.puzzle_task[pid]) < 0:
                cache[pid] = None
            else:
                tid, cmap = variants.transform(pid)
                cache[pid] = make_view(variants.task_id(pid), tid, cmap)
        return cache[pid]

    return lookup
