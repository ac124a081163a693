"""Mazes: labels are shortest paths (checked by an independent BFS), readers, disjoint splits, determinism."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm.data import maze
from hrm.data.augment import dihedral_transform
from hrm.data.format import load_dataset_root
from hrm.data.maze import MazeBuildOptions, build_maze_dataset
from hrm.errors import UserError


def _shortest(grid: np.ndarray) -> int:
    """Independent BFS over characters: moves on a shortest S→G path (-1 if none)."""
    n = grid.shape[0]
    s = tuple(np.argwhere(grid == maze.START)[0])
    g = tuple(np.argwhere(grid == maze.GOAL)[0])
    dist = {s: 0}
    q = deque([s])
    while q:
        r, c = q.popleft()
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < n and 0 <= nc < n and grid[nr, nc] != maze.WALL and (nr, nc) not in dist:
                dist[(nr, nc)] = dist[(r, c)] + 1
                q.append((nr, nc))
    return dist.get(g, -1)


def _path_is_shortest(inp: np.ndarray, lab: np.ndarray) -> bool:
    """Walk the 'o' cells from S: each step to exactly one unvisited path cell (or G); count moves."""
    n = inp.shape[0]
    cur = tuple(np.argwhere(lab == maze.START)[0])
    goal = tuple(np.argwhere(lab == maze.GOAL)[0])
    visited = {cur}
    moves = 0
    while cur != goal:
        nxt = [
            (r, c)
            for r, c in ((cur[0] + 1, cur[1]), (cur[0] - 1, cur[1]), (cur[0], cur[1] + 1), (cur[0], cur[1] - 1))
            if 0 <= r < n and 0 <= c < n and (r, c) not in visited and lab[r, c] in (maze.PATH, maze.GOAL)
        ]
        if goal in nxt:
            nxt = [goal]
        if len(nxt) != 1:
            return False
        cur = nxt[0]
        visited.add(cur)
        moves += 1
    on_path = int((lab == maze.PATH).sum())
    unchanged = np.array_equal(np.where(lab == maze.PATH, maze.OPEN, lab), inp)
    return unchanged and on_path == moves - 1 and moves == _shortest(inp)


def test_encoding_and_threshold():
    assert maze.VOCAB_SIZE == 6 and maze.CHARSET == "# SGo"
    t = maze.encode(["#S ", " oG", "###"])
    np.testing.assert_array_equal(t, [[1, 3, 2], [2, 5, 4], [1, 1, 1]])
    assert maze.decode(t) == "#S \n oG\n###"
    assert maze.hard_min_path_length(30) == 110 and maze.hard_min_path_length(10) == 12


@settings(max_examples=15, deadline=None)
@given(n=st.sampled_from([6, 9, 12, 30]), seed=st.integers(0, 2**32 - 1))
def test_generated_labels_are_shortest_paths(n, seed):
    inp, lab, length = maze.generate(n, np.random.default_rng(seed))
    assert length > maze.hard_min_path_length(n) and length == _shortest(inp)
    assert _path_is_shortest(inp, lab)
    assert maze.verify_label(inp, lab) is None
    for t in range(8):  # dihedral augmentation keeps labels shortest
        assert _path_is_shortest(dihedral_transform(inp, t), dihedral_transform(lab, t))


def test_unique_path_option():
    rng = np.random.default_rng(3)
    for _ in range(5):
        inp, _, _ = maze.generate(12, rng, unique_path=True)
        s = int(np.flatnonzero(inp.reshape(-1) == maze.START)[0])
        g = int(np.flatnonzero(inp.reshape(-1) == maze.GOAL)[0])
        _, count = maze.bfs(inp.reshape(-1) != maze.WALL, s, 12)
        assert count[g] == 1


def test_verify_rejects_bad_labels():
    inp = maze.encode(["S   ", "### ", "    ", "G###"])
    lab, length, count = maze.solve(inp)
    assert length == 9 and count == 1 and maze.verify_label(inp, lab) is None
    longer = maze.encode(["S  o", "###o", "oooo", "G###"])  # wrong: skips cells
    assert maze.verify_label(inp, longer) is not None
    through_wall = lab.copy()
    through_wall[1, 0] = maze.PATH
    assert "wall" in maze.verify_label(inp, through_wall)
    detour = maze.encode(["Sooo", "###o", "oooo", "G###"])
    assert maze.verify_label(inp, detour) is None  # the only route: is the shortest
    open_inp = maze.encode(["S   ", "    ", "   G", "    "])
    zigzag = maze.encode(["Soo ", "  oo", "   G", "    "])
    assert maze.verify_label(open_inp, zigzag) is None  # another shortest path is fine
    loop = maze.encode(["Sooo", "   o", "  oG", "    "])
    assert "moves" in maze.verify_label(open_inp, loop)


def test_label_problems_lists_every_broken_rule():
    inp = maze.encode(["S   ", "### ", "    ", "G###"])
    lab, _, _ = maze.solve(inp)
    assert maze.label_problems(inp, lab) == []
    bad = lab.copy()
    bad[1, 0] = maze.PATH  # through a wall
    bad[3, 1] = maze.OPEN  # a wall knocked down
    bad[2, 2] = maze.OPEN  # a gap in the path
    problems = maze.label_problems(inp, bad)
    assert problems == [
        "the label changes 1 cell other than marking the path",
        "the path runs through a wall, S or G (1 cell)",
        "the marked cells do not form a path from S to G",
    ]
    assert maze.verify_label(inp, bad) == problems[0]  # verify_label is the first of them
    assert maze.label_problems(inp, lab[:2]) == ["label and maze differ in size"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_read_text_mazes(tmp_path):
    p = _write(tmp_path / "m.txt", "S..#\n##.#\nG...\n####\n\nSoo#\n##o#\nGoo.\n####\n")
    rows = maze.read_text_mazes(p)
    assert len(rows) == 2 and rows.lines == [1, 6]
    np.testing.assert_array_equal(rows.labels[0], rows.labels[1])
    assert _path_is_shortest(rows.inputs[0], rows.labels[0])


@pytest.mark.parametrize(
    "text, msg",
    [
        ("S..\n##\nG..\n", r"m.txt:2: row has 2 characters"),
        ("S.x\n#..\nG..\n", r"m.txt:1: bad character 'x'"),
        ("S..\n...\n...\n", r"m.txt:1: a maze needs exactly one 'S' and one 'G'"),
        ("S.#\n###\n..G\n", r"m.txt:1: G cannot be reached"),
        ("Soo\no#.\noGo\n", r"m.txt:1: the marked path is not a shortest path"),
    ],
)
def test_text_maze_errors(tmp_path, text, msg):
    with pytest.raises(UserError, match=msg):
        maze.read_text_mazes(_write(tmp_path / "m.txt", text))


def test_maze_csv_reader(tmp_path):
    question = "S   # G  "  # 3×3, row-major
    answer = maze.decode(maze.solve(maze.encode(["S  ", " # ", "G  "]))[0]).replace("\n", "")
    p = _write(tmp_path / "m.csv", f"source,question,answer,rating\nx,{question},{answer},1\n")
    rows = maze.read_maze_csv(p)
    assert len(rows) == 1 and rows.inputs.shape == (1, 3, 3)
    assert _path_is_shortest(rows.inputs[0], rows.labels[0])
    bad = _write(tmp_path / "b.csv", f"source,question,answer,rating\nx,{question},{question},1\n")
    with pytest.raises(UserError, match=r"b.csv:2: the answer is not a shortest path"):
        maze.read_maze_csv(bad)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_disjoint_verified_deterministic(tmp_path):
    opts = dict(size=12, num_train=40, num_test=20, aug=True, seed=5, show_progress=False)
    root = build_maze_dataset(MazeBuildOptions(out=tmp_path / "a", **opts))
    ds = load_dataset_root(root)
    meta = ds.train.metadata
    assert (meta.seq_len, meta.vocab_size, meta.num_puzzle_identifiers, meta.ignore_label_id) == (144, 6, 1, 0)
    tr_in = np.asarray(ds.train.set()["inputs"]).reshape(-1, 12, 12)
    tr_lab = np.asarray(ds.train.set()["labels"]).reshape(-1, 12, 12)
    assert tr_in.shape[0] == 320 and meta.total_groups == 40  # 8 dihedral variants per maze
    te_in = np.asarray(ds.test.set()["inputs"]).reshape(-1, 12, 12)
    te_lab = np.asarray(ds.test.set()["labels"]).reshape(-1, 12, 12)
    for i, l in list(zip(tr_in, tr_lab)) + list(zip(te_in, te_lab)):
        assert _path_is_shortest(i, l)
        assert (l == maze.PATH).sum() + 1 > maze.hard_min_path_length(12)
    train_keys = {maze.canonical_key(m) for m in tr_in}
    assert not any(maze.canonical_key(m) in train_keys for m in te_in)
    assert _tree_bytes(root) == _tree_bytes(build_maze_dataset(MazeBuildOptions(out=tmp_path / "b", **opts)))


def test_build_from_text_files(tmp_path):
    p = _write(tmp_path / "m.txt", "S..#\n##.#\nG...\n####\n\n.S.#\n##.#\nG...\n####\n")
    root = build_maze_dataset(MazeBuildOptions(out=tmp_path / "d", train_file=p, test_file=p, show_progress=False))
    ds = load_dataset_root(root)
    assert ds.train.set()["inputs"].shape == (2, 16) and ds.test.set()["inputs"].shape == (2, 16)
