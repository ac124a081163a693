"""Gradient accumulation (``schedule.grad_accum_steps``) and the non-finite guard (``schedule.max_nonfinite_steps``)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hrm.checkpoints.locate import list_checkpoints
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.errors import ConfigError, UserError
from hrm.model import HRM
from hrm.training.config import apply_overrides
from hrm.training.ema import EMA
from hrm.training.optim import AdamATan2, PuzzleEmbeddingSignSGD
from hrm.training.recipes import get_recipe
from hrm.training.trainer import METRIC_KEYS, join_rows, split_rows, summarise_train_metrics, train, train_step
from tests.conftest import tiny_batch, tiny_config

SKIPPED = METRIC_KEYS.index("skipped")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=32, givens=8, seed=0, show_progress=False)
    )
    return root


def _model(dtype: torch.dtype = torch.float64) -> HRM:
    torch.manual_seed(0)
    # No ε-exploration: its random draws are per call, so a split batch would draw them in another order.
    model = HRM(tiny_config(halt_exploration_prob=0.0)).to(dtype).train()
    model.forward_dtype = dtype
    return model


def _optimizers(model: HRM) -> list:
    dense = AdamATan2(model.parameters(), lr=0.0, weight_decay=0.1)
    sparse = PuzzleEmbeddingSignSGD(model.puzzle_emb, lr=0.0, weight_decay=0.1)
    return [(sparse, 0.01), (dense, 0.003)]


def _run(model: HRM, steps: int, micro_batches: int, rows: int = 8):
    opts = _optimizers(model)
    carry, sums = None, []
    for step in range(steps):
        batch = tiny_batch(model.config, batch_size=rows, seed=step)
        carry = model.initial_carry(batch) if carry is None else carry
        carry, values = train_step(
            model,
            carry,
            batch,
            opts,
            global_batch_size=rows,
            stablemax_dtype=torch.float64,
            micro_batches=micro_batches,
        )
        sums.append(values)
    return carry, torch.stack(sums), opts


@pytest.mark.parametrize("micro_batches", [2, 4])
def test_accumulated_steps_equal_the_one_batch_steps(micro_batches):
    # float64 on both sides: the only difference is the order of the gradient sums, far below 1e-10 here; in fp32
    # it would be CPU-dependent noise. Five steps: rows halt and are refilled, so the carry's join is exercised.
    one, many = _model(), _model()
    carry_a, sums_a, opts_a = _run(one, 5, 1)
    carry_b, sums_b, opts_b = _run(many, 5, micro_batches)
    for (name, a), b in zip(one.state_dict().items(), many.state_dict().values()):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-10, msg=name)
    for key, value in carry_a.state_dict().items():
        torch.testing.assert_close(carry_b.state_dict()[key], value, atol=1e-10, rtol=1e-10, msg=key)
    torch.testing.assert_close(sums_b, sums_a, atol=1e-9, rtol=1e-10)
    assert sums_a[:, METRIC_KEYS.index("count")].sum() > 0  # some rows halted: the refill path ran
    state_a, state_b = opts_a[1][0].state, opts_b[1][0].state
    for p_a, p_b in zip(one.parameters(), many.parameters()):
        torch.testing.assert_close(state_b[p_b]["exp_avg_sq"], state_a[p_a]["exp_avg_sq"], atol=1e-14, rtol=1e-9)


def test_split_and_join_rows_round_trip():
    model = _model()
    batch = tiny_batch(model.config, batch_size=6)
    carry, _ = model(model.initial_carry(batch), batch)
    parts = split_rows(carry, batch, 3)
    assert [p[0].halted.shape[0] for p in parts] == [2, 2, 2]
    joined = join_rows([c for c, _ in parts])
    for key, value in carry.state_dict().items():
        assert joined.state_dict()[key].equal(value), key
    with pytest.raises(ValueError, match="cannot be split"):
        split_rows(carry, batch, 4)


def _poison(model: HRM) -> None:
    """Make every gradient of the LM head NaN (as a diverging step would)."""
    model.core.lm_head.weight.register_hook(lambda grad: grad * float("nan"))


@pytest.mark.parametrize("guard", ["sync", "masked"])
def test_a_non_finite_gradient_skips_the_whole_update(guard):
    model = _model(torch.float32)
    opts = _optimizers(model)
    batch = tiny_batch(model.config, batch_size=4)
    carry, _ = train_step(model, model.initial_carry(batch), batch, opts, global_batch_size=4, guard=guard)
    weights = copy.deepcopy(model.state_dict())
    moments = {k: v.clone() for k, v in opts[1][0].state[model.core.lm_head.weight].items()}
    carry_before = {k: v.clone() for k, v in carry.state_dict().items()}

    _poison(model)
    new_carry, values = train_step(model, carry, batch, opts, global_batch_size=4, guard=guard)

    assert values[SKIPPED].item() == 1 and values[METRIC_KEYS.index("lm_loss")].item() == 0
    for name, value in model.state_dict().items():  # weights and the puzzle-embedding table (a buffer)
        assert value.equal(weights[name]), name
    for key, value in opts[1][0].state[model.core.lm_head.weight].items():
        if key != "step" or guard == "sync":  # masked: a host-side step counter may advance (documented)
            assert value.equal(moments[key]), key
    for key, value in new_carry.state_dict().items():
        assert value.equal(carry_before[key]), key
    assert all(p.grad is None for p in model.parameters())
    assert model.puzzle_emb.pop_pending() == []  # nothing left over for the next step


def test_the_masked_guard_updates_exactly_like_the_plain_step_when_finite():
    a, b = _model(torch.float32), _model(torch.float32)
    opts_a, opts_b = _optimizers(a), _optimizers(b)
    ema_a, ema_b = EMA(a, 0.9), EMA(b, 0.9)
    carry_a = carry_b = None
    for step in range(3):
        batch = tiny_batch(a.config, batch_size=4, seed=step)
        carry_a = a.initial_carry(batch) if carry_a is None else carry_a
        carry_b = b.initial_carry(batch) if carry_b is None else carry_b
        carry_a, va = train_step(a, carry_a, batch, opts_a, global_batch_size=4, guard="sync")
        carry_b, vb = train_step(b, carry_b, batch, opts_b, global_batch_size=4, guard="masked")
        ema_a.update(a)
        ema_b.update(b, keep=vb[SKIPPED] == 0)
        assert va.equal(vb)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert p.equal(q), name
    for name, shadow in ema_a.shadow.items():
        assert shadow.equal(ema_b.shadow[name]), name


def test_skipped_steps_are_counted_and_left_out_of_the_loss_average():
    sums = torch.zeros(len(METRIC_KEYS), dtype=torch.float64)
    sums[METRIC_KEYS.index("lm_loss")] = 8.0
    sums[SKIPPED] = 1
    out = summarise_train_metrics(sums, num_steps=2, global_batch_size=8)
    assert out["skipped_steps"] == 1 and out["lm_loss"] == 1.0  # one step updated
    sums[SKIPPED] = 2
    assert summarise_train_metrics(sums, num_steps=2, global_batch_size=8)["lm_loss"] is None


def _config(data: Path, *extra: str):
    return apply_overrides(
        get_recipe("tiny"),
        [
            f"data={data}",
            "runtime.num_threads=1",
            "runtime.deterministic=true",
            "logging.progress=false",
            "logging.plot=false",
            *extra,
        ],
    )


def test_a_diverging_run_stops_with_one_line_and_never_saves_a_non_finite_value(tiny_data, tmp_path):
    # The example: lr=1e6 turns the weights to NaN within a few steps without the guard.
    run = tmp_path / "run"
    config = _config(tiny_data, "optim.lr=1e6", "schedule.max_steps=30", "checkpoint.every_steps=5")
    with pytest.raises(UserError, match=r"training diverged: steps \d+-\d+ \(5 in a row") as info:
        train(config, run)
    assert "\n" not in str(info.value) and "optim.lr=1e+06" in str(info.value)
    assert list_checkpoints(run), "the run saved checkpoints before it diverged"
    for _, path in list_checkpoints(run):
        for name, tensor in load_file(str(path / "model.safetensors")).items():
            assert torch.isfinite(tensor).all(), (path.name, name)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum(r.get("skipped_steps", 0) for r in records if r["split"] == "train") >= 1


def test_resume_passes_over_a_checkpoint_with_non_finite_weights(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(_config(tiny_data, "schedule.max_steps=10", "checkpoint.every_steps=5"), run)
    newest = run / "step-10" / "model.safetensors"
    tensors = load_file(str(newest))
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(newest))
    result = train(_config(tiny_data, "schedule.max_steps=12", "checkpoint.every_steps=5"), run, resume=True)
    assert result.step == 12  # resumed from step-5, the newest finite checkpoint
    for tensor in load_file(str(run / "step-12" / "model.safetensors")).values():
        assert torch.isfinite(tensor).all()


def test_an_accumulated_run_resumes_bit_exactly(tiny_data, tmp_path):
    run = tmp_path / "run"
    config = _config(tiny_data, "schedule.max_steps=8", "schedule.grad_accum_steps=4", "checkpoint.every_steps=4")
    train(config, run)
    expected = load_file(str(run / "step-8" / "model.safetensors"))
    shutil.rmtree(run / "step-8")  # as if the run had been killed after step-4
    train(config, run, resume=True)
    got = load_file(str(run / "step-8" / "model.safetensors"))
    for key in expected:
        assert got[key].equal(expected[key]), key


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("schedule.grad_accum_steps=0", "schedule.grad_accum_steps must be >= 1"),
        ("schedule.grad_accum_steps=7", r"grad_accum_steps \(7\) must divide schedule.global_batch_size"),
        ("schedule.max_nonfinite_steps=0", "schedule.max_nonfinite_steps must be >= 1"),
    ],
)
def test_bad_accumulation_and_guard_settings_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(get_recipe("tiny"), [override]).validate()
