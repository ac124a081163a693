"""``hrm solve --finetune-steps`` and ``hrm evaluate --arc-json ... --finetune-steps``: output, files, exit codes
and one-line errors (exit 2)."""

from __future__ import annotations

import json

import pytest

import hrm.cli
from tests.inference import helpers


@pytest.fixture
def cli(monkeypatch, capsys):
    monkeypatch.setattr(hrm.cli, "COMMAND_MODULES", ("solve", "evaluate"))

    def run(*argv):
        try:
            code = hrm.cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's own parse errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def arc_ckpt(tmp_path_factory):
    return helpers.arc_checkpoint(tmp_path_factory.mktemp("ft-cli") / "step-7", halt_max_steps=2)


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / "feed01.json"
    path.write_text(json.dumps(helpers.ARC_TASK))
    return path


def test_solve_finetune_prints_attempts_and_exit_code(cli, arc_ckpt, task_file):
    code, out, err = cli("solve", "--checkpoint", arc_ckpt, task_file, "--finetune-steps", "1", "--finetune-views", "2")
    assert err == ""
    assert "ARC task feed01: 1 fine-tuning steps on 4 rows (2 views x 2 demonstrations)" in out
    assert "attempt 1" in out and "expected" in out and "pass@2" in out
    passed = "pass@2 yes" in out
    assert code == (0 if passed else 1)
    code, out, _ = cli("solve", "--checkpoint", arc_ckpt, task_file, "--finetune-steps", "0", "--json")
    data = json.loads(out)
    assert data["finetune"]["steps"] == 0 and set(data["pass_at"]) == {"1", "2"}
    assert code == (0 if data["pass_at"]["2"] else 1)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--finetune-steps", "1", "--views", "3"], "drop --views"),
        (["--finetune-steps", "1", "--effort", "1"], "drop --effort"),
        (["--finetune-weights"], "add --finetune-steps"),
        (["--finetune-steps", "-1"], "out of range"),
        (["--finetune-steps", "1", "--finetune-lr", "nan"], "finite number"),
    ],
)
def test_solve_finetune_bad_flags(cli, arc_ckpt, task_file, extra, message):
    code, out, err = cli("solve", "--checkpoint", arc_ckpt, task_file, *extra)
    # The last line is the error (argparse prints its usage above a parse error).
    assert code == 2 and message in err.strip().splitlines()[-1] and "Traceback" not in err


def test_solve_finetune_needs_an_arc_checkpoint(cli, task_file, tmp_path):
    code, _, err = cli("solve", task_file, "--finetune-steps", "1")
    assert code == 2 and "needs --checkpoint" in err
    sudoku = helpers.sudoku_checkpoint(tmp_path / "s" / "step-1")
    code, _, err = cli("solve", "--checkpoint", sudoku, task_file, "--finetune-steps", "1")
    assert code == 2 and "for ARC checkpoints" in err and "Traceback" not in err


def test_evaluate_finetune_folder_writes_report(cli, arc_ckpt, tmp_path):
    folder = tmp_path / "unseen"
    folder.mkdir()
    for name in ("t1", "t2"):
        (folder / f"{name}.json").write_text(json.dumps(helpers.ARC_TASK))
    out_dir = tmp_path / "eval"
    code, out, err = cli(
        "evaluate", "--checkpoint", arc_ckpt, "--arc-json", folder, "--finetune-steps", "1",
        "--finetune-views", "1", "--out", out_dir, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert "with fine-tuning (1 steps)" in out and "without (0 steps)" in out
    report = json.loads((out_dir / "finetune.json").read_text())
    assert [t["task_id"] for t in report["tasks"]] == ["t1", "t2"] and len(report["baseline"]) == 2
    assert report["summary"]["finetuned"]["scored_tasks"] == 2


def test_evaluate_finetune_errors_write_nothing(cli, arc_ckpt, tmp_path, task_file):
    code, _, err = cli("evaluate", "--checkpoint", arc_ckpt, "--finetune-steps", "1")
    assert code == 2 and "add --arc-json" in err
    out_dir = tmp_path / "never"
    code, _, err = cli(
        "evaluate", "--checkpoint", arc_ckpt, "--arc-json", task_file, "--finetune-steps", "1",
        "--max-segments", "1,2", "--out", out_dir,
    )  # fmt: skip
    assert code == 2 and "not a sweep" in err and not out_dir.exists()
    code, _, err = cli(
        "evaluate", "--checkpoint", arc_ckpt, "--arc-json", tmp_path / "missing", "--finetune-steps", "1"
    )
    assert code == 2 and "no such ARC task file or folder" in err
