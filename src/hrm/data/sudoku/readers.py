"""Reading Sudoku sources: the Sudoku-Extreme CSV format (``source,question,answer,rating``) and puzzle line files
(n² characters per line, ``.`` or ``0`` blank) with an optional solutions file; every row checked."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrm.data.build import (
    progress,
)
from hrm.data.sudoku.grid import TEXT_SIZES, box_shape, consistent_with_givens, givens_conflict, solutions_valid
from hrm.data.sudoku.solver import solve
from hrm.errors import UserError


@dataclass
class SudokuRows:
    """Puzzles and solutions [N, n*n] (digits, 0 blank) with the 1-based source line of each."""

    n: int
    puzzles: np.ndarray
    solutions: np.ndarray
    lines: np.ndarray
    path: str = ""
    file_ids: np.ndarray | None = None  # per row: index into ``files`` (rows may come from several files)
    files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.file_ids is None:
            self.file_ids = np.zeros(len(self), np.int64)
            self.files = [Path(self.path).name]

    def __len__(self) -> int:
        return int(self.puzzles.shape[0])

    def take(self, index: np.ndarray) -> SudokuRows:
        assert self.file_ids is not None  # set in __post_init__
        return SudokuRows(
            self.n,
            self.puzzles[index],
            self.solutions[index],
            self.lines[index],
            self.path,
            self.file_ids[index],
            list(self.files),
        )


def _digits_from_strings(
    strings: list[str], lines: list[int], path: str, n: int, what: str, allow_blank: bool
) -> np.ndarray:
    """Vectorised: equal-length strings → [N, n*n] digits; UserError at the first bad row."""
    cells = n * n
    for s, line in zip(strings, lines):
        if len(s) != cells:
            raise UserError(
                f"{path}:{line}: {what} has {len(s)} characters, expected {cells} for {n}×{n}; "
                "one puzzle per line, row-major"
            )
    if not strings:
        return np.zeros((0, cells), np.uint8)
    try:
        raw = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).reshape(len(strings), cells)
    except UnicodeEncodeError:
        for s, line in zip(strings, lines):
            if not s.isascii():
                raise UserError(f"{path}:{line}: {what} contains a non-ASCII character") from None
        raise
    digits = raw.astype(np.int16) - ord("0")
    if allow_blank:
        digits[raw == ord(".")] = 0
    ok = (digits >= (0 if allow_blank else 1)) & (digits <= n)
    if not ok.all():
        r, c = np.argwhere(~ok)[0]
        ch = chr(raw[r, c])
        hint = f"use 1-{n} for givens and '.' or '0' for blanks" if allow_blank else f"use digits 1-{n}"
        raise UserError(f"{path}:{lines[r]}: bad character {ch!r} at cell {c + 1} in the {what}; {hint}")
    return digits.astype(np.uint8)


def _check_rows(rows: SudokuRows, check_uniqueness: bool = False) -> None:
    n = rows.n
    bad, msgs = givens_conflict(rows.puzzles, n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"{rows.path}:{rows.lines[i]}: contradictory givens: {msgs[0]}")
    valid = solutions_valid(rows.solutions, n)
    if not valid.all():
        i = int(np.flatnonzero(~valid)[0])
        raise UserError(f"{rows.path}:{rows.lines[i]}: the solution is not a valid {n}×{n} Sudoku grid")
    agree = consistent_with_givens(rows.puzzles, rows.solutions, n)
    if not agree.all():
        i = int(np.flatnonzero(~agree)[0])
        cell = int(np.flatnonzero((rows.puzzles[i] != 0) & (rows.puzzles[i] != rows.solutions[i]))[0])
        raise UserError(
            f"{rows.path}:{rows.lines[i]}: contradictory givens: the puzzle has {rows.puzzles[i, cell]} "
            f"at cell {cell + 1} but the solution has {rows.solutions[i, cell]}"
        )


def read_sudoku_csv(path: Path | str, min_difficulty: int | None = None) -> SudokuRows:
    """Read the Sudoku-Extreme CSV format: header ``source,question,answer,rating``, ``.`` for blanks."""
    path = Path(path)
    name = str(path)
    questions: list[str] = []
    answers: list[str] = []
    lines: list[int] = []
    try:
        f = open(path, newline="", encoding="utf-8-sig")  # tolerate a byte-order mark
    except OSError as exc:
        raise UserError(f"{name}: cannot open ({exc.strerror})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise UserError(f"{name}:1: empty file; expected a header source,question,answer,rating")
            cols = [h.strip().lower() for h in header]
            if "question" not in cols or "answer" not in cols:
                raise UserError(
                    f"{name}:1: header must name the columns source,question,answer,rating (got {','.join(header)})"
                )
            qi, ai = cols.index("question"), cols.index("answer")
            ri = cols.index("rating") if "rating" in cols else None
            if min_difficulty is not None and ri is None:
                raise UserError(f"{name}:1: --min-difficulty needs a 'rating' column")
            width = len(cols)
            for row in reader:
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != width:
                    raise UserError(f"{name}:{line}: {len(row)} columns, expected {width} ({','.join(header)})")
                if min_difficulty is not None:
                    assert ri is not None  # checked above: --min-difficulty needs a rating column
                    try:
                        rating = float(row[ri])
                    except ValueError:
                        raise UserError(f"{name}:{line}: rating {row[ri]!r} is not a number") from None
                    if rating < min_difficulty:
                        continue
                questions.append(row[qi].strip())
                answers.append(row[ai].strip())
                lines.append(line)
        except csv.Error as exc:
            raise UserError(f"{name}:{reader.line_num}: malformed CSV ({exc})") from None
        except UnicodeDecodeError:
            raise UserError(f"{name}: not UTF-8 text") from None
    n = _infer_size([len(q) for q in questions[:1]], name, lines[:1], what="question") if questions else 9
    rows = SudokuRows(
        n=n,
        puzzles=_digits_from_strings(questions, lines, name, n, "question", allow_blank=True),
        solutions=_digits_from_strings(answers, lines, name, n, "answer", allow_blank=False),
        lines=np.asarray(lines, dtype=np.int64),
        path=name,
    )
    _check_rows(rows)
    return rows


def _infer_size(lengths: list[int], name: str, lines: list[int], size: int | None = None, what: str = "puzzle") -> int:
    if size is not None:
        box_shape(size)
        return size
    length = lengths[0]
    n = math.isqrt(length)
    if n * n != length or n not in TEXT_SIZES:
        raise UserError(
            f"{name}:{lines[0]}: {what} has {length} characters, expected 81 (9×9) or 16, 36, 64 "
            "(4×4, 6×6, 8×8); one puzzle per line, row-major"
        )
    return n


def _read_lines(path: Path, what: str) -> tuple[list[str], list[int]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    strings, lines = [], []
    for i, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        strings.append("".join(s.split()))
        lines.append(i)
    return strings, lines


def read_puzzle_lines(
    path: Path | str,
    solutions_path: Path | str | None = None,
    size: int | None = None,
    show_progress: bool = False,
    limit: int | None = None,
) -> SudokuRows:
    """Read a puzzle line file (n² characters per line; ``.``/``0`` blank; CRLF, blank and ``#`` lines allowed).

    With ``solutions_path`` (line i = solution of puzzle i) the pairs are checked; without, each puzzle is solved
    and must have exactly one solution (UserError naming the line otherwise). ``limit`` keeps the first puzzles
    only (without a solutions file, only those are solved).
    """
    path = Path(path)
    strings, lines = _read_lines(path, "puzzle")
    if not strings:
        raise UserError(f"{path}: no puzzles found")
    if limit is not None and solutions_path is None:
        strings, lines = strings[:limit], lines[:limit]
    n = _infer_size([len(strings[0])], str(path), lines, size)
    puzzles = _digits_from_strings(strings, lines, str(path), n, "puzzle", allow_blank=True)
    bad, msgs = givens_conflict(puzzles, n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"{path}:{lines[i]}: contradictory givens: {msgs[0]}")
    if solutions_path is not None:
        sp = Path(solutions_path)
        sol_strings, sol_lines = _read_lines(sp, "solutions")
        if len(sol_strings) != len(strings):
            raise UserError(
                f"{sp}: {len(sol_strings)} solutions for {len(strings)} puzzles in {path.name}; "
                "line i of the solutions file must solve puzzle i"
            )
        solutions = _digits_from_strings(sol_strings, sol_lines, str(sp), n, "solution", allow_blank=False)
        valid = solutions_valid(solutions, n)
        if not valid.all():
            i = int(np.flatnonzero(~valid)[0])
            raise UserError(f"{sp}:{sol_lines[i]}: not a valid {n}×{n} Sudoku solution")
        agree = consistent_with_givens(puzzles, solutions, n)
        if not agree.all():
            i = int(np.flatnonzero(~agree)[0])
            raise UserError(
                f"{path}:{lines[i]}: contradictory givens: the puzzle disagrees with its solution "
                f"({sp.name} line {sol_lines[i]})"
            )
    else:
        solutions = np.zeros_like(puzzles)
        for i in progress(range(len(strings)), desc=f"solving {path.name}", enabled=show_progress):
            found = solve(puzzles[i].reshape(n, n), max_solutions=2)
            if not found:
                raise UserError(f"{path}:{lines[i]}: the puzzle has no solution")
            if len(found) > 1:
                raise UserError(
                    f"{path}:{lines[i]}: the puzzle has several solutions; HRM's labels need a "
                    "unique one (fix the puzzle or give a --*-solutions file)"
                )
            solutions[i] = found[0].reshape(-1)
    rows = SudokuRows(n=n, puzzles=puzzles, solutions=solutions, lines=np.asarray(lines, np.int64), path=str(path))
    return rows.take(np.arange(min(limit, len(rows)))) if limit is not None else rows


def concat_rows(parts: Sequence[SudokuRows]) -> SudokuRows:
    ns = {p.n for p in parts}
    if len(ns) > 1:
        raise UserError(f"sources mix Sudoku sizes {sorted(ns)}: {', '.join(p.path for p in parts)}")
    if len(parts) == 1:
        return parts[0]
    return SudokuRows(
        n=parts[0].n,
        puzzles=np.concatenate([p.puzzles for p in parts]),
        solutions=np.concatenate([p.solutions for p in parts]),
        lines=np.concatenate([p.lines for p in parts]),
        path="+".join(p.path for p in parts),
        file_ids=np.concatenate([np.full(len(p), i, np.int64) for i, p in enumerate(parts)]),
        files=[Path(p.path).name for p in parts],
    )
