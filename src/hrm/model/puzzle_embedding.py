"""The sparse puzzle-ID embedding (one learned vector per puzzle ID, read as prefix tokens).

The table is a buffer, not a Parameter: it can hold hundreds of millions of values (ARC-1: ~0.96M IDs × 512), and
a dense optimiser would keep two more copies of it. In training, the batch's rows are copied into a fresh leaf
tensor that receives the gradient; :class:`hrm.training.optim.SignSGD`-style sparse optimisers then update only
those rows (see ``pop_pending``). This is the paper's transductive component: an ID unseen in training has a zero
(or meaningless) vector.
"""

from __future__ import annotations

import torch
from torch import nn


class PuzzleEmbedding(nn.Module):
    weight: torch.Tensor  # [num_ids, ndim], a buffer (see the module docstring)

    def __init__(self, num_ids: int, ndim: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(num_ids, ndim))
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    @property
    def num_ids(self) -> int:
        return self.weight.shape[0]

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        ids = ids.to(torch.long)
        if self.training and torch.is_grad_enabled():
            rows = self.weight[ids].detach().requires_grad_(True)
            self._pending.append((ids, rows))
            return rows.to(dtype)
        return self.weight[ids].to(dtype)

    def pop_pending(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Return and forget the (ids, rows-with-grad) pairs recorded by training forwards since the last call."""
        pending, self._pending = self._pending, []
        return pending
