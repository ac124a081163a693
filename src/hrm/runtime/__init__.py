"""Devices, dtypes, distributed set-up and logging: the only package that touches hardware."""

from hrm.runtime.device import (
    Precision,
    resolve_device,
    resolve_precision,
    set_deterministic,
)
from hrm.runtime.distributed import DistributedContext, init_distributed, print0

__all__ = [
    "DistributedContext",
    "Precision",
    "init_distributed",
    "print0",
    "resolve_device",
    "resolve_precision",
    "set_deterministic",
]
