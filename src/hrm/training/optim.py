"""Optimisers and the learning-rate schedule of the reference training recipe.

Two optimisers are stepped every training step, in this order (reference ``pretrain.py``):

1. :class:`PuzzleEmbeddingSignSGD` on the sparse puzzle-ID table (a buffer, see
   :mod:`hrm.model.puzzle_embedding`): sign-SGD on the rows the batch touched, with lazy decoupled weight decay.
2. :class:`AdamATan2` on every ``nn.Parameter``: Adam with ``atan2`` in place of the ``m / (√v + ε)`` ratio.

Both expose ``param_groups[i]["lr"]``, so :func:`set_lr` writes the schedule's value (:func:`lr_at`) into
either one; both start at whatever ``lr`` they were built with (the reference builds them with 0).

Ours, not the reference's: :class:`Muon` (``optim.optimizer=muon``) replaces the dense optimiser with Muon on
the hidden weight matrices and an Adam-family update on everything else, in one optimiser (:func:`build_muon`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn

from hrm.model.layers import CastedEmbedding
from hrm.model.puzzle_embedding import PuzzleEmbedding

if TYPE_CHECKING:
    from hrm.model.protocol import ReasoningModel
    from hrm.training.config import OptimConfig

__all__ = [
    "NS_COEFFICIENTS",
    "AdamATan2",
    "Muon",
    "PuzzleEmbeddingSignSGD",
    "SignSGD",
    "build_muon",
    "lr_at",
    "newton_schulz",
    "set_lr",
    "split_for_muon",
]


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
            _adam_atan2_group(self.state, group, "AdamATan2")
        return loss


def _adam_tensors(
    state: dict[Any, Any], group: dict[str, Any], name: str
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """The group's parameters that have a gradient, with their gradients, moments and step counts (created at the
    first step), each step count already advanced by one."""
    params: list[torch.Tensor] = []
    grads: list[torch.Tensor] = []
    exp_avgs: list[torch.Tensor] = []
    exp_avg_sqs: list[torch.Tensor] = []
    steps: list[torch.Tensor] = []
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise RuntimeError(f"{name} does not support sparse gradients")
        if torch.is_complex(p):
            raise RuntimeError(f"{name} does not support complex parameters")
        p_state = state[p]
        if len(p_state) == 0:
            # `step` on the CPU: reading it costs no device sync, and the bias corrections are
            # computed on the host in float64 like the reference kernel does.
            p_state["step"] = torch.zeros((), dtype=torch.float32)
            p_state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            p_state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        params.append(p)
        grads.append(p.grad)
        exp_avgs.append(p_state["exp_avg"])
        exp_avg_sqs.append(p_state["exp_avg_sq"])
        steps.append(p_state["step"])
    if steps:
        torch._foreach_add_(steps, 1.0)
    return params, grads, exp_avgs, exp_avg_sqs, steps


def _adam_atan2_group(state: dict[Any, Any], group: dict[str, Any], name: str) -> None:
    """One Adam-atan2 step of one parameter group (:class:`AdamATan2`, and :class:`Muon`'s other parameters)."""
    lr = _check_lr(group["lr"])
    beta1, beta2 = group["betas"]
    params, grads, exp_avgs, exp_avg_sqs, steps = _adam_tensors(state, group, name)
    if not params:
        return
    # Per-tensor step counts (they differ only if some parameter skipped steps without a grad).
    t_values = [float(s.item()) for s in steps]
    step_sizes = [lr / (1.0 - beta1**t) for t in t_values]
    bias2_sqrts = [math.sqrt(1.0 - beta2**t) for t in t_values]

    decay = 1.0 - lr * group["weight_decay"]
    foreach = group.get("foreach")
    if foreach is None:
        foreach = params[0].device.type != "cpu"
    update = _update_foreach if foreach else _update_sliced
    update(params, grads, exp_avgs, exp_avg_sqs, step_sizes, bias2_sqrts, decay, beta1, beta2)


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
# Muon (ours: the reference has only Adam-atan2)
# ---------------------------------------------------------------------------------------------------------------

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""(a, b, c) of Muon's quintic Newton–Schulz step ``X ← a·X + b·(XXᵀ)X + c·(XXᵀ)²X`` (Jordan et al. 2024).

Chosen to make the slope at 0 as steep as possible (a = 3.4445) rather than to converge: five steps take every
singular value of a Frobenius-normalised matrix from (0, 1] into roughly [0.7, 1.2] instead of exactly to 1."""

_NS_EPS = 1e-7  # added to the Frobenius norm, as in the reference: a zero matrix stays zero instead of NaN


def newton_schulz(matrix: torch.Tensor, steps: int = 5, dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""Muon's approximate orthogonalisation of a 2-D ``matrix`` G = U·S·Vᵀ: about U·S'·Vᵀ with S' in ~[0.7, 1.2].

    G is divided by its Frobenius norm (≥ its spectral norm, so every singular value lands in (0, 1]), then
    ``steps`` quintic steps with :data:`NS_COEFFICIENTS` are applied. Each step is an odd polynomial in X, so
    U and V are kept exactly (in exact arithmetic) and only the singular values move. A tall matrix is iterated
    transposed, so that the Gram matrix XXᵀ is the smaller of the two.

    The iteration runs in ``dtype`` (default: the matrix's own); the result is in that dtype. Callers choose:
    :class:`Muon` uses bfloat16 on CUDA (as the reference) and the parameter's dtype elsewhere, since bfloat16
    matrix products are about 100x slower than float32 on the CPUs we measured.
    """
    if matrix.ndim != 2:
        raise ValueError(f"newton_schulz needs a 2-D matrix, got shape {tuple(matrix.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    a, b, c = NS_COEFFICIENTS
    x = matrix.to(dtype) if dtype is not None else matrix
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (torch.linalg.matrix_norm(x) + _NS_EPS)
    for _ in range(steps):
        gram = x @ x.T
        # addmm fuses the scale and the sum into the product: two temporaries per step instead of five.
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b·A + c·A²
        x = torch.addmm(x, poly, x, beta=a)  # a·X + (b·A + c·A²)·X
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    r"""Muon (MomentUm Orthogonalized by Newton–Schulz; Jordan et al. 2024) on hidden weight matrices, with an
    Adam-family update (``adam_atan2`` or ``adamw``) on every other parameter, in one optimiser.

    Per hidden matrix W (a parameter of ≥ 2 dimensions, viewed as ``W.shape[0] × rest``) with gradient G::

        M ← μ·M + (1 − μ)·G                                     # momentum buffer
        D ← (1 − μ)·G + μ·M   (Nesterov)   or   D ← M            # the direction
        O ← newton_schulz(D, ns_steps) · √max(1, rows / cols)
        W ← W · (1 − lr · wd)                                   # decoupled decay
        W ← W − lr · O

    as in the reference (github.com/KellerJordan/Muon, ``muon_update``). The factor √max(1, rows/cols) is the
    reference's: an orthogonalised m×n matrix with m > n has RMS √(1/m); the factor makes it √(1/n), the RMS of
    a wide one, so every matrix's update has the same entry size at a given lr. Differences from the reference:
    a parameter without a gradient is skipped (no momentum decay, no weight decay: as :class:`AdamATan2`; the
    reference substitutes zeros), ``G`` is not overwritten, and under ``torch.distributed`` every rank computes
    every matrix's update (the gradients are already all-reduced, so the result is the same; the reference
    splits the matrices over the ranks and gathers them).

    The other parameters (embeddings, output heads, biases, gains: see :func:`split_for_muon`) get
    :class:`AdamATan2`'s update (the same code, so the same numbers) or AdamW's (torch's formula, with ε).

    One optimiser, not two, so that the trainer steps, clips, checkpoints and resumes it like any dense
    optimiser. Its groups: ``use_muon=True`` (``lr``, ``momentum``, ``nesterov``, ``ns_steps``,
    ``weight_decay``, ``ns_dtype``, ``lr_scale``) and ``use_muon=False`` (``aux_optimizer``, ``lr``, ``betas``,
    ``weight_decay``, ``eps``, ``foreach``). State per matrix: ``momentum_buffer``; per other parameter: ``step``,
    ``exp_avg``, ``exp_avg_sq``; ``state_dict()``/``load_state_dict()`` are :class:`torch.optim.Optimizer`'s.

    The learning-rate schedule: :func:`set_lr(opt, x) <set_lr>` writes ``x`` into the other parameters' group and
    ``x · lr_scale`` into the matrices' group, so one schedule drives both. ``lr_scale`` defaults to
    ``lr / aux_lr``, the ratio of the two rates this optimiser is built with.

    Args:
        muon_params: the hidden matrices (each ≥ 2-D).
        aux_params: every other parameter.
        lr: Muon's learning rate (its update has spectral norm ≈ lr before the shape factor).
        momentum: μ, in [0, 1).
        nesterov: use the Nesterov direction (the reference's only setting) or the plain momentum buffer.
        ns_steps: Newton–Schulz steps (>= 1).
        weight_decay: decoupled decay of the matrices (multiplied by lr), >= 0.
        ns_dtype: the Newton–Schulz dtype; ``None``: bfloat16 on CUDA (as the reference), else the parameter's.
        aux_optimizer: ``"adam_atan2"`` or ``"adamw"`` for ``aux_params``.
        aux_lr / aux_betas / aux_weight_decay / aux_eps: that optimiser's (``aux_eps`` is AdamW's ε only).
        lr_scale: the matrices' rate over the others' under :func:`set_lr`; ``None`` means ``lr / aux_lr``.
    """

    def __init__(
        self,
        muon_params: Iterable[torch.Tensor],
        aux_params: Iterable[torch.Tensor] = (),
        *,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        weight_decay: float = 0.0,
        ns_dtype: torch.dtype | None = None,
        aux_optimizer: str = "adam_atan2",
        aux_lr: float = 1e-4,
        aux_betas: tuple[float, float] = (0.9, 0.95),
        aux_weight_decay: float = 0.1,
        aux_eps: float = 1e-8,
        lr_scale: float | None = None,
    ) -> None:
        lr, aux_lr = _check_lr(lr), _check_lr(aux_lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"invalid momentum {momentum!r}; must be in [0, 1)")
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
            raise ValueError(f"invalid ns_steps {ns_steps!r}; must be an integer >= 1")
        if aux_optimizer not in ("adam_atan2", "adamw"):
            raise ValueError(f"invalid aux_optimizer {aux_optimizer!r}; must be 'adam_atan2' or 'adamw'")
        aux_betas = (float(aux_betas[0]), float(aux_betas[1]))
        for i, beta in enumerate(aux_betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"invalid aux beta at index {i}: {beta!r}; must be in [0, 1)")
        if not aux_eps > 0.0:
            raise ValueError(f"invalid aux_eps {aux_eps!r}; must be > 0")
        if lr_scale is None:
            if aux_lr == 0.0 and lr != 0.0:
                raise ValueError("lr_scale cannot be lr / aux_lr with aux_lr = 0; pass lr_scale")
            lr_scale = lr / aux_lr if aux_lr != 0.0 else 1.0
        lr_scale = _check_lr(lr_scale)  # same domain as a rate: finite and >= 0
        matrices = list(muon_params)
        for p in matrices:
            if p.ndim < 2:
                raise ValueError(f"Muon needs parameters of >= 2 dimensions, got shape {tuple(p.shape)}")
        others = list(aux_params)
        groups: list[dict[str, Any]] = []
        if matrices:
            groups.append(
                {
                    "params": matrices,
                    "use_muon": True,
                    "lr": lr,
                    "momentum": float(momentum),
                    "nesterov": bool(nesterov),
                    "ns_steps": ns_steps,
                    "weight_decay": _check_weight_decay(weight_decay),
                    # A name, not a torch.dtype: the group is saved in train_state.pt, read with weights_only.
                    "ns_dtype": str(ns_dtype).removeprefix("torch.") if ns_dtype is not None else None,
                    "lr_scale": lr_scale,
                }
            )
        if others:
            groups.append(
                {
                    "params": others,
                    "use_muon": False,
                    "aux_optimizer": aux_optimizer,
                    "lr": aux_lr,
                    "betas": aux_betas,
                    "weight_decay": _check_weight_decay(aux_weight_decay),
                    "eps": float(aux_eps),
                    "foreach": None,
                }
            )
        super().__init__(groups, {})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Apply one update to every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["use_muon"]:
                self._muon_group(group)
            elif group["aux_optimizer"] == "adam_atan2":
                _adam_atan2_group(self.state, group, "Muon")
            else:
                _adamw_group(self.state, group, "Muon")
        return loss

    def _muon_group(self, group: dict[str, Any]) -> None:
        lr = _check_lr(group["lr"])
        momentum = group["momentum"]
        decay = 1.0 - lr * group["weight_decay"]
        named_dtype = getattr(torch, group["ns_dtype"]) if group["ns_dtype"] is not None else None
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError("Muon does not support sparse gradients")
            if torch.is_complex(p):
                raise RuntimeError("Muon does not support complex parameters")
            state = self.state[p]
            if len(state) == 0:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            buf = state["momentum_buffer"]
            buf.lerp_(grad, 1.0 - momentum)
            direction = grad.lerp(buf, momentum) if group["nesterov"] else buf
            matrix = direction.reshape(p.shape[0], -1)  # conv-style weights: output units × everything else
            rows, cols = matrix.shape
            dtype = named_dtype or (torch.bfloat16 if p.device.type == "cuda" else p.dtype)
            update = newton_schulz(matrix, group["ns_steps"], dtype)
            if decay != 1.0:  # multiplying by exactly 1 is the identity, so skipping it changes nothing
                p.mul_(decay)
            p.add_(update.reshape(p.shape), alpha=-lr * math.sqrt(max(1.0, rows / cols)))


def _adamw_group(state: dict[Any, Any], group: dict[str, Any], name: str) -> None:
    """One AdamW step of one parameter group, with torch.optim.AdamW's formula (ε added to √v̂)."""
    lr = _check_lr(group["lr"])
    beta1, beta2 = group["betas"]
    decay = 1.0 - lr * group["weight_decay"]
    for p, g, m, v, step in zip(*_adam_tensors(state, group, name)):
        t = float(step.item())
        if decay != 1.0:
            p.mul_(decay)
        m.lerp_(g, 1.0 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        denom = (v.sqrt() / math.sqrt(1.0 - beta2**t)).add_(group["eps"])
        p.addcdiv_(m, denom, value=-lr / (1.0 - beta1**t))


def split_for_muon(model: nn.Module) -> tuple[list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]]]:
    """(Muon's, the other optimiser's) named parameters of ``model``, each list in ``named_parameters`` order.

    Muon gets every parameter of ≥ 2 dimensions except those of embedding tables (``CastedEmbedding``,
    ``nn.Embedding``: token and learned-position tables) and of output heads (a module called ``head`` or
    ``*_head``: the LM head and the Q-head of every family). Those, and every 0-/1-D parameter (biases, gains),
    go to the other optimiser. The puzzle-ID table is a buffer and has its own sign-SGD. Input embeddings and
    output heads are excluded as the Muon authors advise: an embedding row's gradient is sparse and a head maps
    to logits, neither a hidden linear map whose update should be orthogonal. By this rule the attention
    and MLP projections of the blocks (fused QKV and gate-up ones as one matrix each, as they are stored) and
    the GRU/LSTM weight matrices get Muon.
    """
    excluded: set[int] = set()
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if isinstance(module, (CastedEmbedding, nn.Embedding)) or leaf == "head" or leaf.endswith("_head"):
            excluded.update(id(p) for p in module.parameters())
    matrices: list[tuple[str, nn.Parameter]] = []
    others: list[tuple[str, nn.Parameter]] = []
    for name, p in model.named_parameters():
        (matrices if p.ndim >= 2 and id(p) not in excluded else others).append((name, p))
    return matrices, others


def build_muon(model: nn.Module | ReasoningModel, optim: OptimConfig) -> Muon:
    """The dense optimiser of ``optim.optimizer=muon``: :class:`Muon` over :func:`split_for_muon`'s two lists.

    Muon's rate is ``optim.muon_lr``, the other parameters' ``optim.lr`` (with ``betas``, ``weight_decay`` and,
    for AdamW, ``adamw_eps``); the schedule scales both by the same factor (``lr_scale = muon_lr / lr``, so the
    config requires ``lr > 0``). Both start at 0, like the other dense optimisers: the trainer writes the
    schedule's rate before every step.
    """
    if not isinstance(model, nn.Module):  # every family is one; the protocol lists only what training calls
        raise TypeError(f"build_muon needs an nn.Module, got {type(model).__name__}")
    matrices, others = split_for_muon(model)
    optimizer = Muon(
        [p for _, p in matrices],
        [p for _, p in others],
        lr=optim.muon_lr,
        momentum=optim.muon_momentum,
        nesterov=optim.muon_nesterov,
        ns_steps=optim.muon_ns_steps,
        weight_decay=optim.muon_weight_decay,
        ns_dtype=torch.float32 if optim.muon_ns_dtype == "float32" else None,
        aux_optimizer=optim.muon_aux_optimizer,
        aux_lr=optim.lr,
        aux_betas=optim.betas,
        aux_weight_decay=optim.weight_decay,
        aux_eps=optim.adamw_eps,
    )
    set_lr(optimizer, 0.0)
    return optimizer


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

    def pending_grads(self) -> list[torch.Tensor]:
        """The gradients of the rows recorded since the last step (read by the trainer's non-finite guard)."""
        return [rows.grad for _, rows in getattr(self.embedding, "_pending", ()) if rows.grad is not None]

    def discard_pending(self) -> None:
        """Forget the rows recorded since the last step without updating them (a skipped step)."""
        self.embedding.pop_pending()

    @torch.no_grad()
    def step(self, keep: torch.Tensor | None = None) -> None:
        """Update the rows touched since the last step (a collective call under torch.distributed).

        ``keep``: a 0-dim bool tensor; where false the touched rows keep their values (the trainer's non-finite
        guard undoes a step on the device this way, without reading the flag on the host).
        """
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
        updated = touched.mul(1.0 - lr * weight_decay).add_(torch.sign(summed), alpha=-lr)
        if keep is not None:
            updated = torch.where(keep, updated, touched)
        weight.index_copy_(0, unique_ids, updated)

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
    """Write ``lr`` into every parameter group (works for every optimiser of this module and any torch one).

    A group with an ``lr_scale`` (:class:`Muon`'s matrices) gets ``lr · lr_scale``: one schedule, two base rates.
    """
    lr = _check_lr(lr)
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"] if "lr_scale" in group else lr
