"""hrm.solve on tiny random checkpoints: result fields, early exit, traces, the shipped-checkpoint default, ARC
identifier lookup and voting, and one-line errors for checkpoints trained on something else."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import hrm
from hrm.checkpoints import load_checkpoint, locate
from hrm.errors import UserError
from hrm.inference.solve import UnseenTaskError, model_kind, solve
from tests.inference import helpers
from tests.inference.helpers import SUDOKU_6, SUDOKU_6_SOLUTION


def test_solve_sudoku_result(sudoku_ckpt):
    r = solve(str(sudoku_ckpt), SUDOKU_6, device="cpu")
    assert r.kind == "sudoku" and r.answer.shape == (6, 6)
    assert 1 <= r.segments <= r.max_segments == 3
    assert 0.0 < r.confidence < 1.0
    assert r.confidence == pytest.approx(float(torch.sigmoid(torch.tensor(r.q_halt_logit))))
    assert isinstance(r.valid, bool) and r.reason
    np.testing.assert_array_equal(r.reference.reshape(-1), [int(c) for c in SUDOKU_6_SOLUTION])
    assert r.correct is (bool(np.array_equal(r.answer, r.reference)))
    assert r.trace is None and r.checkpoint == str(sudoku_ckpt)
    json.dumps(r.to_dict())


def test_top_level_api_accepts_model_checkpoint_and_path(sudoku_ckpt):
    ckpt = load_checkpoint(sudoku_ckpt)
    a = hrm.solve(ckpt, SUDOKU_6)
    b = hrm.solve(ckpt.model, SUDOKU_6)  # a bare model: the kind comes from vocab/seq_len
    c = hrm.solve(sudoku_ckpt, SUDOKU_6, device="cpu")
    for other in (b, c):
        np.testing.assert_array_equal(a.answer, other.answer)
        assert a.segments == other.segments and a.confidence == pytest.approx(other.confidence)


def test_early_exit_per_sample(halting_sudoku_ckpt, sudoku_ckpt):
    # The halting checkpoint's Q-head says halt at once; the other's never does (q_head starts at -5, -5).
    quick = solve(str(halting_sudoku_ckpt), SUDOKU_6, device="cpu")
    assert quick.segments == 1 and quick.halted_early and quick.confidence > 0.99
    full = solve(str(halting_sudoku_ckpt), SUDOKU_6, early_exit=False, device="cpu")
    assert full.segments == full.max_segments == 3 and not full.halted_early
    longer = solve(str(sudoku_ckpt), SUDOKU_6, max_segments=5, device="cpu")
    assert longer.segments == longer.max_segments == 5


def test_trace_matches_answer(sudoku_ckpt):
    r = solve(str(sudoku_ckpt), SUDOKU_6, trace=True, device="cpu")
    assert [s.segment for s in r.trace] == list(range(1, r.segments + 1))
    np.testing.assert_array_equal(r.trace[-1].answer, r.answer)
    assert r.trace[-1].confidence == pytest.approx(r.confidence)
    assert r.trace[0].changed == int((r.trace[0].answer != r.puzzle.grid).sum())
    for prev, seg in zip(r.trace, r.trace[1:]):
        assert seg.changed == int((seg.answer != prev.answer).sum())
    assert len(r.to_dict()["trace"]) == r.segments


def test_default_checkpoint_is_the_shipped_one_for_the_puzzle(tmp_path, monkeypatch):
    root = tmp_path / "pretrained"
    monkeypatch.setattr(locate, "pretrained_root", lambda: root)
    with pytest.raises(UserError, match=r"no shipped model for 6×6 Sudoku \(shipped: none\)"):
        hrm.solve(SUDOKU_6)
    # A run-directory layout (sudoku-6x6/step-N/) ...
    helpers.sudoku_checkpoint(root / "sudoku-6x6" / "step-12")
    r = hrm.solve(SUDOKU_6, device="cpu")
    assert r.checkpoint.endswith("step-12") and r.shipped == "sudoku-6x6"
    assert any("shipped sudoku-6x6" in note for note in r.notes)
    # ... or the step directory itself; a 4×4 puzzle picks the 4×4 model beside it.
    helpers.sudoku_checkpoint(root / "four", n=4)
    r = hrm.solve("1...2...3...4...", device="cpu")
    assert r.checkpoint == str(root / "four") and r.shipped == "four" and r.answer.shape == (4, 4)
    with pytest.raises(UserError, match=r"no shipped model for 8×8 maze \(shipped: 4×4 Sudoku \(four\), 6×6"):
        hrm.solve(helpers.maze_text()[0].split("\n"))
    # A given checkpoint is used as before, whatever is shipped.
    assert hrm.solve(str(root / "four"), "1...2...3...4...", device="cpu").shipped is None


def test_checkpoint_for_another_task_is_a_one_line_error(sudoku_ckpt, maze_ckpt, tmp_path):
    nine = "1" + "." * 80
    with pytest.raises(UserError, match=r"trained on 6×6 Sudoku \(vocab 8, seq_len 36\).*9×9 Sudoku"):
        solve(str(sudoku_ckpt), nine, device="cpu")
    with pytest.raises(UserError, match="6×6 Sudoku needs 36 characters"):
        solve(str(sudoku_ckpt), SUDOKU_6[:-2], device="cpu")
    four = helpers.sudoku_checkpoint(tmp_path / "four", n=4)
    with pytest.raises(UserError, match="4×4 Sudoku"):
        solve(str(four), SUDOKU_6, device="cpu")
    maze_file = tmp_path / "m.txt"
    maze_file.write_text(helpers.maze_text()[0])
    with pytest.raises(UserError, match="is a maze puzzle but the checkpoint was trained on sudoku"):
        solve(str(sudoku_ckpt), str(maze_file), device="cpu")
    with pytest.raises(UserError, match="is a sudoku puzzle but the checkpoint was trained on maze"):
        solve(str(maze_ckpt), "1" + "." * 15, device="cpu")
    big = tmp_path / "big.txt"
    big.write_text(helpers.maze_text(n=10)[0])
    with pytest.raises(UserError, match=r"8×8 mazes .* 10×10 maze"):
        solve(str(maze_ckpt), str(big), device="cpu")


def test_model_kind_guess():
    cfg = lambda v, s: helpers.tiny_model(v, s).config  # noqa: E731
    assert model_kind(cfg(11, 81)) == "sudoku"
    assert model_kind(cfg(6, 900)) == "maze"
    assert model_kind(cfg(12, 900)) == "arc"
    assert model_kind(cfg(6, 16), {"build": {"kind": "maze"}}) == "maze"  # metadata beats the guess
    with pytest.raises(UserError, match="cannot tell"):
        model_kind(cfg(5, 7))


def test_solve_maze(maze_ckpt, tmp_path):
    text, length = helpers.maze_text()
    f = tmp_path / "m.txt"
    f.write_text(text)
    r = solve(str(maze_ckpt), str(f), trace=True, device="cpu")
    assert r.kind == "maze" and r.answer.shape == (8, 8) and len(r.trace) == r.segments
    assert not r.valid and r.correct is False  # a random model does not find the path
    assert r.to_dict()["input"] == text.split("\n")


def test_solve_arc_known_task_and_views(arc_ckpt, tmp_path):
    task_file = helpers.write_arc_task(tmp_path / "abc123.json")
    r = solve(str(arc_ckpt), str(task_file), device="cpu")
    assert r.kind == "arc" and r.puzzle_identifier == 1 and r.views == 1
    assert r.correct is False  # the expected output is in the file
    voted = solve(str(arc_ckpt), str(task_file), views=3, device="cpu")
    assert voted.views == 3 and 1 <= voted.votes <= 3 and voted.puzzle_identifier == 1
    d = voted.to_dict()
    assert d["task_id"] == "abc123" and d["views"] == 3


def test_solve_arc_unseen_task_explains_transduction(arc_ckpt, tmp_path):
    task_file = helpers.write_arc_task(tmp_path / "never_seen.json")
    with pytest.raises(UnseenTaskError, match="not one of the 1 tasks.*transductive") as info:
        solve(str(arc_ckpt), str(task_file), device="cpu")
    assert "\n" not in str(info.value)
    anonymous = json.dumps(helpers.ARC_TASK)
    with pytest.raises(UserError, match="needs a task id"):
        solve(str(arc_ckpt), anonymous, device="cpu")
    # Forcing an identifier is possible (advanced) and skips the lookup.
    assert solve(str(arc_ckpt), anonymous, puzzle_id=2, device="cpu").puzzle_identifier == 2
    with pytest.raises(UserError, match="outside the model's table"):
        solve(str(arc_ckpt), anonymous, puzzle_id=99, device="cpu")


def test_shipped_checkpoint_if_present():
    # Size and contents of every shipped model: tests/checkpoints/test_shipped.py.
    shipped = locate.pretrained_dir()
    if not shipped.is_dir():
        pytest.skip("no checkpoint shipped yet at src/hrm/assets/pretrained/sudoku-6x6")
    r = hrm.solve(SUDOKU_6, device="cpu")
    assert r.kind == "sudoku" and r.answer.shape == (6, 6) and r.shipped == "sudoku-6x6"
