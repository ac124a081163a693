"""What a checkpoint records about the data it was trained on: the dataset's path, its identifier map, its kind.

The trainer writes ``dataset.json`` (``{"metadata", "source", "kind"}``) and ``identifiers.json`` into every
checkpoint; a converted reference checkpoint records its ``all_config.yaml`` (whose ``data_path`` names the dataset).
These functions read that provenance back for evaluation, solving and ``hrm info``.
"""

from __future__ import annotations

from pathlib import Path

from hrm.checkpoints.format import Checkpoint

# hrm.data is imported inside the functions: `import hrm` (which loads hrm.checkpoints) stays free of the builders.


def recorded_paths(checkpoint: Checkpoint) -> list[str]:
    """Dataset roots recorded in the checkpoint: its dataset provenance, the training config, a reference yaml."""
    found: list[str] = []
    if isinstance(checkpoint.dataset, dict):
        for key in ("path", "root", "source", "data_path"):
            if isinstance(checkpoint.dataset.get(key), str):
                found.append(checkpoint.dataset[key])
    train = checkpoint.train_config or {}
    if isinstance(train.get("data"), dict) and isinstance(train["data"].get("path"), str):
        found.append(train["data"]["path"])
    ref = checkpoint.meta.get("reference_config") if isinstance(checkpoint.meta, dict) else None
    if isinstance(ref, dict) and isinstance(ref.get("data_path"), str):
        found.append(ref["data_path"])
    return [p for p in dict.fromkeys(found) if p]


def recorded_data_path(checkpoint: Checkpoint) -> Path | None:
    """The dataset root the checkpoint was trained on, when it is recorded and still exists.

    A relative path is tried from the working directory, then from the checkpoint's folder and its ancestors
    (a run started elsewhere records the path relative to where it was started).
    """
    base = Path(checkpoint.path).resolve()
    anchors = [Path.cwd(), *([base] if base.is_dir() else []), *base.parents]
    for recorded in recorded_paths(checkpoint):
        path = Path(recorded)
        for candidate in [path] if path.is_absolute() else [a / path for a in anchors]:
            if candidate.is_dir():
                return candidate
    return None


def checkpoint_identifiers(checkpoint: Checkpoint, notes: list[str]) -> list[str] | None:
    """The checkpoint's identifier map, else that of its recorded dataset when it has the right length."""
    from hrm.data.format import IDENTIFIERS_FILE, load_identifiers

    if checkpoint.identifiers is not None:
        return checkpoint.identifiers
    root = recorded_data_path(checkpoint)
    if root is not None and (root / IDENTIFIERS_FILE).is_file():
        identifiers = load_identifiers(root)
        if len(identifiers) == checkpoint.model.config.num_puzzle_identifiers:
            notes.append(f"identifier map from {root / IDENTIFIERS_FILE}")
            return identifiers
    return None


def checkpoint_kind(checkpoint: Checkpoint) -> str | None:
    """The kind of data (``sudoku`` | ``maze`` | ``arc`` | ``custom``) the checkpoint was trained on: recorded in
    its ``dataset.json``; for older checkpoints, the ``build.json`` of the dataset it records, else the guess from
    its vocabulary and sequence length (:func:`hrm.data.kind.kind_from_shape`); None when nothing tells."""
    from hrm.data.kind import dataset_kind, kind_from_shape, kind_in

    recorded = kind_in(checkpoint.dataset)
    if recorded is not None:
        return recorded
    root = recorded_data_path(checkpoint)
    from_build = dataset_kind(root) if root is not None else None
    if from_build is not None:
        return from_build
    config = checkpoint.model_config
    return kind_from_shape(config.vocab_size, config.seq_len)
