"""Measured training FLOPs: one real optimiser step of a model, counted by ``torch.utils.flop_counter``.

The lab's convention (3 × one segment's forward) treats every family alike and so misses what differs between
them: the extra no-grad segment HRM-style halting runs for its Q-continue target, the no-grad recursions before the
gradient window, and a backward that covers only the window (the 1-step gradient). A measured step counts what
runs: the model's call on the carry (every segment and recursion, with or without gradient), then the backward
of the ACT loss. Matmul-class operations only (matmul, attention, convolutions), as the counter does; 2 FLOPs per
multiply-add; the CPU attention kernel is added to what the counter knows (:mod:`hrm.evaluation.flops`).
"""

from __future__ import annotations

import torch

from hrm.evaluation.flops import counting
from hrm.model import ReasoningModel, act_loss


def measure_step_flops(model: ReasoningModel, batch_size: int, seq_len: int, loss_type: str = "stablemax") -> int:
    """FLOPs of one training step on a batch of ``batch_size`` rows of ``seq_len`` tokens.

    Counted on one row and multiplied by ``batch_size``: every counted operation is linear in the batch (rows are
    independent), so the product is exact. The model's gradients and recorded puzzle-embedding rows are cleared
    afterwards and its train/eval mode restored; the global random stream is used (ACT's exploration draw).
    """
    was_training = model.training
    model.train()
    vocab = int(model.config.vocab_size)
    generator = torch.Generator().manual_seed(0)
    device = next(model.parameters()).device
    tokens = torch.randint(0, vocab, (1, seq_len), generator=generator, dtype=torch.int32).to(device)
    batch = {
        "inputs": tokens,
        "labels": tokens.clone(),
        "puzzle_identifiers": torch.zeros(1, dtype=torch.int32, device=device),
    }
    try:
        with counting() as counter:
            carry = model.initial_carry(batch)
            carry, outputs = model(carry, batch)
            loss, _ = act_loss(outputs, carry.current_data["labels"], carry.halted, carry.steps, loss_type)
            loss.backward()
    finally:
        for p in model.parameters():
            p.grad = None
        if model.puzzle_emb is not None:
            model.puzzle_emb.pop_pending()
        model.train(was_training)
    return int(counter.get_total_flops()) * int(batch_size)
