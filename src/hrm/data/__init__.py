"""Datasets for HRM: the reference's on-disk format, seeded rank-aware sampling, and offline builders.

* :mod:`hrm.data.format` — read/write ``dataset.json`` + ``<set>__<field>.npy`` + ``identifiers.json``.
* :mod:`hrm.data.sampling` — :class:`TrainSampler` (reference §4.2 train sampling) and :func:`iter_eval_batches`.
* :mod:`hrm.data.augment` — dihedral / colour / Sudoku shuffles and their inverses.
* :mod:`hrm.data.kind` — what a dataset holds (``sudoku`` | ``maze`` | ``arc`` | ``custom``): recorded in
  ``build.json``, guessed from vocab and seq_len for datasets built without one.
* Builders: :mod:`hrm.data.sudoku`, :mod:`hrm.data.maze`, :mod:`hrm.data.arc`, :mod:`hrm.data.custom`
  (``hrm data sudoku|maze|arc|custom``).
"""

from hrm.data.format import (
    DatasetMetadata,
    DatasetRoot,
    PuzzleSplit,
    load_dataset_root,
    load_identifiers,
    load_split,
    write_split,
)
from hrm.data.sampling import IGNORE_LABEL_ID, TrainSampler, iter_eval_batches, total_steps

__all__ = [
    "IGNORE_LABEL_ID",
    "DatasetMetadata",
    "DatasetRoot",
    "PuzzleSplit",
    "TrainSampler",
    "iter_eval_batches",
    "load_dataset_root",
    "load_identifiers",
    "load_split",
    "total_steps",
    "write_split",
]
