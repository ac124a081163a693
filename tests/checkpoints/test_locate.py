"""One resolver for what a user passes as a checkpoint: step dir, run dir, RUN/best, RUN/latest (and nothing else)."""

import json

import pytest
import torch

import hrm
from hrm.checkpoints import latest_checkpoint, list_checkpoints, open_checkpoint, resolve_checkpoint, save_checkpoint
from hrm.checkpoints.locate import BEST_FILE, best_checkpoint
from hrm.errors import UserError
from hrm.model import HRM
from tests.conftest import tiny_config


@pytest.fixture
def run(tmp_path):
    torch.manual_seed(0)
    model = HRM(tiny_config())
    run = tmp_path / "run"
    for step in (4, 8, 12):
        save_checkpoint(run / f"step-{step}", model, meta={"step": step})
    (run / ".step-16.tmp-x").mkdir()  # an interrupted save is never a checkpoint
    (run / "step-20").mkdir()  # nor is a step directory without weights
    (run / BEST_FILE).write_text(json.dumps({"step": 8, "metric": "exact_accuracy", "value": 0.5}))
    return run


def test_locating(run):
    assert [s for s, _ in list_checkpoints(run)] == [4, 8, 12]
    assert latest_checkpoint(run) == run / "step-12"
    assert latest_checkpoint(run, resumable=True) is None  # none holds a train_state.pt
    assert best_checkpoint(run) == run / "step-8"


@pytest.mark.parametrize(
    "given, expected",
    [("", "step-12"), ("best", "step-8"), ("latest", "step-12"), ("step-4", "step-4")],
)
def test_every_entry_point_accepts_the_same_forms(run, given, expected):
    path = run / given if given else run
    assert resolve_checkpoint(path) == run / expected
    assert hrm.load_checkpoint(path).step == int(expected[5:])  # the README's hrm.load_checkpoint("RUN/best")
    assert open_checkpoint(path).path == run / expected


def test_best_falls_back_to_latest_without_an_evaluation(run):
    (run / BEST_FILE).unlink()
    assert resolve_checkpoint(run / "best") == run / "step-12"
    assert resolve_checkpoint(run, which="best") == run / "step-12"


def test_anything_else_is_a_one_line_user_error(run, tmp_path):
    (tmp_path / "empty").mkdir()
    for path, message in [
        (tmp_path / "nowhere", "not found"),
        (tmp_path / "nowhere" / "best", "not found"),
        (tmp_path / "empty", "holds no checkpoint"),
    ]:
        for load in (resolve_checkpoint, hrm.load_checkpoint, open_checkpoint):
            with pytest.raises(UserError, match=message) as info:
                load(path)
            assert "\n" not in str(info.value)
