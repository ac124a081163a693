"""``hrm analyze dimensionality|halting`` on a tiny checkpoint and dataset: numbers, plots, JSON, errors."""

from __future__ import annotations

import json

import pytest

import hrm.cli
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from tests.inference import helpers


@pytest.fixture
def cli(monkeypatch, capsys):
    monkeypatch.setattr(hrm.cli, "COMMAND_MODULES", ("solve", "analyze", "info"))

    def run(*argv):
        code = hrm.cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    data = root / "s4"
    build_sudoku_dataset(SudokuBuildOptions(out=data, size=4, num_train=4, num_test=12, givens=6, show_progress=False))
    return helpers.sudoku_checkpoint(root / "step-5", n=4), data


def test_dimensionality(cli, setup, tmp_path):
    ckpt, data = setup
    plot, out_json = tmp_path / "pr.png", tmp_path / "pr.json"
    code, out, err = cli(
        "analyze",
        "dimensionality",
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--num-puzzles",
        6,
        "--device",
        "cpu",
        "--plot",
        plot,
        "--json",
        out_json,
    )
    assert code == 0, err
    assert "PR(z_H)" in out and "untrained" in out and "6 puzzles × 3 segments" in out
    assert plot.stat().st_size > 5000
    report = json.loads(out_json.read_text())
    assert report["sample"] == "token" and report["trained"]["num_puzzles"] == 6
    assert report["paper"]["trained"]["z_H"] == 89.95


def test_halting(cli, setup, tmp_path):
    ckpt, data = setup
    code, out, err = cli(
        "analyze",
        "halting",
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--num-puzzles",
        0,
        "--device",
        "cpu",
        "--plot",
        tmp_path / "h.png",
        "--json",
        tmp_path / "h.json",
    )
    assert code == 0, err
    assert "12 examples" in out and "segments used" in out
    report = json.loads((tmp_path / "h.json").read_text())
    assert sum(report["histogram"]) == 12 and len(report["accuracy_fixed"]) == 3


def test_mismatched_data_is_exit_2(cli, setup, tmp_path):
    _, data = setup
    six = helpers.sudoku_checkpoint(tmp_path / "six", n=6)
    code, out, err = cli(
        "analyze", "halting", "--checkpoint", six, "--data", data, "--device", "cpu", "--plot", tmp_path / "h.png"
    )
    assert code == 2 and "seq_len" in err and err.count("\n") == 1
    code, _, err = cli("analyze", "dimensionality", "--checkpoint", six, "--data", tmp_path, "--device", "cpu")
    assert code == 2 and "dataset.json" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--seed", "100000000000000000000000"], "out of range"),
        (["--seed", "-1"], "out of range"),
        (["--plot", "{tmp}/x.txt"], "unknown image type .txt"),
        (["--plot", "{tmp}/noext"], "(no extension)"),
    ],
)
def test_bad_seed_and_plot_type_are_one_line_errors_before_any_work(tmp_path, capsys, extra, message):
    argv = ["analyze", "dimensionality", "--checkpoint", str(tmp_path / "none"), "--data", str(tmp_path / "none")]
    argv += [a.format(tmp=tmp_path) for a in extra]
    try:
        code = hrm.cli.main(argv)
    except SystemExit as exc:  # argparse's own errors: usage and one error line
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err.splitlines()[-1] and "Traceback" not in err
    assert not list(tmp_path.iterdir())
