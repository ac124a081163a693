"""End-to-end evaluation on a tiny random model and a tiny 4×4 Sudoku dataset."""

from __future__ import annotations

import math

import pytest
import torch

from hrm.data.format import load_split
from hrm.errors import UserError
from hrm.evaluation.evaluate import evaluate_model, evaluate_split, scaling_sweep
from hrm.evaluation.metrics import MetricAccumulator
from hrm.evaluation.plots import plot_scaling_sweep
from hrm.model.losses import IGNORE_LABEL_ID
from tests.evaluation.helpers import build_sudoku4, tiny_model


@pytest.fixture(scope="module")
def sudoku_split(tmp_path_factory):
    root = build_sudoku4(tmp_path_factory.mktemp("data") / "s4")
    return load_split(root / "test")


def _manual(model, split, cap, early_exit):
    a = split.set()
    inputs = torch.as_tensor(a["inputs"].astype("int64"))
    labels = torch.as_tensor(a["labels"].astype("int64"))
    labels[labels == split.metadata.ignore_label_id] = IGNORE_LABEL_ID
    out = model.predict(inputs, torch.zeros(len(inputs), dtype=torch.long), max_segments=cap, early_exit=early_exit)
    acc = MetricAccumulator(cap)
    acc.update(out["logits"], labels, out["q_halt_logits"], out["segments"])
    return acc.summary()


@pytest.mark.parametrize("early_exit", [False, True])
def test_evaluate_split_matches_predict(sudoku_split, early_exit):
    model = tiny_model()
    result = evaluate_split(model, sudoku_split, batch_size=5, max_segments=3, early_exit=early_exit, progress=False)
    ref = _manual(model, sudoku_split, 3, early_exit)
    assert result.metrics.count == ref.count == 12
    for name in ("exact_accuracy", "token_accuracy", "q_halt_accuracy", "mean_segments"):
        assert getattr(result.metrics, name) == pytest.approx(getattr(ref, name))
    assert result.metrics.halting_histogram == ref.halting_histogram
    assert sum(result.metrics.halting_histogram) == 12
    if not early_exit:
        assert result.metrics.halting_histogram == [0, 0, 12]


def test_scaling_sweep_equals_separate_runs(sudoku_split, tmp_path):
    model = tiny_model()
    sweep = scaling_sweep(model, sudoku_split, [1, 2, 4], batch_size=7, early_exit=True, progress=False)
    assert [r.max_segments for r in sweep] == [1, 2, 4]
    for r in sweep:
        single = evaluate_split(
            model, sudoku_split, batch_size=12, max_segments=r.max_segments, early_exit=True, progress=False
        )
        assert r.metrics.halting_histogram == single.metrics.halting_histogram
        for name in ("count", "exact_accuracy", "token_accuracy", "q_halt_accuracy", "mean_segments"):
            assert getattr(r.metrics, name) == pytest.approx(getattr(single.metrics, name))
    assert 1.0 < sweep[-1].metrics.mean_segments < 4.0  # some rows halt early, some do not
    png = plot_scaling_sweep(sweep, tmp_path / "sweep.png")
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_model_reference_semantics(sudoku_split):
    model = tiny_model(halt_max_steps=3)
    model.train()
    metrics = evaluate_model(model, sudoku_split, global_batch_size=5)
    assert model.training  # mode restored
    ref = evaluate_split(model, sudoku_split, batch_size=5, max_segments=3, progress=False)
    assert metrics["count"] == 12
    assert metrics["exact_accuracy"] == pytest.approx(ref.metrics.exact_accuracy)
    assert metrics["accuracy"] == pytest.approx(ref.metrics.token_accuracy)
    assert metrics["q_halt_accuracy"] == pytest.approx(ref.metrics.q_halt_accuracy)
    assert metrics["steps"] == pytest.approx(3.0)
    assert math.isfinite(metrics["lm_loss"]) and metrics["lm_loss"] > 0
    assert math.isfinite(metrics["q_halt_loss"])


def test_evaluate_model_rank_slices_cover_the_split(sudoku_split):
    """Two ranks' (un-reduced) sums add up to the single-process result."""
    model = tiny_model(halt_max_steps=2)
    full = evaluate_model(model, sudoku_split, global_batch_size=4)
    parts = [evaluate_model(model, sudoku_split, global_batch_size=4, rank=r, world_size=2) for r in (0, 1)]
    assert parts[0]["count"] + parts[1]["count"] == full["count"]
    exact = sum(p["exact_accuracy"] * p["count"] for p in parts) / full["count"]
    assert exact == pytest.approx(full["exact_accuracy"])


def test_incompatible_split_is_a_user_error(sudoku_split):
    model = tiny_model(vocab_size=11, seq_len=81)
    with pytest.raises(UserError, match="vocab_size 6 and seq_len 16 .* vocab_size 11 and seq_len 81"):
        evaluate_split(model, sudoku_split, progress=False)


def test_evaluate_model_under_torch_distributed(sudoku_split, tmp_path):
    """With a (single-rank, gloo) process group the sums go through all_reduce and give the same numbers."""
    import torch.distributed as dist

    if not dist.is_available() or dist.is_initialized():
        pytest.skip("torch.distributed unavailable or already initialised")
    model = tiny_model(halt_max_steps=2)
    plain = evaluate_model(model, sudoku_split, global_batch_size=4)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        reduced = evaluate_model(model, sudoku_split, global_batch_size=4)
    finally:
        dist.destroy_process_group()
    assert reduced == pytest.approx(plain)
