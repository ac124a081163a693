"""Cross-entropies (stablemax, softmax) and the ACT loss with the reference's metrics.

ACT loss per call, over *all* rows (halted or not):
    lm   = Σ_rows mean_over_valid_tokens CE(logits, labels)
    halt = Σ_rows BCE(q_halt, 1{prediction exactly correct})
    cont = Σ_rows BCE(q_continue, target_q_continue)          (training only)
    total = lm + 0.5 · (halt + cont)
Metrics count only rows that halted on this call and have at least one supervised token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_LABEL_ID = -100


def _stablemax_s(x: torch.Tensor) -> torch.Tensor:
    # s(x) = x + 1 for x >= 0, 1 / (1 - x) for x < 0: grows linearly, so no exp overflow (Prieto et al. 2025).
    return torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s = _stablemax_s(x)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Per-token stablemax CE; ignored labels (-100) give 0. ``dtype`` is float64 except on MPS (no float64)."""
    logprobs = log_stablemax(logits.to(dtype), dim=-1)
    valid = labels != IGNORE_LABEL_ID
    safe = torch.where(valid, labels, 0).to(torch.long)
    picked = torch.gather(logprobs, -1, safe.unsqueeze(-1)).squeeze(-1)
    return -torch.where(valid, picked, torch.zeros_like(picked))


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token softmax CE in fp32; ignored labels (-100) give 0."""
    flat = logits.to(torch.float32).reshape(-1, logits.shape[-1])
    loss = F.cross_entropy(flat, labels.to(torch.long).reshape(-1), ignore_index=IGNORE_LABEL_ID, reduction="none")
    return loss.view(labels.shape)


def token_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, loss_type: str, stablemax_dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    if loss_type == "stablemax":
        return stablemax_cross_entropy(logits, labels, stablemax_dtype)
    if loss_type == "softmax":
        return softmax_cross_entropy(logits, labels)
    raise ValueError(f"unknown loss_type {loss_type!r}; expected 'stablemax' or 'softmax'")


def act_loss(
    outputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    halted: torch.Tensor,
    steps: torch.Tensor,
    loss_type: str = "stablemax",
    stablemax_dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total ACT loss (a sum over rows; divide by the global batch size before backward) and summed metrics.

    ``outputs`` is what :meth:`hrm.model.HRM.forward` returns; ``labels``, ``halted`` and ``steps`` come from
    the new carry (the rows' current data).
    """
    logits = outputs["logits"]
    with torch.no_grad():
        mask = labels != IGNORE_LABEL_ID
        counts = mask.sum(-1)
        divisor = counts.clamp_min(1).unsqueeze(-1)
        is_correct = mask & (logits.argmax(-1) == labels)
        seq_correct = is_correct.sum(-1) == counts
        valid = halted & (counts > 0)
        zero = torch.zeros((), device=logits.device)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (is_correct.to(torch.float32) / divisor).sum(-1), zero).sum(),
            "exact_accuracy": (valid & seq_correct).sum(),
            "steps": torch.where(valid, steps, 0).sum(),
        }
        if "q_halt_logits" in outputs:
            metrics["q_halt_accuracy"] = (valid & ((outputs["q_halt_logits"] >= 0) == seq_correct)).sum()
    lm_loss = (token_cross_entropy(logits, labels, loss_type, stablemax_dtype) / divisor).sum()
    metrics["lm_loss"] = lm_loss.detach()
    total = lm_loss
    if "q_halt_logits" not in outputs:  # a family without a halting head (single-pass baselines)
        return total, metrics
    q_halt = outputs["q_halt_logits"]
    q_halt_loss = F.binary_cross_entropy_with_logits(q_halt, seq_correct.to(q_halt.dtype), reduction="sum")
    metrics["q_halt_loss"] = q_halt_loss.detach()
    total = total + 0.5 * q_halt_loss
    if "target_q_continue" in outputs:
        q_continue_loss = F.binary_cross_entropy_with_logits(
            outputs["q_continue_logits"], outputs["target_q_continue"], reduction="sum"
        )
        metrics["q_continue_loss"] = q_continue_loss.detach()
        total = total + 0.5 * q_continue_loss
    return total, metrics
