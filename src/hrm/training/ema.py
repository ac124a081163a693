"""Exponential moving average (EMA) of a model's parameters, for evaluation.

The HRM reference has no EMA; its successor TRM (Jolicoeur-Martineau 2025) added one with decay 0.999 and
reported more stable results, so it is offered here as an option. After every optimiser step::

    shadow ← decay · shadow + (1 − decay) · param

with no bias correction (as TRM), starting from a copy of the parameters when the EMA is created.

What is averaged: ``nn.Parameter`` s only. Buffers are not shadowed; while the EMA weights are swapped in, the
model keeps its live buffers, i.e. they are used verbatim. That covers the fixed ``z_H_init``/``z_L_init``
states and the RoPE caches (constants) and the puzzle-ID table, which is trained but sparsely by sign-SGD:
averaging it would mean a second copy of a table that reaches ~2 GB for ARC and an update over all of it every
step, while a row changes only on the steps where its puzzle is in the batch. (TRM's EMA likewise averages
parameters only, and its puzzle table is a buffer too.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["EMA"]

_COMPILE_PREFIX = "_orig_mod."


def _named_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    # torch.compile wraps the module and prefixes names with "_orig_mod."; dropping it lets an EMA made on a
    # compiled model be applied to the plain one (and its state dict match uncompiled checkpoints).
    return {name.replace(_COMPILE_PREFIX, ""): p for name, p in model.named_parameters()}


class EMA:
    """An fp32 shadow copy of ``model``'s parameters, averaged by :meth:`update`.

    Create it after moving the model to its device (the shadow lives on each parameter's device).

    Args:
        model: the model whose parameters are averaged.
        decay: weight of the old average per update, in [0, 1]. 0.999 averages over ~1000 steps.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        decay = float(decay)
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay!r}")
        self.decay = decay
        self.num_updates = 0
        # fp32 even for low-precision parameters: (1 − decay)·Δ is far below bf16 resolution.
        self.shadow: dict[str, torch.Tensor] = {
            name: p.detach().to(torch.float32, copy=True) for name, p in _named_parameters(model).items()
        }

    def _matching(self, model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
        params = _named_parameters(model)
        if params.keys() != self.shadow.keys():
            missing = sorted(self.shadow.keys() - params.keys())
            extra = sorted(params.keys() - self.shadow.keys())
            raise ValueError(f"model parameters do not match the EMA: missing {missing}, unexpected {extra}")
        return [(self.shadow[name], params[name]) for name in self.shadow]

    @torch.no_grad()
    def update(self, model: nn.Module, keep: torch.Tensor | None = None) -> None:
        """Fold the model's current parameters into the average (call after each optimiser step).

        ``keep``: a 0-dim bool tensor; where false the average is left as it was (a step the trainer's non-finite
        guard skipped on the device). ``num_updates`` counts calls either way.
        """
        pairs = self._matching(model)
        shadows = [s for s, _ in pairs]
        # lerp(s, p, 1 − decay) = s + (1 − decay)(p − s) = decay·s + (1 − decay)·p.
        currents = [p.detach() if p.dtype == torch.float32 else p.detach().float() for _, p in pairs]
        if keep is None:
            torch._foreach_lerp_(shadows, currents, 1.0 - self.decay)
        else:
            weight = keep.to(torch.float32) * (1.0 - self.decay)
            for shadow, current in zip(shadows, currents):
                shadow.lerp_(current, weight)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the model's parameters with the averages (permanently; see :meth:`swapped_in`)."""
        for shadow, p in self._matching(model):
            p.copy_(shadow)

    @contextmanager
    def swapped_in(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged parameters into ``model`` (e.g. for eval); restore them on exit.

        Buffers are left as they are (see the module docstring). The original parameters are restored even if
        the body raises. Yields ``model``.
        """
        pairs = self._matching(model)
        with torch.no_grad():
            backup = [p.detach().clone() for _, p in pairs]
            for shadow, p in pairs:
                p.copy_(shadow)
        try:
            yield model
        finally:
            with torch.no_grad():
                for (_, p), saved in zip(pairs, backup):
                    p.copy_(saved)

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "num_updates": self.num_updates,
            "shadow": {name: t.clone() for name, t in self.shadow.items()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        shadow = state_dict["shadow"]
        if shadow.keys() != self.shadow.keys():
            missing = sorted(self.shadow.keys() - shadow.keys())
            extra = sorted(shadow.keys() - self.shadow.keys())
            raise ValueError(f"EMA state does not match: missing {missing}, unexpected {extra}")
        for name, tensor in shadow.items():
            if tensor.shape != self.shadow[name].shape:
                raise ValueError(
                    f"EMA state for {name!r} has shape {tuple(tensor.shape)}, expected {tuple(self.shadow[name].shape)}"
                )
        decay = float(state_dict["decay"])
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay!r}")
        with torch.no_grad():
            for name, tensor in shadow.items():
                self.shadow[name].copy_(tensor)
        self.decay = decay
        self.num_updates = int(state_dict["num_updates"])
