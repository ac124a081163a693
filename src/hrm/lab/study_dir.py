"""The layout of a comparison folder (``hrm compare --out DIR``): every file name the lab writes, and the writers
that every part of the lab shares. ``hrm.view`` imports these names to recognise a comparison.

::

    DIR/
      spec.yaml            the spec as given (a rerun must describe the same cells)
      records.jsonl        one JSON record per finished cell (the marker ``hrm view`` looks for)
      summary.md / .csv    mean ± sd and a 95% t-interval over seeds per (family, task)
      plots/accuracy_vs_compute.png    held-out exact accuracy against training FLOPs, per family
      plots/accuracy_vs_segments.png   held-out exact accuracy against the inference segment cap, per family
      plots/validation_vs_compute.png  validation exact accuracy against measured training FLOPs (seed bands)
      study.db             an Optuna search's storage (hrm.lab.search), whose trials are cells here
      tune/FAMILY__TASK/   a `tune:` block's search per family and task (a comparison folder each)
      cells/ID/cell.json   the cell's resolved plan (config, FLOPs/step, parameters)
      cells/ID/run/        its ``hrm train`` run directory (checkpoints: an interrupted cell resumes from them)
      cells/ID/record.json its record, written atomically when the cell finishes
      cells/ID/log.txt     the cell process's output
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hrm.errors import UserError

COMPARE_LOCK = "compare.lock"  # held by the hrm compare process running this folder; holds its PID
CELL_LOCK = "cell.lock"  # held by the process running one cell
TUNE_DIR = "tune"  # a spec's `tune:` searches, one comparison folder per (family, task) (hrm.lab.tune)
STUDY_FILE = "study.db"  # an Optuna search's storage (hrm.lab.search), whose trials are cells here
RECORDS_FILE = "records.jsonl"  # read by hrm.view
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
TEST_TIME_DIR = "test_time"  # `hrm compare --test-time`: per-cell depth x breadth, then the files below
TEST_TIME_MD = "test_time.md"
TEST_TIME_JSON = "test_time.json"
TEST_TIME_PLOT = "test_time.png"
SPEC_FILE = "spec.yaml"
PLOTS_DIR = "plots"
COMPUTE_PLOT = "accuracy_vs_compute.png"
SEGMENTS_PLOT = "accuracy_vs_segments.png"
VALIDATION_PLOT = "validation_vs_compute.png"  # with validation curves: mean ± sd over seeds per family
CELLS_DIR = "cells"
CELL_FILE = "cell.json"
RECORD_FILE = "record.json"
LOG_FILE = "log.txt"
LOG_HEADER = "$ "  # starts the line naming the command, written before every run of a cell
RUN_SUBDIR = "run"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def make_out_dir(out: Path) -> None:
    """Create ``out`` (and its parents); UserError in one line when that is impossible (e.g. under /proc)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"--out {out}: cannot create the folder ({exc.strerror or exc}); choose a path you can write"
        ) from None
