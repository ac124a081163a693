"""User puzzles for ``hrm solve``: read, detect the kind, parse, encode for a model, decode, and check answers.

A puzzle is given as

* a Sudoku: a string of n² characters (n×n board, n ∈ {4, 6, 8, 9}; ``1``–``n`` givens, ``.`` or ``0`` blanks,
  whitespace ignored) or a file holding one;
* a maze: a text file, one row per line, in the reference's charset ``#`` wall, space open, ``S`` start, ``G``
  goal (``o`` path marks are not allowed in an input);
* an ARC task: a JSON file (or text) ``{"train": [{"input": grid, "output": grid}, ...], "test": [{"input":
  grid, "output"?: grid}, ...]}``, or a ``{"<task id>": task}`` object (the shared-data files); grids are lists
  of rows of ints 0–9, 1×1 to 30×30.

Parsing, token encodings and answer checks reuse :mod:`hrm.data.sudoku`, :mod:`hrm.data.maze` and
:mod:`hrm.data.arc`; this module adds what a single user-supplied puzzle needs beyond a dataset build: reading
from a path, a string or stdin, detecting the kind, and one-line :class:`~hrm.errors.UserError` messages for
every bad input (never a traceback).

Grids as users see them (``Puzzle.grid``, answers):

* Sudoku: int (n, n), 0 = blank, 1..n digits;
* maze: int (n, n) tokens of :mod:`hrm.data.maze` (1 ``#``, 2 open, 3 ``S``, 4 ``G``, 5 ``o``);
* ARC: int (h, w) of colours 0..9.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hrm.data import arc, maze, sudoku
from hrm.data.arc import ArcPair, ArcTask
from hrm.errors import UserError

PuzzleKind = Literal["sudoku", "maze", "arc"]
KINDS: tuple[str, ...] = ("sudoku", "maze", "arc")
MAX_INPUT_BYTES = 64 * 1024 * 1024

# Per-cell status of an answer, used to colour pictures and text.
KEPT, RIGHT, WRONG, UNKNOWN = 0, 1, 2, 3


@dataclass
class Puzzle:
    """One puzzle to solve. ``grid`` is the input (see the module docstring for its type per kind)."""

    kind: PuzzleKind
    grid: np.ndarray
    source: str = "<input>"
    task: ArcTask | None = None  # ARC only
    test_index: int = 0  # ARC only: which test input of the task ``grid`` is
    expected: np.ndarray | None = None  # ARC only: the test output, when the task file holds it

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.grid.shape[0]), int(self.grid.shape[1])

    def describe(self) -> str:
        h, w = self.shape
        if self.kind == "sudoku":
            return f"{h}×{w} Sudoku with {int(np.count_nonzero(self.grid))} givens"
        if self.kind == "maze":
            return f"{h}×{w} maze"
        assert self.task is not None
        name = f"ARC task {self.task.task_id}" if self.task.task_id else "ARC task"
        return (
            f"{name}, test input {self.test_index + 1} of {len(self.task.test)} ({h}×{w}), "
            f"{len(self.task.train)} demonstration pairs"
        )


# ---------------------------------------------------------------------------------------------------------------
# Reading and detecting


def read_source(puzzle: str | os.PathLike) -> tuple[str, str, str | None]:
    """``(text, source, file_stem)`` of a puzzle argument: an existing file, ``-`` (stdin) or the text itself."""
    if isinstance(puzzle, os.PathLike) or (isinstance(puzzle, str) and _is_file(puzzle)):
        path = Path(puzzle)
        try:
            if path.stat().st_size > MAX_INPUT_BYTES:
                raise UserError(f"{path}: larger than {MAX_INPUT_BYTES // 2**20} MB; is this really one puzzle?")
            data = path.read_bytes()
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise UserError(f"{path}: is a directory; pass a puzzle file or a Sudoku string") from None
        except OSError as exc:
            raise UserError(f"{path}: cannot read ({exc.strerror})") from None
        return _decode(data, str(path)), str(path), path.stem
    if not isinstance(puzzle, str):
        raise UserError(f"a puzzle must be a string, a path, a grid or a task dict, got {type(puzzle).__name__}")
    if puzzle == "-":
        try:
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        except (OSError, AttributeError, ValueError) as exc:
            raise UserError(f"cannot read the puzzle from stdin ({exc})") from None
        return _decode(data, "<stdin>"), "<stdin>", None
    stripped = puzzle.strip()
    if (
        ("/" in stripped or os.sep in stripped or stripped.lower().endswith((".json", ".txt")))
        and not stripped.startswith(("{", "["))
        and "\n" not in stripped
    ):
        if os.path.isdir(stripped):
            raise UserError(f"{stripped}: is a directory; pass a puzzle file or a Sudoku string")
        raise UserError(f"{stripped}: no such file")
    return puzzle, "<string>", None


def _at(source: str, line: int | None = None) -> str:
    """Error-message prefix naming a file (``path: `` or ``path:line: ``); nothing for strings and grids."""
    if source.startswith("<"):
        return "" if line is None else f"line {line}: "
    return f"{source}: " if line is None else f"{source}:{line}: "


def _is_file(text: str) -> bool:
    try:
        return len(text) < 4096 and "\n" not in text and os.path.isfile(text)
    except (OSError, ValueError):
        return False


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise UserError(f"{_at(source)}larger than {MAX_INPUT_BYTES // 2**20} MB; is this really one puzzle?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{_at(source)}not UTF-8 text (byte {exc.start}); pass a text or JSON puzzle file") from None


def detect_kind(text: str) -> PuzzleKind:
    """Guess the kind of a puzzle text: JSON → ARC; any of ``#``, ``S``, ``G`` → maze; else Sudoku."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        return "arc"
    if any(ch in stripped for ch in "#SG"):
        return "maze"
    return "sudoku"


# ---------------------------------------------------------------------------------------------------------------
# Sudoku

SUDOKU_CHARS = frozenset("0123456789.")


def parse_sudoku_text(text: str, source: str = "<string>", size: int | None = None) -> Puzzle:
    """A Sudoku puzzle from text; UserError for a wrong length, a bad character or contradictory givens.

    ``size`` (the board side the model expects) makes a wrong length say what was expected.
    """
    chars = "".join(text.split())
    n = math.isqrt(len(chars))
    if n * n != len(chars) or n not in sudoku.TEXT_SIZES:
        if size is not None:
            raise UserError(
                f"{_at(source)}a {size}×{size} Sudoku needs {size * size} characters ('.' or '0' for "
                f"blanks), got {len(chars)}"
            )
        raise UserError(
            f"{_at(source)}a Sudoku needs n² characters for an n×n board (16, 36, 64 or 81), got {len(chars)}"
        )
    bad = next((i for i, ch in enumerate(chars) if ch not in SUDOKU_CHARS), None)
    if bad is not None:
        ch = chars[bad]
        raise UserError(
            f"{_at(source)}bad character {ch!r} at position {bad + 1} of a Sudoku; use digits for "
            "givens and '.' or '0' for blanks"
        )
    grid = sudoku.parse_sudoku(chars)
    return sudoku_puzzle(grid, source)


def sudoku_puzzle(grid: Any, source: str = "<grid>") -> Puzzle:
    """A Sudoku puzzle from an (n, n) grid of digits (0 blank); checks the givens do not contradict."""
    try:
        g = np.asarray(grid)
    except (ValueError, TypeError):
        raise UserError(f"{_at(source)}a Sudoku grid must be a square list of rows of digits") from None
    if g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] not in sudoku.TEXT_SIZES:
        raise UserError(f"{_at(source)}a Sudoku grid must be 4×4, 6×6, 8×8 or 9×9, got shape {tuple(g.shape)}")
    if g.dtype.kind not in "iu" and not (g.dtype.kind == "f" and np.all(np.isfinite(g)) and np.all(g == g.round())):
        raise UserError(f"{_at(source)}Sudoku cells must be integers (0 for blank)")
    n = g.shape[0]
    if g.size and (g.min() < 0 or g.max() > n):
        raise UserError(f"{_at(source)}Sudoku cells must be 0 (blank) or 1..{n}")
    g = g.astype(np.int64)
    bad, messages = sudoku.givens_conflict(g.reshape(1, -1), n)
    if bad[0]:
        raise UserError(f"{_at(source)}contradictory givens: {messages[0]}")
    if not sudoku.solve(g, max_solutions=1):
        raise UserError(f"{_at(source)}contradictory givens: no completion satisfies the Sudoku rules")
    return Puzzle(kind="sudoku", grid=g, source=source)


def sudoku_solution(puzzle: Puzzle) -> np.ndarray | None:
    """The unique solution, or None when the puzzle has several."""
    found = sudoku.solve(puzzle.grid, max_solutions=2)
    return found[0].astype(np.int64) if len(found) == 1 else None


# ---------------------------------------------------------------------------------------------------------------
# Maze

MAZE_CHARS = frozenset(maze.CHARSET + ".")


def parse_maze_text(text: str, source: str = "<string>") -> Puzzle:
    """A maze from text rows over ``# SGo`` (``.`` also means open). One square maze; exactly one S and one G.

    Path marks ``o`` are accepted: such a maze counts as solved, the marks must form a shortest S→G path, and they
    become the expected answer; the input given to the model is the maze without them.
    """
    rows = [line.rstrip("\r") for line in text.split("\n")]
    # Only empty lines separate or surround mazes: a line of spaces is a row of open cells.
    while rows and not rows[0]:
        rows.pop(0)
    while rows and not rows[-1]:
        rows.pop()
    if not rows:
        raise UserError(f"{_at(source)}empty maze; write one row per line over '# SGo'")
    if any(not r for r in rows):
        raise UserError(f"{_at(source)}a blank line inside the maze; hrm solve takes one maze per file")
    for i, row in enumerate(rows, start=1):
        bad = next((ch for ch in row if ch not in MAZE_CHARS), None)
        if bad is not None:
            raise UserError(
                f"{_at(source)}line {i}: bad maze character {bad!r}; use '#' wall, ' ' or '.' open, 'S' start, 'G' goal"
            )
    n = len(rows)
    for i, row in enumerate(rows, start=1):
        if len(row) != n:
            raise UserError(
                f"{_at(source)}line {i} has {len(row)} characters but the maze has {n} rows; mazes must "
                "be square (write open cells as '.' if your editor strips trailing spaces)"
            )
    grid = maze.encode(rows).astype(np.int64)
    starts, goals = int((grid == maze.START).sum()), int((grid == maze.GOAL).sum())
    if starts != 1 or goals != 1:
        raise UserError(f"{_at(source)}a maze needs exactly one 'S' and one 'G' (found {starts} S and {goals} G)")
    expected = None
    if np.any(grid == maze.PATH):
        expected = grid
        grid = np.where(grid == maze.PATH, maze.OPEN, grid)
        why = maze.verify_label(grid, expected)
        if why is not None:
            raise UserError(
                f"{_at(source)}the maze has 'o' path marks that are not a shortest path ({why}); remove "
                "them to solve the maze"
            )
    _, distance = _maze_distances(grid)
    if distance < 0:
        raise UserError(f"{_at(source)}G cannot be reached from S through open cells; the maze has no solution")
    return Puzzle(kind="maze", grid=grid, source=source, expected=expected)


def _maze_distances(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """Distances (moves) from S plus to G through non-wall cells, per cell (-1 if unreachable); and S→G length."""
    n = grid.shape[0]
    flat = grid.reshape(-1)
    passable = flat != maze.WALL
    s = int(np.flatnonzero(flat == maze.START)[0])
    g = int(np.flatnonzero(flat == maze.GOAL)[0])
    from_s, _ = maze.bfs(passable, s, n)
    from_g, _ = maze.bfs(passable, g, n)
    a, b = np.asarray(from_s), np.asarray(from_g)
    total = np.where((a >= 0) & (b >= 0), a + b, -1).reshape(n, n)
    return total, int(from_s[g])


def maze_text(grid: np.ndarray) -> list[str]:
    """Rows of a token maze as text over ``# SGo`` (``?`` for anything else)."""
    return maze.decode(np.asarray(grid)).split("\n")


# ---------------------------------------------------------------------------------------------------------------
# ARC


def parse_arc_text(
    text: str, source: str = "<string>", task_id: str | None = None, test_index: int = 0, default_id: str | None = None
) -> Puzzle:
    """An ARC test input from task JSON text (see the module docstring).

    ``task_id`` picks a task from a ``{task id: task}`` file and names it; a one-task file is named ``task_id``,
    else ``default_id`` (the file name).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{_at(source, exc.lineno)}malformed ARC JSON ({exc.msg})") from None
    except RecursionError:
        raise UserError(f"{_at(source)}malformed ARC JSON (nested too deeply)") from None
    return arc_puzzle(data, source, task_id, test_index, default_id)


def arc_puzzle(
    data: Any, source: str = "<task>", task_id: str | None = None, test_index: int = 0, default_id: str | None = None
) -> Puzzle:
    """An ARC test input from a parsed task object (or a ``{task id: task}`` object); see :func:`parse_arc_text`."""
    if not isinstance(data, dict):
        raise UserError(
            f"{_at(source)}malformed ARC JSON: expected an object with 'train' and 'test' lists (or "
            f"{{task id: task}}), got {type(data).__name__}"
        )
    if "train" not in data and "test" not in data:
        if not data:
            raise UserError(f"{_at(source)}malformed ARC JSON: the object is empty")
        if task_id is None:
            if len(data) > 1:
                raise UserError(
                    f"{_at(source)}holds {len(data)} ARC tasks; choose one with --task-id (e.g. {next(iter(data))!r})"
                )
            task_id = next(iter(data))
        if task_id not in data:
            raise UserError(f"{_at(source)}no task {task_id!r} in this file ({len(data)} tasks)")
        data = data[task_id]
        if not isinstance(data, dict):
            raise UserError(
                f"{_at(source)}malformed ARC JSON: task {task_id!r} must be an object with 'train' and 'test' lists"
            )
    elif task_id is None:
        task_id = default_id
    task = ArcTask(
        task_id=task_id,
        role=None,
        source=source,
        train=_arc_pairs(data, "train", source, need_output=True),
        test=_arc_pairs(data, "test", source, need_output=False),
    )
    if not task.test:
        raise UserError(f"{_at(source)}the ARC task has no test input to solve")
    if not 0 <= test_index < len(task.test):
        raise UserError(
            f"{_at(source)}test index {test_index} is out of range; the task has {len(task.test)} test "
            f"input(s) (0..{len(task.test) - 1})"
        )
    pair = task.test[test_index]
    return Puzzle(kind="arc", grid=pair.input, source=source, task=task, test_index=test_index, expected=pair.output)


def _arc_pairs(data: dict, part: str, source: str, need_output: bool) -> list[ArcPair]:
    pairs = data.get(part)
    if not isinstance(pairs, list):
        raise UserError(f"{_at(source)}malformed ARC JSON: no '{part}' list of pairs")
    out = []
    for k, pair in enumerate(pairs):
        what = f"{part} pair {k + 1}"
        if not isinstance(pair, dict) or "input" not in pair:
            raise UserError(f"{_at(source)}malformed ARC JSON: {what} must be an object with an 'input' grid")
        if need_output and "output" not in pair:
            raise UserError(f"{_at(source)}malformed ARC JSON: {what} has no 'output' grid")
        grid_in = _arc_grid(pair["input"], source, f"{what} input")
        grid_out = _arc_grid(pair["output"], source, f"{what} output") if "output" in pair else None
        out.append(ArcPair(input=grid_in, output=grid_out))
    return out


def _arc_grid(raw: Any, source: str, what: str) -> np.ndarray:
    where = "ARC task" if source.startswith("<") else source
    try:
        return arc.parse_grid(raw, where, what).astype(np.int64)
    except (ValueError, TypeError):  # e.g. a row holding a nested list: not a grid of colours
        raise UserError(f"{where}: {what} must be a list of rows of integers 0-9") from None


def task_colours(puzzle: Puzzle) -> set[int]:
    """Colours an answer may plausibly use: those of the demonstration outputs and of the test input."""
    assert puzzle.task is not None
    colours = {int(c) for c in np.unique(puzzle.grid)}
    for pair in puzzle.task.train:
        assert pair.output is not None  # demonstration pairs always have an output (checked on parse)
        colours.update(int(c) for c in np.unique(pair.output))
    return colours


# ---------------------------------------------------------------------------------------------------------------
# Dispatch on the kind


def load_puzzle(
    puzzle: Any,
    kind: str | None = None,
    *,
    task_id: str | None = None,
    test_index: int = 0,
    sudoku_size: int | None = None,
) -> Puzzle:
    """Any accepted puzzle form → :class:`Puzzle`; with ``kind``, a puzzle of another kind is a UserError.

    Accepted: a :class:`Puzzle`; a path or string (file, ``-`` for stdin, a Sudoku string, maze text or ARC JSON
    text); a dict (an ARC task); a 2-D grid (list of rows or array): Sudoku digits, or maze rows as strings.
    """
    if kind is not None and kind not in KINDS:
        raise UserError(f"unknown puzzle kind {kind!r}; use one of {', '.join(KINDS)}")
    if isinstance(puzzle, Puzzle):
        parsed = puzzle
    elif isinstance(puzzle, dict):
        parsed = arc_puzzle(puzzle, "<task>", task_id, test_index)
    elif isinstance(puzzle, (str, os.PathLike)):
        text, source, stem = read_source(puzzle)
        if not text.strip():
            raise UserError(f"{_at(source)}empty puzzle: give a Sudoku string, maze rows or ARC task JSON")
        found = detect_kind(text)
        # A string for a Sudoku model is read as a Sudoku unless it is JSON (a typo such as 'S' then gets a
        # "bad character" error); everything else is read as what it looks like.
        typed = source == "<string>" and kind == "sudoku" and found != "arc"
        if kind is not None and found != kind and not typed:
            _kind_mismatch(found, kind, source)
        use = kind if kind is not None and typed else found
        if use == "arc":
            parsed = parse_arc_text(text, source, task_id, test_index, default_id=stem)
        elif use == "maze":
            parsed = parse_maze_text(text, source)
        else:
            parsed = parse_sudoku_text(text, source, sudoku_size)
    elif isinstance(puzzle, (list, tuple, np.ndarray)):
        if kind == "maze" or (len(puzzle) and all(isinstance(r, str) for r in puzzle)):
            if not all(isinstance(r, str) for r in puzzle):
                raise UserError("a maze grid must be a list of text rows over '# SGo'")
            parsed = parse_maze_text("\n".join(puzzle), "<grid>")
        elif kind == "arc":
            raise UserError(
                "an ARC puzzle needs its task (demonstration pairs and test input): pass the task JSON "
                "or a dict with 'train' and 'test'"
            )
        else:
            parsed = sudoku_puzzle(puzzle)
    else:
        raise UserError(f"a puzzle must be a string, a path, a grid or a task dict, got {type(puzzle).__name__}")
    if kind is not None and parsed.kind != kind:
        _kind_mismatch(parsed.kind, kind, parsed.source)
    return parsed


def _kind_mismatch(found: str, expected: str, source: str) -> None:
    what = "the puzzle" if source.startswith("<") else source
    raise UserError(
        f"{what} is {'an' if found == 'arc' else 'a'} {found} puzzle but the checkpoint was trained on "
        f"{expected} puzzles; pass a checkpoint trained on {found} with --checkpoint"
    )


def encode_puzzle(puzzle: Puzzle) -> np.ndarray:
    """The model input tokens [seq_len] (int64) of a puzzle, in the dataset's encoding."""
    if puzzle.kind == "sudoku":
        return sudoku.encode(puzzle.grid).astype(np.int64)
    if puzzle.kind == "maze":
        return np.asarray(puzzle.grid, dtype=np.int64).reshape(-1)
    return arc.encode_grid(puzzle.grid).astype(np.int64)


def decode_answer(puzzle: Puzzle, tokens: np.ndarray) -> np.ndarray:
    """Predicted tokens [seq_len] → an answer grid of the puzzle's kind."""
    tokens = np.asarray(tokens)
    if puzzle.kind == "sudoku":
        return sudoku.decode(tokens, puzzle.shape[0]).astype(np.int64)
    if puzzle.kind == "maze":
        return tokens.reshape(puzzle.shape).astype(np.int64)
    return arc.decode_grid(tokens).astype(np.int64)


def seq_len_for(puzzle: Puzzle) -> int:
    if puzzle.kind == "arc":
        return arc.SEQ_LEN
    h, w = puzzle.shape
    return h * w


def vocab_size_for(puzzle: Puzzle) -> int:
    if puzzle.kind == "sudoku":
        return sudoku.vocab_size(puzzle.shape[0])
    return maze.VOCAB_SIZE if puzzle.kind == "maze" else arc.VOCAB_SIZE


@dataclass
class AnswerCheck:
    valid: bool
    reason: str
    correct: bool | None = None  # None when no reference answer is known
    reference: np.ndarray | None = None  # the known answer (Sudoku: the unique solution; maze/ARC: given in input)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # every rule the answer breaks (empty when valid)


# How many broken rules a one-line reason names before it says "and N more" (the full list is in ``problems``).
REASON_RULES = 4


def rules_reason(problems: list[str]) -> str:
    """One line for an answer that breaks rules: ``the answer breaks 3 rules: a; b; c`` (the first few named)."""
    count = len(problems)
    named = "; ".join(problems[:REASON_RULES])
    more = f"; and {count - REASON_RULES} more" if count > REASON_RULES else ""
    return f"the answer breaks {count} rule{'s' if count > 1 else ''}: {named}{more}"


def check_answer(puzzle: Puzzle, answer: np.ndarray, reference: np.ndarray | None = None) -> AnswerCheck:
    """Is ``answer`` a valid answer to ``puzzle``? (and the right one, where a reference is known).

    ``problems`` lists every rule a Sudoku or maze answer breaks; ``reason`` says why it is valid, or names the
    broken rules (:func:`rules_reason`).
    """
    if puzzle.kind == "sudoku":
        return _check_sudoku(puzzle, answer, reference)
    if puzzle.kind == "maze":
        return _check_maze(puzzle, answer)
    return _check_arc(puzzle, answer)


def reference_answer(puzzle: Puzzle) -> np.ndarray | None:
    """The known answer: the unique Sudoku solution, or the answer given with a maze/ARC input."""
    if puzzle.kind == "sudoku":
        return sudoku_solution(puzzle)
    return puzzle.expected


def sudoku_problems(puzzle: Puzzle, answer: np.ndarray) -> list[str]:
    """Every rule a Sudoku answer breaks: blank cells (one rule: the grid is complete), each changed given, and
    each digit repeated in a row, column or box."""
    n = puzzle.shape[0]
    givens = puzzle.grid
    answer = np.asarray(answer)
    problems = []
    blanks = int((answer == 0).sum())
    if blanks:
        problems.append(f"{blanks} cell{'s' if blanks > 1 else ''} left blank")
    for r, c in np.argwhere((givens != 0) & (answer != givens)).tolist():
        if answer[r, c]:  # a given left blank is already counted among the blank cells
            problems.append(
                f"the given {int(givens[r, c])} at row {r + 1}, column {c + 1} was changed to {int(answer[r, c])}"
            )
    return problems + sudoku.unit_conflicts(answer, n)


def _check_sudoku(puzzle: Puzzle, answer: np.ndarray, reference: np.ndarray | None) -> AnswerCheck:
    n = puzzle.shape[0]
    givens = puzzle.grid
    notes = [] if reference is not None else ["the puzzle has more than one solution; any valid one counts"]
    problems = sudoku_problems(puzzle, answer)
    valid = not problems
    if valid:
        reason = f"every row, column and box holds 1-{n} once and all {int((givens != 0).sum())} givens are kept"
    else:
        reason = rules_reason(problems)
    correct = valid if reference is None else bool(np.array_equal(answer, reference))
    return AnswerCheck(valid=valid, reason=reason, correct=correct, reference=reference, notes=notes, problems=problems)


def _check_maze(puzzle: Puzzle, answer: np.ndarray) -> AnswerCheck:
    # label_problems speaks of a dataset "label"; here it is the model's answer.
    problems = [why.replace("the label", "the answer") for why in maze.label_problems(puzzle.grid, answer)]
    if not problems:
        _, length = _maze_distances(puzzle.grid)
        return AnswerCheck(
            valid=True,
            reason=f"the path joins S to G through open cells in {length} moves, the shortest possible",
            correct=True,
            reference=puzzle.expected,
        )
    return AnswerCheck(
        valid=False, reason=rules_reason(problems), correct=False, reference=puzzle.expected, problems=problems
    )


def _check_arc(puzzle: Puzzle, answer: np.ndarray) -> AnswerCheck:
    expected = puzzle.expected
    if answer.size == 0:
        valid, reason = False, "no grid: the top-left cell of the prediction is not a colour"
    else:
        extra = sorted({int(c) for c in np.unique(answer)} - task_colours(puzzle))
        h, w = answer.shape
        if extra:
            valid, reason = (
                False,
                (
                    f"{h}×{w} grid using colour{'s' if len(extra) > 1 else ''} "
                    f"{', '.join(map(str, extra))}, which no demonstration output nor the test input "
                    "uses"
                ),
            )
        else:
            valid, reason = True, f"well-formed {h}×{w} grid whose colours all occur in the task"
    correct = None if expected is None else bool(answer.shape == expected.shape and np.array_equal(answer, expected))
    notes = []
    if expected is not None and answer.size and answer.shape != expected.shape:
        notes.append(f"the expected output is {expected.shape[0]}×{expected.shape[1]}")
    problems = [] if valid else [reason]
    return AnswerCheck(valid=valid, reason=reason, correct=correct, reference=expected, notes=notes, problems=problems)


def cell_status(puzzle: Puzzle, answer: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Per cell of ``answer``: KEPT (an input cell carried over), RIGHT, WRONG or UNKNOWN (no reference)."""
    answer = np.asarray(answer)
    status = np.full(answer.shape, UNKNOWN, dtype=np.int8)
    if puzzle.kind == "sudoku":
        givens = puzzle.grid
        if reference is not None:
            status[:] = np.where(answer == reference, RIGHT, WRONG)
        else:
            n = puzzle.shape[0]
            units = sudoku.unit_indices(n)
            flat = answer.reshape(-1)
            clash = np.zeros(flat.shape, bool)
            for unit in units:
                vals = flat[unit]
                for i, cell in enumerate(unit):
                    clash[cell] |= vals[i] != 0 and int((vals == vals[i]).sum()) > 1
            status[:] = np.where(clash.reshape(answer.shape), WRONG, UNKNOWN)
        status[answer == 0] = WRONG
        status[(givens != 0) & (answer == givens)] = KEPT
        status[(givens != 0) & (answer != givens)] = WRONG
        return status
    if puzzle.kind == "maze":
        grid = puzzle.grid
        through, length = _maze_distances(grid)
        on_path = answer == maze.PATH
        status[:] = np.where(answer == grid, KEPT, WRONG)
        status[on_path] = np.where((grid[on_path] == maze.OPEN) & (through[on_path] == length), RIGHT, WRONG)
        return status
    if reference is not None and answer.shape == reference.shape:
        status[:] = np.where(answer == reference, RIGHT, WRONG)
    return status
