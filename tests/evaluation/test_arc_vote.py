"""ARC voting and pass@K on hand-made cases (spec §5.2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm.evaluation.arc_vote import ArcVoter, grid_key, write_submission

A = np.array([[1, 2], [3, 4]])
B = np.array([[5, 5], [5, 5]])
C = np.array([[7]])
D = np.array([[8, 8, 8]])
IN1 = np.array([[0, 1]])
IN2 = np.array([[1, 0]])


def test_grid_key_distinguishes_shape():
    assert grid_key(np.zeros((2, 3))) != grid_key(np.zeros((3, 2)))
    assert grid_key(np.array([[1, 2]])) == grid_key(np.array([[1, 2]], dtype=np.int64))


def test_votes_rank_before_halt_probability():
    v = ArcVoter()
    v.set_solution("t", IN1, A)
    for q in (0.1, 0.2):
        v.add("t", IN1, A, q)
    v.add("t", IN1, B, 0.99)
    ranked = v.tasks["t"][grid_key(IN1)].ranked()
    assert [c.votes for _, c in ranked] == [2, 1]
    assert ranked[0][1].mean_q == pytest.approx(0.15)
    score = v.score((1, 2))
    assert score.pass_at == {1: 1.0, 2: 1.0}


def test_tie_on_votes_broken_by_mean_halt_probability():
    v = ArcVoter()
    v.set_solution("t", IN1, A)
    v.add("t", IN1, B, 0.9)  # B first, 1 vote, mean 0.9
    v.add("t", IN1, A, 0.2)
    v.add("t", IN1, A, 0.4)  # A: 2 votes, mean 0.3
    v.add("t", IN1, B, 0.9)  # B: 2 votes, mean 0.9 -> B wins the tie on votes
    assert v.score((1, 2)).pass_at == {1: 0.0, 2: 1.0}
    # Raise A's mean halt probability above B's: A now ranks first.
    v2 = ArcVoter()
    v2.set_solution("t", IN1, A)
    v2.add("t", IN1, B, 0.5)
    v2.add("t", IN1, B, 0.5)
    v2.add("t", IN1, A, 0.8)
    v2.add("t", IN1, A, 0.7)
    assert v2.score((1,)).pass_at == {1: 1.0}


def test_pass_at_k_is_all_or_nothing_over_a_tasks_test_inputs():
    v = ArcVoter()
    # Task "x": input 1 solved at rank 1, input 2 only at rank 3.
    v.set_solution("x", IN1, A)
    v.set_solution("x", IN2, C)
    v.add("x", IN1, A, 0.5)
    for grid, n in ((B, 3), (D, 2), (C, 1)):
        for _ in range(n):
            v.add("x", IN2, grid, 0.5)
    # Task "y": one test input, solved at rank 2.
    v.set_solution("y", IN1, B)
    v.add("y", IN1, A, 0.9)
    v.add("y", IN1, A, 0.9)
    v.add("y", IN1, B, 0.1)
    score = v.score((1, 2, 10))
    assert score.num_tasks == 2 and score.num_test_inputs == 3
    assert score.pass_at == {1: 0.0, 2: 0.5, 10: 1.0}
    assert score.solved == {1: [], 2: ["y"], 10: ["x", "y"]}


def test_solution_never_predicted_and_unknown_solution():
    v = ArcVoter()
    v.set_solution("a", IN1, C)
    v.add("a", IN1, A, 0.5)
    v.add("b", IN1, A, 0.5)  # no solution known: left out of the denominator
    score = v.score((1, 1000))
    assert score.num_tasks == 1 and score.pass_at == {1: 0.0, 1000: 0.0}
    assert score.unscored_tasks == ["b"]


def test_identity_view_solution_takes_precedence():
    v = ArcVoter()
    v.add("t", IN1, A, 0.5, solution=B)
    v.add("t", IN1, A, 0.5, solution=A, identity_view=True)
    v.add("t", IN1, A, 0.5, solution=C)
    assert v.score((1,)).pass_at == {1: 1.0}


def test_submission_shape(tmp_path):
    v = ArcVoter()
    v.add("t", IN1, A, 0.5)
    v.add("t", IN2, B, 0.5)
    v.add("t", IN2, D, 0.9)
    v.add("u", IN1, np.zeros((0, 0), dtype=np.int64), 0.5)  # empty crop -> [[0]]
    sub = v.submission()
    assert sub["t"] == [
        {"attempt_1": [[1, 2], [3, 4]], "attempt_2": [[1, 2], [3, 4]]},
        {"attempt_1": [[8, 8, 8]], "attempt_2": [[5, 5], [5, 5]]},
    ]
    assert sub["u"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]
    # Order of test inputs can be given explicitly.
    ordered = v.submission(order={"t": [grid_key(IN2), grid_key(IN1)]})
    assert ordered["t"][0]["attempt_1"] == [[8, 8, 8]]
    path = write_submission(tmp_path / "sub.json", sub)
    assert json.loads(path.read_text()) == sub
