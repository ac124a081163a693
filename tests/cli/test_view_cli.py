"""``hrm view`` from the command line: files written, one-line errors with exit 2, and ``--serve``."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import urllib.request

import pytest

import hrm.cli
from tests.view import helpers as view_helpers


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return view_helpers.sudoku_dataset(tmp_path_factory.mktemp("view-cli") / "s4")


def _main(argv, capsys):
    code = hrm.cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_writes_one_html_file(dataset, tmp_path, capsys):
    out = tmp_path / "pages" / "s4.html"
    code, stdout, err = _main(["view", dataset, "--out", out, "--limit", "5"], capsys)
    assert code == 0, err
    assert stdout.strip() == f"wrote {out}"
    text = out.read_text()
    assert text.startswith("<!doctype html>") and "sudoku dataset s4" in text
    assert [p.name for p in out.parent.iterdir()] == ["s4.html"]  # no temporary file left behind


def test_default_output_is_named_after_path_in_the_working_directory(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = _main(["view", dataset], capsys)
    assert code == 0, err
    assert (tmp_path / "s4.html").is_file() and not list(dataset.glob("*.html"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["view", "{tmp}/nothing"], "no such file or folder"),
        (["view", "{tmp}"], "not a dataset"),
        (["view", "{data}", "--limit", "0"], "--limit 0: must be >= 1"),
        (["view", "{data}", "--port", "70000", "--serve"], "--port 70000"),
        (["view", "{data}", "--out", "{tmp}"], "is a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(dataset, tmp_path, capsys, args, message):
    argv = [a.format(tmp=tmp_path, data=dataset) for a in args]
    code, stdout, err = _main(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("hrm: error: ") and message in err
    assert not list(tmp_path.glob("*.html"))


def test_corrupt_input_leaves_an_existing_page_untouched(tmp_path, capsys):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "eval.json").write_text('{"results": [')
    out = tmp_path / "page.html"
    out.write_text("previous page")
    code, _, err = _main(["view", tmp_path / "ev", "--out", out], capsys)
    assert code == 2 and "eval.json:1: not valid JSON" in err
    assert out.read_text() == "previous page" and sorted(p.name for p in tmp_path.iterdir()) == ["ev", "page.html"]


def test_save_predictions_needs_out(capsys, tmp_path):
    code, _, err = _main(["evaluate", "--checkpoint", tmp_path, "--save-predictions", "3"], capsys)
    assert code == 2 and "give --out DIR too" in err


@pytest.mark.skipif(sys.platform == "win32", reason="select() on a pipe and SIGINT to a child are POSIX-only")
def test_serve_binds_localhost_and_stops_cleanly_on_ctrl_c(dataset):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hrm", "view", str(dataset), "--serve", "--port", "0", "--limit", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A background job's children inherit SIGINT ignored (and Python then installs no Ctrl-C handler): give
        # the server the default disposition, as an interactive shell would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)  # bounded: never hang the suite
        assert ready, "hrm view --serve printed nothing in 120 s"
        line = proc.stdout.readline()  # the server is listening once this line is printed
        assert line.startswith("serving on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        url = line.split()[2]
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert b"sudoku dataset s4" in resp.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("target", ["train/dataset.json", "new.html", "."])
def test_out_inside_the_input_is_refused_and_the_input_kept(dataset, capsys, target):
    before = {p: p.read_bytes() for p in dataset.rglob("*") if p.is_file()}
    code, _, err = _main(["view", dataset, "--out", dataset / target], capsys)
    assert code == 2 and "which is being read" in err and err.count("\n") == 1
    assert {p: p.read_bytes() for p in dataset.rglob("*") if p.is_file()} == before
