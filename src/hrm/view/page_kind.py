"""What PATH is: a comparison, a run, an evaluation or a dataset, recognised by the files their writers name."""

from __future__ import annotations

from pathlib import Path

from hrm.checkpoints.format import MODEL_FILE
from hrm.data.format import METADATA_FILE
from hrm.errors import UserError
from hrm.evaluation.report import EVAL_FILE
from hrm.evaluation.segment_trace import SEGMENTS_FILE
from hrm.lab.study_dir import RECORDS_FILE
from hrm.runtime.logging import METRICS_JSONL
from hrm.training.run_dir import TRAIN_CONFIG_FILE

KINDS = ("dataset", "evaluation", "run", "comparison")


def detect_kind(path: Path) -> str:
    """``dataset`` | ``evaluation`` | ``run`` | ``comparison``; UserError naming the four when it is none."""

    if path.is_file():
        if path.suffix == ".npz":
            return "evaluation"
        if path.name == EVAL_FILE:
            return "evaluation"
    elif path.is_dir():
        if (path / RECORDS_FILE).is_file():
            return "comparison"
        if (path / TRAIN_CONFIG_FILE).is_file() or (path / METRICS_JSONL).is_file():
            return "run"
        if (path / EVAL_FILE).is_file() or (path / SEGMENTS_FILE).is_file():
            return "evaluation"
        if (path / MODEL_FILE).is_file():  # a checkpoint keeps its dataset's dataset.json beside it
            raise UserError(
                f"{path}: a checkpoint, not something to view; view its run folder ({path.parent}) or the dataset "
                "it was trained on"
            )
        if (path / METADATA_FILE).is_file() or split_dirs(path):
            return "dataset"
    else:
        raise UserError(f"{path}: no such file or folder")
    raise UserError(
        f"{path}: not a dataset (split folders with {METADATA_FILE}), a run ({TRAIN_CONFIG_FILE}), an evaluation "
        f"({EVAL_FILE} or {SEGMENTS_FILE} from `hrm evaluate --out DIR`) or a comparison ({RECORDS_FILE}); "
        "pass one of those"
    )


def split_dirs(root: Path) -> list[str]:
    """Split folders of a dataset root, train and test first."""
    names = [
        p.name
        for p in root.iterdir()
        # a checkpoint folder keeps a copy of its dataset's dataset.json: it is not a split
        if p.is_dir() and (p / METADATA_FILE).is_file() and not (p / MODEL_FILE).is_file()
    ]
    return sorted(names, key=lambda n: (n not in ("train", "test"), n != "train", n))
