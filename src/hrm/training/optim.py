"""Optimisers and the learning-rate schedule of the reference training recipe.

Two optimisers are stepped every training step, in this order (reference ``pretrain.py``):

1. :class:`PuzzleEmbeddingSignSGD` on the sparse puzzle-ID table (a buffer, see
   :mod:`hrm.model.puzzle_embedding`): sign-SGD on the rows the batch touched, with lazy decoupled weight decay.
2. :class:`AdamATan2` on every ``nn.Parameter``: Adam with ``atan2`` in place of the ``m / (√v + ε)`` ratio.

Both expose ``param_groups[i]["lr"]``, so :func:`set_lr` writes the schedule's value (:func:`lr_at`) into
either one; both start at whatever ``lr`` they were built with (the reference builds them with 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.distributed as dist

from hrm.model.puzzle_embedding import PuzzleEmbedding

__all__ = ["AdamATan2", "PuzzleEmbeddingSignSGD", "SignSGD", "lr_at", "set_lr"]


def _check_lr(lr: float) -> float:
    if isinstance(lr, torch.Tensor):
        raise ValueError("lr must be a Python number, not a tensor")
    lr = float(lr)
    # `not lr >= 0` also rejects NaN.
    if not lr >= 0.0 or math.isinf(lr):
        raise ValueError(f"invalid learning rate {lr!r}: must be finite and >= 0")
    return lr


def _check_weight_decay(weight_decay: float) -> float:
    weight_decay = float(weight_decay)
    if not weight_decay >= 0.0 or math.isinf(weight_decay):
        raise ValueError(f"invalid weight_decay {weight_decay!r}: must be finite and >= 0")
    return weight_decay


# ---------------------------------------------------------------------------------------------------------------
# AdamATan2
# ---------------------------------------------------------------------------------------------------------------


class AdamATan2(torch.optim.Optimizer):
    r"""Adam-atan2 (Everett et al. 2024, arXiv 2407.05872) exactly as the HRM reference runs it.

    Per element, at the parameter's step ``t`` (1 on its first update)::

        p ← p · (1 − lr · wd)                                   # decoupled decay, on every parameter
        m ← β1 · m + (1 − β1) · g
        v ← β2 · v + (1 − β2) · g²
        p ← p − (lr / (1 − β1ᵗ)) · atan2(m, √v / √(1 − β2ᵗ))

    There is no ε (``atan2`` is bounded and defined at ``v = 0``) and no scale constants (a = b = 1). The
    bias correction of ``m`` multiplies the *step size*, outside ``atan2``.

    Why not the PyPI packages: ``adam-atan2`` (the reference's dependency) is a CUDA-only extension that
    must be compiled against the installed torch, so it does not run on CPU/MPS and often fails to import;
    ``adam-atan2-pytorch`` (the usual substitute) is numerically different: it scales by a = 1.27, applies
    the first-moment bias correction inside ``atan2``, and scales weight decay by ``lr / initial_lr`` (so it
    also refuses ``lr = 0`` at construction, which the reference's schedule needs).

    Implementation (no compiled extension; same element-wise formula on every path):

    - ``foreach=True`` (the default off the CPU): ``torch._foreach_*`` multi-tensor ops, as
      ``torch.optim.AdamW(foreach=True)``, plus one ``torch.atan2`` per parameter tensor (torch has no
      foreach ``atan2``).
    - ``foreach=False`` (the default on the CPU): per tensor, in slices of 2¹⁸ elements that run all the
      update's ops while the slice is in cache, with one reused scratch slice. On a CPU the update is
      memory-bound and allocating a parameter-sized temporary each step costs page faults, so this makes
      the extra ``atan2`` free (see ``benchmarks/bench_optim.py``).

    Math runs in the parameter's own dtype (the model keeps fp32 master weights; the reference's fused
    kernel upcasts bf16/fp16 parameters to fp32 internally, we do not). Parameters whose ``.grad`` is
    ``None`` are skipped entirely (no decay, no step count), as in the reference. The state per parameter is
    the standard ``step`` (float32 scalar tensor on CPU), ``exp_avg`` and ``exp_avg_sq``, so
    ``state_dict()``/``load_state_dict()`` are those of :class:`torch.optim.Optimizer`.

    Args:
        params: parameters or parameter-group dicts.
        lr: learning rate; 0 is allowed (the schedule sets the real value before each step).
        betas: (β1, β2), each in [0, 1).
        weight_decay: decoupled decay coefficient (multiplied by lr), >= 0.
        foreach: force the multi-tensor path (True) or the sliced per-tensor path (False); ``None`` picks
            per group: sliced if the group's first parameter is on the CPU, multi-tensor otherwise.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.1,
        foreach: bool | None = None,
    ) -> None:
        lr = _check_lr(lr)
        betas = (float(betas[0]), float(betas[1]))
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"invalid beta at index {i}: {beta!r}; must be in [0, 1)")
        weight_decay = _check_weight_decay(weight_decay)
        defaults = {"lr": lr, "betas": betas, "weight_decay": weight_decay, "foreach": foreach}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Apply one update to every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            lr = _check_lr(group["lr"])
            beta1, beta2 = group["betas"]
            weight_decay = group["weight_decay"]

            params: list[torch.Tensor] = []
            grads: list[torch.Tensor] = []
            exp_avgs: list[torch.Tensor] = []
            exp_avg_sqs: list[torch.Tensor] = []
            steps: list[torch.Tensor] = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamATan2 does not support sparse gradients")
                if torch.is_complex(p):
                    raise RuntimeError("AdamATan2 does not support complex parameters")
                state = self.state[p]
                if len(state) == 0:
                    # `step` on the CPU: reading it costs no device sync, and the bias corrections are
                    # computed on the host in float64 like the reference kernel does.
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                params.append(p)
                grads.append(p.grad)
                exp_avgs.append(state["exp_avg"])
                exp_avg_sqs.append(state["exp_avg_sq"])
                steps.append(state["step"])
            if not params:
                continue

            torch._foreach_add_(steps, 1.0)
            # Per-tensor step counts (they differ only if some parameter skipped steps without a grad).
            t_values = [float(s.item()) for s in steps]
            step_sizes = [lr / (1.0 - beta1**t) for t in t_values]
            bias2_sqrts = [math.sqrt(1.0 - beta2**t) for t in t_values]

            decay = 1.0 - lr * weight_decay
            foreach = group.get("foreach")
            if foreach is None:
                foreach = params[0].device.type != "cpu"
            update = _update_foreach if foreach else _update_sliced
            update(params, grads, exp_avgs, exp_avg_sqs, step_sizes, bias2_sqrts, decay, beta1, beta2)
        return loss


_SLICE = 1 << 18  # elements per slice on the sliced path: 5 fp32 slices (p, g, m, v, scratch) = 5 MiB


def _update_foreach(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    step_sizes: list[float],
    bias2_sqrts: list[float],
    decay: float,
    beta1: float,
    beta2: float,
) -> None:
    """The Adam-atan2 update with multi-tensor ops (few kernel launches on an accelerator)."""
    if decay != 1.0:  # multiplying by exactly 1 is the identity, so skipping it changes nothing
        torch._foreach_mul_(params, decay)
    torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
    # denom = √v / √(1 − β2ᵗ); the same buffers then receive atan2(m, denom).
    updates = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(updates, bias2_sqrts)
    for m, u in zip(exp_avgs, updates):
        torch.atan2(m, u, out=u)
    if all(s == step_sizes[0] for s in step_sizes):
        torch._foreach_add_(params, updates, alpha=-step_sizes[0])
    else:
        torch._foreach_mul_(updates, [-s for s in step_sizes])
        torch._foreach_add_(params, updates)


def _update_sliced(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    step_sizes: list[float],
    bias2_sqrts: list[float],
    decay: float,
    beta1: float,
    beta2: float,
) -> None:
    """The same update, tensor by tensor in cache-sized slices with one reused scratch buffer."""
    scratch: torch.Tensor | None = None
    for p, g, m, v, step_size, bias2_sqrt in zip(params, grads, exp_avgs, exp_avg_sqs, step_sizes, bias2_sqrts):
        tensors = (p, g, m, v)
        if all(t.is_contiguous() for t in tensors):
            flat = [t.view(-1) for t in tensors]
            if scratch is None or scratch.dtype != p.dtype or scratch.device != p.device:
                scratch = torch.empty(_SLICE, dtype=p.dtype, device=p.device)
            pieces = [
                ([t[start : start + _SLICE] for t in flat], scratch[: min(_SLICE, p.numel() - start)])
                for start in range(0, p.numel(), _SLICE)
            ]
        else:  # odd layouts: one piece, with a temporary of the parameter's own layout
            pieces = [(list(tensors), torch.empty_like(p))]
        for (pp, gg, mm, vv), u in pieces:
            if decay != 1.0:
                pp.mul_(decay)
            mm.lerp_(gg, 1.0 - beta1)
            vv.mul_(beta2).addcmul_(gg, gg, value=1.0 - beta2)
            torch.sqrt(vv, out=u).div_(bias2_sqrt)
            torch.atan2(mm, u, out=u)
            pp.add_(u, alpha=-step_size)


# ---------------------------------------------------------------------------------------------------------------
# Sign-SGD for the sparse puzzle embedding
# ---------------------------------------------------------------------------------------------------------------


class PuzzleEmbeddingSignSGD:
    r"""Sign-SGD with lazy decoupled weight decay on the rows of a :class:`PuzzleEmbedding` a batch touched.

    On :meth:`step`, the (ids, rows) pairs recorded by training forwards since the last step are taken from the
    embedding (``pop_pending``); pairs whose rows got no gradient are dropped. Under an initialised
    ``torch.distributed`` process group with more than one rank, ids and gradients are all-gathered (every rank
    must call :meth:`step`, even with nothing pending). Gradients of the same id are summed, then each touched
    row is updated once::

        w ← w · (1 − lr · wd) − lr · sign(Σ g)

    Rows not in the batch are neither decayed nor moved ("lazy" decay), and a touched row whose summed
    gradient is exactly 0 is decayed only. Every rank applies the same update to its replica of the table, so
    replicas stay identical without broadcasting the table. The reference comments "Adam ≈ SignSGD if gradient
    is very sparse": each id is seen rarely, so a per-row Adam state would be mostly stale.

    The local batches of the ranks may differ in size (the reference requires equal ones): sizes are gathered
    first and shorter ranks are padded, the padding dropped after the gather.

    It mimics the optimiser interface the trainer needs: ``param_groups`` (one group with ``lr`` and
    ``weight_decay``, written by :func:`set_lr`), ``step``, ``zero_grad``, ``state_dict``/``load_state_dict``.

    Args:
        embedding: the table to train.
        lr: learning rate (>= 0; 0 at construction is fine).
        weight_decay: decoupled decay coefficient (multiplied by lr), >= 0.
        process_group: group to gather over; ``None`` means the default group when one is initialised.
    """

    def __init__(
        self,
        embedding: PuzzleEmbedding,
        lr: float = 1e-2,
        weight_decay: float = 0.1,
        process_group: dist.ProcessGroup | None = None,
    ) -> None:
        if not isinstance(embedding, PuzzleEmbedding):
            raise TypeError(f"embedding must be a PuzzleEmbedding, got {type(embedding).__name__}")
        self.embedding = embedding
        self.process_group = process_group
        self.param_groups: list[dict[str, Any]] = [
            {"lr": _check_lr(lr), "weight_decay": _check_weight_decay(weight_decay)}
        ]

    @property
    def lr(self) -> float:
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.param_groups[0]["lr"] = _check_lr(value)

    def _world_size(self) -> int:
        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size(self.process_group)
        return 1

    def _gather(self, ids: torch.Tensor, grads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenate every rank's (ids, grads) in rank order; ranks may hold different numbers of rows."""
        world = self._world_size()
        device = ids.device
        count = torch.tensor([ids.numel()], dtype=torch.long, device=device)
        counts = [torch.empty_like(count) for _ in range(world)]
        dist.all_gather(counts, count, group=self.process_group)
        sizes = [int(c.item()) for c in counts]
        longest = max(sizes)
        if longest == 0:
            return ids, grads
        pad = longest - ids.numel()
        if pad:
            ids = torch.cat((ids, ids.new_zeros(pad)))
            grads = torch.cat((grads, grads.new_zeros(pad, grads.shape[1])))
        all_ids = [torch.empty_like(ids) for _ in range(world)]
        all_grads = [torch.empty_like(grads) for _ in range(world)]
        dist.all_gather(all_ids, ids, group=self.process_group)
        dist.all_gather(all_grads, grads, group=self.process_group)
        # Drop the padding: padded entries point at row 0 and must not touch (decay) it.
        return (
            torch.cat([t[:n] for t, n in zip(all_ids, sizes)]),
            torch.cat([t[:n] for t, n in zip(all_grads, sizes)]),
        )

    @torch.no_grad()
    def step(self) -> None:
        """Update the rows touched since the last step (a collective call under torch.distributed)."""
        lr = _check_lr(self.param_groups[0]["lr"])
        weight_decay = self.param_groups[0]["weight_decay"]
        weight = self.embedding.weight
        pairs = [(ids, rows.grad) for ids, rows in self.embedding.pop_pending() if rows.grad is not None]
        if pairs:
            ids = torch.cat([i.reshape(-1) for i, _ in pairs]).to(device=weight.device, dtype=torch.long)
            grads = torch.cat([g.reshape(-1, weight.shape[1]) for _, g in pairs]).to(weight)
        else:
            ids = torch.empty(0, dtype=torch.long, device=weight.device)
            grads = weight.new_empty(0, weight.shape[1])
        if self._world_size() > 1:
            ids, grads = self._gather(ids, grads)
        if ids.numel() == 0:
            return
        unique_ids, inverse = torch.unique(ids, return_inverse=True)
        summed = grads.new_zeros(unique_ids.numel(), grads.shape[1]).index_add_(0, inverse, grads)
        touched = weight.index_select(0, unique_ids)
        touched.mul_(1.0 - lr * weight_decay).add_(torch.sign(summed), alpha=-lr)
        weight.index_copy_(0, unique_ids, touched)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of rows recorded but not yet stepped, like ``Optimizer.zero_grad``.

        The recorded pairs are kept (a forward → zero_grad → backward → step order still trains); a pair whose
        gradient was cleared is skipped by :meth:`step`. Usually there is nothing to clear, since every training
        forward records fresh leaf tensors.
        """
        # PuzzleEmbedding has no public "peek" API; reading its pending list keeps the pairs for step().
        for _, rows in getattr(self.embedding, "_pending", ()):
            if rows.grad is None:
                continue
            if set_to_none:
                rows.grad = None
            else:
                rows.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters only: sign-SGD keeps no per-row state (the table itself lives in the model)."""
        return {"param_groups": [dict(group) for group in self.param_groups]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != 1:
            raise ValueError(f"expected 1 param group, got {len(groups)}")
        self.param_groups = [
            {"lr": _check_lr(groups[0]["lr"]), "weight_decay": _check_weight_decay(groups[0]["weight_decay"])}
        ]


SignSGD = PuzzleEmbeddingSignSGD
"""Short alias (the name :mod:`hrm.model.puzzle_embedding` refers to)."""


# ---------------------------------------------------------------------------------------------------------------
# Learning-rate schedule
# ---------------------------------------------------------------------------------------------------------------


def lr_at(
    step: int,
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_ratio: float = 1.0,
    time_fraction: float = 0.0,
) -> float:
    """Learning rate at optimiser step ``step`` (the first step is 1), as the reference computes it.

    - ``step < warmup_steps``: linear warmup ``base_lr · step / warmup_steps``.
    - otherwise cosine from ``base_lr`` down to ``min_ratio · base_lr``:
      ``base_lr · (r + (1 − r) · 0.5 · (1 + cos(π · progress)))`` with
      ``progress = (step − warmup_steps) / (total_steps − warmup_steps)`` and ``r = min_ratio``.

    ``min_ratio = 1`` (the reference default) gives warmup then a constant rate. Past ``total_steps`` the
    progress is held at 1 (the rate stays at its minimum); the reference never runs those steps, where its
    cosine would rise again. With warmup, step 0 (before the first step) gives 0, the value both optimisers
    start with.

    With a time budget, ``time_fraction`` (the fraction of the budget used) makes the cosine's progress the larger
    of the step progress and that fraction, so the rate reaches its floor when the budget runs out.
    """
    if step < 0 or warmup_steps < 0 or total_steps < 0:
        raise ValueError(f"step, warmup_steps and total_steps must be >= 0, got {step}, {warmup_steps}, {total_steps}")
    base_lr = _check_lr(base_lr)
    if not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"min_ratio must be in [0, 1], got {min_ratio!r}")
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    progress = min(1.0, max((step - warmup_steps) / max(1, total_steps - warmup_steps), time_fraction))
    return base_lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer | PuzzleEmbeddingSignSGD, lr: float) -> None:
    """Write ``lr`` into every parameter group (works for both optimisers of this module and any torch one)."""
    lr = _check_lr(lr)
    for group in optimizer.param_groups:
        group["lr"] = lr
