"""Data-parallel set-up on PyTorch's own engine, driven by ``torchrun``'s environment variables.

One command serves one process and N processes: ``hrm train ...`` runs alone; ``torchrun --nproc-per-node N -m hrm
train ...`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT``, and
:func:`init_distributed` then joins the process group: NCCL on CUDA (one GPU per local rank), gloo on CPU.
Nothing here runs at import time.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from hrm.errors import UserError


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job. A single process is rank 0 of a world of 1."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CONTEXT = DistributedContext()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group described by torchrun's variables; a no-op (world of 1) without them.

    ``device_type`` is ``cuda`` (NCCL; sets this process's GPU to ``LOCAL_RANK``), ``cpu`` (gloo) or ``mps``
    (not supported for multi-process runs).
    """
    global _CONTEXT
    if dist.is_available() and dist.is_initialized():
        _CONTEXT = DistributedContext(
            rank=dist.get_rank(),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            world_size=dist.get_world_size(),
            backend=str(dist.get_backend()),
        )
        return _CONTEXT
    if not launched_by_torchrun():
        _CONTEXT = DistributedContext()
        return _CONTEXT
    if not dist.is_available():
        raise UserError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if device_type == "mps":
        raise UserError("multi-process training is not supported on MPS; use --device cpu or one process")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA devices are visible")
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    global _CREATED_GROUP
    _CREATED_GROUP = True
    _CONTEXT = DistributedContext(
        rank=dist.get_rank(), local_rank=local_rank, world_size=dist.get_world_size(), backend=backend
    )
    return _CONTEXT


def get_context() -> DistributedContext:
    return _CONTEXT


_CREATED_GROUP = False  # whether this process ever created a process group (see exit_after_distributed_run)


def created_process_group() -> bool:
    """Whether :func:`init_distributed` created a process group in this process (a torchrun rank)."""
    return _CREATED_GROUP


def is_initialized() -> bool:
    """Whether a process group exists (set up by us or by the caller)."""
    return dist.is_available() and dist.is_initialized()


def destroy_distributed() -> None:
    global _CONTEXT
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _CONTEXT = DistributedContext()


def print0(*args: Any, file: Any = None, **kwargs: Any) -> None:
    """``print`` on rank 0 only (stdout by default)."""
    if _CONTEXT.is_main:
        print(*args, file=file if file is not None else sys.stdout, **kwargs)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (identity for one process); returns it."""
    if _CONTEXT.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(value: float) -> float:
    """The largest of each rank's ``value`` (a host float)."""
    if not _CONTEXT.enabled:
        return value
    device = torch.device("cuda", torch.cuda.current_device()) if _CONTEXT.backend == "nccl" else torch.device("cpu")
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects only)."""
    if not _CONTEXT.enabled:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def gather_rows(tensor: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """Concatenate every rank's ``tensor`` along dim 0 in rank order (to the CPU)."""
    if not ctx.enabled:
        return tensor.detach().cpu().clone()
    parts = [torch.empty_like(tensor) for _ in range(ctx.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts).cpu()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order."""
    out: list[Any] = [None] * get_context().world_size
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if _CONTEXT.enabled:
        dist.barrier()


def sum_gradients_hook(process_group, bucket):  # no annotations: DDP checks them against the runtime classes
    """DDP communication hook: **sum** gradients over ranks instead of averaging them.

    The reference divides the loss by the *global* batch size and then all-reduces with SUM, which yields the mean
    over the global batch; DDP's default hook would divide by the world size a second time.
    """
    group = process_group if process_group is not None else dist.group.WORLD
    work = dist.all_reduce(bucket.buffer(), op=dist.ReduceOp.SUM, group=group, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (persistent or not) into every rank's ``module``."""
    if _CONTEXT.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=src)


def data_parallel(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Wrap ``module`` in DDP with **summed** gradients and no per-step buffer sync.

    Rank 0's parameters and buffers are broadcast once, here. Buffers are not re-synchronised before each forward:
    the ones that change (the puzzle-ID table) are updated identically on every rank by their own optimiser.
    """
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    broadcast_buffers(module)
    # The option's name depends on the torch version.
    no_forward_sync: dict[str, Any] = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
        else {"broadcast_buffers": False}
    )
    wrapped = DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None, **no_forward_sync
    )
    wrapped.register_comm_hook(None, sum_gradients_hook)
    return wrapped
