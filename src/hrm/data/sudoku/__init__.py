"""Sudoku: parse, encode/decode, validate, solve exactly, generate, and build datasets (hrm-reference.md §4.3).

Boards are n×n with boxes of ``box_shape(n)`` (4 → 2×2, 6 → 2×3, 8 → 2×4, 9 → 3×3, 12 → 3×4, 16 → 4×4); digits are
1..n and 0 is a blank. Tokens follow the reference: token = digit + 1, so blank → 1, digits → 2..n+1 and 0 is PAD
(unused); vocab = n + 2 (11 for 9×9), seq_len = n² (81). Labels are the full solution, givens included;
``ignore_label_id = 0`` (PAD), one shared puzzle identifier (0).

Sources for a build: the Sudoku-Extreme CSV format (``source,question,answer,rating``), puzzle line files
(n² characters per line, ``.`` or ``0`` blank) with an optional solutions file (otherwise :func:`solve` fills the
labels and rejects puzzles with zero or several solutions), and :func:`generate` (unique-solution puzzles with a
chosen number of givens, or minimal ones).

The package, one module per job: :mod:`~.grid` (boards, tokens, parsing, validity), :mod:`~.solver` (the exact
solver), :mod:`~.generator` (unique-solution puzzles), :mod:`~.readers` (CSV and line files), :mod:`~.build`
(``hrm data sudoku``) and :mod:`~.online` (training-time augmentation). Everything public is importable from
``hrm.data.sudoku``.
"""

from hrm.data.sudoku.build import (
    SudokuBuildOptions,
    build_sudoku_dataset,
    sudoku_extreme_like_options,
)
from hrm.data.sudoku.generator import (
    DEFAULT_GIVENS,
    GivensSpec,
    generate,
    generate_many,
    parse_givens,
)
from hrm.data.sudoku.grid import (
    BLANK_TOKEN,
    PAD_ID,
    SUBSAMPLE_FILE,
    TEXT_SIZES,
    board_side,
    box_shape,
    consistent_with_givens,
    decode,
    encode,
    format_sudoku,
    givens_conflict,
    is_valid_solution,
    parse_sudoku,
    solutions_valid,
    unit_conflicts,
    unit_indices,
    vocab_size,
)
from hrm.data.sudoku.online import (
    SudokuBatchAugmenter,
)
from hrm.data.sudoku.readers import (
    SudokuRows,
    concat_rows,
    read_puzzle_lines,
    read_sudoku_csv,
)
from hrm.data.sudoku.solver import (
    random_solution,
    solve,
)

__all__ = [
    "BLANK_TOKEN",
    "DEFAULT_GIVENS",
    "GivensSpec",
    "PAD_ID",
    "SUBSAMPLE_FILE",
    "SudokuBatchAugmenter",
    "SudokuBuildOptions",
    "SudokuRows",
    "TEXT_SIZES",
    "board_side",
    "box_shape",
    "build_sudoku_dataset",
    "concat_rows",
    "consistent_with_givens",
    "decode",
    "encode",
    "format_sudoku",
    "generate",
    "generate_many",
    "givens_conflict",
    "is_valid_solution",
    "parse_givens",
    "parse_sudoku",
    "random_solution",
    "read_puzzle_lines",
    "read_sudoku_csv",
    "solutions_valid",
    "solve",
    "sudoku_extreme_like_options",
    "unit_conflicts",
    "unit_indices",
    "vocab_size",
]
