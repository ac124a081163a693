"""The CUDA path: bf16 numerics against fp32, a training step, and torch.compile (marked gpu; skipped without CUDA).

Run with ``python -m pytest -m gpu``; ``benchmarks/gpu_check.py`` runs them when an accelerator is lent.
"""

from __future__ import annotations

import pytest
import torch

from hrm.model import HRM
from hrm.runtime.device import resolve_precision
from hrm.training.recipes import get_recipe
from hrm.training.trainer import build_optimizers, compile_model, train_step
from tests.conftest import tiny_batch, tiny_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _cuda_model(**overrides) -> HRM:
    torch.manual_seed(0)
    config = tiny_config(hidden_size=64, num_heads=4, high_layers=2, low_layers=2, seq_len=36, **overrides)
    return HRM(config).cuda().eval()


def test_bf16_forward_matches_fp32_on_cuda():
    model = _cuda_model()
    batch = {k: v.cuda() for k, v in tiny_batch(model.config, batch_size=16).items()}
    model.forward_dtype = torch.float32
    reference = model.trace(batch["inputs"], batch["puzzle_identifiers"], num_segments=2)
    model.forward_dtype = torch.bfloat16
    low = model.trace(batch["inputs"], batch["puzzle_identifiers"], num_segments=2)
    for ref, got in zip(reference, low):
        assert got["logits"].dtype == torch.float32  # trace returns fp32 logits whatever the activations
        scale = ref["logits"].abs().max()
        assert (got["logits"] - ref["logits"]).abs().max() <= 0.05 * scale
        agree = (got["logits"].argmax(-1) == ref["logits"].argmax(-1)).float().mean()
        assert agree >= 0.95
        assert torch.allclose(got["q_halt_logits"].float(), ref["q_halt_logits"].float(), atol=0.05 * scale)


def test_bf16_training_steps_on_cuda_are_finite_and_learn():
    recipe = get_recipe("tiny")
    recipe.optim.lr = 3e-3
    recipe.optim.warmup_steps = 0
    model = _cuda_model().train()
    precision = resolve_precision(torch.device("cuda"), "auto")
    assert precision.forward_dtype == torch.bfloat16
    model.forward_dtype = precision.forward_dtype
    dense, sparse = build_optimizers(model, recipe)
    optimizers = ([(sparse, 3e-3)] if sparse is not None else []) + [(dense, 3e-3)]
    batch = {k: v.cuda() for k, v in tiny_batch(model.config, batch_size=32).items()}
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    carry = model.initial_carry(batch)
    losses = []
    for _ in range(30):  # the same batch over and over: the loss on it must come down
        carry, values = train_step(
            model, carry, batch, optimizers, global_batch_size=32, stablemax_dtype=precision.stablemax_dtype
        )
        assert torch.isfinite(values).all()
        losses.append(values[1].item())  # lm_loss
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(before[k], v) for k, v in model.named_parameters())
    assert sum(losses[-5:]) < sum(losses[:5])


def test_compiled_forward_matches_eager_on_cuda():
    model = _cuda_model()
    model.forward_dtype = torch.bfloat16
    batch = {k: v.cuda() for k, v in tiny_batch(model.config, batch_size=8).items()}
    eager = model.trace(batch["inputs"], batch["puzzle_identifiers"], num_segments=2)
    compile_model(model)
    compiled = model.trace(batch["inputs"], batch["puzzle_identifiers"], num_segments=2)
    for ref, got in zip(eager, compiled):
        scale = ref["logits"].abs().max()
        assert (got["logits"] - ref["logits"]).abs().max() <= 0.05 * scale
