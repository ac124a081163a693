"""Devices, dtypes, distributed set-up and logging: the only package that touches hardware."""

from hrm.runtime.device import (
    Precision,
    resolve_device,
    resolve_precision,
    seed_everything,
    set_deterministic,
)

__all__ = ["Precision", "resolve_device", "resolve_precision", "seed_everything", "set_deterministic"]
