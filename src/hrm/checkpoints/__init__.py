"""Checkpoints: our self-describing ``step-N/`` format, the reference code's ``step_N`` files, locating a
checkpoint in a run directory (latest / best / a step), opening one, and the data provenance it records."""

from hrm.checkpoints.format import Checkpoint, load_train_state, read_checkpoint, save_checkpoint
from hrm.checkpoints.locate import (
    best_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    open_checkpoint,
    resolve_checkpoint,
)
from hrm.checkpoints.provenance import checkpoint_identifiers, checkpoint_kind, recorded_data_path
from hrm.checkpoints.reference import convert_reference_checkpoint, load_reference_checkpoint

__all__ = [
    "Checkpoint",
    "best_checkpoint",
    "checkpoint_identifiers",
    "checkpoint_kind",
    "convert_reference_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_reference_checkpoint",
    "load_train_state",
    "open_checkpoint",
    "read_checkpoint",
    "recorded_data_path",
    "resolve_checkpoint",
    "save_checkpoint",
]
