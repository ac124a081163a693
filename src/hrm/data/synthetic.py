"""Generate a synthetic dataset (Sudoku or maze) from a few numbers: what a recipe's ``data.generate`` builds on
first use, through the same builders as ``hrm data sudoku`` / ``hrm data maze``."""

from __future__ import annotations

from pathlib import Path

from hrm.errors import UserError

GENERATORS = ("sudoku", "maze")


def generate_dataset(
    kind: str,
    out: str | Path,
    *,
    size: int,
    num_train: int,
    num_test: int,
    num_aug: int,
    num_val: int = 0,
    seed: int,
    givens: int | str | tuple[int, int] = "minimal",
    test_givens: int | str | tuple[int, int] | None = None,
) -> Path:
    """Build a ``kind`` dataset (``sudoku`` or ``maze``) at ``out`` and return it.

    Sudoku: ``size``×``size`` boards with ``givens`` clues (a count, a range ``"30-40"`` or ``"minimal"``; the test
    split ``test_givens``, default the same), ``num_aug`` shuffled copies of each training puzzle. Maze:
    ``size``×``size`` mazes, dihedral augmentation when ``num_aug`` > 0. ``num_val`` > 0 adds a ``val/`` split drawn
    like the training puzzles, disjoint from train and test.
    """
    if kind == "sudoku":
        from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset

        options = SudokuBuildOptions(
            out=Path(out),
            size=size,
            num_train=num_train,
            num_test=num_test,
            num_val=num_val,
            givens=givens,
            test_givens=test_givens,
            num_aug=num_aug,
            seed=seed,
        )
        build_sudoku_dataset(options)
    elif kind == "maze":
        from hrm.data.maze import MazeBuildOptions, build_maze_dataset

        build_maze_dataset(
            MazeBuildOptions(
                out=Path(out),
                size=size,
                num_train=num_train,
                num_test=num_test,
                num_val=num_val,
                aug=num_aug > 0,
                seed=seed,
            )
        )
    else:
        raise UserError(f"unknown data.generate {kind!r}; choose one of {', '.join(GENERATORS)}")
    return Path(out)
