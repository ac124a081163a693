"""Metric sinks for a run directory: ``metrics.jsonl`` and ``metrics.csv`` always, TensorBoard and W&B on request.

Every record is one flat dict with ``step`` and ``split`` (``train`` or ``eval``) plus metric values. The JSONL
file is the source of truth (one record per line, appended and flushed as it goes, so ``tail -f`` works); the
CSV holds the same records with one column per key seen so far and is rewritten when a new key appears.
TensorBoard and W&B are imported only when asked for, with a one-line error naming the package to install.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.runtime.files import atomic_write, write_text_atomic

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
WANDB_ID_FILE = "wandb_id.txt"


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of ``run_dir/metrics.jsonl``.

    A torn last line from a killed process, and any line that is not a JSON object with an integer ``step``
    (hand-edited or foreign lines), is skipped.
    """
    path = Path(run_dir) / METRICS_JSONL
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = record.get("step") if isinstance(record, dict) else None
        if isinstance(step, int) and not isinstance(step, bool):
            records.append(record)
    return records


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e309 if value > 0 else -1e309)  # JSON has no inf/nan
    return value


class MetricsLogger:
    """Writes records to the run directory and the optional external trackers.

    Args:
        run_dir: the run directory (created if needed).
        resume_step: when resuming from a checkpoint at this step, records after it (written by the interrupted
            process past its last checkpoint) are dropped so the files read as one continuous run.
        tensorboard: also write TensorBoard event files to ``run_dir/tensorboard``.
        wandb: also log to Weights & Biases; the run id is kept in ``run_dir/wandb_id.txt`` so a resumed run
            continues the same W&B run.
        wandb_project / run_name / config: W&B project, run name and the config to attach.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        resume_step: int | None = None,
        tensorboard: bool = False,
        wandb: bool = False,
        wandb_project: str = "hrm",
        run_name: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.records: list[dict[str, Any]] = []
        if resume_step is not None:
            self.records = [r for r in read_metrics(self.run_dir) if int(r.get("step", 0)) <= resume_step]
        self._columns: list[str] = []
        for record in self.records:
            self._add_columns(record)
        self._jsonl_path = self.run_dir / METRICS_JSONL
        self._csv_path = self.run_dir / METRICS_CSV
        # Rewritten atomically: a kill or a full disk here must not cost the run its earlier records.
        write_text_atomic(self._jsonl_path, "".join(json.dumps(r) + "\n" for r in self.records))
        self._rewrite_csv()
        self._jsonl = open(self._jsonl_path, "a")  # noqa: SIM115 (closed in close())
        self._csv = open(self._csv_path, "a", newline="")  # noqa: SIM115
        self._tensorboard = _open_tensorboard(self.run_dir) if tensorboard else None
        self._wandb = _open_wandb(self.run_dir, wandb_project, run_name, config) if wandb else None

    def _add_columns(self, record: dict[str, Any]) -> bool:
        new = [k for k in record if k not in self._columns]
        self._columns.extend(new)
        return bool(new)

    def _rewrite_csv(self) -> None:
        with atomic_write(self._csv_path, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._columns)
            writer.writeheader()
            writer.writerows(self.records)

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (must contain ``step`` and ``split``)."""
        record = {k: _jsonable(v) for k, v in record.items()}
        self.records.append(record)
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if self._add_columns(record):
            self._csv.close()
            self._rewrite_csv()
            self._csv = open(self._csv_path, "a", newline="")  # noqa: SIM115
        else:
            csv.DictWriter(self._csv, fieldnames=self._columns).writerow(record)
        self._csv.flush()
        step = int(record["step"])
        split = record.get("split", "train")
        scalars = {
            f"{split}/{k}": v
            for k, v in record.items()
            if k not in ("step", "split") and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if self._tensorboard is not None:
            for key, value in scalars.items():
                self._tensorboard.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log(scalars, step=step)

    def close(self) -> None:
        for handle in (self._jsonl, self._csv):
            if not handle.closed:
                handle.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_trackers(tensorboard: bool, wandb: bool) -> None:
    """Fail now, with the install command, if a requested tracker's package is missing (before any run directory
    or dataset is made)."""
    import importlib.util

    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UserError(
            "logging.tensorboard=true needs the tensorboard package: pip install tensorboard "
            "(or pip install 'hrm-reasoning[tensorboard]')"
        )
    if wandb and importlib.util.find_spec("wandb") is None:
        raise UserError(
            "logging.wandb=true needs the wandb package: pip install wandb (or pip install 'hrm-reasoning[wandb]')"
        )


def _open_tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError(
            "logging.tensorboard=true needs the tensorboard package: pip install tensorboard "
            "(or pip install 'hrm-reasoning[tensorboard]')"
        ) from None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def _open_wandb(run_dir: Path, project: str, name: str | None, config: dict[str, Any] | None) -> Any:
    try:
        import wandb
    except ImportError:
        raise UserError(
            "logging.wandb=true needs the wandb package: pip install wandb (or pip install 'hrm-reasoning[wandb]')"
        ) from None
    id_file = run_dir / WANDB_ID_FILE
    run_id = id_file.read_text().strip() if id_file.is_file() else wandb.util.generate_id()
    id_file.write_text(run_id + "\n")
    return wandb.init(project=project, name=name, id=run_id, resume="allow", config=config, dir=str(run_dir))
