"""FLOPs counted by ``torch.utils.flop_counter`` (matmul-class operations, 2 per multiply-add), with the CPU
attention kernel added: the one home of the counting that training budgets (:mod:`hrm.training.flops`) and
test-time cost (:mod:`hrm.evaluation.depth_breadth`) both use."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


# torch's counter knows the CUDA attention kernels but not the CPU one that scaled_dot_product_attention runs here:
# without these formulas the attention scores (QKᵀ and AV, and their backward) would count as zero on CPU.
def _cpu_attention(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward(grad_out: Any, query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


def custom_formulas() -> dict[Any, Any]:
    """Formulas for the operations torch's counter does not know (``FlopCounterMode(custom_mapping=...)``)."""
    ops = torch.ops.aten
    formulas: dict[Any, Any] = {}
    if hasattr(ops, "_scaled_dot_product_flash_attention_for_cpu"):
        formulas[ops._scaled_dot_product_flash_attention_for_cpu] = _cpu_attention
    if hasattr(ops, "_scaled_dot_product_flash_attention_for_cpu_backward"):
        formulas[ops._scaled_dot_product_flash_attention_for_cpu_backward] = _cpu_attention_backward
    return formulas


def counting() -> FlopCounterMode:
    """A counter with :func:`custom_formulas`, silent: ``with counting() as c: ...; c.get_total_flops()``."""
    return FlopCounterMode(display=False, custom_mapping=custom_formulas())


@torch.no_grad()
def measure_segment_flops(model: Any, seq_len: int | None = None) -> int:
    """Forward FLOPs of one inference segment of one row (``model.segment`` from the initial state).

    Rows are independent, so K trajectories × B puzzles × S segments cost S·K·B times this. Eval mode is set and
    restored."""
    was_training = model.training
    model.eval()
    seq_len = int(model.config.seq_len) if seq_len is None else int(seq_len)
    device = next(model.parameters()).device
    tokens = torch.randint(0, int(model.config.vocab_size), (1, seq_len), generator=torch.Generator().manual_seed(0))
    tokens = tokens.to(torch.int32).to(device)
    ids = torch.zeros(1, dtype=torch.int32, device=device)
    try:
        state = model.initial_state(tokens, ids)
        with counting() as counter:
            model.segment(state, tokens, ids)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
