"""Helpers for the model-zoo tests: tiny batches, autograd-graph memory and grad-window recording."""

from __future__ import annotations

import torch


def batch_for(config, batch_size: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, config.vocab_size, (batch_size, config.seq_len), generator=g, dtype=torch.int32)
    labels = torch.randint(0, config.vocab_size, (batch_size, config.seq_len), generator=g, dtype=torch.int32)
    ids = torch.randint(0, config.num_puzzle_identifiers, (batch_size,), generator=g, dtype=torch.int32)
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids}


def saved_activation_bytes(fn) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs (parameters excluded).

    This is the activation memory a backward pass needs: it grows with every call inside the gradient window.
    """
    total = 0

    def pack(t: torch.Tensor):
        nonlocal total
        if not isinstance(t, torch.nn.Parameter):
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def record_grad_mode(module: torch.nn.Module) -> list[bool]:
    """Append ``torch.is_grad_enabled()`` at every call of ``module`` (a list the caller reads afterwards)."""
    calls: list[bool] = []
    module.register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))
    return calls
