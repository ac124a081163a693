"""``hrm solve`` without --checkpoint (the shipped model by kind and size), answers that break rules (never shown
as solved, exit 1) and ``--effort`` (levels tried in order, stopping at the first valid answer)."""

from __future__ import annotations

import io
import json
import re
import sys

import numpy as np
import pytest

import hrm.cli
from hrm.checkpoints import list_shipped, locate
from hrm.evaluation import test_time as tt
from hrm.inference import effort as effort_module
from hrm.inference.effort import EFFORT_LEVELS, MAX_EFFORT
from tests.inference import helpers
from tests.inference.helpers import SUDOKU_6, SUDOKU_6_SOLUTION

SOLUTION_TOKENS = np.array([int(c) + 1 for c in SUDOKU_6_SOLUTION], dtype=np.int64)  # token = digit + 1


@pytest.fixture
def cli(monkeypatch, capsys):
    monkeypatch.setattr(hrm.cli, "COMMAND_MODULES", ("solve",))

    def run(*argv):
        code = hrm.cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """An untrained 6×6 model (M_max 3): its answers break the rules."""
    return helpers.sudoku_checkpoint(tmp_path_factory.mktemp("effort") / "step-3")


@pytest.fixture
def spy(monkeypatch):
    """Counts the single runs (cap, early exit) and the candidate levels that solve() asks for."""
    calls: dict[str, list] = {"runs": [], "candidates": []}
    real_run, real_candidates = effort_module.run_rows, effort_module.candidate_attempt

    def run_rows(model, rows, pids, cap, early_exit, trace):
        calls["runs"].append((cap, early_exit))
        return real_run(model, rows, pids, cap, early_exit, trace)

    def candidate_attempt(*args, **kwargs):
        calls["candidates"].append(args[4].level)
        return real_candidates(*args, **kwargs)

    monkeypatch.setattr(effort_module, "run_rows", run_rows)
    monkeypatch.setattr(effort_module, "candidate_attempt", candidate_attempt)
    return calls


def _solved_from(monkeypatch, min_cap: int) -> None:
    """Make every single run with a cap of at least ``min_cap`` answer with the solution."""
    real = effort_module.run_rows

    def run_rows(model, rows, pids, cap, early_exit, trace):
        run = real(model, rows, pids, cap, early_exit, trace)
        if cap >= min_cap:
            run.tokens[0] = SOLUTION_TOKENS
        return run

    monkeypatch.setattr(effort_module, "run_rows", run_rows)


def test_no_checkpoint_picks_the_shipped_model_by_kind_and_size(cli, tmp_path, monkeypatch):
    root = tmp_path / "pretrained"
    monkeypatch.setattr(locate, "pretrained_root", lambda: root)
    helpers.sudoku_checkpoint(root / "four" / "step-1", n=4)
    helpers.sudoku_checkpoint(root / "six" / "step-1", n=6)
    code, out, _ = cli("solve", "--device", "cpu", "--json", "1...2...3...4...")
    data = json.loads(out)
    assert data["shipped"] == "four" and data["checkpoint"] == str(root / "four" / "step-1")
    code, out, _ = cli("solve", "--device", "cpu", SUDOKU_6)
    assert "note:       model: the shipped six (6×6 Sudoku, hrm)" in out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SUDOKU_6.encode())))  # read once, then solved
    code, out, _ = cli("solve", "--device", "cpu", "-")
    assert code == 1 and "6×6 Sudoku with 12 givens" in out and "the shipped six" in out
    code, out, err = cli("solve", "--device", "cpu", "1" + "." * 80)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("hrm: error: no shipped model for 9×9 Sudoku (shipped: 4×4 Sudoku (four), 6×6 Sudoku (six))")
    assert "--checkpoint" in err


def test_a_9x9_puzzle_without_a_9x9_model_is_a_one_line_error(cli):
    if any(m.kind == "sudoku" and m.size == 9 for m in list_shipped()):
        pytest.skip("a 9×9 Sudoku model is shipped")
    code, out, err = cli("solve", "1" + "." * 80)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "no shipped model for 9×9 Sudoku (shipped: " in err and "6×6 Sudoku (sudoku-6x6)" in err


def test_an_answer_that_breaks_rules_is_never_shown_as_solved(cli, ckpt, tmp_path):
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", SUDOKU_6)
    assert code == 1 and "solved" not in out.replace("not solved", "").replace("NOT SOLVED", "")
    assert "answer (segment 3): NOT SOLVED" in out
    count = int(re.search(r"valid:      no, not solved: the answer breaks (\d+) rules?: ", out).group(1))
    assert f"--effort {MAX_EFFORT} retries with more test-time compute" in out
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--json", SUDOKU_6)
    data = json.loads(out)
    assert code == 1 and data["valid"] is False and len(data["problems"]) == count
    assert data["reason"].startswith(f"the answer breaks {count} rule") and "effort" not in data
    # A maze whose path is not a shortest S→G path: the same.
    maze_file = tmp_path / "m.txt"
    maze_file.write_text(helpers.maze_text()[0])
    maze_ckpt = helpers.maze_checkpoint(tmp_path / "maze")
    code, out, _ = cli("solve", "--checkpoint", maze_ckpt, "--device", "cpu", maze_file)
    assert code == 1 and ": NOT SOLVED" in out and "valid:      no, not solved: the answer breaks" in out


def test_effort_stops_at_the_first_valid_answer(cli, ckpt, spy, monkeypatch):
    _solved_from(monkeypatch, min_cap=4 * 3)  # level 1's single run (4 × M_max) answers right
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--effort", "3", "--json", SUDOKU_6)
    data = json.loads(out)
    assert code == 0 and data["valid"] and data["correct"] and data["problems"] == []
    assert spy["runs"] == [(3, True), (12, False)] and spy["candidates"] == []  # levels 2 and 3 never ran
    report = data["effort"]
    assert report["requested"] == 3 and report["level"] == 1 and report["solved"] and not report["rule_check"]
    assert [level["level"] for level in report["levels"]] == [0, 1] and report["seconds"] > 0
    assert data["segments"] == data["max_segments"] == 12 and data["early_exit"] is False
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--effort", "3", SUDOKU_6)
    assert code == 0 and "valid:      yes, solved" in out and "effort:     solved at level 1 of 3 in " in out
    assert "NOT SOLVED" not in out
    # An answer valid at once runs level 0 only, whatever the effort.
    _solved_from(monkeypatch, min_cap=1)
    spy["runs"].clear()
    data = json.loads(cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--effort", "2", "--json", SUDOKU_6)[1])
    assert data["effort"]["level"] == 0 and len(data["effort"]["levels"]) == 1


def test_effort_tries_every_level_then_gives_up(cli, ckpt, spy):
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--effort", "3", "--json", SUDOKU_6)
    data = json.loads(out)
    assert code == 1 and data["valid"] is False and data["problems"]
    assert spy["runs"] == [(3, True), (12, False)] and spy["candidates"] == [2, 3]
    levels = data["effort"]["levels"]
    assert [level["level"] for level in levels] == [0, 1, 2, 3] and not any(level["valid"] for level in levels)
    assert [level["what"] for level in levels] == [level.what for level in EFFORT_LEVELS]
    # Level 2 runs 7 new views (view 0 is level 1's run), level 3 adds 16 noisy runs, all at 12 segments.
    assert [level["candidates"] for level in levels] == [1, 1, 8, 24]
    assert [level["segments_run"] for level in levels] == [3, 12, 7 * 12, 16 * 12]
    assert data["effort"]["rule_check"] is False and "none keeps the rules" in data["effort"]["picked_by"]
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--effort", "3", SUDOKU_6)
    assert code == 1 and "NOT SOLVED" in out and "effort:     not solved: no level up to 3 found a valid answer" in out


def test_level_3_names_the_rule_check(cli, ckpt, monkeypatch):
    real = tt.noise_candidates

    def one_right(model, batch, options, plain, generator):
        candidates = real(model, batch, options, plain, generator)
        candidates.predictions[-1, 0] = SOLUTION_TOKENS  # one noisy trajectory finds the solution
        return candidates

    monkeypatch.setattr(tt, "noise_candidates", one_right)
    code, out, _ = cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--effort", "3", SUDOKU_6)
    assert code == 0 and "valid:      yes, solved" in out and "solved at level 3 of 3" in out
    assert "answer picked by the rule check: 1 of 24 candidates keep the rules" in out
    assert "picked by the rule check, a verifier outside the model" in out
    data = json.loads(cli("solve", "--checkpoint", ckpt, "--device", "cpu", "--effort", "3", "--json", SUDOKU_6)[1])
    assert data["effort"]["rule_check"] is True and data["effort"]["level"] == 3 and data["correct"] is True


def test_effort_on_a_maze_and_with_a_trace(cli, tmp_path):
    maze_file = tmp_path / "m.txt"
    maze_file.write_text(helpers.maze_text()[0])
    maze_ckpt = helpers.maze_checkpoint(tmp_path / "maze", halt_max_steps=1)
    code, out, _ = cli("solve", "--checkpoint", maze_ckpt, "--device", "cpu", "--effort", "2", "--trace", maze_file)
    assert code == 1 and "level 2: augmentation vote over 8 symmetric views" in out
    assert "8 candidates, 28 segments run" in out  # 7 new dihedral views × 4 segments
    assert "note:       the trace is level 1's run of the puzzle itself" in out and "#4 p=" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--effort", "4"], "--effort must be one of 0..3, got 4"),
        (["--effort", "-1"], "--effort must be one of 0..3"),
        (["--effort", "1", "--augment-votes", "4"], "--effort chooses its own test-time methods"),
    ],
)
def test_bad_effort_is_one_line_exit_2(cli, ckpt, extra, message):
    code, out, err = cli("solve", "--checkpoint", ckpt, "--device", "cpu", *extra, SUDOKU_6)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_arc_takes_effort_0_or_1_only(cli, tmp_path):
    arc_ckpt = helpers.arc_checkpoint(tmp_path / "arc", halt_max_steps=1)
    task = helpers.write_arc_task(tmp_path / "abc123.json")
    code, _, err = cli("solve", "--checkpoint", arc_ckpt, "--device", "cpu", "--effort", "2", task)
    assert code == 2 and "an ARC task takes --effort 0 or 1" in err


def test_help_documents_effort_levels_and_exit_codes(cli, capsys):
    with pytest.raises(SystemExit):
        hrm.cli.main(["solve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"0-{MAX_EFFORT}: retry an answer that breaks the rules" in text  # the CLI's help matches the levels
    for level in range(MAX_EFFORT + 1):
        assert f" {level} " in text
    assert "picked by the rule check" in text and "never shown as solved" in text
    assert "Exit status: 0 when the answer is valid" in text and "1 when no valid answer was found" in text
    assert "2 for bad input" in text and "`hrm models`" in text
