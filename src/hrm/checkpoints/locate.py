"""Finding and opening checkpoints: the one place that turns what a user typed into a loaded model.

What may be passed wherever a checkpoint is taken (``hrm evaluate/solve/info/analyze --checkpoint``,
``checkpoint.init_from``, :func:`load_checkpoint`, :func:`open_checkpoint`):

* a ``step-N`` directory (see :mod:`hrm.checkpoints.format`);
* a run directory written by ``hrm train``: its newest complete checkpoint;
* ``RUN/best`` or ``RUN/latest``: the checkpoint recorded in ``RUN/best.json`` (the latest when no evaluation has
  been recorded) or the newest one;
* :func:`open_checkpoint` only: a reference ``step_N`` file with ``all_config.yaml`` beside it, or nothing (the
  default shipped model, :data:`PRETRAINED_NAME`; ``hrm solve`` instead picks the shipped model for the puzzle's
  kind and size from the registry, :mod:`hrm.checkpoints.shipped`).

Anything else is a one-line :class:`~hrm.errors.UserError`.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from hrm.checkpoints.format import CONFIG_FILE, MODEL_FILE, TRAIN_STATE_FILE, Checkpoint, read_checkpoint
from hrm.checkpoints.reference import load_config_yaml, load_reference_checkpoint
from hrm.errors import UserError

BEST_FILE = "best.json"  # {"step", "metric", "value"} of a run's best evaluation (written by the trainer)
BEST_METRIC = "exact_accuracy"
PRETRAINED_NAME = "sudoku-6x6"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step-{step}"


def is_checkpoint_dir(path: str | os.PathLike) -> bool:
    """True for a complete ``step-N`` directory (an interrupted save leaves none: see ``save_checkpoint``)."""
    path = Path(path)
    return (path / CONFIG_FILE).is_file() and (path / MODEL_FILE).is_file()


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete ``step-N`` directories of ``run_dir`` as (N, path), oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and is_checkpoint_dir(child):
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike, resumable: bool = False) -> Path | None:
    """The newest checkpoint (with ``resumable``, the newest that holds a ``train_state.pt``)."""
    for _, path in reversed(list_checkpoints(run_dir)):
        if not resumable or (path / TRAIN_STATE_FILE).is_file():
            return path
    return None


def read_best(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run's ``best.json`` record, or None when there is none (or it is unreadable or of the wrong shape)."""
    path = Path(run_dir) / BEST_FILE
    if not path.is_file():
        return None
    try:
        best = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    # A hand-edited or foreign best.json is ignored rather than trusted (the run dir still has its checkpoints).
    if not isinstance(best, dict):
        return None
    step, value = best.get("step"), best.get("value")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return best


def best_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint with the best eval exact accuracy, if it still exists."""
    best = read_best(run_dir)
    if best is None:
        return None
    path = Path(run_dir) / step_dir_name(int(best["step"]))
    return path if is_checkpoint_dir(path) else None


def resolve_checkpoint(path: str | os.PathLike, which: str = "latest") -> Path:
    """A ``step-N`` directory from a step directory, a run directory, ``RUN/best`` or ``RUN/latest``.

    For a run directory, ``which`` picks ``latest`` (default) or ``best`` (falling back to the latest when no
    evaluation has been recorded). Raises UserError when nothing usable is found.
    """
    if which not in ("latest", "best"):
        raise ValueError(f"which must be 'latest' or 'best', got {which!r}")
    path = Path(path)
    if is_checkpoint_dir(path) or (path / CONFIG_FILE).is_file():  # an incomplete step dir: the reader says why
        return path
    if not path.exists() and path.name in ("best", "latest") and path.parent.is_dir():
        path, which = path.parent, path.name
    if not path.is_dir():
        raise UserError(f"checkpoint {path} not found (expected a step-N directory or a run directory)")
    found = best_checkpoint(path) if which == "best" else None
    found = found or latest_checkpoint(path)
    if found is None:
        raise UserError(
            f"{path} holds no checkpoint (no {CONFIG_FILE} + {MODEL_FILE}, and no step-N directory with them)"
        )
    return found


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", which: str = "latest", family: str | None = None
) -> Checkpoint:
    """Load the checkpoint ``path`` names (see :func:`resolve_checkpoint`), weights only (not the training state).

    With ``family``, a checkpoint of another model family is a one-line UserError.
    """
    return read_checkpoint(resolve_checkpoint(path, which), device, family)


def pretrained_root() -> Path:
    """The folder of the shipped models inside the installed package: one sub-folder per model (see
    :mod:`hrm.checkpoints.shipped`, which lists them)."""
    return Path(str(resources.files("hrm") / "assets" / "pretrained"))


def pretrained_dir(name: str = PRETRAINED_NAME) -> Path:
    """Where the shipped model ``name`` lives inside the installed package (it may be absent); the default is the
    one ``hrm info`` and ``hrm analyze`` fall back to without ``--checkpoint``."""
    return pretrained_root() / name


def open_checkpoint(
    path: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    *,
    seq_len: int | None = None,
    family: str | None = None,
) -> Checkpoint:
    """Open a checkpoint for evaluation, solving or analysis.

    ``path`` is anything :func:`load_checkpoint` accepts, a reference ``step_N`` file (with ``all_config.yaml``
    beside it; ``seq_len`` is then passed to :func:`~hrm.checkpoints.load_reference_checkpoint`), or ``None`` for
    the checkpoint shipped with the package. With ``family``, a checkpoint of another model family is a one-line
    UserError.
    """
    if path is None:
        shipped = pretrained_dir()
        if not shipped.is_dir():
            raise UserError(
                f"no --checkpoint given and this install ships no pretrained checkpoint (expected "
                f"{shipped}); train one (e.g. `hrm train cpu-sudoku-6x6`) and pass --checkpoint RUN_DIR"
            )
        return load_checkpoint(shipped, device, family=family)
    path = Path(path)
    if not path.exists() and not (path.name in ("best", "latest") and path.parent.is_dir()):
        raise UserError(
            f"checkpoint {path} not found; pass a run directory, a step-N directory or a reference "
            "step_N file (with all_config.yaml beside it)"
        )
    if path.is_file():
        if family not in (None, "hrm"):
            raise UserError(f"{path} is a reference HRM checkpoint, not a {family!r} model")
        model = load_reference_checkpoint(path, seq_len=seq_len, device=device)
        config = load_config_yaml((path.parent / "all_config.yaml").read_text())  # checked by the load above
        return Checkpoint(
            path=path,
            model=model,
            model_config=model.config,
            meta={"reference_config": config, "converted_from": str(path)},
        )
    return load_checkpoint(path, device, family=family)
