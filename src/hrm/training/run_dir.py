"""The run directory: one training run's config, metrics, plots and checkpoints.

::

    RUN_DIR/
      train_config.json   the resolved TrainConfig (what ``hrm train`` printed), written once the run has started
      run.lock            exclusive OS lock (filelock) of the process training here
      run.lock.pid        the PID of that process (named in the error a second trainer gets)
      metrics.jsonl       every logged record (train and eval), one JSON object per line
      metrics.csv         the same records as a table
      curves.png          training curves (``hrm plot RUN_DIR``; rewritten at each evaluation)
      best.json           {"step", "metric", "value"} of the best evaluation so far
      step-N/             checkpoints (see :mod:`hrm.checkpoints.format`), each with train_state.pt

Only the newest ``keep_last`` step directories are kept, plus the best one. Reading a run directory (which
checkpoint is the latest or the best, what ``RUN_DIR/best`` means) is :mod:`hrm.checkpoints.locate`'s job.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hrm.checkpoints.format import save_checkpoint
from hrm.checkpoints.locate import BEST_FILE, BEST_METRIC, best_checkpoint, list_checkpoints, read_best, step_dir_name
from hrm.errors import UserError
from hrm.model import ReasoningModel
from hrm.runtime.files import DirectoryLock, write_text_atomic
from hrm.training.config import TrainConfig

TRAIN_CONFIG_FILE = "train_config.json"
LOCK_FILE = "run.lock"  # holds the PID of the process training in this directory
CURVES_FILE = "curves.png"
# What best.json's "on" says the best checkpoint was chosen on (checkpoint.best_on).
BEST_ON_LABELS = {
    "train": "training split (first puzzle of each group)",
    "eval": "evaluation split (data.eval_split: selection on the split that is reported)",
}


class RunDir:
    """Writes a run directory; checkpoints are saved atomically and pruned to ``keep_last`` + best."""

    def __init__(self, path: str | Path, keep_last: int = 0, keep_best: bool = True):
        self.path = Path(path)
        self.keep_last = keep_last
        self.keep_best = keep_best
        self._lock: DirectoryLock | None = None

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def lock(self) -> None:
        """Take the run directory's exclusive lock (``run.lock``); UserError naming the holder's PID if taken."""
        if self._lock is None:
            self._lock = DirectoryLock(self.path, LOCK_FILE, "run directory").acquire()

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def locked(self) -> bool:
        return self._lock is not None

    def clean_partial_writes(self) -> None:
        """Remove temporary directories left by a save that was killed half-way."""
        for child in self.path.glob(".step-*"):
            if child.is_dir() and (".tmp-" in child.name or ".old-" in child.name):
                shutil.rmtree(child, ignore_errors=True)

    # --- config ------------------------------------------------------------------------------------------------

    def write_config(self, config: TrainConfig) -> Path:
        return write_text_atomic(self.path / TRAIN_CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")

    def read_config(self) -> TrainConfig:
        file = self.path / TRAIN_CONFIG_FILE
        if not file.is_file():
            raise UserError(
                f"{self.path} is not a run directory (no {TRAIN_CONFIG_FILE}); "
                "pass the directory that `hrm train` created"
            )
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{file}: invalid JSON (line {exc.lineno}): {exc.msg}") from exc
        except UnicodeDecodeError:
            raise UserError(f"{file}: not a text file (not UTF-8); it is not a train_config.json") from None
        if not isinstance(data, dict):
            raise UserError(f"{file}: expected a JSON object (a TrainConfig), got {type(data).__name__}")
        return TrainConfig.from_dict(data).validate()

    # --- checkpoints -------------------------------------------------------------------------------------------

    def save(
        self,
        step: int,
        model: ReasoningModel,
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
