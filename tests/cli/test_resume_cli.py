"""``hrm train --resume`` and the run directory cannot be damaged by a failed start (issue 10, "Resume can damage a
run"): validate everything first, write last; refuse to restart silently; skip a truncated newest checkpoint; lock
the run directory; check trackers, data and demo arguments before anything is made."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hrm.cli
from hrm.checkpoints.locate import list_checkpoints
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset

COMMON = ["max_steps=8", "schedule.eval_every_steps=4", "checkpoint.keep_last=0", "runtime.num_threads=1"]


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = hrm.cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *fragments: str) -> str:
    """Exit 2 and one error line (besides the progress lines ``hrm train`` prints before it)."""
    assert code == 2, err
    lines = [line for line in err.splitlines() if not line.startswith(("run directory: ", "note: ", "step "))]
    assert len(lines) == 1 and lines[0].startswith("hrm: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err
    return lines[0]


def _snapshot(run: Path) -> dict[str, str]:
    """Every file's content hash (the lock file's PID aside), to prove a failed start changed nothing."""
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name not in ("run.lock", "run.lock.pid")
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=16, givens=8, seed=0, show_progress=False)
    )
    return root


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    assert hrm.cli.main(["train", "tiny", f"data={data}", *COMMON, "--out", str(run)]) == 0
    assert [s for s, _ in list_checkpoints(run)] == [4, 8]
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def test_failing_override_on_resume_leaves_the_run_untouched(capsys, run):
    before = _snapshot(run)
    code, _, err = _run(capsys, "train", "--resume", run, "arch.hidden_size=64", "max_steps=12")
    _one_line_error(code, err, "shape")
    assert _snapshot(run) == before  # train_config.json not rewritten: a plain --resume still works
    code, _, err = _run(capsys, "train", "--resume", run, "max_steps=12")
    assert code == 0, err
    assert [s for s, _ in list_checkpoints(run)][-1] == 12


def test_resume_without_a_resumable_checkpoint_refuses(capsys, run):
    for step in (4, 8):
        (run / f"step-{step}" / "train_state.pt").unlink()
    before = _snapshot(run)
    code, _, err = _run(capsys, "train", "--resume", run)
    _one_line_error(code, err, "no checkpoint to resume from", "no train_state.pt")
    assert _snapshot(run) == before  # metrics.jsonl not truncated, no step directory overwritten
    import shutil

    for step in (4, 8):
        shutil.rmtree(run / f"step-{step}")
    code, _, err = _run(capsys, "train", "--resume", run)
    _one_line_error(code, err, "no checkpoint to resume from")


@pytest.mark.parametrize("damaged", ["model.safetensors", "train_state.pt"])
def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(capsys, run, damaged):
    file = run / "step-8" / damaged
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 3])
    code, _, err = _run(capsys, "train", "--resume", run, "max_steps=12")
    assert code == 0, err
    assert "note: skipping step-8" in err and "resuming from step-4" in err
    assert [s for s, _ in list_checkpoints(run)] == [4, 8, 12]


def test_truncated_only_checkpoint_refuses(capsys, run):
    import shutil

    shutil.rmtree(run / "step-4")
    file = run / "step-8" / "model.safetensors"
    file.write_bytes(file.read_bytes()[:100])
    before = _snapshot(run)
    code, _, err = _run(capsys, "train", "--resume", run)
    _one_line_error(code, err, "no checkpoint to resume from", "step-8")
    assert _snapshot(run) == before


def test_eval_split_typo(capsys, data, tmp_path):
    code, _, err = _run(capsys, "train", "tiny", f"data={data}", "data.eval_split=tset", "--out", tmp_path / "r")
    _one_line_error(code, err, "data.eval_split='tset'", "test, train")
    assert not (tmp_path / "r").exists()


def test_missing_tracker_package_leaves_no_run_dir(capsys, data, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    code, _, err = _run(capsys, "train", "tiny", f"data={data}", "logging.wandb=true", "--out", tmp_path / "r")
    _one_line_error(code, err, "pip install wandb")
    assert not (tmp_path / "r").exists()


def test_missing_tracker_package_on_resume_changes_nothing(capsys, run, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    before = _snapshot(run)
    code, _, err = _run(capsys, "train", "--resume", run, "logging.tensorboard=true")
    _one_line_error(code, err, "pip install tensorboard")
    assert _snapshot(run) == before


@pytest.mark.parametrize("args, fragment", [(["--device", "tpu"], "unknown device"), (["--minutes", "nan"], "nan")])
def test_demo_checks_arguments_before_making_anything(capsys, tmp_path, args, fragment):
    code, _, err = _run(capsys, "demo", "--out", tmp_path / "demo", *args)
    _one_line_error(code, err, fragment)
    assert not (tmp_path / "demo").exists()


def test_second_resume_of_a_locked_run_fails_naming_the_holder(capsys, run):
    # Another process holds the lock (as a running `hrm train --resume` does): the second start is refused.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from hrm.training.run_dir import RunDir
                r = RunDir({str(run)!r}); r.lock(); print("locked", flush=True); sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _snapshot(run)
        code, _, err = _run(capsys, "train", "--resume", run, "max_steps=12")
        _one_line_error(code, err, f"PID {holder.pid}", "in use by another hrm process")
        assert _snapshot(run) == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # Released when the holder exits: the resume goes through.
    code, _, err = _run(capsys, "train", "--resume", run, "max_steps=12")
    assert code == 0, err


def test_full_disk_while_saving_a_checkpoint(capsys, data, tmp_path, monkeypatch):
    import errno

    import hrm.checkpoints.format as fmt

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run"))

    monkeypatch.setattr(fmt, "save_file", full)
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "tiny", f"data={data}", *COMMON, "--out", run)
    _one_line_error(code, err, "No space left on device", "free some space")
    assert list_checkpoints(run) == [] and not any(p.name.startswith(".step-") for p in run.iterdir())
    monkeypatch.undo()
    code, _, err = _run(capsys, "train", "--resume", run)  # nothing to resume: refused, not restarted
    _one_line_error(code, err, "no checkpoint to resume from")
