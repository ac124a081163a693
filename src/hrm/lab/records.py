"""Cell records: what makes one complete, reading them from a comparison folder, and ``records.jsonl``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.lab.plan import plan_cells
from hrm.lab.spec import load_spec
from hrm.lab.study_dir import CELLS_DIR, RECORD_FILE, RECORDS_FILE, SPEC_FILE, json_default

# What the summary reads of a record: these numbers, these strings and the parameter counts.
_RECORD_NUMBERS = (
    "exact_accuracy", "token_accuracy", "wall_s", "steps", "train_flops", "flops_per_step", "mean_segments",
)  # fmt: skip
_RECORD_STRINGS = ("cell", "family", "model", "task")


def complete_record(record: Any) -> dict[str, Any] | None:
    """``record`` if it holds everything the summary reads (with the right types), else None."""
    if not isinstance(record, dict):
        return None
    if not all(isinstance(record.get(key), str) for key in _RECORD_STRINGS):
        return None
    for key in _RECORD_NUMBERS:
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
    parameters = record.get("parameters")
    if not isinstance(parameters, dict) or not any(k in parameters for k in ("trunk", "total")):
        return None
    return record


def valid_record(file: Path) -> dict[str, Any] | None:
    """The record in ``file`` if it is a complete one (:func:`complete_record`), else None: a record is written
    atomically, so a torn or hand-edited one is not a finished cell."""
    try:
        return complete_record(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_records(
    out: Path, log: Callable[[str], None] | None = None, only: set[str] | None = None
) -> list[dict[str, Any]]:
    """Every finished cell's record under ``out/cells`` (sorted by cell id); an unreadable one is left out (and
    named through ``log``). ``only``: the ids of the spec's cells; a folder of a cell the spec no longer has (a
    family or seed dropped from it) is kept on disk but left out of the records."""
    records = []
    for file in sorted((out / CELLS_DIR).glob(f"*/{RECORD_FILE}")):
        if only is not None and file.parent.name not in only:
            continue
        record = valid_record(file)
        if record is None:
            if log is not None:
                log(f"  {file}: not a complete record (torn or corrupt); left out")
            continue
        records.append(record)
    return records


def write_records(out: Path, records: list[dict[str, Any]]) -> Path:
    """``records.jsonl``, rewritten atomically (so a reader never sees a torn line)."""
    import tempfile

    file = out / RECORDS_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{RECORDS_FILE}.", suffix=".tmp", dir=out)
    with open(fd, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, default=json_default) + "\n")
    os.replace(tmp, file)
    return file


def spec_cells(out: Path) -> set[str] | None:
    """The cell ids of the spec saved in ``out`` (None when there is none or it no longer plans)."""
    if not (out / SPEC_FILE).is_file():
        return None
    try:
        return {cell.id for cell in plan_cells(load_spec(out / SPEC_FILE))}
    except UserError:
        return None


def load_records(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a comparison directory: ``records.jsonl``, or the cells' ``record.json`` files when it is
    missing; UserError when ``out`` is not a comparison directory."""
    out = Path(out)
    file = out / RECORDS_FILE
    if not out.is_dir() or not (file.is_file() or (out / CELLS_DIR).is_dir()):
        raise UserError(f"{out}: not a comparison directory (no {RECORDS_FILE}); make one with `hrm compare SPEC`")
    from_cells = read_records(out, only=spec_cells(out))
    if from_cells:
        return from_cells
    records = []
    if file.is_file():
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{file}: unreadable ({type(exc).__name__}); rerun `hrm compare` to rewrite it") from None
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = complete_record(json.loads(line))
            except json.JSONDecodeError:
                raise UserError(f"{file}:{number}: not valid JSON") from None
            if record is None:
                raise UserError(f"{file}:{number}: not a complete cell record; rerun `hrm compare` to rewrite it")
            records.append(record)
    return records
