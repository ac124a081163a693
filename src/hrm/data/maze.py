"""Mazes: generate, read, solve, verify, encode, and build datasets (hrm-reference.md §4.4).

A maze is an n×n grid over the charset ``"# SGo"``: wall ``#``, open `` ``, start ``S``, goal ``G`` and, in a
label, ``o`` on the cells of a shortest S→G path (S and G keep their letters). Moves are 4-neighbour steps. Tokens:
PAD 0, then the charset in order (``#`` 1, `` `` 2, ``S`` 3, ``G`` 4, ``o`` 5): vocab 6, seq_len n². All n² label
cells are supervised (``ignore_label_id = 0`` only ignores PAD, which never occurs), one shared puzzle identifier.

The path length of a maze is the number of moves on a shortest S→G path. "Hard" means longer than
``hard_min_path_length(n)`` = round(110·n²/900), i.e. > 110 for 30×30 as the paper's Maze-Hard.

Generator (ours; the hub's maze set cannot be obtained): a random depth-first ("backtracker") maze carved on the
lattice of even coordinates, with a fraction ``loop_prob`` of the remaining inner walls knocked out so that there
are cycles and more than one route; S is a random open cell and G a random open cell farther than the hard
threshold from it (with ``unique_path`` only goals with exactly one shortest path are eligible, so an exact-match
metric is sound). Every label written is verified to be a shortest path.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrm.data.augment import dihedral_transform
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

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = 1, 2, 3, 4, 5  # token ids (PAD = 0)
PAD_ID = 0
VOCAB_SIZE = len(CHARSET) + 1
DEFAULT_SIZE = 30

_CHAR_TO_TOKEN = np.zeros(256, dtype=np.uint8)
for _i, _ch in enumerate(CHARSET):
    _CHAR_TO_TOKEN[ord(_ch)] = _i + 1
_CHAR_TO_TOKEN[ord(".")] = OPEN  # text input may write open cells as '.' (editors strip trailing spaces)
_TOKEN_TO_CHAR = np.frombuffer(("?" + CHARSET).encode(), dtype=np.uint8)


def hard_min_path_length(n: int) -> int:
    """Path-length threshold of a "hard" n×n maze: > 110 for 30×30, scaled with the area for other sizes."""
    return int(round(110 * n * n / 900))


# ----------------------------------------------------------------------------------------------------------------
# Text <-> tokens


def encode(text_grid: str | list[str]) -> np.ndarray:
    """Text maze (list of rows or newline-separated) → (n, n) uint8 tokens."""
    rows = text_grid.splitlines() if isinstance(text_grid, str) else list(text_grid)
    n = len(rows)
    if any(len(r) != n for r in rows):
        raise UserError(f"maze rows must all have {n} characters (a square grid)")
    raw = np.frombuffer("".join(rows).encode("ascii"), dtype=np.uint8)
    tokens = _CHAR_TO_TOKEN[raw]
    if np.any(tokens == 0):
        bad = chr(raw[np.flatnonzero(tokens == 0)[0]])
        raise UserError(f"bad maze character {bad!r}; use the charset '# SGo'")
    return tokens.reshape(n, n)


def decode(tokens: np.ndarray) -> str:
    """(n, n) or flat tokens → newline-separated text rows (PAD / unknown tokens shown as '?')."""
    t = np.asarray(tokens)
    n = int(round(np.sqrt(t.size)))
    t = np.where((t >= 0) & (t < VOCAB_SIZE), t, 0).astype(np.intp).reshape(n, n)
    chars = _TOKEN_TO_CHAR[t]
    return "\n".join(chars[r].tobytes().decode() for r in range(n))


# ----------------------------------------------------------------------------------------------------------------
# Search and verification


def _neighbours(n: int) -> list[tuple[int, ...]]:
    out = []
    for c in range(n * n):
        r, k = divmod(c, n)
        nb = []
        if r > 0:
            nb.append(c - n)
        if r < n - 1:
            nb.append(c + n)
        if k > 0:
            nb.append(c - 1)
        if k < n - 1:
            nb.append(c + 1)
        out.append(tuple(nb))
    return out


_NEIGHBOURS: dict[int, list[tuple[int, ...]]] = {}


def _nbrs(n: int) -> list[tuple[int, ...]]:
    if n not in _NEIGHBOURS:
        _NEIGHBOURS[n] = _neighbours(n)
    return _NEIGHBOURS[n]


def bfs(passable: list[bool] | np.ndarray, source: int, n: int) -> tuple[list[int], list[int]]:
    """Distances from ``source`` (-1 unreachable) and number of shortest paths to each cell (capped at 2)."""
    nbrs = _nbrs(n)
    ok = passable.tolist() if isinstance(passable, np.ndarray) else passable
    dist = [-1] * (n * n)
    count = [0] * (n * n)
    dist[source], count[source] = 0, 1
    q = deque([source])
    while q:
        c = q.popleft()
        d = dist[c] + 1
        for nb in nbrs[c]:
            if not ok[nb]:
                continue
            if dist[nb] < 0:
                dist[nb] = d
                count[nb] = count[c]
                q.append(nb)
            elif dist[nb] == d:
                count[nb] = min(2, count[nb] + count[c])
    return dist, count


def _find_one(flat: np.ndarray, token: int) -> int:
    hits = np.flatnonzero(flat == token)
    return int(hits[0]) if hits.shape[0] == 1 else -1


def solve(maze: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Label an (n, n) token maze: (label grid with 'o' on a shortest path, path length, number of shortest paths
    capped at 2). The path is the canonical one: walking back from G, always step to the first neighbour (up, down,
    left, right) that is one move closer to S. Raises UserError if S/G are missing or G is unreachable."""
    m = np.asarray(maze)
    n = m.shape[0]
    flat = m.reshape(-1)
    s, g = _find_one(flat, START), _find_one(flat, GOAL)
    if s < 0 or g < 0:
        raise UserError("a maze needs exactly one S and one G")
    passable = flat != WALL
    dist, count = bfs(passable, s, n)
    if dist[g] < 0:
        raise UserError("G cannot be reached from S")
    label = flat.copy()
    label[label == PATH] = OPEN
    nbrs = _nbrs(n)
    c = g
    while dist[c] > 1:
        c = next(nb for nb in nbrs[c] if dist[nb] == dist[c] - 1)
        label[c] = PATH
    return label.reshape(n, n), dist[g], count[g]


def verify_label(maze: np.ndarray, label: np.ndarray) -> str | None:
    """None if ``label`` marks a shortest S→G path of ``maze`` with 'o' and is otherwise equal to it; else why not
    (the first of :func:`label_problems`)."""
    problems = label_problems(maze, label)
    return problems[0] if problems else None


def label_problems(maze: np.ndarray, label: np.ndarray) -> list[str]:
    """Every way ``label`` fails to mark a shortest S→G path of ``maze`` (empty when it does), most basic first.

    A problem that makes the later checks meaningless (sizes differ, no single S and G, G unreachable) ends the
    list; the others are all reported, so a user sees each rule an answer breaks, not only the first.
    """
    m = np.asarray(maze).reshape(-1)
    lab = np.asarray(label).reshape(-1)
    if m.shape != lab.shape:
        return ["label and maze differ in size"]
    n = int(round(np.sqrt(m.size)))
    if np.any(m == PATH):
        return ["the input maze already contains path cells 'o'"]
    problems = []
    on_path = lab == PATH
    changed = int((lab[~on_path] != m[~on_path]).sum())
    if changed:
        problems.append(f"the label changes {changed} cell{'s' if changed > 1 else ''} other than marking the path")
    blocked = int((m[on_path] != OPEN).sum())
    if blocked:
        problems.append(f"the path runs through a wall, S or G ({blocked} cell{'s' if blocked > 1 else ''})")
    s, g = _find_one(m, START), _find_one(m, GOAL)
    if s < 0 or g < 0:
        return problems + ["the maze needs exactly one S and one G"]
    dist, _ = bfs(m != WALL, s, n)
    if dist[g] < 0:
        return problems + ["G cannot be reached from S"]
    # The marked cells plus S and G must connect S to G in exactly dist[g] moves using dist[g]-1 path cells.
    if int(on_path.sum()) != dist[g] - 1:
        problems.append(f"the path has {int(on_path.sum()) + 1} moves but the shortest has {dist[g]}")
    along = on_path.copy()
    along[s] = along[g] = True
    pdist, _ = bfs(along, s, n)
    if pdist[g] != dist[g]:
        problems.append("the marked cells do not form a path from S to G")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# Generator


def _carve(n: int, rng: np.random.Generator, loop_prob: float) -> np.ndarray:
    """Passable mask (n, n) of a backtracker maze on even coordinates with some extra walls removed."""
    open_ = np.zeros((n, n), dtype=bool)
    m = (n + 1) // 2  # lattice cells per axis at coordinates 0, 2, ..., 2(m-1)
    visited = np.zeros((m, m), dtype=bool)
    start = (int(rng.integers(m)), int(rng.integers(m)))
    stack = [start]
    visited[start] = True
    open_[2 * start[0], 2 * start[1]] = True
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1))
    while stack:
        r, c = stack[-1]
        options = [
            (r + dr, c + dc) for dr, dc in steps if 0 <= r + dr < m and 0 <= c + dc < m and not visited[r + dr, c + dc]
        ]
        if not options:
            stack.pop()
            continue
        nr, nc = options[int(rng.integers(len(options)))]
        visited[nr, nc] = True
        open_[2 * nr, 2 * nc] = True
        open_[r + nr, c + nc] = True  # the wall cell between (2r, 2c) and (2nr, 2nc)
        stack.append((nr, nc))
    if loop_prob > 0:
        # Inner walls between two lattice cells: exactly one coordinate odd, the other even.
        rr, cc = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        between = ((rr % 2) ^ (cc % 2)).astype(bool) & (rr < 2 * m - 1) & (cc < 2 * m - 1)
        knock = between & ~open_ & (rng.random((n, n)) < loop_prob)
        open_ |= knock
    return open_


def generate(
    n: int,
    rng: np.random.Generator,
    min_path_length: int | None = None,
    loop_prob: float = 0.05,
    unique_path: bool = True,
    max_attempts: int = 1000,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One maze: (input tokens (n, n), label tokens (n, n), path length).

    ``min_path_length``: the shortest path must be longer than this (default :func:`hard_min_path_length`).
    """
    if n < 4:
        raise UserError(f"maze size {n} is too small; use at least 4")
    threshold = hard_min_path_length(n) if min_path_length is None else int(min_path_length)
    for _ in range(max_attempts):
        # A random dihedral image, so the carving lattice's wall border is not always on the same side.
        passable = np.ascontiguousarray(dihedral_transform(_carve(n, rng, loop_prob), int(rng.integers(8))))
        cells = np.flatnonzero(passable.reshape(-1))
        s = int(cells[rng.integers(cells.shape[0])])
        dist, count = bfs(passable.reshape(-1), s, n)
        dist_a, count_a = np.asarray(dist), np.asarray(count)
        eligible = dist_a > threshold
        if unique_path:
            eligible &= count_a == 1
        goals = np.flatnonzero(eligible)
        if goals.shape[0] == 0:
            continue
        g = int(goals[rng.integers(goals.shape[0])])
        maze = np.where(passable.reshape(-1), OPEN, WALL).astype(np.uint8)
        maze[s], maze[g] = START, GOAL
        maze = maze.reshape(n, n)
        label, length, _ = solve(maze)
        return maze, label, length
    raise UserError(
        f"no {n}×{n} maze with a shortest path longer than {threshold} found in {max_attempts} tries; "
        "lower --min-path-length or --loop-prob"
    )


def canonical_key(maze: np.ndarray) -> bytes:
    """Same key for all 8 dihedral images of a maze (used to keep train and test disjoint)."""
    m = np.asarray(maze)
    return min(np.ascontiguousarray(dihedral_transform(m, t)).tobytes() for t in range(8))


# ----------------------------------------------------------------------------------------------------------------
# Readers


@dataclass
class MazeRows:
    inputs: np.ndarray  # [N, n, n] tokens
    labels: np.ndarray  # [N, n, n] tokens
    lines: list[int]
    path: str

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def _label_or_solve(grid: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    flat = grid.reshape(-1)
    if (flat == START).sum() != 1 or (flat == GOAL).sum() != 1:
        raise UserError(
            f"{where}: a maze needs exactly one 'S' and one 'G' "
            f"(found {(flat == START).sum()} and {(flat == GOAL).sum()})"
        )
    if np.any(flat == PATH):
        maze = np.where(grid == PATH, OPEN, grid).astype(np.uint8)
        why = verify_label(maze, grid)
        if why is not None:
            raise UserError(f"{where}: the marked path is not a shortest path: {why}")
        return maze, grid
    try:
        label, _, _ = solve(grid)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    return grid, label


def read_text_mazes(path: Path | str) -> MazeRows:
    """Read mazes from text: square blocks of rows over ``# SGo`` (``.`` also means open), separated by blank
    lines. A maze with ``o`` cells is taken as solved (and verified); otherwise a shortest path is computed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if current:
                blocks.append((first, current))
                current = []
            continue
        if not current:
            first = i
        current.append(line)
    if current:
        blocks.append((first, current))
    if not blocks:
        raise UserError(f"{path}: no mazes found")
    inputs, labels, lines = [], [], []
    size = None
    for first, rows in blocks:
        n = len(rows)
        for j, r in enumerate(rows):
            if len(r) != n:
                raise UserError(
                    f"{path}:{first + j}: row has {len(r)} characters but the maze has {n} rows; mazes "
                    "must be square (write open cells as '.' if trailing spaces get stripped)"
                )
            bad = [ch for ch in r if ch not in CHARSET and ch != "."]
            if bad:
                raise UserError(f"{path}:{first + j}: bad character {bad[0]!r}; use '#', ' ' or '.', 'S', 'G', 'o'")
        if size is None:
            size = n
        elif n != size:
            raise UserError(f"{path}:{first}: maze is {n}×{n} but earlier ones are {size}×{size}")
        grid = _CHAR_TO_TOKEN[np.frombuffer("".join(rows).encode(), dtype=np.uint8)].reshape(n, n)
        maze, label = _label_or_solve(grid, f"{path}:{first}")
        inputs.append(maze)
        labels.append(label)
        lines.append(first)
    return MazeRows(np.stack(inputs), np.stack(labels), lines, str(path))


def read_maze_csv(path: Path | str) -> MazeRows:
    """Read the hub's maze CSV format (``source,question,answer,rating``; question/answer are n² characters)."""
    import csv

    path = Path(path)
    inputs, labels, lines = [], [], []
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot open ({exc.strerror})") from None
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or "question" not in header or "answer" not in header:
            raise UserError(f"{path}:1: header must name the columns source,question,answer,rating")
        qi, ai = header.index("question"), header.index("answer")
        size = None
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise UserError(f"{path}:{line}: {len(row)} columns, expected {len(header)}")
            q, a = row[qi], row[ai]
            n = int(round(len(q) ** 0.5))
            if n * n != len(q) or len(a) != len(q):
                raise UserError(
                    f"{path}:{line}: question/answer must both have n² characters (got {len(q)} and {len(a)})"
                )
            if size is None:
                size = n
            elif n != size:
                raise UserError(f"{path}:{line}: maze is {n}×{n} but earlier ones are {size}×{size}")
            for what, s in (("question", q), ("answer", a)):
                bad = [ch for ch in s if ch not in CHARSET]
                if bad:
                    raise UserError(f"{path}:{line}: bad character {bad[0]!r} in the {what}; use the charset '# SGo'")
            qg = _CHAR_TO_TOKEN[np.frombuffer(q.encode(), np.uint8)].reshape(n, n)
            ag = _CHAR_TO_TOKEN[np.frombuffer(a.encode(), np.uint8)].reshape(n, n)
            why = verify_label(qg, ag)
            if why is not None:
                raise UserError(f"{path}:{line}: the answer is not a shortest path: {why}")
            inputs.append(qg)
            labels.append(ag)
            lines.append(line)
    if not inputs:
        raise UserError(f"{path}: no mazes found")
    return MazeRows(np.stack(inputs), np.stack(labels), lines, str(path))


def read_mazes(path: Path | str) -> MazeRows:
    p = Path(path)
    return read_maze_csv(p) if p.suffix.lower() == ".csv" else read_text_mazes(p)


# ----------------------------------------------------------------------------------------------------------------
# Dataset build


@dataclass
class MazeBuildOptions:
    """Options of :func:`build_maze_dataset` (and ``hrm data maze``).

    Attributes:
        out: dataset root to create.
        size: side of generated mazes (default 30).
        num_train, num_test: generated mazes per split (used when the split has no file).
        num_val: generated mazes of a ``val/`` split, drawn like the training mazes (their own random stream),
            distinct from train and test; never augmented. Choices read it, the test split is read once.
        train_file, test_file: text mazes (blocks separated by blank lines) or the hub's CSV format.
        min_path_length: generated mazes need a shortest path longer than this (default: the hard threshold).
        loop_prob: fraction of inner walls removed after carving (cycles; 0 = perfect maze).
        unique_path: generated goals must have exactly one shortest path (exact match is then a sound metric).
        aug: add the 8 dihedral transforms of every training maze (reference ``--aug``; off by default).
        seed: the only source of randomness.
        force: replace ``out`` if it exists.
    """

    out: Path
    size: int = DEFAULT_SIZE
    num_train: int = 1000
    num_test: int = 1000
    num_val: int = 0
    train_file: Path | None = None
    test_file: Path | None = None
    min_path_length: int | None = None
    loop_prob: float = 0.05
    unique_path: bool = True
    aug: bool = False
    seed: int = 0
    force: bool = False
    show_progress: bool = True


def _generate_rows(
    count: int, opts: MazeBuildOptions, rng: np.random.Generator, exclude: set[bytes], desc: str
) -> MazeRows:
    inputs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    misses = 0
    with progress(total=count, desc=desc, enabled=opts.show_progress, unit="maze") as bar:
        while len(inputs) < count:
            maze, label, _ = generate(opts.size, rng, opts.min_path_length, opts.loop_prob, opts.unique_path)
            key = canonical_key(maze)
            if key in exclude:
                misses += 1
                if misses > 10 * count + 100:
                    raise UserError(f"too many duplicate {opts.size}×{opts.size} mazes; ask for fewer")
                continue
            exclude.add(key)
            inputs.append(maze)
            labels.append(label)
            bar.update(1)
    return MazeRows(np.stack(inputs), np.stack(labels), list(range(1, count + 1)), "generated")


def build_maze_dataset(options: MazeBuildOptions) -> Path:
    """Build a maze dataset root in the reference format; returns its path."""
    opts = options
    if opts.seed < 0:
        raise UserError(f"--seed {opts.seed}: must be ≥ 0")
    if not 0 <= opts.loop_prob <= 1:
        raise UserError(f"--loop-prob {opts.loop_prob}: must lie in [0, 1]")
    if opts.min_path_length is not None and not 0 <= opts.min_path_length < opts.size * opts.size:
        raise UserError(
            f"--min-path-length {opts.min_path_length}: a shortest path length, must lie in 0..{opts.size**2 - 1} "
            f"for {opts.size}×{opts.size} mazes (default {hard_min_path_length(opts.size)})"
        )
    out = Path(opts.out)
    check_output_target(out, opts.force)
    sources = []
    seen: set[bytes] = set()
    if opts.train_file is not None:
        train = read_mazes(opts.train_file)
        sources.append(source_record(opts.train_file, "train"))
    else:
        if opts.num_train <= 0:
            raise UserError("no training mazes: give --train-file or --num-train N")
        train = _generate_rows(opts.num_train, opts, np.random.default_rng([opts.seed, 1]), seen, "generating train")
    seen.update(canonical_key(m) for m in train.inputs)
    val = None
    if opts.num_val < 0:
        raise UserError(f"--num-val {opts.num_val}: must be ≥ 0")
    if opts.num_val > 0:
        if opts.train_file is not None:
            raise UserError("--num-val: a validation split is generated; with --train-file, pass no --num-val")
        val = _generate_rows(opts.num_val, opts, np.random.default_rng([opts.seed, 3]), seen, "generating val")
    if opts.test_file is not None:
        test = read_mazes(opts.test_file)
        sources.append(source_record(opts.test_file, "test"))
    else:
        if opts.num_test <= 0:
            raise UserError("no test mazes: give --test-file or --num-test N")
        test = _generate_rows(opts.num_test, opts, np.random.default_rng([opts.seed, 2]), seen, "generating test")
    n = train.inputs.shape[1]
    if test.inputs.shape[1] != n:
        raise UserError(f"train mazes are {n}×{n} but test mazes are {test.inputs.shape[1]}×{test.inputs.shape[1]}")
    # Every label is checked once more, right before writing.
    for rows in (train, test) + ((val,) if val is not None else ()):
        for i in range(len(rows)):
            why = verify_label(rows.inputs[i], rows.labels[i])
            if why is not None:
                raise UserError(f"{rows.path}:{rows.lines[i]}: {why}")
    train_keys = {canonical_key(m) for m in train.inputs}
    overlap = sum(canonical_key(m) in train_keys for m in test.inputs)

    seq_len = n * n
    num_tf = 8 if opts.aug else 1
    with atomic_output_dir(out, force=opts.force) as tmp:
        tw = SplitWriter(tmp / "train", seq_len, VOCAB_SIZE)
        tin = np.stack([dihedral_transform(train.inputs, t) for t in range(num_tf)], axis=1)
        tlab = np.stack([dihedral_transform(train.labels, t) for t in range(num_tf)], axis=1)
        tw.add_single_example_groups(tin.reshape(-1, seq_len), tlab.reshape(-1, seq_len), num_tf)
        tw.finish(pad_id=PAD_ID, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1)
        ew = SplitWriter(tmp / "test", seq_len, VOCAB_SIZE)
        ew.add_single_example_groups(test.inputs.reshape(-1, seq_len), test.labels.reshape(-1, seq_len), 1)
        ew.finish(pad_id=PAD_ID, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1)
        splits = {
            "train": SplitSummary(tw.num_groups, tw.num_puzzles, tw.num_examples),
            "test": SplitSummary(ew.num_groups, ew.num_puzzles, ew.num_examples),
        }
        named = [("train", train), ("test", test)]
        if val is not None:
            vw = SplitWriter(tmp / "val", seq_len, VOCAB_SIZE)
            vw.add_single_example_groups(val.inputs.reshape(-1, seq_len), val.labels.reshape(-1, seq_len), 1)
            vw.finish(pad_id=PAD_ID, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1)
            splits["val"] = SplitSummary(vw.num_groups, vw.num_puzzles, vw.num_examples)
            named.append(("val", val))
        lengths = {name: [int((rows.labels[i] == PATH).sum()) + 1 for i in range(len(rows))] for name, rows in named}
        summary = BuildSummary(
            kind="maze",
            seed=opts.seed,
            seq_len=seq_len,
            vocab_size=VOCAB_SIZE,
            num_puzzle_identifiers=1,
            splits=splits,
            options={
                "size": n,
                "aug": opts.aug,
                **({"num_val": opts.num_val} if opts.num_val else {}),
                "loop_prob": opts.loop_prob,
                "unique_path": opts.unique_path,
                "min_path_length": (hard_min_path_length(n) if opts.min_path_length is None else opts.min_path_length),
            },
            sources=sources,
            stats={
                "augmentation": "8 dihedral transforms per training maze" if opts.aug else "none",
                "path length (moves)": {
                    k: f"min {min(v)} mean {np.mean(v):.1f} max {max(v)}" for k, v in lengths.items()
                },
                "test mazes equivalent to a training maze": overlap,
            },
        )
        finish_root(tmp, ["<blank>"], summary)
    return out
