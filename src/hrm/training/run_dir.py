"""The run directory: one training run's config, metrics, plots and checkpoints.

::

    RUN_DIR/
      train_config.json   the resolved TrainConfig (what ``hrm train`` printed), written at the start
      metrics.jsonl       every logged record (train and eval), one JSON object per line
      metrics.csv         the same records as a table
      curves.png          training curves (``hrm plot RUN_DIR``; rewritten at each evaluation)
      best.json           {"step", "metric", "value"} of the best evaluation so far
      step-N/             checkpoints (see :mod:`hrm.checkpoints.format`), each with train_state.pt

Only the newest ``keep_last`` step directories are kept, plus the best one. :func:`resolve_checkpoint` turns what a
user types (a run directory, ``RUN_DIR/best``, ``RUN_DIR/latest`` or a ``step-N`` directory) into a step directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from hrm.checkpoints.format import CONFIG_FILE, MODEL_FILE, TRAIN_STATE_FILE, save_checkpoint
from hrm.errors import UserError
from hrm.model import HRM
from hrm.runtime.files import write_text_atomic
from hrm.training.config import TrainConfig

TRAIN_CONFIG_FILE = "train_config.json"
BEST_FILE = "best.json"
CURVES_FILE = "curves.png"
BEST_METRIC = "exact_accuracy"
# What best.json's "on" says the best checkpoint was chosen on (checkpoint.best_on).
BEST_ON_LABELS = {
    "train": "training split (first puzzle of each group)",
    "eval": "evaluation split (data.eval_split: selection on the split that is reported)",
}
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step-{step}"


def is_checkpoint_dir(path: str | Path) -> bool:
    path = Path(path)
    return (path / CONFIG_FILE).is_file() and (path / MODEL_FILE).is_file()


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
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


def latest_checkpoint(run_dir: str | Path, resumable: bool = False) -> Path | None:
    """The newest checkpoint (with ``resumable``, the newest that holds a ``train_state.pt``)."""
    for _, path in reversed(list_checkpoints(run_dir)):
        if not resumable or (path / TRAIN_STATE_FILE).is_file():
            return path
    return None


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
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


def best_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint with the best eval exact accuracy, if it still exists."""
    best = read_best(run_dir)
    if best is None:
        return None
    path = Path(run_dir) / step_dir_name(int(best["step"]))
    return path if is_checkpoint_dir(path) else None


def resolve_checkpoint(path: str | Path, which: str = "latest") -> Path:
    """A ``step-N`` directory from a step directory, a run directory, ``RUN_DIR/best`` or ``RUN_DIR/latest``.

    For a run directory, ``which`` picks ``latest`` (default) or ``best`` (falling back to the latest when no
    evaluation has been recorded). Raises UserError when nothing usable is found.
    """
    if which not in ("latest", "best"):
        raise ValueError(f"which must be 'latest' or 'best', got {which!r}")
    path = Path(path)
    if is_checkpoint_dir(path):
        return path
    if not path.exists() and path.name in ("best", "latest") and path.parent.is_dir():
        path, which = path.parent, path.name
    if not path.is_dir():
        raise UserError(f"checkpoint {path} not found (expected a step-N directory or a run directory)")
    found = best_checkpoint(path) if which == "best" else None
    found = found or latest_checkpoint(path)
    if found is None:
        raise UserError(f"{path} holds no checkpoint (no step-N directory with {MODEL_FILE})")
    return found


class RunDir:
    """Writes a run directory; checkpoints are saved atomically and pruned to ``keep_last`` + best."""

    def __init__(self, path: str | Path, keep_last: int = 0, keep_best: bool = True):
        self.path = Path(path)
        self.keep_last = keep_last
        self.keep_best = keep_best

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def clean_partial_writes(self) -> None:
        """Remove temporary directories left by a save that was killed half-way."""
        for child in self.path.glob(".step-*"):
            if child.is_dir() and (".tmp-" in child.name or ".old-" in child.name):
                shutil.rmtree(child, ignore_errors=True)

    # --- config ------------------------------------------------------------------------------------------------

    def write_config(self, config: TrainConfig) -> Path:
        file = self.path / TRAIN_CONFIG_FILE
        tmp = file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        os.replace(tmp, file)
        return file

    def read_config(self) -> TrainConfig:
        file = self.path / TRAIN_CONFIG_FILE
        if not file.is_file():
            raise UserError(
                f"{self.path} is not a run directory (no {TRAIN_CONFIG_FILE}); "
                "pass the directory that `hrm train` created"
            )
        try:
            return TrainConfig.from_dict(json.loads(file.read_text())).validate()
        except json.JSONDecodeError as exc:
            raise UserError(f"{file}: invalid JSON (line {exc.lineno}): {exc.msg}") from exc

    # --- checkpoints -------------------------------------------------------------------------------------------

    def save(
        self,
        step: int,
        model: HRM,
        *,
        train_config: dict[str, Any],
        dataset: dict[str, Any] | None,
        identifiers: list[str] | None,
        meta: dict[str, Any],
        train_state: dict[str, Any] | None,
    ) -> Path:
        """Write ``step-N`` (replacing an older copy of the same step) and prune old checkpoints."""
        path = save_checkpoint(
            self.path / step_dir_name(step),
            model,
            train_config=train_config,
            dataset=dataset,
            identifiers=identifiers,
            meta={"step": step, **meta},
            train_state=train_state,
            overwrite=True,
        )
        self.prune()
        return path

    def update_best(self, step: int, value: float) -> bool:
        """Record ``value`` (eval exact accuracy at ``step``) if it beats the best so far; returns whether it did."""
        best = read_best(self.path)
        if best is not None and float(best["value"]) >= value:
            return False
        self.set_best({"step": step, "value": value})
        return True

    def set_best(self, best: dict[str, Any] | None) -> None:
        """Overwrite (or with ``None`` remove) the best record, e.g. from a checkpoint's training state."""
        file = self.path / BEST_FILE
        if best is None:
            file.unlink(missing_ok=True)
            return
        record = {"step": int(best["step"]), "metric": BEST_METRIC, "value": float(best["value"])}
        if best.get("on"):
            record["on"] = str(best["on"])
        write_text_atomic(file, json.dumps(record) + "\n")

    def prune(self) -> None:
        if self.keep_last <= 0:
            return
        checkpoints = list_checkpoints(self.path)
        keep = {path for _, path in checkpoints[-self.keep_last :]}
        if self.keep_best:
            best = best_checkpoint(self.path)
            if best is not None:
                keep.add(best)
        for _, path in checkpoints:
            if path not in keep:
                shutil.rmtree(path, ignore_errors=True)
