"""Checkpoint I/O: our self-describing ``step-N/`` format and the reference code's ``step_N`` files."""

from hrm.checkpoints.format import Checkpoint, load_checkpoint, load_train_state, save_checkpoint
from hrm.checkpoints.reference import convert_reference_checkpoint, load_reference_checkpoint

__all__ = [
    "Checkpoint",
    "convert_reference_checkpoint",
    "load_checkpoint",
    "load_reference_checkpoint",
    "load_train_state",
    "save_checkpoint",
]
