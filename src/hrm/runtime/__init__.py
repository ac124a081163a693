"""Devices, dtypes, distributed set-up and logging: the only package that touches hardware."""

from hrm.runtime.device import (
    Precision,
    resolve_device,
    resolve_precision,
    seed_everything,
    set_deterministic,
)
from hrm.runtime.distributed import DistributedContext, init_distributed, is_main_process, print0

__all__ = [
    "DistributedContext",
    "Precision",
    "init_distributed",
    "is_main_process",
    "print0",
    "resolve_device",
    "resolve_precision",
    "seed_everything",
    "set_deterministic",
]
