"""Property tests: random strings, bytes, grids and JSON thrown at the puzzle parsers never raise anything but a
one-line UserError, and whatever parses is a well-formed puzzle."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm.errors import UserError
from hrm.inference.puzzles import Puzzle, check_answer, encode_puzzle, load_puzzle
from tests.inference.helpers import ARC_TASK

KINDS = (None, "sudoku", "maze", "arc")
SETTINGS = settings(max_examples=150, deadline=None)


def parse_or_user_error(puzzle, kind=None, **kwargs) -> Puzzle | None:
    try:
        parsed = load_puzzle(puzzle, kind, **kwargs)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc)
        return None
    assert isinstance(parsed, Puzzle) and parsed.grid.ndim == 2 and parsed.grid.size > 0
    assert kind is None or parsed.kind == kind
    tokens = encode_puzzle(parsed)
    assert tokens.ndim == 1 and tokens.min() >= 0
    return parsed


@SETTINGS
@given(st.text(max_size=300).filter(lambda t: t != "-"))  # "-" reads stdin
def test_any_text(text):
    for kind in KINDS:
        parse_or_user_error(text, kind)


@SETTINGS
@given(
    st.text(alphabet="0123456789.", min_size=16, max_size=16)
    | st.text(alphabet="0123456789.", min_size=36, max_size=36)
)
def test_sudoku_like_strings(text):
    parsed = parse_or_user_error(text, "sudoku", sudoku_size=6)
    if parsed is not None:
        n = parsed.shape[0]
        assert n in (4, 6) and parsed.grid.min() >= 0 and parsed.grid.max() <= n


@SETTINGS
@given(st.lists(st.sampled_from(".........123456789"), min_size=81, max_size=81).map("".join))
def test_sparse_9x9_strings(text):
    parse_or_user_error(text, "sudoku")


@SETTINGS
@given(st.text(alphabet="# SGo.\n\rx", max_size=120))
def test_maze_like_text(text):
    parsed = parse_or_user_error(text, "maze")
    if parsed is not None:
        assert (parsed.grid == 3).sum() == 1 and (parsed.grid == 4).sum() == 1
        # Checking any answer (here the input itself) is safe as well. The input draws no path, so it is a valid
        # answer exactly when S and G are neighbours (a path of one move needs no path cell).
        (s_row, s_col), (g_row, g_col) = (tuple(np.argwhere(parsed.grid == v)[0]) for v in (3, 4))
        adjacent = abs(int(s_row) - int(g_row)) + abs(int(s_col) - int(g_col)) == 1
        assert check_answer(parsed, parsed.grid).valid == adjacent


grids = st.lists(st.lists(st.integers(-2, 12), min_size=0, max_size=6), min_size=0, max_size=6)


@SETTINGS
@given(grids)
def test_random_grids(grid):
    for kind in (None, "sudoku", "maze", "arc"):
        parse_or_user_error(grid, kind)
        parse_or_user_error(
            np.array(grid, dtype=object) if grid and all(len(r) == len(grid[0]) for r in grid) else grid, kind
        )


@SETTINGS
@given(grids, grids, grids)
def test_random_arc_tasks(a, b, c):
    task = {"train": [{"input": a, "output": b}], "test": [{"input": c}]}
    parsed = parse_or_user_error(task, "arc")
    if parsed is not None:
        assert parsed.grid.max() <= 9 and parsed.grid.min() >= 0
    parse_or_user_error(json.dumps(task), "arc")
    parse_or_user_error(json.dumps({"some-id": task}), None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 15) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["train", "test", "input", "output", "x"]), inner, max_size=4)
    ),
    max_leaves=25,
)


@SETTINGS
@given(json_values)
def test_random_json(value):
    text = json.dumps(value)
    for kind in KINDS:
        parse_or_user_error(text, kind)
    if isinstance(value, dict):
        parse_or_user_error(value, "arc")
    parse_or_user_error(json.dumps({**ARC_TASK, "test": [{"input": value}]}), "arc")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["p.txt", "p.json", "maze"]))
def test_random_files(data, name):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        for kind in KINDS:
            parse_or_user_error(path, kind)
