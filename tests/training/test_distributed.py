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
        # An update that is smooth in the gradient: AdamATan2 (and AdamW with a tiny eps, and the puzzle table's
        # sign-SGD) turn a near-zero gradient whose sign differs by rounding into a full-size step (~lr*pi/2), so
        # two correct runs that sum in a different order can differ by a whole step. AdamW with eps=1 moves a weight
        # by ~lr*g: rounding in g stays rounding in the weights, and a wrong gradient (e.g. summed, not averaged,
        # over ranks) still shows as a wrong update.
        "optim.optimizer=adamw",
        "optim.adamw_eps=1",
        "optim.lr=0.01",
        "optim.puzzle_emb_lr=0",
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


def assert_same_updates(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], start: dict[str, torch.Tensor]):
    """The weights moved the same way from ``start``: each tensor's update agrees to 1e-4 of its size."""
    assert got.keys() == want.keys() == start.keys()
    for key in want:
        update, error = want[key] - start[key], got[key] - want[key]
        if not update.any():  # a tensor these steps do not move (the puzzle table at lr 0) moves in neither run
            assert not (got[key] - start[key]).any(), key
            continue
        assert error.norm() <= 1e-4 * update.norm(), (key, (error.norm() / update.norm()).item())


def start_weights(data: Path, tmp_path: Path, *extra: str) -> dict[str, torch.Tensor]:
    """The initial weights, written as step STEPS of a run at learning rate 0 (nothing moves, not even decay)."""
    run = tmp_path / "start"
    single("train", "tiny", *overrides(data), *extra, "optim.lr=0", "--out", str(run))
    return weights(run, STEPS)


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_two_gloo_ranks_match_one_process_and_resume(tiny_data: Path, tmp_path: Path):
    one, two, resumed = tmp_path / "one", tmp_path / "two", tmp_path / "resumed"
    single("train", "tiny", *overrides(tiny_data), "--out", str(one))
    torchrun("train", "tiny", *overrides(tiny_data), "--out", str(two))

    # The same updates after k steps (to rounding: each rank multiplies half-batch matrices).
    a, b = weights(one, STEPS), weights(two, STEPS)
    assert_same_updates(b, a, start_weights(tiny_data, tmp_path))
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
    assert_same_updates(b, a, start_weights(tiny_data, tmp_path, *extra))
    assert [r["lm_loss"] for r in records(two)] == pytest.approx([r["lm_loss"] for r in records(one)], rel=1e-5)
