"""Read puzzle files into rows to evaluate (:class:`DirectData`), without building a dataset first.

* Sudoku: a line file (one puzzle per line; solutions from ``--solutions`` or ``<stem>.solutions.txt`` beside it,
  else solved exactly) or a Sudoku-Extreme CSV (``source,question,answer,rating``). Encoded with
  :mod:`hrm.data.sudoku` (token = digit + 1, puzzle identifier 0). Besides exact match against the stored
  solution, ``valid_solution_rate`` counts predictions that are complete valid grids agreeing with the givens
  (the right notion for puzzles with several solutions).
* ARC: a JSON file ``{task_id: {"train": [...], "test": [...]}}``. Every test input is encoded once per
  augmented view that the checkpoint knows for its task (its identifiers name ``<task>`` and its variants), so
  the usual voting applies; a task the checkpoint has never seen runs once, unaugmented, with the blank puzzle
  identifier (its puzzle embedding is untrained; see docs/evaluation.md).

Both check the puzzle's vocabulary and sequence length against the checkpoint and raise a one-line UserError
with the fix when they differ. Reading and encoding are :mod:`hrm.data`'s (``sudoku.read_puzzle_lines``,
``read_sudoku_csv``, ``arc.read_task_file``); batches of the rows come from
:func:`hrm.evaluation.batches.direct_batches`, Sudoku validity from :mod:`hrm.evaluation.sudoku_check`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hrm.errors import UserError
from hrm.model.protocol import ReasoningModel


@dataclass
class DirectData:
    """Rows encoded on the fly: ``inputs``/``labels`` [N, seq_len] tokens, ``puzzle_identifiers`` [N].

    Tokens are stored compactly (uint8, as datasets are); label value ``ignore_label_id`` becomes -100 (not
    supervised) when batches are made.
    """

    kind: str  # "sudoku" | "arc"
    source: str
    inputs: np.ndarray
    labels: np.ndarray | None
    puzzle_identifiers: np.ndarray
    vocab_size: int
    seq_len: int
    ignore_label_id: int | None = None
    size: int = 0  # Sudoku side n
    notes: list[str] = field(default_factory=list)
    arc_order: dict[str, list[str]] = field(default_factory=dict)  # ARC: task -> test-input keys in file order
    arc_views: Any = None  # ARC: puzzle identifier -> ViewInfo

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def check_direct(model: ReasoningModel, data: DirectData) -> None:
    """The checkpoint must have been trained on this puzzle type: same vocabulary and sequence length."""
    cfg = model.config
    what = "Sudoku" if data.kind == "sudoku" else "ARC"
    shape = f" ({data.size}×{data.size})" if data.kind == "sudoku" else ""
    if data.vocab_size != cfg.vocab_size or data.seq_len != cfg.seq_len:
        raise UserError(
            f"{data.source}: {what}{shape} puzzles need vocab_size {data.vocab_size} and seq_len {data.seq_len}, "
            f"but the checkpoint's model has vocab_size {cfg.vocab_size} and seq_len {cfg.seq_len}; use a "
            f"checkpoint trained on {what}{shape} puzzles (or --data with the model's own dataset)"
        )


# ---------------------------------------------------------------------------------------------------------------
# Sudoku


def load_sudoku_lines(
    path: str | Path,
    solutions: str | Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    model: ReasoningModel | None = None,
) -> DirectData:
    """A puzzle line file; solutions from ``solutions``, else ``<stem>.solutions.txt`` beside it, else solved.

    With ``model``, the board size read from the first line is checked against it before anything is solved.
    """
    from hrm.data import sudoku

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such Sudoku file; give a file with one puzzle per line (81 characters)")
    if model is not None:
        n = _first_line_side(path)
        if n is not None:
            check_direct(
                model,
                DirectData(
                    kind="sudoku",
                    source=str(path),
                    inputs=np.zeros((0, n * n)),
                    labels=None,
                    puzzle_identifiers=np.zeros(0),
                    vocab_size=sudoku.vocab_size(n),
                    seq_len=n * n,
                    size=n,
                ),
            )
    notes = []
    if solutions is None:
        beside = path.with_name(path.stem + ".solutions.txt")
        if beside.is_file() and beside != path:
            solutions = beside
            notes.append(f"solutions from {beside.name}")
        else:
            notes.append("no solutions file: labels are the unique solutions found by the exact solver")
    elif not Path(solutions).is_file():
        raise UserError(f"{solutions}: no such solutions file (line i must be the solution of puzzle i)")
    # Without solutions, only the puzzles that will be evaluated are solved.
    rows = sudoku.read_puzzle_lines(path, solutions, show_progress=progress, limit=limit)
    return _sudoku_data(rows, str(path), None, notes)


def _first_line_side(path: Path) -> int | None:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            cells = "".join(line.split())
            if cells:
                n = math.isqrt(len(cells))
                return n if n * n == len(cells) and n > 1 else None
    return None


def load_sudoku_csv(path: str | Path, limit: int | None = None, min_difficulty: int | None = None) -> DirectData:
    """A Sudoku-Extreme CSV (``source,question,answer,rating``)."""
    from hrm.data import sudoku

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such CSV file; expected the Sudoku-Extreme format source,question,answer,rating")
    return _sudoku_data(sudoku.read_sudoku_csv(path, min_difficulty), str(path), limit, [])


def _sudoku_data(rows: Any, source: str, limit: int | None, notes: list[str]) -> DirectData:
    from hrm.data import sudoku

    if limit is not None:
        rows = rows.take(np.arange(min(int(limit), len(rows))))
    if len(rows) == 0:
        raise UserError(f"{source}: no puzzles to evaluate")
    n = rows.n
    inputs = sudoku.encode(rows.puzzles)
    labels = sudoku.encode(rows.solutions)
    return DirectData(
        kind="sudoku",
        source=source,
        inputs=inputs,
        labels=labels,
        puzzle_identifiers=np.zeros(len(rows), dtype=np.int64),
        vocab_size=sudoku.vocab_size(n),
        seq_len=n * n,
        size=n,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------------------------
# ARC


def load_arc_json(
    path: str | Path,
    identifiers: Sequence[str] | None,
    num_puzzle_identifiers: int,
    tasks: Sequence[str] | None = None,
    progress: bool = False,
) -> DirectData:
    """Encode every test input of every task in an ARC JSON file, once per augmented view the model knows.

    The file maps task ids to tasks (or is one task, named by the file stem), read by
    :func:`hrm.data.arc.read_task_file`. Only the test pairs are used (the model saw the demonstrations in
    training, through the task's puzzle embeddings); a test pair without an ``output`` is predicted but not scored.
    """
    from hrm.data import arc

    path = Path(path)
    if not path.is_file():
        raise UserError(f'{path}: no such ARC JSON file; expected {{task_id: {{"train": [...], "test": [...]}}}}')
    by_id = {task.task_id: task for task in arc.read_task_file(path)}
    if not by_id:
        raise UserError(f"{path}: expected a JSON object mapping task ids to tasks")
    if tasks:
        missing = [t for t in tasks if t not in by_id]
        if missing:
            raise UserError(f"{path}: no task(s) {', '.join(missing[:5])} in the file; check --tasks")
        by_id = {t: by_id[t] for t in tasks}
    return encode_arc_tasks(list(by_id.values()), str(path), identifiers, num_puzzle_identifiers, progress=progress)


def encode_arc_tasks(
    tasks: Sequence[Any],
    source: str,
    identifiers: Sequence[str] | None,
    num_puzzle_identifiers: int,
    progress: bool = False,
) -> DirectData:
    """Rows for ``tasks`` (:class:`hrm.data.arc.ArcTask`): each test input under each variant of its task in
    ``identifiers``."""
    from hrm.data import arc
    from hrm.data.augment import arc_augment
    from hrm.evaluation.arc_vote import grid_key, make_view

    wanted = {task.task_id for task in tasks}
    variants: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    for pid, name in enumerate(identifiers or []):
        if pid == 0 or pid >= num_puzzle_identifiers:
            continue
        task_id, tid, cmap = arc.parse_variant_name(name)
        if task_id in wanted:
            variants.setdefault(task_id, []).append((pid, tid, cmap))
    inputs, labels, pids = [], [], []
    views: dict[tuple[int, str], Any] = {}
    order: dict[str, list[str]] = {}
    unknown = []
    unlabelled = 0
    for task in tqdm(tasks, desc="encoding ARC tasks", unit="task", disable=not progress, leave=False):
        task_id = task.task_id
        if not task.test:
            raise UserError(f"{source}: task {task_id!r} has no test pairs")
        task_views = variants.get(task_id)
        if not task_views:
            unknown.append(task_id)
            task_views = [(0, 0, np.arange(10, dtype=np.uint8))]
        order[task_id] = []
        for grid_in, grid_out in task.test:
            unlabelled += grid_out is None
            order[task_id].append(grid_key(grid_in))
            for pid, tid, cmap in task_views:
                inputs.append(arc.encode_grid(arc_augment(grid_in, tid, cmap)))
                if grid_out is None:
                    labels.append(np.full(arc.SEQ_LEN, arc.PAD_ID, np.uint8))  # all PAD: nothing supervised
                else:
                    labels.append(arc.encode_grid(arc_augment(grid_out, tid, cmap)))
                pids.append(pid)
                views[(pid, task_id)] = make_view(task_id, tid, cmap)
    # Unknown tasks all share identifier 0, so the lookup is by (identifier, row's task): keep a row -> task list.
    row_task = np.repeat(list(order), [len(order[t]) * max(1, len(variants.get(t, []))) for t in order])
    notes = []
    if unknown:
        notes.append(
            f"{len(unknown)} task(s) unknown to the checkpoint (e.g. {unknown[0]}): run once, unaugmented, "
            "with the blank puzzle identifier (an untrained embedding)"
        )
    if unlabelled:
        notes.append(f"{unlabelled} test input(s) without an output: predicted, not scored")
    data = DirectData(
        kind="arc",
        source=source,
        inputs=np.stack(inputs),
        labels=np.stack(labels),
        puzzle_identifiers=np.asarray(pids, np.int64),
        vocab_size=arc.VOCAB_SIZE,
        seq_len=arc.SEQ_LEN,
        ignore_label_id=arc.PAD_ID,
        notes=notes,
        arc_order=order,
    )
    data.arc_views = _RowViews(views, row_task)
    return data


class _RowViews:
    """Puzzle identifier → view for direct ARC rows; identifier 0 (unknown tasks) resolves by the row's task."""

    def __init__(self, views: dict[tuple[int, str], Any], row_task: np.ndarray):
        self.by_pid = {pid: v for (pid, _), v in views.items() if pid != 0}
        self.blank = {task: v for (pid, task), v in views.items() if pid == 0}
        self.row_task = row_task

    def __call__(self, pid: int, row: int | None = None) -> Any:
        if pid != 0:
            return self.by_pid.get(pid)
        if row is None:
            return None
        return self.blank.get(str(self.row_task[row]))
