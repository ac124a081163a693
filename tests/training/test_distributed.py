"""Data-parallel training on 2 gloo ranks (launched with torchrun) matches one process with the same global
batch, and a 2-rank run resumes exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")

HRM = ["-m", "hrm"]
STEPS = 6


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=32, givens=8, seed=0, show_progress=False)
    )
    return root


def overrides(data: Path, steps: int = STEPS) -> list[str]:
    # No exploration: each rank draws its own random numbers (seed + rank), as the reference does. A constant rate
    # after warmup makes the schedule independent of the total, so a run can be extended on resume.
    return [
        f"data={data}",
        f"max_steps={steps}",
        "arch.halt_exploration_prob=0",
        "optim.lr_min_ratio=1",
        "runtime.deterministic=true",
        "runtime.num_threads=1",
        "schedule.eval_every_steps=3",
        "checkpoint.keep_last=0",
        "logging.progress=false",
    ]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(*args: str) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *HRM, *args]
    result = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def single(*args: str) -> None:
    result = subprocess.run([sys.executable, *HRM, *args], env=env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def weights(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / f"step-{step}" / "model.safetensors"))


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_two_gloo_ranks_match_one_process_and_resume(tiny_data: Path, tmp_path: Path):
    one, two, resumed = tmp_path / "one", tmp_path / "two", tmp_path / "resumed"
    single("train", "tiny", *overrides(tiny_data), "--out", str(one))
    torchrun("train", "tiny", *overrides(tiny_data), "--out", str(two))

    # Same weights after k steps (float tolerance: each rank multiplies half-batch matrices).
    a, b = weights(one, STEPS), weights(two, STEPS)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6, msg=key)
    # Logging and checkpointing happen once (rank 0), with the metrics of the whole global batch.
    ra, rb = records(one), records(two)
    assert [(r["step"], r["split"]) for r in rb] == [(r["step"], r["split"]) for r in ra]
    for x, y in zip(ra, rb):
        assert y["count"] == x["count"]
        assert y["lm_loss"] == pytest.approx(x["lm_loss"], rel=1e-5)

    # Resume on 2 ranks: stop at step 3, continue to STEPS, land on the uninterrupted 2-rank run bit for bit.
    torchrun("train", "tiny", *overrides(tiny_data, steps=3), "--out", str(resumed))
    torchrun("train", "--resume", str(resumed), f"max_steps={STEPS}")
    c = weights(resumed, STEPS)
    for key in b:
        assert c[key].equal(b[key]), key
    assert [r["lm_loss"] for r in records(resumed)] == [r["lm_loss"] for r in rb]


@pytest.mark.parametrize(
    "family",
    [
        "trm",
        "gru",
        pytest.param("transformer", marks=pytest.mark.slow),
        pytest.param("looped", marks=pytest.mark.slow),
        pytest.param("lstm", marks=pytest.mark.slow),
    ],
)
def test_zoo_family_two_gloo_ranks_match_one_process(family: str, tiny_data: Path, tmp_path: Path):
    """Every model family trains data-parallel through the same trainer (the carry is split by rank)."""
    one, two = tmp_path / "one", tmp_path / "two"
    extra = [f"model={family}"] + ([f"{family}.halt_exploration_prob=0"] if family in ("trm", "looped") else [])
    single("train", "tiny", *overrides(tiny_data), *extra, "--out", str(one))
    torchrun("train", "tiny", *overrides(tiny_data), *extra, "--out", str(two))
    a, b = weights(one, STEPS), weights(two, STEPS)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6, msg=key)
    assert [r["lm_loss"] for r in records(two)] == pytest.approx([r["lm_loss"] for r in records(one)], rel=1e-5)
