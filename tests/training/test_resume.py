"""Exact resume: a run killed with SIGKILL and resumed logs the same per-step losses, bit for bit, as an
uninterrupted run (tiny recipe, CPU, deterministic mode), and ends with the same weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hrm.checkpoints import list_checkpoints, load_train_state
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset

HRM = [sys.executable, "-m", "hrm"]
STEPS = 160
KILL_AFTER_STEP = 40  # SIGKILL once this checkpoint exists (the process is then somewhere past it)
COMPARED = (
    "lm_loss",
    "q_halt_loss",
    "q_continue_loss",
    "accuracy",
    "exact_accuracy",
    "q_halt_accuracy",
    "steps",
    "count",
    "lr",
)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=32, givens=8, seed=0, show_progress=False)
    )
    return root


def overrides(data: Path) -> list[str]:
    return [
        f"data={data}",
        f"max_steps={STEPS}",
        "runtime.deterministic=true",
        "runtime.num_threads=1",
        "schedule.eval_every_steps=25",
        "checkpoint.every_steps=5",
        "checkpoint.keep_last=2",
        "logging.progress=false",
        "ema.enabled=true",
        "ema.decay=0.9",
    ]


def train_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def test_sigkill_then_resume_is_bit_exact(tiny_data: Path, tmp_path: Path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(
        [*HRM, "train", "tiny", *overrides(tiny_data), "--out", str(full)],
        check=True,
        env=env(),
        capture_output=True,
        timeout=600,
    )

    proc = subprocess.Popen(
        [*HRM, "train", "tiny", *overrides(tiny_data), "--out", str(killed)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not any(step >= KILL_AFTER_STEP for step, _ in list_checkpoints(killed)):
            assert proc.poll() is None, "training finished before it could be killed; raise STEPS"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        proc.kill()  # SIGKILL on POSIX (TerminateProcess on Windows): the run gets no chance to clean up
    finally:
        proc.wait()
    assert proc.returncode == (-signal.SIGKILL if os.name == "posix" else 1)
    assert not (killed / f"step-{STEPS}").exists()

    subprocess.run([*HRM, "train", "--resume", str(killed)], check=True, env=env(), capture_output=True, timeout=600)

    expected, got = train_records(full), train_records(killed)
    assert [(r["step"], r["split"]) for r in got] == [(r["step"], r["split"]) for r in expected]
    for want, have in zip(expected, got):
        for key in COMPARED:
            assert have.get(key) == want.get(key), (want["step"], want["split"], key)
    # The final weights (the EMA copy in model.safetensors) are identical, and so is everything else in the
    # training state: live weights, optimiser moments, carry, sampler position, random-number streams.
    a = load_file(str(full / f"step-{STEPS}" / "model.safetensors"))
    b = load_file(str(killed / f"step-{STEPS}" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].equal(b[key]), key
    state_a = load_train_state(full / f"step-{STEPS}")
    state_b = load_train_state(killed / f"step-{STEPS}")
    state_a.pop("elapsed_s"), state_b.pop("elapsed_s")
    assert_same(state_a, state_b, "train_state")


def assert_same(a, b, where: str) -> None:
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.equal(b), where
    else:
        assert a == b, where
