"""Depth x breadth (hrm.evaluation.depth_breadth): the one-run curves, the choice rules, cost and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrm.cli import main
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.evaluation import depth_breadth as db
from hrm.evaluation.batches import EvalBatch
from hrm.evaluation.flops import measure_segment_flops
from tests.inference import helpers


@pytest.fixture(scope="module")
def sudoku4(tmp_path_factory):
    root = tmp_path_factory.mktemp("db")
    data = root / "s4"
    build_sudoku_dataset(SudokuBuildOptions(out=data, size=4, num_train=4, num_test=12, givens=6, show_progress=False))
    return helpers.sudoku_checkpoint(root / "step-3", n=4, halt_max_steps=3), data


def _model_and_batch(rows: int = 6, depth_for_labels: int = 3):
    model = helpers.tiny_model(vocab_size=6, seq_len=16, halt_max_steps=3)
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(1, 6, (rows, 16), generator=g)
    ids = torch.zeros(rows, dtype=torch.long)
    # Labels = the model's own answer at one depth: the single-trajectory curve must be 100% exactly there.
    labels = model.predict(inputs, ids, max_segments=depth_for_labels, early_exit=False)["logits"].argmax(-1)
    return model, EvalBatch(inputs, ids, labels, torch.ones(rows, dtype=torch.bool))


def test_curve_depths_cover_every_segment_then_about_four_per_doubling():
    assert db.curve_depths(5) == [1, 2, 3, 4, 5]
    points = db.curve_depths(256)
    assert points[:16] == list(range(1, 17)) and points[-1] == 256 and 32 in points and 128 in points
    assert len(points) < 40  # flat memory and few readings for hundreds of segments


def test_one_trajectory_is_the_plain_model_at_every_depth():
    model, batch = _model_and_batch()
    options = db.DepthBreadthOptions(starts=[1, 3], depth=6, choose=["single", "halt", "vote"])
    result = db.run_depth_breadth(model, [batch], options, segment_flops=10)
    single = next(c for c in result["curves"] if c["choose"] == "single" and c["starts"] == 1)
    for d, exact in zip(result["depths"], single["exact"]):
        want = model.predict(batch.inputs, batch.puzzle_identifiers, max_segments=d, early_exit=False)
        right = (want["logits"].argmax(-1) == batch.labels).all(1).float().mean().item()
        assert exact == pytest.approx(right), d
    assert single["exact"][2] == 1.0  # depth 3, where the labels came from
    # The cost is segments x trajectories x one segment's FLOPs; "single" is not repeated for 3 starts.
    three = next(c for c in result["curves"] if c["choose"] == "halt" and c["starts"] == 3)
    assert three["segments_per_puzzle"] == [3.0 * d for d in result["depths"]]
    assert three["flops_per_puzzle"] == [30.0 * d for d in result["depths"]]
    assert {c["choose"] for c in result["curves"] if c["starts"] == 3} == {"halt", "vote"}


def test_perturbed_starts_differ_from_trajectory_zero_which_stays_clean():
    model, batch = _model_and_batch(rows=2)
    state = model.initial_state(batch.inputs.repeat(3, 1), batch.puzzle_identifiers.repeat(3))
    for init in ("random", "noise"):
        options = db.DepthBreadthOptions(starts=[3], init=init)
        out = db.perturbed_initial_state(state, 3, options, torch.Generator().manual_seed(0))
        for name, value in out.items():
            assert torch.equal(value[:2], state[name][:2])  # trajectory 0
            assert not torch.allclose(value[2:4], state[name][2:4]) and not torch.allclose(value[2:4], value[4:6])
    random = db.perturbed_initial_state(state, 3, db.DepthBreadthOptions(starts=[3]), torch.Generator().manual_seed(0))[
        "z_H"
    ]
    assert torch.equal(random[2, 0], random[2, -1])  # one vector per trajectory, broadcast over positions


def test_halt_exit_matches_the_model_early_exit_and_costs_less():
    model = helpers.tiny_model(vocab_size=6, seq_len=16, halt_max_steps=3, halt_bias=(5.0, -5.0))  # halts at once
    _, batch = _model_and_batch()
    options = db.DepthBreadthOptions(depth=8, exit="halt", choose=["single"])
    result = db.run_depth_breadth(model, [batch], options, segment_flops=1)
    assert result["curves"][0]["segments_per_puzzle"] == [1.0] * 8  # exited after its first segment
    want = model.predict(batch.inputs, batch.puzzle_identifiers, max_segments=8, early_exit=True)
    right = (want["logits"].argmax(-1) == batch.labels).all(1).float().mean().item()
    assert result["curves"][0]["exact"][-1] == pytest.approx(right)


def test_choice_rules_pick_as_documented():
    answers = np.array([[[1, 1]], [[2, 2]], [[2, 2]], [[3, 3]]])  # K=4 trajectories, one row
    t = db._Trajectories(
        answers=answers,
        q_halt=np.array([[0.0], [-1.0], [-2.0], [9.0]], np.float32),
        change=np.array([[0.5], [0.2], [0.3], [0.01]]),
        segments=np.ones((4, 1), np.int64),
    )
    every = np.arange(4)
    assert db._choose("single", t, every, None).tolist() == [[1, 1]]
    assert db._choose("halt", t, every, None).tolist() == [[3, 3]]
    assert db._choose("converge", t, every, None).tolist() == [[3, 3]]
    assert db._choose("vote", t, every, None).tolist() == [[2, 2]]
    valid = np.array([[True], [False], [False], [False]])
    assert db._choose("oracle", t, every, valid).tolist() == [[1, 1]]  # the only rule-valid answer
    assert db._choose("oracle", t, every, np.zeros((4, 1), bool)).tolist() == [[2, 2]]  # none valid: plain vote
    assert db._choose("vote", t, np.array([0, 3]), None).tolist() == [[3, 3]]  # a tie goes to the converged one


def test_the_sudoku_verifier_and_segment_flops():
    check = db.verifier_for("sudoku", 4)
    assert check is not None
    solution = np.array([[1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]]) + 1
    puzzle = solution.copy()
    puzzle[0, :5] = 1  # blanks
    wrong = solution.copy()
    wrong[0, [0, 1]] = wrong[0, [1, 0]]
    assert check(puzzle, solution).tolist() == [True] and check(puzzle, wrong).tolist() == [False]
    assert db.verifier_for("arc", None) is None
    model = helpers.tiny_model(vocab_size=6, seq_len=16)
    assert measure_segment_flops(model) == model.flops_per_segment(1)  # HRM: counted = the analytic formula


def test_evaluate_depth_breadth_cli(sudoku4, tmp_path, capsys):
    ckpt, data = sudoku4
    out = tmp_path / "ev"
    args = ["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--no-progress"]
    code = main([*args, "--depth", "6", "--breadth", "1,2", "--views", "1,2", "--exit", "halt", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "depth x breadth on 12 puzzles" in printed and "oracle x 2 views x 2 starts [oracle]" in printed
    result = json.loads((out / "depth_breadth.json").read_text())
    assert result["trajectories"] == 4 and result["depths"] == [1, 2, 3, 4, 5, 6]
    assert {(c["views"], c["starts"]) for c in result["curves"]} == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert (out / "depth_breadth.png").stat().st_size > 0
    assert "depth_breadth" in json.loads((out / "eval.json").read_text())
    from hrm.view.evaluation import evaluation_page  # `hrm view DIR` shows the plot and one line per curve

    page = evaluation_page(out, limit=4, start=0)
    assert "depth_breadth.png" in [p["name"] for p in page["plots"]]
    assert any(n.startswith("depth x breadth: vote x 2 views x 2 starts: best exact") for n in page["notes"])
    # bad combinations: one line, exit code 2
    assert main([*args, "--breadth", "4"]) == 2
    assert "goes with --depth D" in capsys.readouterr().err
    assert main([*args, "--depth", "4", "--choose", "best"]) == 2
    assert "--choose best: unknown" in capsys.readouterr().err
    assert main([*args, "--depth", "0"]) == 2
