"""Sudoku: parse, encode/decode, validate, solve exactly, generate, and build datasets (hrm-reference.md §4.3).

Boards are n×n with boxes of ``box_shape(n)`` (4 → 2×2, 6 → 2×3, 8 → 2×4, 9 → 3×3, 12 → 3×4, 16 → 4×4); digits are
1..n and 0 is a blank. Tokens follow the reference: token = digit + 1, so blank → 1, digits → 2..n+1 and 0 is PAD
(unused); vocab = n + 2 (11 for 9×9), seq_len = n² (81). Labels are the full solution, givens included;
``ignore_label_id = 0`` (PAD), one shared puzzle identifier (0).

Sources for a build: the Sudoku-Extreme CSV format (``source,question,answer,rating``), puzzle line files
(n² characters per line, ``.`` or ``0`` blank) with an optional solutions file (otherwise :func:`solve` fills the
labels and rejects puzzles with zero or several solutions), and :func:`generate` (unique-solution puzzles with a
chosen number of givens, or minimal ones).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from hrm.data.augment import sample_sudoku_transforms
from hrm.data.build import (
    BuildSummary,
    SplitSummary,
    SplitWriter,
    atomic_output_dir,
    check_output_target,
    finish_root,
    progress,
    source_record,
)
from hrm.errors import UserError

PAD_ID = 0
BLANK_TOKEN = 1
SUBSAMPLE_FILE = "train_subsample.json"
_BOX_SHAPES = {1: (1, 1), 4: (2, 2), 6: (2, 3), 8: (2, 4), 9: (3, 3), 12: (3, 4), 16: (4, 4)}
TEXT_SIZES = (4, 6, 8, 9)  # sizes whose digits are single characters 1..n


def box_shape(n: int) -> tuple[int, int]:
    """Box (rows, cols) of an n×n Sudoku: 4 → (2, 2), 6 → (2, 3), 9 → (3, 3), ..."""
    try:
        return _BOX_SHAPES[int(n)]
    except KeyError:
        raise UserError(
            f"unsupported Sudoku size {n}; supported: {', '.join(map(str, sorted(_BOX_SHAPES)[1:]))}"
        ) from None


def vocab_size(n: int) -> int:
    return n + 2


def board_side(vocab: int, seq_len: int) -> int | None:
    """n when (vocab, seq_len) is the encoding of n×n boards of a supported size (vocab n + 2, seq_len n²)."""
    n = vocab - 2
    return n if n in _BOX_SHAPES and n > 1 and n * n == seq_len else None


# ----------------------------------------------------------------------------------------------------------------
# Parsing, encoding, validation


def parse_sudoku(text: str, size: int | None = None) -> np.ndarray:
    """Parse one puzzle: n² characters row-major, ``.`` or ``0`` for blanks, digits 1..n; whitespace ignored.

    Returns an (n, n) uint8 array of digits (0 = blank). Raises UserError naming the problem.
    """
    chars = "".join(text.split())
    length = len(chars)
    n = size if size is not None else math.isqrt(length)
    if n not in TEXT_SIZES:
        raise UserError(f"a Sudoku must have 16, 36, 64 or 81 cells (4×4, 6×6, 8×8, 9×9); got {length} characters")
    if length != n * n:
        raise UserError(f"a {n}×{n} Sudoku needs {n * n} characters, got {length}")
    out = np.zeros(n * n, dtype=np.uint8)
    for i, ch in enumerate(chars):
        if ch in ".0":
            continue
        if not ch.isdigit() or not 1 <= int(ch) <= n:
            raise UserError(
                f"bad character {ch!r} at cell {i + 1} (row {i // n + 1}, column {i % n + 1}); "
                f"use 1-{n} for givens and '.' or '0' for blanks"
            )
        out[i] = int(ch)
    return out.reshape(n, n)


def format_sudoku(grid: np.ndarray, blank: str = ".") -> str:
    """One line of n² characters (inverse of :func:`parse_sudoku` for n ≤ 9)."""
    flat = np.asarray(grid).reshape(-1)
    return "".join(blank if d == 0 else str(int(d)) for d in flat)


def encode(grid: np.ndarray) -> np.ndarray:
    """Digits (0 blank) → tokens d + 1 (blank → 1, digits → 2..n+1), uint8.

    An (n, n) grid or a batch (..., n, n) is flattened over its last two axes; flat boards (n²,) or (N, n²)
    keep their shape.
    """
    g = np.asarray(grid)
    if g.ndim >= 2 and g.shape[-1] == g.shape[-2] and g.shape[-1] in _BOX_SHAPES and g.shape[-1] > 1:
        g = g.reshape(*g.shape[:-2], g.shape[-1] * g.shape[-2])
    return g.astype(np.uint8) + 1


def decode(tokens: np.ndarray, n: int | None = None) -> np.ndarray:
    """Tokens → (n, n) digits (0 blank). PAD (0) and out-of-range tokens decode as blank."""
    t = np.asarray(tokens).reshape(-1).astype(np.int64)
    if n is None:
        n = math.isqrt(t.shape[0])
    d = t - 1
    d[(d < 0) | (d > n)] = 0
    return d.astype(np.uint8).reshape(n, n)


@cache
def unit_indices(n: int) -> np.ndarray:
    """[3n, n] cell indices of the rows, columns and boxes of an n×n board."""
    br, bc = box_shape(n)
    rows = [[r * n + c for c in range(n)] for r in range(n)]
    cols = [[r * n + c for r in range(n)] for c in range(n)]
    boxes = []
    for b in range(n):
        r0, c0 = (b // (n // bc)) * br, (b % (n // bc)) * bc
        boxes.append([(r0 + i // bc) * n + c0 + i % bc for i in range(n)])
    return np.array(rows + cols + boxes, dtype=np.intp)


def _unit_name(n: int, u: int) -> str:
    kind = ("row", "column", "box")[u // n]
    return f"{kind} {u % n + 1}"


def solutions_valid(solutions: np.ndarray, n: int) -> np.ndarray:
    """[N] bool: each row of ``solutions`` [N, n*n] (digits) is a complete valid grid."""
    s = np.asarray(solutions).reshape(-1, n * n)
    units = s[:, unit_indices(n)]  # [N, 3n, n]
    return np.all(np.sort(units, axis=2) == np.arange(1, n + 1, dtype=s.dtype), axis=(1, 2))


def consistent_with_givens(puzzles: np.ndarray, solutions: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(puzzles).reshape(-1, n * n)
    s = np.asarray(solutions).reshape(-1, n * n)
    return np.all((p == 0) | (p == s), axis=1)


def is_valid_solution(grid: np.ndarray, givens: np.ndarray | None = None) -> bool:
    """True if ``grid`` (digits) is a complete valid board and agrees with the non-blank ``givens``."""
    g = np.asarray(grid)
    n = math.isqrt(g.size)
    if n * n != g.size or n not in _BOX_SHAPES:
        return False
    ok = bool(solutions_valid(g.reshape(1, -1), n)[0])
    if ok and givens is not None:
        ok = bool(consistent_with_givens(np.asarray(givens).reshape(1, -1), g.reshape(1, -1), n)[0])
    return ok


def givens_conflict(puzzles: np.ndarray, n: int) -> tuple[np.ndarray, list[str]]:
    """For puzzles [N, n*n]: bool [N] "two equal givens share a unit", and a description of the first such puzzle."""
    p = np.asarray(puzzles).reshape(-1, n * n)
    units = np.sort(p[:, unit_indices(n)], axis=2)  # [N, 3n, n]
    dup = (units[:, :, 1:] == units[:, :, :-1]) & (units[:, :, 1:] > 0)
    bad = dup.any(axis=(1, 2))
    msgs = []
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        u, j = np.argwhere(dup[i])[0]
        msgs.append(f"digit {int(units[i, u, j + 1])} appears twice in {_unit_name(n, int(u))}")
    return bad, msgs


# ----------------------------------------------------------------------------------------------------------------
# Exact solver: bitmask candidates, naked and hidden singles, then depth-first search on the fewest candidates


@dataclass(frozen=True)
class _Geometry:
    n: int
    cells: int
    full: int
    peers: tuple[tuple[int, ...], ...]
    units: tuple[tuple[int, ...], ...]
    cell_units: tuple[tuple[int, ...], ...]


@cache
def _geometry(n: int) -> _Geometry:
    units = [tuple(int(c) for c in u) for u in unit_indices(n)]
    peers, cell_units = [], []
    for cell in range(n * n):
        ps: set[int] = set()
        mine = []
        for ui, u in enumerate(units):
            if cell in u:
                ps.update(u)
                mine.append(ui)
        ps.discard(cell)
        peers.append(tuple(sorted(ps)))
        cell_units.append(tuple(mine))
    return _Geometry(n, n * n, (1 << n) - 1, tuple(peers), tuple(units), tuple(cell_units))


def _propagate(cand: list[int], queue: list[int], geo: _Geometry, dirty: set[int]) -> bool:
    """Naked singles (eliminate assigned values from peers) and hidden singles (a digit with one place left in a
    unit) until nothing changes; False on a contradiction. Only units whose cells changed (``dirty``) are
    re-scanned."""
    peers, units, full, cell_units = geo.peers, geo.units, geo.full, geo.cell_units
    while True:
        while queue:
            c = queue.pop()
            v = cand[c]
            for p in peers[c]:
                pc = cand[p]
                if pc & v:
                    pc &= ~v
                    if not pc:
                        return False
                    cand[p] = pc
                    dirty.update(cell_units[p])
                    if not pc & (pc - 1):
                        queue.append(p)
        if not dirty:
            return True
        scan, dirty = dirty, set()
        for ui in scan:
            u = units[ui]
            once = twice = 0
            for c in u:
                m = cand[c]
                twice |= once & m
                once |= m
            if once != full:
                return False
            hidden = once & ~twice
            while hidden:
                bit = hidden & -hidden
                hidden ^= bit
                for c in u:
                    if cand[c] & bit:
                        if cand[c] != bit:
                            cand[c] = bit
                            queue.append(c)
                            dirty.update(cell_units[c])
                        break
        if not queue and not dirty:
            return True


def _search(cand: list[int], geo: _Geometry, out: list[list[int]], limit: int, rng: np.random.Generator | None) -> None:
    best, best_count = -1, geo.n + 1
    for i, m in enumerate(cand):
        if m & (m - 1):
            k = m.bit_count()
            if k < best_count:
                best, best_count = i, k
                if k == 2:
                    break
    if best < 0:
        out.append(list(cand))
        return
    m = cand[best]
    bits = []
    while m:
        b = m & -m
        bits.append(b)
        m ^= b
    if rng is not None:
        bits = [bits[i] for i in rng.permutation(len(bits))]
    for b in bits:
        child = list(cand)
        child[best] = b
        if _propagate(child, [best], geo, set(geo.cell_units[best])):
            _search(child, geo, out, limit, rng)
            if len(out) >= limit:
                return


def _initial_candidates(flat: np.ndarray, geo: _Geometry) -> tuple[list[int], list[int]] | None:
    cand = [geo.full] * geo.cells
    queue = []
    for i, d in enumerate(flat.tolist()):
        if d:
            if not 1 <= d <= geo.n:
                return None
            cand[i] = 1 << (d - 1)
            queue.append(i)
    return cand, queue


def _to_grid(cand: list[int], n: int) -> np.ndarray:
    return np.array([m.bit_length() for m in cand], dtype=np.uint8).reshape(n, n)


def solve(
    grid: np.ndarray,
    max_solutions: int = 2,
    *,
    forbid: tuple[int, int] | None = None,
    rng: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """All solutions of ``grid`` (digits, 0 blank), at most ``max_solutions``, as (n, n) uint8 arrays.

    Exact: constraint propagation (naked and hidden singles) plus depth-first search on the cell with the fewest
    candidates. ``[]`` means no solution (or contradictory givens); two results mean the puzzle is not unique.
    ``forbid=(cell, digit)`` removes one candidate first (used to test uniqueness after removing a given).
    ``rng`` randomises the branch order (used to draw random full grids).
    """
    g = np.asarray(grid)
    n = math.isqrt(g.size)
    if n * n != g.size:
        raise ValueError(f"not a square board: {g.size} cells")
    geo = _geometry(n)
    init = _initial_candidates(g.reshape(-1), geo)
    if init is None:
        return []
    cand, queue = init
    if forbid is not None:
        cell, digit = forbid
        cand[cell] &= ~(1 << (digit - 1))
        if not cand[cell]:
            return []
        if not cand[cell] & (cand[cell] - 1):
            queue.append(cell)
    if not _propagate(cand, queue, geo, set(range(len(geo.units)))):
        return []
    found: list[list[int]] = []
    _search(cand, geo, found, max_solutions, rng)
    return [_to_grid(c, n) for c in found]


def random_solution(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random complete n×n grid (randomised search from the empty board)."""
    return solve(np.zeros((n, n), np.uint8), max_solutions=1, rng=rng)[0]


# ----------------------------------------------------------------------------------------------------------------
# Generator


GivensSpec = int | tuple[int, int] | str
# Default givens of generated puzzles per size, and the fewest any uniquely solvable puzzle can have.
DEFAULT_GIVENS: dict[int, int] = {4: 6, 6: 20, 8: 30, 9: 30}
_MIN_UNIQUE_GIVENS: dict[int, int] = {4: 4, 6: 8, 9: 17}


def parse_givens(givens: GivensSpec, n: int, option: str = "--givens") -> tuple[int, int] | None:
    """None = minimal; otherwise an inclusive (lo, hi) range of givens; UserError (one line) naming ``option``.

    Accepts an int, a ``(lo, hi)`` tuple, or a string: ``"minimal"``, ``"20"`` or a range ``"18-22"``. ``option``
    is a command-line flag (``--givens``) or a config key (``data.gen_givens``, shown as ``key=value``).
    """
    setting = f"{option} {givens!r}" if option.startswith("-") else f"{option}={givens}"
    if isinstance(givens, str):
        text = givens.strip().lower()
        if text == "minimal":
            return None
        try:
            if "-" in text:
                lo_s, hi_s = text.split("-", 1)
                lo, hi = int(lo_s), int(hi_s)
            else:
                lo = hi = int(text)
        except ValueError:
            raise UserError(f"{setting}: use a number (20), a range (18-22) or 'minimal'") from None
    elif isinstance(givens, tuple):
        lo, hi = int(givens[0]), int(givens[1])
    else:
        lo = hi = int(givens)
    if not 0 <= lo <= hi <= n * n:
        raise UserError(f"{setting}: must lie in 0..{n * n} with low ≤ high")
    if hi < _MIN_UNIQUE_GIVENS.get(n, 0):
        raise UserError(
            f"{setting}: no {n}×{n} Sudoku with fewer than {_MIN_UNIQUE_GIVENS[n]} givens has a unique solution"
        )
    return lo, hi


def _remove_to_target(puzzle: np.ndarray, target: int | None, rng: np.random.Generator) -> bool:
    """Blank cells of ``puzzle`` (in place, random order) keeping the solution unique.

    Stops at ``target`` givens (True) or, for ``target=None``, when no given can be removed (minimal, True).
    Returns False if the target could not be reached from this solution.
    """
    flat = puzzle.reshape(-1)
    givens = int(np.count_nonzero(flat))
    order = rng.permutation(flat.shape[0])
    if target is not None and target < givens:
        # Fast path: drop all surplus cells at once; usually the result is still unique.
        trial = flat.copy()
        trial[order[: givens - target]] = 0
        if len(solve(trial.reshape(puzzle.shape), max_solutions=2)) == 1:
            flat[:] = trial
            return True
    for cell in order:
        if target is not None and givens <= target:
            break
        digit = int(flat[cell])
        if not digit:
            continue
        flat[cell] = 0
        # Any second solution must differ at `cell` (otherwise it solves the previous, unique puzzle).
        if solve(puzzle, max_solutions=1, forbid=(int(cell), digit)):
            flat[cell] = digit
        else:
            givens -= 1
    return target is None or givens <= target


def generate(
    n: int, num_givens: GivensSpec, rng: np.random.Generator, max_attempts: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """A random n×n puzzle with a unique solution: ``(puzzle, solution)``, (n, n) uint8 digits (0 blank).

    ``num_givens``: an exact count, an inclusive ``(lo, hi)`` range (drawn uniformly per puzzle), or
    ``"minimal"`` (remove givens in random order until none can be removed). Too few givens for the size (e.g. 9×9
    below ~22) can make generation slow or fail; the error says so.
    """
    box_shape(n)
    spec = parse_givens(num_givens, n)
    for _ in range(max_attempts):
        solution = random_solution(n, rng)
        target = None if spec is None else int(rng.integers(spec[0], spec[1] + 1))
        puzzle = solution.copy()
        if _remove_to_target(puzzle, target, rng):
            return puzzle, solution
    raise UserError(
        f"could not generate a unique {n}×{n} Sudoku with {num_givens} givens in {max_attempts} "
        f"attempts; use more givens"
    )


def generate_many(
    count: int,
    n: int,
    num_givens: GivensSpec,
    rng: np.random.Generator,
    exclude: set[bytes] | None = None,
    show_progress: bool = False,
    desc: str = "generating",
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct puzzles [count, n*n] and their solutions, none of whose bytes are in ``exclude``."""
    seen: set[bytes] = set(exclude or ())
    puzzles = np.zeros((count, n * n), np.uint8)
    solutions = np.zeros((count, n * n), np.uint8)
    made, misses = 0, 0
    with progress(total=count, desc=desc, enabled=show_progress) as bar:
        while made < count:
            p, s = generate(n, num_givens, rng)
            key = p.tobytes()
            if key in seen:
                misses += 1
                if misses > 20 * count + 1000:
                    raise UserError(
                        f"only {made} distinct {n}×{n} puzzles with {num_givens} givens found; "
                        "ask for fewer puzzles or change --givens"
                    )
                continue
            seen.add(key)
            puzzles[made], solutions[made] = p.reshape(-1), s.reshape(-1)
            made += 1
            bar.update(1)
    return puzzles, solutions


# ----------------------------------------------------------------------------------------------------------------
# Readers


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


def _concat_rows(parts: Sequence[SudokuRows]) -> SudokuRows:
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


# ----------------------------------------------------------------------------------------------------------------
# Dataset build


# ----------------------------------------------------------------------------------------------------------------
# Online augmentation (training)


class SudokuBatchAugmenter:
    """Online Sudoku augmentation: a fresh validity-preserving shuffle for every row of every training batch.

    The shuffles of step ``s`` are drawn for the whole *global* batch from a generator keyed by (seed, s), and each
    rank applies its slice, so the result depends on neither the number of processes nor on where a run resumed.
    Tokens follow the Sudoku encoding (0 = pad, 1 = blank, digit d = d + 1); ignored labels (-100) stay ignored.
    """

    def __init__(self, seq_len: int, seed: int, global_batch_size: int, rank: int, world_size: int):
        n = math.isqrt(seq_len)
        if n * n != seq_len:
            raise UserError(f"data.online_augment needs square Sudoku boards; seq_len {seq_len} is not a square")
        self.box = box_shape(n)
        self.seed = seed
        self.global_batch_size = global_batch_size
        local = global_batch_size // world_size
        self.rows = slice(rank * local, (rank + 1) * local)

    def __call__(self, batch: dict[str, np.ndarray], step: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 0x5D0C, step])
        transforms = sample_sudoku_transforms(rng, self.global_batch_size, self.box)
        sources = transforms.cell_sources()[self.rows]  # [B, n*n]: output cell j reads input cell sources[:, j]
        digit_maps = transforms.digit_maps[self.rows].astype(np.int32)  # [B, n+1], digit → digit, 0 fixed
        B = digit_maps.shape[0]
        token_maps = np.concatenate(
            [np.zeros((B, 1), np.int32), np.ones((B, 1), np.int32), digit_maps[:, 1:] + 1], axis=1
        )  # [B, n+2], token → token
        out = dict(batch)
        for key in ("inputs", "labels"):
            moved = np.take_along_axis(batch[key], sources, axis=1)
            ignored = moved < 0
            mapped = np.take_along_axis(token_maps, np.where(ignored, 0, moved), axis=1)
            out[key] = np.where(ignored, moved, mapped).astype(np.int32)
        return out


@dataclass
class SudokuBuildOptions:
    """Options of :func:`build_sudoku_dataset` (and ``hrm data sudoku``).

    Each split takes its puzzles from, in this order of preference: a Sudoku-Extreme CSV (``train_csv`` /
    ``test_csv``), puzzle line files (``train_puzzles`` with optional matching ``train_solutions``), or the
    generator (``num_train`` / ``num_test`` puzzles of ``size`` with ``givens``).

    Attributes:
        out: dataset root to create (``out/train``, ``out/test``, ``identifiers.json``, ``build.json``).
        size: board size for generated puzzles (4, 6, 8, 9, ...); file sources infer it and must agree.
        givens: generated puzzles' givens: a count, an inclusive (lo, hi) range, a string "18-22", or "minimal";
            default ``DEFAULT_GIVENS[size]`` (4×4: 6, 6×6: 20, 9×9: 30).
        test_givens: the same for generated test puzzles; default: ``givens`` (so a test split can cover other
            givens than the training split, e.g. train 28-45, test 30-40).
        min_difficulty: keep CSV rows with rating ≥ this (both splits, as the reference).
        subsample_size: keep this many training puzzles, drawn without replacement with ``seed``.
        num_aug: shuffled variants per training puzzle (the original is kept too: 1 + num_aug puzzles per group).
        seed: the only source of randomness (subsample, generator, augmentation).
        exclude_train_overlap: drop test puzzles whose puzzle or solution grid also occurs in the training pool.
        force: replace ``out`` if it exists.
        show_progress: tqdm bars on stderr.
    """

    out: Path
    size: int = 9
    train_csv: Path | None = None
    test_csv: Path | None = None
    train_puzzles: list[Path] = field(default_factory=list)
    train_solutions: list[Path] = field(default_factory=list)
    test_puzzles: list[Path] = field(default_factory=list)
    test_solutions: list[Path] = field(default_factory=list)
    num_train: int = 0
    num_test: int = 0
    givens: GivensSpec | None = None
    test_givens: GivensSpec | None = None
    min_difficulty: int | None = None
    subsample_size: int | None = None
    num_aug: int = 0
    seed: int = 0
    exclude_train_overlap: bool = False
    force: bool = False
    show_progress: bool = True


# Independent random streams derived from the seed (SeedSequence entropy [seed, stream]).
_STREAM_SUBSAMPLE, _STREAM_AUGMENT, _STREAM_GEN_TRAIN, _STREAM_GEN_TEST = 1, 2, 3, 4
_AUG_CHUNK = 64  # puzzles per vectorised augmentation chunk (fixed: part of the seed -> bytes contract)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def _load_split_rows(
    kind: str, csv_path: Path | None, puzzles: list[Path], solutions: list[Path], opts: SudokuBuildOptions
) -> tuple[SudokuRows | None, list[dict]]:
    if csv_path is not None and puzzles:
        raise UserError(f"--{kind}-csv and --{kind}-puzzles are exclusive; give one source per split")
    if csv_path is not None:
        return read_sudoku_csv(csv_path, opts.min_difficulty), [source_record(csv_path, f"{kind}-csv")]
    if puzzles:
        if solutions and len(solutions) != len(puzzles):
            raise UserError(
                f"--{kind}-solutions: give one solutions file per --{kind}-puzzles file "
                f"({len(solutions)} for {len(puzzles)})"
            )
        parts, sources = [], []
        for i, p in enumerate(puzzles):
            s = solutions[i] if solutions else None
            parts.append(read_puzzle_lines(p, s, show_progress=opts.show_progress))
            sources.append(source_record(p, f"{kind}-puzzles"))
            if s is not None:
                sources.append(source_record(s, f"{kind}-solutions"))
        return _concat_rows(parts), sources
    return None, []


def _check_options(opts: SudokuBuildOptions) -> None:
    if opts.seed < 0:
        raise UserError(f"--seed {opts.seed}: must be ≥ 0")
    if opts.num_aug < 0:
        raise UserError(f"--num-aug {opts.num_aug}: must be ≥ 0")
    if opts.subsample_size is not None and opts.subsample_size <= 0:
        raise UserError(f"--subsample-size {opts.subsample_size}: must be positive")
    if opts.num_train < 0 or opts.num_test < 0:
        raise UserError("--num-train/--num-test must be ≥ 0")
    if (opts.num_train or opts.num_test) and opts.size not in TEXT_SIZES:
        raise UserError(
            f"--size {opts.size}: the generator makes {', '.join(map(str, TEXT_SIZES))}-wide boards only "
            "(a 16×16 board did not finish in 10 minutes); read bigger puzzles from files instead"
        )


def build_sudoku_dataset(options: SudokuBuildOptions) -> Path:
    """Build a Sudoku dataset root in the reference format; returns its path. See :class:`SudokuBuildOptions`."""
    opts = options
    _check_options(opts)
    out = Path(opts.out)
    check_output_target(out, opts.force)

    train, train_src = _load_split_rows("train", opts.train_csv, opts.train_puzzles, opts.train_solutions, opts)
    test, test_src = _load_split_rows("test", opts.test_csv, opts.test_puzzles, opts.test_solutions, opts)
    n = train.n if train is not None else (test.n if test is not None else opts.size)
    if train is not None and test is not None and train.n != test.n:
        raise UserError(f"train puzzles are {train.n}×{train.n} but test puzzles are {test.n}×{test.n}")
    box = box_shape(n)
    givens = opts.givens if opts.givens is not None else DEFAULT_GIVENS.get(n, (n * n) // 3)
    test_givens = opts.test_givens if opts.test_givens is not None else givens
    if train is None or test is None:  # both specs are checked before any puzzle is generated
        parse_givens(givens, n)
        parse_givens(test_givens, n, "--test-givens")
    generated: dict[str, object] = {}
    if train is None:
        if opts.num_train <= 0:
            raise UserError("no training puzzles: give --train-csv, --train-puzzles or --num-train N (generator)")
        p, s = generate_many(
            opts.num_train,
            n,
            givens,
            _rng(opts.seed, _STREAM_GEN_TRAIN),
            show_progress=opts.show_progress,
            desc="generating train",
        )
        train = SudokuRows(n, p, s, np.arange(1, len(p) + 1), "generated")
        generated["train"] = len(p)
    if test is None:
        if opts.num_test <= 0:
            raise UserError("no test puzzles: give --test-csv, --test-puzzles or --num-test N (generator)")
        p, s = generate_many(
            opts.num_test,
            n,
            test_givens,
            _rng(opts.seed, _STREAM_GEN_TEST),
            exclude={row.tobytes() for row in train.puzzles},
            show_progress=opts.show_progress,
            desc="generating test",
        )
        test = SudokuRows(n, p, s, np.arange(1, len(p) + 1), "generated")
        generated["test"] = len(p)
    if len(train) == 0:
        raise UserError(f"{train.path}: no training puzzles left (check --min-difficulty)")

    excluded = 0
    if opts.exclude_train_overlap:
        pool = {r.tobytes() for r in train.puzzles} | {r.tobytes() for r in train.solutions}
        keep = np.array(
            [(p.tobytes() not in pool) and (s.tobytes() not in pool) for p, s in zip(test.puzzles, test.solutions)],
            dtype=bool,
        )
        excluded = int((~keep).sum())
        test = test.take(np.flatnonzero(keep))
    if len(test) == 0:
        raise UserError(f"{test.path}: no test puzzles left")

    pool_size = len(train)
    picked = None
    if opts.subsample_size is not None and opts.subsample_size < len(train):
        idx = _rng(opts.seed, _STREAM_SUBSAMPLE).choice(len(train), size=opts.subsample_size, replace=False)
        train = train.take(np.sort(idx))
        assert train.file_ids is not None  # set in SudokuRows.__post_init__
        picked = {
            "seed": opts.seed,
            "pool_size": pool_size,
            "files": train.files,
            "rows": [[int(f), int(line)] for f, line in zip(train.file_ids, train.lines)],
        }

    seq_len, vocab = n * n, vocab_size(n)
    with atomic_output_dir(out, force=opts.force) as tmp:
        per_group = 1 + opts.num_aug
        writer = SplitWriter(tmp / "train", seq_len, vocab)
        aug_rng = _rng(opts.seed, _STREAM_AUGMENT)
        num_transposed = 0
        bar = progress(total=len(train), desc="augmenting train", enabled=opts.show_progress, unit="puzzle")
        with bar:
            for start in range(0, len(train), _AUG_CHUNK):
                p = train.puzzles[start : start + _AUG_CHUNK]
                s = train.solutions[start : start + _AUG_CHUNK]
                k = p.shape[0]
                block_in = np.empty((k, per_group, seq_len), np.uint8)
                block_lab = np.empty((k, per_group, seq_len), np.uint8)
                block_in[:, 0], block_lab[:, 0] = p, s
                if opts.num_aug:
                    tf = sample_sudoku_transforms(aug_rng, k * opts.num_aug, box)
                    num_transposed += int(tf.transpose.sum())
                    block_in[:, 1:] = tf.apply(np.repeat(p, opts.num_aug, axis=0)).reshape(k, opts.num_aug, -1)
                    block_lab[:, 1:] = tf.apply(np.repeat(s, opts.num_aug, axis=0)).reshape(k, opts.num_aug, -1)
                writer.add_single_example_groups(
                    (block_in + 1).reshape(-1, seq_len), (block_lab + 1).reshape(-1, seq_len), per_group
                )
                bar.update(k)
        train_meta = writer.finish(pad_id=PAD_ID, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1)
        test_writer = SplitWriter(tmp / "test", seq_len, vocab)
        test_writer.add_single_example_groups(test.puzzles + 1, test.solutions + 1, 1)
        test_meta = test_writer.finish(
            pad_id=PAD_ID, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1
        )
        mean_givens = {
            "train": float(np.count_nonzero(train.puzzles, axis=1).mean()),
            "test": float(np.count_nonzero(test.puzzles, axis=1).mean()),
        }
        summary = BuildSummary(
            kind="sudoku",
            seed=opts.seed,
            seq_len=seq_len,
            vocab_size=vocab,
            num_puzzle_identifiers=1,
            splits={
                "train": SplitSummary(train_meta.total_groups, writer.num_puzzles, writer.num_examples),
                "test": SplitSummary(test_meta.total_groups, test_writer.num_puzzles, test_writer.num_examples),
            },
            options={
                "size": n,
                "box": list(box),
                "num_aug": opts.num_aug,
                "subsample_size": opts.subsample_size,
                "min_difficulty": opts.min_difficulty,
                "givens": _givens_record(givens) if generated else None,
                "test_givens": _givens_record(test_givens) if "test" in generated else None,
                "exclude_train_overlap": opts.exclude_train_overlap,
            },
            sources=train_src + test_src,
            stats={
                "training pool": pool_size,
                "generated": generated or "none",
                "test puzzles excluded as overlapping the training pool": excluded,
                "mean givens": mean_givens,
                "augmentation": f"{opts.num_aug} shuffles per puzzle (digits, bands/stacks, rows/cols"
                + (", transpose)" if box[0] == box[1] else "; no transpose for non-square boxes)"),
                "transposed variants": num_transposed,
            },
        )
        if picked is not None:  # the exact training subsample, as (file index, line) in group order
            with open(tmp / SUBSAMPLE_FILE, "w", encoding="utf-8") as f:
                json.dump(picked, f, separators=(",", ":"))
                f.write("\n")
        finish_root(tmp, ["<blank>"], summary)
    return out


def _givens_record(givens: GivensSpec) -> int | str | list[int]:
    """A givens spec as JSON for ``build.json`` (a tuple as a list)."""
    return list(givens) if isinstance(givens, tuple) else givens


def sudoku_extreme_like_options(
    data_root: Path | str, out: Path | str, seed: int = 0, subsample_size: int = 1000, num_aug: int = 1000, **kwargs
) -> SudokuBuildOptions:
    """The "Sudoku-Extreme-like" recipe from ``shared/data/sudoku`` (see docs/data.md).

    Train: a seeded ``subsample_size`` subsample of ``puzzles5_forum_hardest_1905_11+`` (48,766 forum-hardest
    puzzles, SE rating ≥ 11). Test: ``puzzles3_magictour_top1465`` + ``puzzles6_forum_hardest_1106``, minus every
    puzzle whose puzzle or solution also occurs anywhere in the 11+ list (131 of the 1106 list do), so the test set
    is the same for every seed. This is not the hub's Sudoku-Extreme.
    """
    d = Path(data_root) / "sudoku"
    train = d / "puzzles5_forum_hardest_1905_11+.txt"
    tests = [d / "puzzles3_magictour_top1465.txt", d / "puzzles6_forum_hardest_1106.txt"]
    for p in [train, *tests]:
        if not p.is_file():
            raise UserError(f"{p}: not found; --data-root must be the shared data folder (with sudoku/)")
    return SudokuBuildOptions(
        out=Path(out),
        train_puzzles=[train],
        train_solutions=[train.with_name(train.stem + ".solutions.txt")],
        test_puzzles=tests,
        test_solutions=[t.with_name(t.stem + ".solutions.txt") for t in tests],
        subsample_size=subsample_size,
        num_aug=num_aug,
        seed=seed,
        exclude_train_overlap=True,
        **kwargs,
    )
