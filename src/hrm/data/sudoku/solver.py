"""An exact Sudoku solver: bitmask candidates, naked and hidden singles, then depth-first search on the cell with
the fewest candidates; it counts solutions up to a limit (uniqueness) and draws random solved boards."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from hrm.data.sudoku.grid import unit_indices


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
