"""Parsing user puzzles: every bad input is a one-line UserError; answers are checked against the rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm.data import maze
from hrm.errors import UserError
from hrm.inference.puzzles import (
    KEPT,
    RIGHT,
    WRONG,
    cell_status,
    check_answer,
    decode_answer,
    detect_kind,
    encode_puzzle,
    load_puzzle,
    reference_answer,
)
from tests.inference.helpers import ARC_TASK, SUDOKU_6, SUDOKU_6_SOLUTION, maze_text
from tests.inference.helpers import load_digits as digits

# --- Sudoku ----------------------------------------------------------------------------------------------------


def test_sudoku_string_and_file(tmp_path):
    p = load_puzzle(SUDOKU_6)
    assert p.kind == "sudoku" and p.shape == (6, 6)
    np.testing.assert_array_equal(p.grid, digits(SUDOKU_6, 6))
    spaced = "\n".join(" ".join(SUDOKU_6[i : i + 6].replace(".", "0")) for i in range(0, 36, 6))
    f = tmp_path / "p.txt"
    f.write_text(spaced + "\n")
    q = load_puzzle(str(f), "sudoku")
    np.testing.assert_array_equal(q.grid, p.grid)
    assert q.source == str(f)
    np.testing.assert_array_equal(reference_answer(p), digits(SUDOKU_6_SOLUTION, 6))
    # Tokens follow the dataset encoding: blank -> 1, digit d -> d + 1.
    tokens = encode_puzzle(p)
    assert tokens.shape == (36,) and tokens[0] == 1 and tokens[4] == 5


@pytest.mark.parametrize(
    "text, match",
    [
        (SUDOKU_6[:-1], "36 characters"),
        (SUDOKU_6 + "1", "n² characters"),
        ("x" + SUDOKU_6[1:], "bad character 'x'"),
        ("7" + SUDOKU_6[1:], "1-6"),
        ("4" + SUDOKU_6[1:], "contradictory givens: digit 4 appears twice in row 1"),
        # No repeated digit, but row 1 column 3 can hold nothing (1, 2 in its row, 3 in its column, 4 in its box).
        ("12.....4......3.", "contradictory givens: no completion"),
        ("", "empty puzzle"),
        ("   \n ", "empty puzzle"),
    ],
)
def test_sudoku_bad_input(text, match):
    with pytest.raises(UserError, match=match) as info:
        load_puzzle(text, "sudoku", sudoku_size=6 if match == "36 characters" else None)
    assert "\n" not in str(info.value)


def test_sudoku_grid_inputs():
    p = load_puzzle(digits(SUDOKU_6, 6).tolist())
    assert p.kind == "sudoku"
    for bad in ([[1, 2], [3, 4]], [[0.5] * 4] * 4, [[9] * 4] * 4, [[1, 2, 3], [1]]):
        with pytest.raises(UserError):
            load_puzzle(bad)


def test_sudoku_answer_checks():
    p = load_puzzle(SUDOKU_6)
    solution = reference_answer(p)
    ok = check_answer(p, solution, solution)
    assert ok.valid and ok.correct
    blank = solution.copy()
    blank[0, 0] = 0
    assert "1 cell left blank" in check_answer(p, blank, solution).reason
    changed_given = solution.copy()
    changed_given[0, 4], changed_given[0, 5] = changed_given[0, 5], changed_given[0, 4]
    res = check_answer(p, changed_given, solution)
    assert not res.valid and "given 4 at row 1, column 5" in res.reason
    swapped = solution.copy()
    swapped[1, 0], swapped[1, 3] = swapped[1, 3], swapped[1, 0]  # breaks columns, keeps the givens
    res = check_answer(p, swapped, solution)
    assert not res.valid and "appears twice" in res.reason and res.correct is False
    status = cell_status(p, swapped, solution)
    assert status[0, 4] == KEPT and status[0, 0] == RIGHT and status[1, 0] == WRONG


def test_every_broken_rule_is_listed():
    p = load_puzzle(SUDOKU_6)
    solution = reference_answer(p)
    bad = solution.copy()
    bad[1, 0], bad[1, 1] = 0, 0  # two blanks (one of them a given: counted once, as a blank)
    bad[0, 4] = 2  # a given (4) changed: now row 1, column 5 and box 2 hold two 2s
    res = check_answer(p, bad, solution)
    assert res.problems == [
        "2 cells left blank",
        "the given 4 at row 1, column 5 was changed to 2",
        "digit 2 appears twice in row 1",
        "digit 2 appears twice in column 5",
        "digit 2 appears twice in box 2",
    ]
    assert not res.valid and res.reason.startswith("the answer breaks 5 rules: 2 cells left blank; the given 4")
    assert res.reason.endswith("; and 1 more")
    assert check_answer(p, solution, solution).problems == []
    text, _ = maze_text()
    m = load_puzzle(text.split("\n"))
    everywhere = np.full_like(m.grid, maze.PATH)  # every cell marked: walls, S and G too, and far too long
    res = check_answer(m, everywhere)
    assert not res.valid and len(res.problems) == 2
    assert "runs through a wall, S or G" in res.problems[0] and "moves but the shortest has" in res.problems[1]
    assert res.reason.startswith("the answer breaks 2 rules: the path runs through a wall")
    gap = maze.solve(m.grid)[0]
    r, c = np.argwhere(gap == maze.PATH)[0]
    gap[r, c] = maze.WALL  # an open cell of the path turned into a wall
    res = check_answer(m, gap)
    assert "the answer changes 1 cell other than marking the path" in res.problems


def test_decode_answer_round_trip():
    p = load_puzzle(SUDOKU_6)
    solution = reference_answer(p)
    np.testing.assert_array_equal(decode_answer(p, solution.reshape(-1) + 1), solution)


# --- Maze ------------------------------------------------------------------------------------------------------


def test_maze_file(tmp_path):
    text, length = maze_text()
    f = tmp_path / "m.txt"
    f.write_text(text + "\n")
    p = load_puzzle(str(f))
    assert p.kind == "maze" and p.shape == (8, 8) and p.expected is None
    label, dist, _ = maze.solve(p.grid)
    assert dist == length
    res = check_answer(p, label)
    assert res.valid and res.correct and f"{length} moves" in res.reason
    wrong = p.grid.copy()
    wrong[wrong == maze.OPEN] = maze.PATH
    res = check_answer(p, wrong)
    assert not res.valid and not res.correct
    status = cell_status(p, label)
    assert (status[label == maze.PATH] == RIGHT).all()


def test_maze_with_marked_path_becomes_expected(tmp_path):
    text, _ = maze_text()
    label, _, _ = maze.solve(maze.encode(text))
    f = tmp_path / "solved.txt"
    f.write_text(maze.decode(label))
    p = load_puzzle(str(f), "maze")
    assert not (p.grid == maze.PATH).any()
    np.testing.assert_array_equal(p.expected, label)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t: t.replace("S", " "), "exactly one 'S' and one 'G'"),
        (lambda t: t.replace("G", " "), "exactly one 'S' and one 'G'"),
        (lambda t: t.replace("G", "S"), "exactly one 'S' and one 'G'"),
        (lambda t: t.replace("#", "x", 1), "bad maze character 'x'"),
        (lambda t: t + "\n#", "must be square"),
        (lambda t: t + "\n\n" + t, "one maze per file"),
        (lambda t: "\n\n", "empty puzzle"),
    ],
)
def test_maze_bad_input(tmp_path, edit, match):
    text, _ = maze_text()
    f = tmp_path / "m.txt"
    f.write_text(edit(text))
    with pytest.raises(UserError, match=match):
        load_puzzle(str(f), "maze")


def test_maze_unreachable_goal():
    rows = ["S#  ", "##  ", "    ", "   G"]
    with pytest.raises(UserError, match="cannot be reached"):
        load_puzzle(rows, "maze")


# --- ARC -------------------------------------------------------------------------------------------------------


def test_arc_file_task_id_from_name(tmp_path):
    f = tmp_path / "abc123.json"
    f.write_text(json.dumps(ARC_TASK))
    p = load_puzzle(str(f), "arc")
    assert p.kind == "arc" and p.task.task_id == "abc123" and len(p.task.train) == 2
    np.testing.assert_array_equal(p.expected, [[3, 3], [3, 3]])
    assert encode_puzzle(p).shape == (900,)
    assert check_answer(p, p.expected).correct
    bad = check_answer(p, np.array([[7]]))
    assert not bad.valid and "colour 7" in bad.reason and bad.correct is False
    assert not check_answer(p, np.zeros((0, 0), int)).valid


def test_arc_collection_file_and_dict(tmp_path):
    f = tmp_path / "tasks.json"
    f.write_text(json.dumps({"t1": ARC_TASK}))
    assert load_puzzle(str(f)).task.task_id == "t1"
    f.write_text(json.dumps({"t1": ARC_TASK, "t2": ARC_TASK}))
    with pytest.raises(UserError, match="choose one with --task-id"):
        load_puzzle(str(f))
    assert load_puzzle(str(f), task_id="t2").task.task_id == "t2"
    unanswered = {"train": ARC_TASK["train"], "test": [{"input": [[1]]}]}
    p = load_puzzle(unanswered, "arc")
    assert p.expected is None and p.task.task_id is None


@pytest.mark.parametrize(
    "text, match",
    [
        ("{", "malformed ARC JSON"),
        ("[1, 2]", "expected an object"),
        ('{"train": []}', "no 'test' list"),
        ('{"train": [], "test": []}', "no test input"),
        ('{"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}', "has no 'output'"),
        ('{"train": [], "test": [{"input": [[1, 2], [3]]}]}', "ragged"),
        ('{"train": [], "test": [{"input": [[10]]}]}', "integers 0-9"),
        ('{"train": [], "test": [{"input": [[true]]}]}', "integers 0-9"),
        ('{"train": [], "test": [{"input": [[1.0]]}]}', "integers 0-9"),
        ('{"train": [], "test": [{"input": []}]}', "non-empty"),
        ("[" * 100000, "malformed ARC JSON"),
    ],
)
def test_arc_bad_input(text, match):
    with pytest.raises(UserError, match=match):
        load_puzzle(text, "arc")


def test_arc_test_index_out_of_range():
    with pytest.raises(UserError, match="test index 3"):
        load_puzzle(ARC_TASK, "arc", test_index=3)


# --- Detection and sources -------------------------------------------------------------------------------------


def test_detect_kind():
    assert detect_kind(SUDOKU_6) == "sudoku"
    assert detect_kind(maze_text()[0]) == "maze"
    assert detect_kind(json.dumps(ARC_TASK)) == "arc"


def test_kind_mismatch_and_missing_files(tmp_path):
    f = tmp_path / "m.txt"
    f.write_text(maze_text()[0])
    with pytest.raises(UserError, match="is a maze puzzle but the checkpoint was trained on sudoku"):
        load_puzzle(str(f), "sudoku")
    with pytest.raises(UserError, match="is an arc puzzle"):
        load_puzzle(json.dumps(ARC_TASK), "sudoku")
    with pytest.raises(UserError, match="no such file"):
        load_puzzle(str(tmp_path / "missing.txt"))
    with pytest.raises(UserError, match="is a directory"):
        load_puzzle(tmp_path)
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="not UTF-8"):
        load_puzzle(str(binary))
