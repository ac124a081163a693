"""Generating Sudoku puzzles with a unique solution: a random solved board, then clues removed to a target number
of givens (a count, a range LO-HI, or minimal)."""

from __future__ import annotations

import numpy as np

from hrm.data.build import (
    progress,
)
from hrm.data.sudoku.grid import box_shape
from hrm.data.sudoku.solver import random_solution, solve
from hrm.errors import UserError

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
