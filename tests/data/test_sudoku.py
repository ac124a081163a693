"""Sudoku: parsing, exact solving, unique-solution generation, readers' errors, and the dataset build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm.data import sudoku
from hrm.data.format import load_dataset_root
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.errors import UserError

HARD = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."  # Arto Inkala's
HARD_SOLUTION = "812753649943682175675491283154237896369845721287169534521974368438526917796318452"


def test_parse_encode_decode():
    g = sudoku.parse_sudoku(HARD)
    assert g.shape == (9, 9) and g[0, 0] == 8 and g[0, 1] == 0
    tokens = sudoku.encode(g)
    assert tokens.shape == (81,) and tokens.dtype == np.uint8
    assert tokens[0] == 9 and tokens[1] == 1  # digit d -> d + 1, blank -> 1
    np.testing.assert_array_equal(sudoku.decode(tokens), g)
    assert sudoku.format_sudoku(g) == HARD
    assert sudoku.vocab_size(9) == 11 and sudoku.vocab_size(6) == 8
    spaced = "\n".join(" ".join(HARD[r * 9 : (r + 1) * 9]) for r in range(9)).replace(".", "0")
    np.testing.assert_array_equal(sudoku.parse_sudoku(spaced), g)
    np.testing.assert_array_equal(sudoku.parse_sudoku("1..." * 4).shape, (4, 4))


@pytest.mark.parametrize(
    "text, msg",
    [
        ("12", "16, 36, 64 or 81 cells"),
        ("5" + "." * 15, r"bad character '5' at cell 1"),
        ("x" + "." * 80, "bad character 'x'"),
    ],
)
def test_parse_errors(text, msg):
    with pytest.raises(UserError, match=msg):
        sudoku.parse_sudoku(text)


def test_box_shapes():
    assert [sudoku.box_shape(n) for n in (4, 6, 9)] == [(2, 2), (2, 3), (3, 3)]
    with pytest.raises(UserError):
        sudoku.box_shape(7)
    units = sudoku.unit_indices(6)
    assert units.shape == (18, 6)
    assert sorted(units[12].tolist()) == [0, 1, 2, 6, 7, 8]  # first 2×3 box


def test_solver_is_exact():
    found = sudoku.solve(sudoku.parse_sudoku(HARD))
    assert len(found) == 1 and sudoku.format_sudoku(found[0]) == HARD_SOLUTION
    assert sudoku.is_valid_solution(found[0], sudoku.parse_sudoku(HARD))
    assert len(sudoku.solve(np.zeros((9, 9), np.uint8), max_solutions=2)) == 2
    assert sudoku.solve(sudoku.parse_sudoku("11" + "." * 79)) == []
    assert len(sudoku.solve(sudoku.parse_sudoku(HARD_SOLUTION))) == 1


def test_solver_on_shared_hardest(shared_data):
    d = shared_data / "sudoku"
    puzzles = (d / "puzzles6_forum_hardest_1106.txt").read_text().split()[:15]
    solutions = (d / "puzzles6_forum_hardest_1106.solutions.txt").read_text().split()[:15]
    for p, s in zip(puzzles, solutions):  # speed is benchmarks/bench_data_build.py's business, not a test's
        found = sudoku.solve(sudoku.parse_sudoku(p))
        assert len(found) == 1 and sudoku.format_sudoku(found[0]) == s
    serg = (d / "puzzles7_serg_benchmark.txt").read_text().split()[0]
    assert len(sudoku.solve(sudoku.parse_sudoku(serg))) == 2


@settings(max_examples=12, deadline=None)
@given(n=st.sampled_from([4, 6]), seed=st.integers(0, 2**32 - 1))
def test_generated_puzzles_have_exactly_one_solution(n, seed):
    rng = np.random.default_rng(seed)
    givens = {4: 7, 6: 18}[n]
    puzzle, solution = sudoku.generate(n, givens, rng)
    assert np.count_nonzero(puzzle) == givens
    found = sudoku.solve(puzzle, max_solutions=2)
    assert len(found) == 1
    np.testing.assert_array_equal(found[0], solution)
    assert sudoku.is_valid_solution(solution, puzzle)


def test_generate_9x9_and_minimal():
    rng = np.random.default_rng(1)
    p, s = sudoku.generate(9, (24, 26), rng)
    assert 24 <= np.count_nonzero(p) <= 26 and len(sudoku.solve(p)) == 1
    p, s = sudoku.generate(6, "minimal", rng)
    assert len(sudoku.solve(p)) == 1
    for cell in np.flatnonzero(p.reshape(-1)):  # minimal: every given is needed
        q = p.reshape(-1).copy()
        q[cell] = 0
        assert len(sudoku.solve(q.reshape(6, 6))) == 2


def test_generate_many_for_the_cpu_demo():
    # The demo's generation (its time is measured by benchmarks/bench_data_build.py, never asserted here).
    p, s = sudoku.generate_many(1500, 6, 20, np.random.default_rng(0))
    assert len({r.tobytes() for r in p}) == 1500
    assert sudoku.solutions_valid(s, 6).all() and sudoku.consistent_with_givens(p, s, 6).all()


# ----------------------------------------------------------------------------------------------------------------
# readers


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def test_line_file_tolerates_crlf_blank_and_zero(tmp_path):
    p = _write(tmp_path / "p.txt", "# header\r\n" + HARD.replace(".", "0") + "\r\n\r\n" + HARD + "\n")
    rows = sudoku.read_puzzle_lines(p)
    assert len(rows) == 2 and list(rows.lines) == [2, 4]
    assert sudoku.format_sudoku(rows.solutions[0]) == HARD_SOLUTION


@pytest.mark.parametrize(
    "text, msg",
    [
        (HARD + "\n" + HARD[:80] + "\n", r"p.txt:2: puzzle has 80 characters, expected 81"),
        (HARD + "\n" + "A" + HARD[1:] + "\n", r"p.txt:2: bad character 'A' at cell 1"),
        ("88" + HARD[2:] + "\n", r"p.txt:1: contradictory givens: digit 8 appears twice in row 1"),
        ("." * 81 + "\n", r"p.txt:1: the puzzle has several solutions"),
        ("12345678." + "........9" + "." * 63 + "\n", r"p.txt:1: the puzzle has no solution"),
    ],
)
def test_line_file_errors_name_file_and_line(tmp_path, text, msg):
    with pytest.raises(UserError, match=msg):
        sudoku.read_puzzle_lines(_write(tmp_path / "p.txt", text))


def test_solutions_file_is_checked(tmp_path):
    p = _write(tmp_path / "p.txt", HARD + "\n")
    with pytest.raises(UserError, match="1 puzzles"):
        sudoku.read_puzzle_lines(p, _write(tmp_path / "s.txt", HARD_SOLUTION + "\n" + HARD_SOLUTION + "\n"))
    wrong = HARD_SOLUTION[1] + HARD_SOLUTION[0] + HARD_SOLUTION[2:]
    with pytest.raises(UserError, match=r"s.txt:1: not a valid 9×9 Sudoku solution"):
        sudoku.read_puzzle_lines(p, _write(tmp_path / "s.txt", wrong + "\n"))


def _csv(path: Path, rows: list[tuple[str, str, str]], header="source,question,answer,rating") -> Path:
    return _write(path, header + "\n" + "".join(f"src,{q},{a},{r}\n" for q, a, r in rows))


def test_csv_reader_and_min_difficulty(tmp_path):
    p = _csv(tmp_path / "t.csv", [(HARD, HARD_SOLUTION, "5"), (HARD, HARD_SOLUTION, "30")])
    assert len(sudoku.read_sudoku_csv(p)) == 2
    hard = sudoku.read_sudoku_csv(p, min_difficulty=10)
    assert len(hard) == 1 and list(hard.lines) == [3]


@pytest.mark.parametrize(
    "rows, header, msg",
    [
        ([(HARD, HARD_SOLUTION, "1")], "a,b,c", r"t.csv:1: header must name"),
        ([(HARD[:-1], HARD_SOLUTION, "1")], None, r"t.csv:2: question has 80 characters, expected 81"),
        ([(HARD, HARD_SOLUTION.replace("8", "0", 1), "1")], None, r"t.csv:2: bad character '0'.*answer"),
        (
            [(HARD, HARD_SOLUTION[1] + HARD_SOLUTION[0] + HARD_SOLUTION[2:], "1")],
            None,
            r"t.csv:2: the solution is not a valid",
        ),
        ([(HARD.replace("8", "1", 1), HARD_SOLUTION, "1")], None, r"t.csv:2: contradictory givens"),
    ],
)
def test_csv_errors(tmp_path, rows, header, msg):
    p = _csv(tmp_path / "t.csv", rows, header or "source,question,answer,rating")
    with pytest.raises(UserError, match=msg):
        sudoku.read_sudoku_csv(p)


def test_csv_wrong_column_count(tmp_path):
    p = _write(tmp_path / "t.csv", f"source,question,answer,rating\nx,{HARD},{HARD_SOLUTION}\n")
    with pytest.raises(UserError, match=r"t.csv:2: 3 columns, expected 4"):
        sudoku.read_sudoku_csv(p)


# ----------------------------------------------------------------------------------------------------------------
# builds


@pytest.fixture(scope="module")
def extreme_csv(tmp_path_factory, shared_data) -> Path:
    """A Sudoku-Extreme-format CSV of 150 hard puzzles (the hidden check's input format)."""
    d = shared_data / "sudoku"
    ps = (d / "puzzles5_forum_hardest_1905_11+.txt").read_text().split()[:150]
    ss = (d / "puzzles5_forum_hardest_1905_11+.solutions.txt").read_text().split()[:150]
    return _csv(
        tmp_path_factory.mktemp("csv") / "extreme.csv", [(p, s, str(i % 40)) for i, (p, s) in enumerate(zip(ps, ss))]
    )


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_extreme_csv_build_counts_validity_and_determinism(tmp_path, extreme_csv):
    opts = dict(train_csv=extreme_csv, test_csv=extreme_csv, subsample_size=100, num_aug=2, seed=0, show_progress=False)
    root = build_sudoku_dataset(SudokuBuildOptions(out=tmp_path / "a", **opts))
    ds = load_dataset_root(root)
    train, test = ds.train.set(), ds.test.set()
    meta = ds.train.metadata
    assert (meta.seq_len, meta.vocab_size, meta.num_puzzle_identifiers, meta.pad_id, meta.ignore_label_id) == (
        81,
        11,
        1,
        0,
        0,
    )
    assert train["inputs"].shape == (300, 81) and ds.train.metadata.total_groups == 100
    np.testing.assert_array_equal(train["group_indices"], np.arange(0, 301, 3))
    np.testing.assert_array_equal(train["puzzle_indices"], np.arange(301))
    assert not train["puzzle_identifiers"].any() and ds.identifiers == ["<blank>"]
    # every training example (original or shuffled) is a valid puzzle/solution pair
    inputs = np.asarray(train["inputs"]).astype(np.int64) - 1
    labels = np.asarray(train["labels"]).astype(np.int64) - 1
    assert sudoku.solutions_valid(labels, 9).all() and sudoku.consistent_with_givens(inputs, labels, 9).all()
    # each group's first puzzle is an original CSV row; its variants have the same number of givens
    csv_rows = sudoku.read_sudoku_csv(extreme_csv)
    originals = {p.tobytes() for p in csv_rows.puzzles}
    for g in range(100):
        block = inputs[3 * g : 3 * g + 3]
        assert block[0].astype(np.uint8).tobytes() in originals
        assert len({int(np.count_nonzero(b)) for b in block}) == 1
    # test split: every CSV row, in file order, unaugmented
    np.testing.assert_array_equal(np.asarray(test["inputs"]), csv_rows.puzzles + 1)
    np.testing.assert_array_equal(np.asarray(test["labels"]), csv_rows.solutions + 1)
    # byte-identical rebuild; another seed differs
    again = build_sudoku_dataset(SudokuBuildOptions(out=tmp_path / "b", **opts))
    assert _tree_bytes(root) == _tree_bytes(again)
    other = build_sudoku_dataset(SudokuBuildOptions(out=tmp_path / "c", **dict(opts, seed=1)))
    assert _tree_bytes(root)["train/all__inputs.npy"] != _tree_bytes(other)["train/all__inputs.npy"]


def test_generated_6x6_build(tmp_path):
    root = build_sudoku_dataset(
        SudokuBuildOptions(
            out=tmp_path / "g",
            size=6,
            num_train=60,
            num_test=30,
            givens="18-20",
            num_aug=3,
            seed=4,
            show_progress=False,
        )
    )
    ds = load_dataset_root(root)
    assert ds.train.metadata.seq_len == 36 and ds.train.metadata.vocab_size == 8
    assert ds.train.set()["inputs"].shape == (240, 36) and ds.test.set()["inputs"].shape == (30, 36)
    tr = np.asarray(ds.train.set()["inputs"]).astype(np.int64) - 1
    te = np.asarray(ds.test.set()["inputs"]).astype(np.int64) - 1
    assert not ({r.tobytes() for r in tr[::4]} & {r.tobytes() for r in te})
    for p in te[:10]:
        assert len(sudoku.solve(p.reshape(6, 6))) == 1 and 18 <= np.count_nonzero(p) <= 20
    labels = np.asarray(ds.train.set()["labels"]).astype(np.int64) - 1
    assert sudoku.solutions_valid(labels, 6).all() and sudoku.consistent_with_givens(tr, labels, 6).all()


def test_sudoku_extreme_like_recipe(tmp_path, shared_data):
    opts = sudoku.sudoku_extreme_like_options(
        shared_data, tmp_path / "x", seed=0, subsample_size=50, num_aug=1, show_progress=False
    )
    ds = load_dataset_root(build_sudoku_dataset(opts))
    d = shared_data / "sudoku"
    pool = set((d / "puzzles5_forum_hardest_1905_11+.txt").read_text().split())
    tests = (d / "puzzles3_magictour_top1465.txt").read_text().split() + (
        d / "puzzles6_forum_hardest_1106.txt"
    ).read_text().split()
    expected = [t for t in tests if t not in pool]
    got = [sudoku.format_sudoku(r - 1) for r in np.asarray(ds.test.set()["inputs"]).astype(np.int64)]
    assert len(got) <= len(expected) and set(got) <= set(expected) and len(got) > 1600
    assert not set(got) & pool
    train_inputs = np.asarray(ds.train.set()["inputs"])[::2].astype(np.int64) - 1
    assert {sudoku.format_sudoku(r) for r in train_inputs} <= pool and len(train_inputs) == 50
    picked = json.loads((tmp_path / "x" / sudoku.SUBSAMPLE_FILE).read_text())
    lines = (d / "puzzles5_forum_hardest_1905_11+.txt").read_text().splitlines()
    assert picked["files"] == ["puzzles5_forum_hardest_1905_11+.txt"] and picked["pool_size"] == 48766
    assert [lines[line - 1] for _, line in picked["rows"]] == [sudoku.format_sudoku(r) for r in train_inputs]


def test_build_errors(tmp_path, extreme_csv):
    with pytest.raises(UserError, match="no training puzzles"):
        build_sudoku_dataset(SudokuBuildOptions(out=tmp_path / "x", test_csv=extreme_csv, show_progress=False))
    (tmp_path / "exists").mkdir()
    with pytest.raises(UserError, match="already exists"):
        build_sudoku_dataset(
            SudokuBuildOptions(
                out=tmp_path / "exists", train_csv=extreme_csv, test_csv=extreme_csv, show_progress=False
            )
        )
    bad = _write(tmp_path / "bad.txt", HARD + "\n" + "." * 81 + "\n")
    with pytest.raises(UserError, match="bad.txt:2: the puzzle has several solutions"):
        build_sudoku_dataset(
            SudokuBuildOptions(out=tmp_path / "y", train_puzzles=[bad], test_csv=extreme_csv, show_progress=False)
        )
    assert not (tmp_path / "y").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "exists"]  # no partial folders
