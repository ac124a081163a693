"""Checkpoints: our self-describing ``step-N/`` format, the reference code's ``step_N`` files, locating a
checkpoint in a run directory (latest / best / a step), opening one, the data provenance it records, and the
registry of the models shipped with the package."""

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
from hrm.checkpoints.shipped import ShippedModel, find_shipped, list_shipped

__all__ = [
    "Checkpoint",
    "ShippedModel",
    "best_checkpoint",
    "checkpoint_identifiers",
    "checkpoint_kind",
    "convert_reference_checkpoint",
    "find_shipped",
    "latest_checkpoint",
    "list_checkpoints",
    "list_shipped",
    "load_checkpoint",
    "load_reference_checkpoint",
    "load_train_state",
    "open_checkpoint",
    "read_checkpoint",
    "recorded_data_path",
    "resolve_checkpoint",
    "save_checkpoint",
]
