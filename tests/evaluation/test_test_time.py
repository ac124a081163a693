"""Test-time scaling: symmetric views and their inverses, candidate picking, latent noise, evaluate/solve."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrm.cli import main
from hrm.data import sudoku
from hrm.data.maze import VOCAB_SIZE as MAZE_VOCAB
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.errors import UserError
from hrm.evaluation import test_time as tt
from tests.inference import helpers


def solutions(n: int, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([sudoku.random_solution(n, rng).reshape(-1) for _ in range(count)])


@pytest.mark.parametrize("n", [4, 6, 9])
def test_sudoku_views_keep_validity_and_invert_exactly(n):
    grids = solutions(n, 5)
    tokens = sudoku.encode(grids)
    views = tt.SudokuViews(n, 6, np.random.default_rng(1))
    assert len(views) == 6
    for view in range(6):
        moved = views.apply(tokens, view)
        assert sudoku.solutions_valid(moved - 1, n).all()
        assert np.array_equal(views.invert(moved, view), tokens)
    assert not np.array_equal(views.apply(tokens, 1), tokens)


def test_maze_views_are_the_dihedral_group_and_invert():
    tokens = np.random.default_rng(0).integers(1, MAZE_VOCAB, size=(3, 25))
    views = tt.MazeViews(5, 12)
    assert len(views) == 8  # at most the 8 dihedral transforms
    outs = {views.apply(tokens, v).tobytes() for v in range(8)}
    assert len(outs) == 8
    for v in range(8):
        assert np.array_equal(views.invert(views.apply(tokens, v), v), tokens)


def cands(preds, q=None):
    preds = np.asarray(preds)[:, None, :]  # K candidates for one row
    return tt.Candidates(preds, None if q is None else np.asarray(q, np.float32)[:, None], np.ones(preds.shape[:2]))


def test_pick_votes_breaks_ties_by_halting_confidence_and_respects_the_rule_check():
    c = cands([[1, 1], [2, 2], [2, 2], [3, 3]], q=[9.0, -1.0, -1.0, 5.0])
    assert pick(c, "vote") == [2, 2]  # two votes beat confidence
    assert pick(c, "halt") == [1, 1]  # the most confident single run
    tie = cands([[1, 1], [3, 3]], q=[-2.0, 4.0])
    assert pick(tie, "vote") == [3, 3]
    assert pick(cands([[1, 1], [3, 3]]), "vote") == [1, 1]  # no halting head: the earliest view
    allowed = np.array([[False], [False], [False], [True]])
    assert pick(c, "vote", allowed) == [3, 3]
    assert pick(c, "halt", np.zeros((4, 1), bool)) == [1, 1]  # nothing allowed: the whole pool


def pick(c, rule, allowed=None):
    return tt.pick(c, rule, allowed)[0].tolist()


def test_sudoku_valid_checks_rules_and_givens():
    grid = solutions(4, 1)[0]
    puzzle = grid.copy()
    puzzle[::3] = 0
    wrong = grid.copy()
    wrong[[0, 1]] = wrong[[1, 0]]
    other_givens = sudoku.encode(np.where(puzzle > 0, puzzle % 4 + 1, 0))
    c = cands([sudoku.encode(grid), sudoku.encode(wrong)])
    assert tt.sudoku_valid(c, sudoku.encode(puzzle)[None], 4)[:, 0].tolist() == [True, False]
    assert tt.sudoku_valid(c, other_givens[None], 4)[:, 0].tolist() == [False, False]


def test_state_noise_perturbs_every_recurrent_call_and_is_removed():
    model = helpers.tiny_model(sudoku.vocab_size(4), 16)
    model.eval()
    x = torch.as_tensor(sudoku.encode(solutions(4, 2)), dtype=torch.long)
    ids = torch.zeros(2, dtype=torch.long)
    clean = model.predict(x, ids, early_exit=False)["logits"]
    with tt.state_noise(model, 0.5, torch.Generator().manual_seed(0)):
        noisy = model.predict(x, ids, early_exit=False)["logits"]
    assert not torch.allclose(clean, noisy)
    assert torch.equal(model.predict(x, ids, early_exit=False)["logits"], clean)


@pytest.fixture(scope="module")
def sudoku4(tmp_path_factory):
    root = tmp_path_factory.mktemp("tt")
    data = root / "s4"
    build_sudoku_dataset(SudokuBuildOptions(out=data, size=4, num_train=4, num_test=12, givens=6, show_progress=False))
    return helpers.sudoku_checkpoint(root / "step-3", n=4, halt_max_steps=3), data


def test_evaluate_test_time_reports_gain_and_compute(sudoku4):
    from hrm.checkpoints import open_checkpoint
    from hrm.data.format import load_split
    from hrm.evaluation.evaluate import split_batches

    ckpt, data = sudoku4
    model = open_checkpoint(ckpt).model
    options = tt.TestTimeOptions(augment=3, noise=2, rules=True, limit=10)
    rows = tt.evaluate_test_time(
        model, split_batches(load_split(data / "test"), 4, torch.device("cpu")), "sudoku", 4, options
    )
    names = [r["method"] for r in rows]
    assert names[0] == "plain" and rows[0]["gain_exact"] == 0 and rows[0]["compute_x"] == pytest.approx(1)
    assert names[1:] == [
        "augment-vote x3",
        "augment-vote x3 + oracle verifier",
        "noise-halt x2 (std 0.1)",
        "noise-halt x2 (std 0.1) + oracle verifier",
    ]
    for r in rows:
        assert r["rows"] == 10 and 0 <= r["exact_accuracy"] <= 1
        assert r["oracle_verifier"] == r["method"].endswith("oracle verifier")
    assert rows[1]["compute_x"] == pytest.approx(3) and rows[3]["compute_x"] == pytest.approx(2)  # no early exit


def test_evaluate_and_solve_cli(sudoku4, tmp_path, capsys):
    ckpt, data = sudoku4
    out = tmp_path / "ev"
    args = ["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--no-progress", "--out", str(out)]
    assert main([*args, "--augment-votes", "2", "--noise-samples", "2", "--rule-check"]) == 0
    assert "augment-vote x2 + oracle verifier [oracle pass@K: a perfect verifier]" in capsys.readouterr().out
    assert len(json.loads((out / "eval.json").read_text())["test_time"]) == 5
    assert main([*args, "--rule-check"]) == 2  # nothing to pick among
    assert "--augment-votes K or --noise-samples K" in capsys.readouterr().err
    puzzle = "".join(str(d) for d in sudoku.random_solution(4, np.random.default_rng(3)).reshape(-1))
    puzzle = puzzle[:10] + "......"
    assert main(["solve", puzzle, "--checkpoint", str(ckpt), "--augment-votes", "4", "--json"]) in (0, 1)
    result = json.loads(capsys.readouterr().out)
    assert result["test_time"]["candidates"] == 4 and result["test_time"]["segments_run"] >= 4
    assert main(["solve", puzzle, "--checkpoint", str(ckpt), "--augment-votes", "2", "--noise-samples", "2"]) == 2


def test_bad_test_time_requests_are_user_errors():
    model = helpers.tiny_model(sudoku.vocab_size(4), 16)
    with pytest.raises(UserError, match="K must be >= 2"):
        tt.TestTimeOptions(augment=1).check("sudoku", model)
    with pytest.raises(UserError, match="Sudoku and Maze"):
        tt.TestTimeOptions(augment=4).check("arc", model)
    with pytest.raises(UserError, match="rule check"):
        tt.TestTimeOptions(noise=2, rules=True).check("maze", model)
