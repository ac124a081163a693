"""What the commands write: bad output paths, a full disk and ``hrm data --force`` give one line and exit 2, with
nothing half-written or deleted (issue 10, "Writers")."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hrm.cli
from hrm.data.build import NpyStreamWriter, host_tag
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from tests.inference import helpers


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = hrm.cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("hrm: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "disk")


@pytest.fixture(scope="module")
def s4(tmp_path_factory):
    root = tmp_path_factory.mktemp("writers")
    data = root / "s4"
    build_sudoku_dataset(SudokuBuildOptions(out=data, size=4, num_train=4, num_test=8, givens=6, show_progress=False))
    return helpers.sudoku_checkpoint(root / "step-5", n=4, halt_max_steps=2), data


# ---- output paths: solve, analyze, plot, evaluate, train ---------------------------------------------------------


@pytest.mark.parametrize("option", ["--save-gif", "--save-png"])
def test_solve_bad_output_paths(capsys, tmp_path, option):
    ckpt = helpers.sudoku_checkpoint(tmp_path / "step-1", n=6, halt_max_steps=2)
    afile = tmp_path / "afile"
    afile.write_text("keep")
    bad = {"--save-gif": tmp_path, "--save-png": afile}[option]  # a folder for a file, a file for a folder
    code, _, err = _run(capsys, "solve", "--checkpoint", ckpt, helpers.SUDOKU_6, option, bad)
    _one_line_error(code, err, option)
    code, _, err = _run(capsys, "solve", "--checkpoint", ckpt, helpers.SUDOKU_6, option, afile / "under" / "x.gif")
    _one_line_error(code, err, "is a file, not a folder")
    assert afile.read_text() == "keep"


def test_solve_full_disk_leaves_no_partial_gif(capsys, tmp_path, monkeypatch):
    from PIL import Image

    ckpt = helpers.sudoku_checkpoint(tmp_path / "step-1", n=6, halt_max_steps=2)
    monkeypatch.setattr(Image.Image, "save", _enospc)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = _run(capsys, "solve", "--checkpoint", ckpt, helpers.SUDOKU_6, "--save-gif", out / "s.gif")
    _one_line_error(code, err, "No space left on device", "free some space")
    assert _tree(out) == []


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["halting", "--batch-size", "0"], "--batch-size 0"),
        (["halting", "--max-segments", "0"], "--max-segments 0"),
        (["dimensionality", "--segments", "0"], "--segments 0"),
        (["halting", "--max-segments", "100000000"], "at most 4096"),
        (["recursion", "--segments", "100000000"], "at most 4096"),
        (["halting", "--num-puzzles", "-1"], "--num-puzzles -1"),
        (["halting", "--plot", "DIR"], "--plot"),
        (["dimensionality", "--json", "DIR"], "--json"),
        (["halting", "--json", "FILE/x.json"], "is a file, not a folder"),
    ],
)
def test_analyze_bad_options_and_paths(capsys, tmp_path, s4, args, fragment):
    ckpt, data = s4
    (tmp_path / "FILE").write_text("keep")
    args = [str(tmp_path / a) if a.startswith("FILE/") else str(tmp_path) if a == "DIR" else a for a in args]
    plot = [] if "--plot" in args else ["--plot", str(tmp_path / "p.png")]
    code, _, err = _run(capsys, "analyze", *args[:1], "--checkpoint", ckpt, "--data", data, *plot, *args[1:])
    _one_line_error(code, err, fragment)
    assert _tree(tmp_path) == ["FILE"]


def test_plot_out_is_a_folder(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "split": "train", "lm_loss": 1.0}) + "\n")
    code, _, err = _run(capsys, "plot", run, "--out", tmp_path)
    _one_line_error(code, err, "--out", "is a folder")
    code, out, err = _run(capsys, "plot", run, "--out", tmp_path / "c.png")
    assert code == 0 and (tmp_path / "c.png").stat().st_size > 1000


def test_evaluate_out_is_a_file_and_full_disk(capsys, tmp_path, s4, monkeypatch):
    ckpt, data = s4
    afile = tmp_path / "afile"
    afile.write_text("keep")
    code, _, err = _run(capsys, "evaluate", "--checkpoint", ckpt, "--data", data, "--out", afile, "--no-progress")
    _one_line_error(code, err, "--out", "not a folder")
    assert afile.read_text() == "keep"
    # A full disk while the sweep plot is written: one line, and no 0-byte PNG left behind.
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", _enospc)
    out = tmp_path / "eval"
    code, _, err = _run(
        capsys, "evaluate", "--checkpoint", ckpt, "--data", data, "--out", out, "--max-segments", "1,2", "--no-progress"
    )
    _one_line_error(code, err, "No space left on device")
    assert not any(p.suffix == ".png" for p in out.rglob("*"))


def test_train_out_is_a_file(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    code, _, err = _run(capsys, "train", "tiny", "--out", afile)
    _one_line_error(code, err, "--out", "not a folder")
    assert afile.read_text() == "keep"


# ---- hrm data: --out, --force, partial folders, full disk, bounds -------------------------------------------------

GEN4 = ["data", "sudoku", "--size", "4", "--num-train", "4", "--num-test", "4", "--givens", "6", "--no-progress"]


def test_data_out_dot_with_force_refuses(capsys, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("keep")
    monkeypatch.chdir(work)
    code, _, err = _run(capsys, *GEN4, "--out", ".", "--force")
    _one_line_error(code, err, "current folder")
    assert _tree(tmp_path) == ["work", "work/mine.txt"]


def test_data_force_replaces_only_our_datasets(capsys, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_text("keep")
    code, _, err = _run(capsys, *GEN4, "--out", other, "--force")
    _one_line_error(code, err, "replaces only a dataset built by `hrm data`")
    assert (other / "cat.jpg").read_text() == "keep"
    ours = tmp_path / "ds"
    assert _run(capsys, *GEN4, "--out", ours)[0] == 0
    first = (ours / "train" / "all__inputs.npy").read_bytes()
    code, _, err = _run(capsys, *GEN4, "--seed", "1", "--out", ours, "--force")
    assert code == 0, err
    assert (ours / "train" / "all__inputs.npy").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "photos"]


def test_data_out_is_a_file(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    code, _, err = _run(capsys, *GEN4, "--out", afile, "--force")
    _one_line_error(code, err, "not a folder")
    assert afile.read_text() == "keep"


def test_stale_partial_folder_of_a_killed_build_is_removed(capsys, tmp_path):
    # A real process that is gone: its PID names the partial folder it would have left after kill -9.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = host_tag()
    stale = tmp_path / f".ds.partial-{host}-{dead.pid}-abc123"
    (stale / "train").mkdir(parents=True)
    (stale / "train" / "all__inputs.npy").write_bytes(b"\0" * 1000)
    alive = tmp_path / f".ds.partial-{host}-{os.getpid()}-live"  # a build still running (this process): left alone
    alive.mkdir()
    other = tmp_path / f".other.partial-{host}-{dead.pid}-x"  # another dataset's: left alone
    other.mkdir()
    remote = tmp_path / f".ds.partial-00000000-{dead.pid}-x"  # another machine's build (shared disk): left alone
    remote.mkdir()
    code, _, err = _run(capsys, *GEN4, "--out", tmp_path / "ds")
    assert code == 0, err
    assert not stale.exists() and alive.exists() and other.exists() and (remote.exists() or host == "00000000")
    assert (tmp_path / "ds" / "build.json").is_file()


def test_data_full_disk_leaves_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(NpyStreamWriter, "append", _enospc)
    code, _, err = _run(capsys, *GEN4, "--out", tmp_path / "ds")
    _one_line_error(code, err, "No space left on device")
    assert _tree(tmp_path) == []


def test_data_unwritable_parent(capsys, tmp_path, monkeypatch):
    import hrm.data.build as build

    monkeypatch.setattr(build.os, "access", lambda p, mode: False)
    code, _, err = _run(capsys, *GEN4, "--out", tmp_path / "ds")
    _one_line_error(code, err, "not writable")
    assert _tree(tmp_path) == []


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    "extra, record, fragment",
    [
        ([], {"input": [2**31], "output": [1]}, "tokens must lie in 0..2147483646"),
        ([], {"input": [2**40], "output": [1]}, "tokens must lie in 0..2147483646"),
        (["--vocab-size", "-1"], {"input": [1], "output": [1]}, "--vocab-size -1: must lie in 1.."),
        (["--vocab-size", "0"], {"input": [1], "output": [1]}, "--vocab-size 0: must lie in 1.."),
        (["--seq-len", str(10**12)], {"input": [1], "output": [1]}, "--seq-len 1000000000000: must lie in 1.."),
    ],
)
def test_custom_token_and_size_bounds(capsys, tmp_path, extra, record, fragment):
    train = _jsonl(tmp_path / "train.jsonl", [record])
    test = _jsonl(tmp_path / "test.jsonl", [{"input": [1], "output": [1]}])
    code, _, err = _run(capsys, "data", "custom", "--train", train, "--test", test, "--out", tmp_path / "ds", *extra)
    _one_line_error(code, err, fragment)
    assert not (tmp_path / "ds").exists()


def test_custom_large_tokens_below_the_bound_are_kept_exactly(capsys, tmp_path):
    big = 2**31 - 2
    train = _jsonl(tmp_path / "train.jsonl", [{"input": [big, 0], "output": [1, big]}])
    test = _jsonl(tmp_path / "test.jsonl", [{"input": [0], "output": [1]}])
    out = tmp_path / "ds"
    code, _, err = _run(capsys, "data", "custom", "--train", train, "--test", test, "--out", out, "--no-progress")
    assert code == 0, err
    stored = np.load(out / "train" / "all__inputs.npy")
    assert stored.dtype == np.int32 and int(stored[0, 0]) == big + 1  # not wrapped


def test_maze_negative_min_path_length(capsys, tmp_path):
    code, _, err = _run(
        capsys, "data", "maze", "--size", "6", "--min-path-length", "-5", "--out", tmp_path / "m", "--no-progress"
    )
    _one_line_error(code, err, "--min-path-length -5", "0..35")
    assert "S and" not in err


def test_sudoku_generator_size_bound(capsys, tmp_path):
    code, _, err = _run(capsys, "data", "sudoku", "--size", "16", "--num-train", "2", "--out", tmp_path / "s")
    _one_line_error(code, err, "--size 16")
    assert _tree(tmp_path) == []
