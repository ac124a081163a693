"""Session-scoped tiny checkpoints shared by the inference tests."""

from __future__ import annotations

import pytest

from tests.inference import helpers


@pytest.fixture(scope="session")
def sudoku_ckpt(tmp_path_factory):
    return helpers.sudoku_checkpoint(tmp_path_factory.mktemp("sudoku") / "step-7")


@pytest.fixture(scope="session")
def halting_sudoku_ckpt(tmp_path_factory):
    """Its Q-head says halt at once (q_halt bias 5 > q_continue bias -5)."""
    return helpers.sudoku_checkpoint(tmp_path_factory.mktemp("sudoku-halt") / "step-7", halt_bias=(5.0, -5.0))


@pytest.fixture(scope="session")
def maze_ckpt(tmp_path_factory):
    return helpers.maze_checkpoint(tmp_path_factory.mktemp("maze") / "step-7")


@pytest.fixture(scope="session")
def arc_ckpt(tmp_path_factory):
    return helpers.arc_checkpoint(tmp_path_factory.mktemp("arc") / "step-7", halt_max_steps=2)
