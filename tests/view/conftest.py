"""An ARC evaluation output for the viewer tests (the tiny Sudoku fixtures are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def arc_eval_dir(tmp_path_factory):
    """An ARC evaluation output (voting details, segment predictions) of a tiny random model; ~8 s, built once."""
    import torch

    from tests.view.helpers import arc_evaluation_dir

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return arc_evaluation_dir(tmp_path_factory.mktemp("arc-view"))
    finally:
        torch.set_num_threads(before)
