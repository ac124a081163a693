"""Device and dtype policy: the only place that decides where and in which precision HRM runs.

Policy (each overridable):
  - device ``auto``: cuda if available, else mps, else cpu.
  - forward (activation) dtype: bfloat16 on CUDA (the reference's choice; weights stay fp32), float32 on CPU —
    bf16 matmul on a typical CPU is ~100× slower than fp32 — and float32 on MPS.
  - stablemax cross-entropy: float64 where supported, float32 on MPS (which has no float64).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from hrm.errors import UserError

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


@dataclass(frozen=True)
class Precision:
    device: torch.device
    forward_dtype: torch.dtype
    stablemax_dtype: torch.dtype


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` → a usable ``torch.device`` (UserError if absent)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise UserError(f"device {name!r} requested but MPS is not available; use --device cpu or auto")
    return device


def resolve_precision(device: torch.device, dtype: str = "auto") -> Precision:
    """The dtype policy above; ``dtype`` may force ``float32``/``bfloat16``/``float16`` activations."""
    if dtype == "auto":
        forward = torch.bfloat16 if device.type == "cuda" else torch.float32
    else:
        if dtype not in _DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
        forward = _DTYPES[dtype]
    return Precision(device=device, forward_dtype=forward, stablemax_dtype=widest_float(device))


def widest_float(device: torch.device | str) -> torch.dtype:
    """float64, or float32 on MPS (which has no float64): for the stablemax loss and for summing metrics."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels (bit-identical reruns on CPU; on CUDA needs CUBLAS_WORKSPACE_CONFIG)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=False)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = not enabled


def batch_to_device(
    batch: dict[str, np.ndarray],
    device: torch.device,
    keys: tuple[str, ...] = ("inputs", "labels", "puzzle_identifiers"),
) -> dict[str, torch.Tensor]:
    """A sampler's numpy batch as int32 tensors on ``device`` (the model's ``batch_keys`` only)."""
    out = {}
    for key in keys:
        tensor = torch.from_numpy(np.ascontiguousarray(batch[key])).to(torch.int32)
        out[key] = tensor.to(device, non_blocking=True)
    return out


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """torch's random state for the CPU and, on CUDA, for ``device`` (saved in checkpoints for exact resume)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
