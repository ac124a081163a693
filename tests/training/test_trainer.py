"""The training step, metric normalisation, online augmentation and an end-to-end tiny run."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hrm.checkpoints import load_checkpoint, load_train_state
from hrm.checkpoints.locate import BEST_FILE, list_checkpoints, read_best, resolve_checkpoint
from hrm.data.format import head_of_split, load_split
from hrm.data.sudoku import (
    SudokuBatchAugmenter,
    SudokuBuildOptions,
    build_sudoku_dataset,
    decode,
    is_valid_solution,
)
from hrm.errors import UserError
from hrm.model import HRM, act_loss
from hrm.training.config import apply_overrides
from hrm.training.optim import AdamATan2, PuzzleEmbeddingSignSGD
from hrm.training.recipes import get_recipe
from hrm.training.trainer import (
    METRIC_KEYS,
    summarise_train_metrics,
    train,
    train_step,
)
from tests.conftest import tiny_batch, tiny_config


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=32, givens=8, seed=0, show_progress=False)
    )
    return root


def test_train_step_matches_a_hand_written_step():
    torch.manual_seed(0)
    config = tiny_config(halt_exploration_prob=0.0)
    model = HRM(config).train()
    twin = copy.deepcopy(model)
    batch = tiny_batch(config, batch_size=4)
    global_batch = 8  # as if another rank held 4 more rows: the loss is divided by the global size

    dense = AdamATan2(model.parameters(), lr=0.0, weight_decay=0.1)
    sparse = PuzzleEmbeddingSignSGD(model.puzzle_emb, lr=0.0, weight_decay=0.1)
    carry, sums = train_step(
        model, model.initial_carry(batch), batch, [(sparse, 0.01), (dense, 0.001)], global_batch_size=global_batch
    )

    twin_dense = AdamATan2(twin.parameters(), lr=0.001, weight_decay=0.1)
    twin_sparse = PuzzleEmbeddingSignSGD(twin.puzzle_emb, lr=0.01, weight_decay=0.1)
    twin_carry, outputs = twin(twin.initial_carry(batch), batch)
    loss, metrics = act_loss(outputs, twin_carry.current_data["labels"], twin_carry.halted, twin_carry.steps)
    (loss / global_batch).backward()
    twin_sparse.step()
    twin_dense.step()

    assert dense.param_groups[0]["lr"] == 0.001 and sparse.param_groups[0]["lr"] == 0.01
    for (name, p), q in zip(model.state_dict().items(), twin.state_dict().values()):
        assert p.equal(q), name
    assert carry.steps.equal(twin_carry.steps) and carry.state["z_H"].equal(twin_carry.state["z_H"])
    assert all(p.grad is None for p in model.parameters())
    assert sums.shape == (len(METRIC_KEYS),)
    assert sums[METRIC_KEYS.index("lm_loss")].item() == pytest.approx(metrics["lm_loss"].item())
    assert sums[METRIC_KEYS.index("count")].item() == metrics["count"].item()


def test_train_step_with_adamw_and_clipping_moves_weights():
    torch.manual_seed(0)
    config = tiny_config(puzzle_emb_ndim=0)
    model = HRM(config).train()
    before = copy.deepcopy(model.state_dict())
    batch = tiny_batch(config)
    opt = torch.optim.AdamW(model.parameters(), lr=0.0)
    carry = model.initial_carry(batch)
    for _ in range(3):
        carry, _ = train_step(model, carry, batch, [(opt, 1e-3)], global_batch_size=4, grad_clip=1e-3)
    assert opt.param_groups[0]["lr"] == 1e-3
    assert not model.core.lm_head.weight.equal(before["core.lm_head.weight"])


def test_summarise_train_metrics_normalises_like_the_reference():
    values = dict(
        count=4,
        lm_loss=8.0,
        q_halt_loss=2.0,
        q_continue_loss=1.0,
        accuracy=3.0,
        exact_accuracy=2.0,
        q_halt_accuracy=4.0,
        steps=10.0,
        skipped=0,
    )
    sums = torch.tensor([values[k] for k in METRIC_KEYS], dtype=torch.float64)
    out = summarise_train_metrics(sums, num_steps=2, global_batch_size=8)
    assert out["lm_loss"] == 0.5 and out["q_halt_loss"] == 0.125  # ÷ (global batch × steps)
    assert out["exact_accuracy"] == 0.5 and out["steps"] == 2.5 and out["count"] == 4  # ÷ halted rows
    empty = summarise_train_metrics(torch.zeros(len(METRIC_KEYS), dtype=torch.float64), 1, 8)
    assert empty["exact_accuracy"] is None and empty["lm_loss"] == 0.0 and empty["skipped_steps"] == 0


def test_sudoku_augmentation_keeps_puzzles_valid(tiny_data):
    split = load_split(tiny_data / "train")
    rows = np.arange(8)
    batch = {
        "inputs": split.set()["inputs"][rows].astype(np.int32),
        "labels": split.set()["labels"][rows].astype(np.int32),
        "puzzle_identifiers": np.zeros(8, np.int32),
    }
    batch["labels"][0, 0] = -100  # an ignored label stays ignored, wherever it moves
    full = SudokuBatchAugmenter(16, seed=3, global_batch_size=8, rank=0, world_size=1)(batch, step=5)
    assert not np.array_equal(full["inputs"], batch["inputs"])
    assert (full["labels"] == -100).sum() == 1
    for i in range(8):
        solution = decode(np.where(full["labels"][i] < 0, batch["labels"][0, 1], full["labels"][i]), 4)
        if i:
            assert is_valid_solution(solution, decode(full["inputs"][i], 4))
        assert ((full["inputs"][i] == 1).sum()) == ((batch["inputs"][i] == 1).sum())  # same number of blanks
    # A rank's slice is the same rows as in the single-process batch: augmentation ignores the world size.
    half = {k: v[4:] for k, v in batch.items()}
    second = SudokuBatchAugmenter(16, seed=3, global_batch_size=8, rank=1, world_size=2)(half, step=5)
    assert np.array_equal(second["inputs"], full["inputs"][4:])


def test_head_of_split_keeps_whole_puzzles(tiny_data):
    split = load_split(tiny_data / "test")
    head = head_of_split(split, 10)
    assert head.num_examples == 10 and head.num_puzzles == 10
    assert head.set()["group_indices"][-1] == 10


def run_overrides(data: Path) -> list[str]:
    return [
        f"data={data}",
        "max_steps=24",
        "schedule.eval_every_steps=8",
        "checkpoint.every_eval=false",
        "checkpoint.every_steps=4",
        "checkpoint.keep_last=2",
        "logging.plot=true",
        "ema.enabled=true",
        "logging.log_every=2",
        "runtime.num_threads=1",
    ]


def test_end_to_end_tiny_run(tiny_data, tmp_path):
    config = apply_overrides(get_recipe("tiny"), run_overrides(tiny_data))
    run = tmp_path / "run"
    result = train(config, run)
    assert result.step == 24 and result.total_steps == 24 and result.checkpoint == run / "step-24"

    # Run directory: config, metrics, curves, best record, latest k + best checkpoints.
    assert json.loads((run / "train_config.json").read_text()) == config.to_dict()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r["split"] == "train"]
    evals = [r for r in records if r["split"] == "eval"]
    assert [r["step"] for r in train_records] == list(range(2, 25, 2))
    assert [r["step"] for r in evals] == [8, 16, 24]
    assert {
        "lm_loss",
        "q_halt_loss",
        "q_continue_loss",
        "accuracy",
        "exact_accuracy",
        "q_halt_accuracy",
        "steps",
        "lr",
        "steps_per_s",
    } <= set(train_records[-1])
    assert {"exact_accuracy", "accuracy", "count"} <= set(evals[-1]) and evals[-1]["count"] == 32
    assert train_records[-1]["lm_loss"] < train_records[0]["lm_loss"]  # it learns something
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("step,split")
    assert (run / "curves.png").stat().st_size > 1000
    best = read_best(run)
    assert best is not None and best["step"] in (8, 16, 24) and (run / BEST_FILE).is_file()
    kept = [step for step, _ in list_checkpoints(run)]
    assert kept[-2:] == [20, 24] and set(kept) <= {best["step"], 20, 24}

    # Checkpoints: self-describing, EMA weights in model.safetensors, live weights in the train state.
    assert resolve_checkpoint(run) == run / "step-24"
    assert resolve_checkpoint(run / "best") == run / f"step-{best['step']}"
    assert resolve_checkpoint(run, which="best") == run / f"step-{best['step']}"
    assert resolve_checkpoint(run / "step-24") == run / "step-24"
    checkpoint = load_checkpoint(run / "step-24")
    assert checkpoint.step == 24 and checkpoint.identifiers == ["<blank>"]
    assert checkpoint.dataset["metadata"]["seq_len"] == 16 and checkpoint.train_config == config.to_dict()
    assert checkpoint.dataset["kind"] == "sudoku" and checkpoint.family == "hrm"  # recorded, not guessed later
    state = load_train_state(run / "step-24")
    shadow = state["ema"]["shadow"]
    for name, tensor in checkpoint.model.named_parameters():
        assert tensor.equal(shadow[name]), name
    assert state["step"] == 24 and not state["live_parameters"]["core.lm_head.weight"].equal(
        shadow["core.lm_head.weight"]
    )

    # A finished run's directory refuses a fresh start; resuming a finished run is a no-op.
    with pytest.raises(UserError, match="--resume"):
        train(config, run)
    again = train(config, run, resume=True)
    assert again.step == 24


def test_time_budget_stops_the_run(tiny_data, tmp_path, monkeypatch):
    # A fake clock that advances 0.25 s per reading: the budget of 1.8 s ends the run after a handful of steps,
    # whatever the machine's speed or load (the stopping step is exact, so a real clock would make it flaky).
    import hrm.training.trainer as trainer_module

    readings = iter(range(10**9))
    monkeypatch.setattr(trainer_module, "clock", lambda: 0.25 * next(readings))
    config = apply_overrides(
        get_recipe("tiny"),
        [
            f"data={tiny_data}",
            "max_steps=100000",
            "schedule.time_budget_minutes=0.03",
            "checkpoint.every_eval=false",
            "schedule.eval_every_steps=100000",
            "runtime.num_threads=1",
        ],
    )
    result = train(config, tmp_path / "run")
    assert 0 < result.step < 20 and result.last_eval is not None  # evaluated at the end
    assert (tmp_path / "run" / f"step-{result.step}").is_dir()
    assert result.elapsed_s >= 1.8


def test_set_up_does_not_count_against_the_time_budget(tiny_data, tmp_path):
    # S4: a budget shorter than loading data and building the model still trains (and saves) at least one step.
    config = apply_overrides(
        get_recipe("tiny"),
        [f"data={tiny_data}", "max_steps=100000", "schedule.time_budget_minutes=0.0001", "runtime.num_threads=1"],
    )
    result = train(config, tmp_path / "run")
    assert result.step >= 1 and (tmp_path / "run" / f"step-{result.step}").is_dir()


def test_missing_data_is_a_user_error(tmp_path):
    config = apply_overrides(get_recipe("sudoku-extreme-1k"), [f"data={tmp_path / 'nothing'}"])
    with pytest.raises(UserError, match="no train/ split"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_init_from_starts_from_a_checkpoints_weights(tiny_data, tmp_path):
    base = [
        f"data={tiny_data}",
        "checkpoint.every_eval=false",
        "schedule.eval_every_steps=1000",
        "schedule.eval_at_end=false",
        "logging.plot=false",
        "runtime.num_threads=1",
    ]
    first = train(apply_overrides(get_recipe("tiny"), [*base, "max_steps=3"]), tmp_path / "first")
    source = load_checkpoint(first.checkpoint).model.state_dict()

    # lr 0 keeps the weights, so after one step the new run's checkpoint must hold exactly the source weights.
    frozen = ["max_steps=1", "lr=0", "optim.weight_decay=0", "optim.puzzle_emb_lr=0", "optim.puzzle_emb_weight_decay=0"]
    config = apply_overrides(get_recipe("tiny"), [*base, *frozen, f"checkpoint.init_from={tmp_path / 'first'}"])
    second = train(config, tmp_path / "second")
    assert second.step == 1  # the step count starts fresh
    for name, tensor in load_checkpoint(second.checkpoint).model.state_dict().items():
        assert tensor.equal(source[name]), name
    fresh = train(apply_overrides(get_recipe("tiny"), [*base, *frozen]), tmp_path / "fresh")
    assert (
        not load_checkpoint(fresh.checkpoint)
        .model.state_dict()["core.lm_head.weight"]
        .equal(source["core.lm_head.weight"])
    )


def test_init_from_rejects_incompatible_data(tiny_data, tmp_path):
    other = tmp_path / "sudoku-6x6"
    build_sudoku_dataset(
        SudokuBuildOptions(out=other, size=6, num_train=16, num_test=8, givens=20, seed=0, show_progress=False)
    )
    base = [
        "checkpoint.every_eval=false",
        "schedule.eval_every_steps=1000",
        "schedule.eval_at_end=false",
        "logging.plot=false",
        "runtime.num_threads=1",
        "max_steps=1",
    ]
    first = train(apply_overrides(get_recipe("tiny"), [*base, f"data={tiny_data}"]), tmp_path / "first")
    config = apply_overrides(get_recipe("tiny"), [*base, f"data={other}", f"checkpoint.init_from={first.run_dir}"])
    with pytest.raises(UserError, match="its vocab_size is 6 but the training data needs 8"):
        train(config, tmp_path / "second")
    assert not (tmp_path / "second").exists()
    with pytest.raises(UserError, match="not found"):
        train(
            apply_overrides(
                get_recipe("tiny"), [*base, f"data={tiny_data}", f"checkpoint.init_from={tmp_path / 'missing'}"]
            ),
            tmp_path / "x",
        )


def test_compiled_model_trains_like_the_eager_one():
    from hrm.training.trainer import CompileError, compile_model

    torch.manual_seed(0)
    config = tiny_config(halt_exploration_prob=0.0)
    eager = HRM(config).train()
    compiled = copy.deepcopy(eager)
    start = {k: v.detach().clone() for k, v in eager.state_dict().items()}
    batch = tiny_batch(config, batch_size=4)
    results = []
    for model in (eager, compiled):
        if model is compiled:
            compile_model(model)
        # AdamW with eps=1 moves a weight by ~lr*g, smoothly: AdamATan2 would turn a near-zero gradient whose sign
        # differs by rounding (fused kernels sum in another order) into a full step of ~lr*pi/2.
        dense = torch.optim.AdamW(model.parameters(), lr=0.0, eps=1.0, weight_decay=0.1)
        carry = model.initial_carry(batch)
        sums = []
        torch.manual_seed(1)  # the same exploration draws for both
        try:
            for _ in range(3):
                carry, values = train_step(model, carry, batch, [(dense, 1e-2)], global_batch_size=4)
                sums.append(values)
        except Exception as exc:  # no working inductor backend (no C++ compiler) on this machine
            if model is compiled:
                pytest.skip(f"torch.compile unusable here: {type(exc).__name__}")
            raise
        results.append((torch.stack(sums), {k: v.detach().clone() for k, v in model.state_dict().items()}))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-4, atol=1e-4)
    for name, want in results[0][1].items():  # the same update, to rounding, relative to its size
        update, error = want - start[name], results[1][1][name] - want
        assert error.norm() <= 1e-3 * update.norm() + 1e-7, (name, error.norm().item(), update.norm().item())
    assert issubclass(CompileError, UserError)
