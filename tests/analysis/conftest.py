"""A tiny 4×4 Sudoku dataset and a matching tiny checkpoint for the analysis tests."""

from __future__ import annotations

import pytest

from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from tests.inference import helpers


@pytest.fixture(scope="session")
def sudoku4_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "sudoku4"
    build_sudoku_dataset(SudokuBuildOptions(out=out, size=4, num_train=8, num_test=24, givens=6, show_progress=False))
    return out


@pytest.fixture(scope="session")
def sudoku4_ckpt(tmp_path_factory):
    return helpers.sudoku_checkpoint(tmp_path_factory.mktemp("ckpt") / "step-7", n=4, halt_max_steps=4)


@pytest.fixture(scope="session")
def arc_eval_dir(tmp_path_factory):
    """An ARC evaluation output (voting details, segment predictions) of a tiny random model; ~8 s, built once."""
    import torch

    from tests.analysis.view_helpers import arc_evaluation_dir

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return arc_evaluation_dir(tmp_path_factory.mktemp("arc-view"))
    finally:
        torch.set_num_threads(before)
