"""The registry of shipped models: every folder under ``hrm/assets/pretrained/`` is one, described by itself.

Nothing is registered by hand. A folder is a shipped model when it holds a checkpoint (a ``step-N`` directory, or
a run directory whose newest ``step-N`` is used, as :func:`~hrm.checkpoints.resolve_checkpoint` reads it); its
name is the folder's name, and everything else is read from the checkpoint:

* *kind* (``sudoku`` | ``maze`` | ``arc`` | ``custom``): the kind its ``dataset.json`` records, else the answer
  of :func:`hrm.data.kind.dataset_kind` for its vocabulary and sequence length;
* *size*: the board side of a Sudoku model, the side of a maze model (None for ARC and custom data);
* *family* and *parameters*: from ``config.json`` (the model is built on the meta device, so nothing is loaded);
* *accuracies*: the ``MODEL_CARD.md`` beside the checkpoint (its YAML front matter, see :data:`CARD_FIELDS`),
  else the last evaluation in ``meta.json``, attributed to the split the run evaluated on.

``hrm solve PUZZLE`` without ``--checkpoint`` asks :func:`find_shipped` for the model of the puzzle's kind and size;
``hrm models`` prints :func:`list_shipped`. ``src/hrm/assets/README.md`` says what a shipped folder must hold.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from hrm.checkpoints import locate
from hrm.checkpoints.format import CONFIG_FILE, DATASET_FILE, META_FILE, read_family, read_model_config
from hrm.errors import UserError
from hrm.model.registry import build_model

MODEL_CARD = "MODEL_CARD.md"
# What every model card's front matter holds (null where a number was not measured): the registry reads the
# accuracies, and tests/checkpoints/test_shipped.py checks that every shipped card has all of them.
CARD_FIELDS = (
    "family",
    "recipe",
    "command",
    "parameters",
    "data",
    "data_licence",
    "validation_exact_accuracy",
    "test_exact_accuracy",
    "test_exact_by",
)
MAX_SHIPPED_BYTES = 2 * 2**20  # each shipped model stays small: the wheel carries every one of them
# The splits a run's evaluation (``data.eval_split`` of its training config) may be named; its meta.json accuracy
# is reported under validation or test accordingly.
_VALIDATION_SPLITS = ("val", "validation", "valid", "dev")
_KIND_ORDER = {"sudoku": 0, "maze": 1, "arc": 2, "custom": 3}


def describe_kind(kind: str | None, size: int | None) -> str:
    """``6×6 Sudoku``, ``7×7 maze``, ``ARC`` ...: what a model (or a puzzle) of this kind and size is."""
    if kind == "sudoku":
        return f"{size}×{size} Sudoku" if size else "Sudoku"
    if kind == "maze":
        return f"{size}×{size} maze" if size else "maze"
    if kind == "arc":
        return "ARC"
    return f"{kind} data" if kind else "unknown data"


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model. ``error`` says why a folder could not be read (such a model is listed, never picked)."""

    name: str
    folder: Path
    checkpoint: Path | None = None  # the step-N directory that is loaded
    kind: str | None = None
    size: int | None = None
    family: str | None = None
    vocab_size: int | None = None
    seq_len: int | None = None
    parameters: int | None = None  # as `hrm info` counts them: trunk + puzzle-ID table
    file_bytes: int = 0  # every file of the folder (what the wheel carries)
    card: Path | None = None
    card_fields: dict[str, Any] = field(default_factory=dict)
    card_error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    eval_split: str | None = None  # the split meta.json's last evaluation ran on
    error: str | None = None

    @property
    def task(self) -> str:
        return describe_kind(self.kind, self.size)

    def _accuracy(self, card_key: str, splits: tuple[str, ...]) -> float | None:
        value = self.card_fields.get(card_key)
        if isinstance(value, (int, float)) and _is_number(value):
            return float(value)
        last = self.meta.get("eval")
        if self.eval_split in splits and isinstance(last, dict) and _is_number(last.get("exact_accuracy")):
            return float(last["exact_accuracy"])
        return None

    @property
    def validation_exact(self) -> float | None:
        """Exact accuracy on the validation split: the model card's, else the run's last evaluation when it ran on
        a validation split."""
        return self._accuracy("validation_exact_accuracy", _VALIDATION_SPLITS)

    @property
    def test_exact(self) -> float | None:
        """Exact accuracy on the test split: the model card's, else the run's last evaluation on ``test``."""
        return self._accuracy("test_exact_accuracy", ("test",))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (what ``hrm models --json`` prints per model)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "task": self.task,
            "family": self.family,
            "vocab_size": self.vocab_size,
            "seq_len": self.seq_len,
            "parameters": self.parameters,
            "file_bytes": self.file_bytes,
            "validation_exact_accuracy": self.validation_exact,
            "test_exact_accuracy": self.test_exact,
            "test_exact_by": self.card_fields.get("test_exact_by"),
            "recipe": self.card_fields.get("recipe", self.meta.get("recipe")),
            "step": self.meta.get("step"),
            "path": str(self.folder),
            "checkpoint": str(self.checkpoint) if self.checkpoint is not None else None,
            "model_card": str(self.card) if self.card is not None else None,
            "card_error": self.card_error,
            "error": self.error,
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_card(path: Path) -> dict[str, Any]:
    """The YAML front matter of a model card (between a first line ``---`` and the next ``---``) as a dict;
    UserError when it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the model card ({getattr(exc, 'strerror', None) or exc})") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        raise UserError(f"{path}: the model card must start with YAML front matter between two '---' lines")
    end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    try:
        fields = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: malformed YAML front matter ({str(exc).splitlines()[0]})") from None
    if not isinstance(fields, dict):
        raise UserError(f"{path}: the front matter must be a YAML mapping of fields, got {type(fields).__name__}")
    return fields


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _kind_and_size(dataset: Any, config: Any) -> tuple[str | None, int | None]:
    # hrm.data is imported here: `import hrm` (which loads hrm.checkpoints) stays free of the builders.
    from hrm.data import sudoku
    from hrm.data.kind import dataset_kind, kind_in

    # The recorded kind, else the guess from the vocabulary and sequence length. The dataset folder the run
    # recorded is deliberately not consulted (unlike checkpoint_kind): its relative path would be resolved against
    # the user's working directory, where an unrelated folder of that name may sit.
    kind = kind_in(dataset) or dataset_kind(None, config)
    if kind == "sudoku":
        return kind, sudoku.board_side(config.vocab_size, config.seq_len)
    if kind == "maze":
        side = math.isqrt(config.seq_len)
        return kind, side if side * side == config.seq_len else None
    return kind, None


def read_shipped(folder: Path) -> ShippedModel:
    """The registry entry of one shipped folder (``error`` set, not raised, when it holds no readable checkpoint)."""
    name = folder.name
    file_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    card = folder / MODEL_CARD if (folder / MODEL_CARD).is_file() else None
    try:
        checkpoint = locate.resolve_checkpoint(folder)
        family = read_family(checkpoint)
        config = read_model_config(checkpoint)
        with torch.device("meta"):  # shapes only: counting parameters allocates nothing
            parameters = build_model(family, config).num_parameters()["total"]
    except UserError as exc:
        return ShippedModel(name=name, folder=folder, file_bytes=file_bytes, card=card, error=str(exc))
    if card is None and (checkpoint / MODEL_CARD).is_file():  # a step-N folder shipped with the card inside
        card = checkpoint / MODEL_CARD
    card_fields: dict[str, Any] = {}
    card_error = None
    if card is not None:
        try:
            card_fields = read_card(card)
        except UserError as exc:
            card_error = str(exc)
    dataset = _read_json(checkpoint / DATASET_FILE)
    meta = _read_json(checkpoint / META_FILE)
    train = (_read_json(checkpoint / CONFIG_FILE) or {}).get("train")
    train_data = train.get("data") if isinstance(train, dict) else None
    eval_split = train_data.get("eval_split") if isinstance(train_data, dict) else None
    kind, size = _kind_and_size(dataset, config)
    return ShippedModel(
        name=name,
        folder=folder,
        checkpoint=checkpoint,
        kind=kind,
        size=size,
        family=family,
        vocab_size=int(config.vocab_size),
        seq_len=int(config.seq_len),
        parameters=int(parameters),
        file_bytes=file_bytes,
        card=card,
        card_fields=card_fields,
        card_error=card_error,
        meta=meta if isinstance(meta, dict) else {},
        eval_split=eval_split if isinstance(eval_split, str) else None,
    )


def list_shipped(root: Path | None = None) -> list[ShippedModel]:
    """Every shipped model (folders under ``root``, default the package's ``assets/pretrained/``), ordered by kind,
    size, HRM before other families, then name."""
    root = locate.pretrained_root() if root is None else Path(root)
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
    models = [read_shipped(p) for p in folders]
    return sorted(
        models,
        key=lambda m: (_KIND_ORDER.get(m.kind or "", 9), m.size or 0, m.family != "hrm", m.name),
    )


def shipped_summary(models: list[ShippedModel]) -> str:
    """``6×6 Sudoku (sudoku-6x6), 7×7 maze (maze-7x7)``, or ``none``: what is shipped, for one-line messages."""
    usable = [m for m in models if m.error is None]
    return ", ".join(f"{m.task} ({m.name})" for m in usable) or "none"


def find_shipped(kind: str, size: int | None, family: str | None = None, root: Path | None = None) -> ShippedModel:
    """The shipped model for puzzles of ``kind`` and ``size`` (with ``family``, only of that family). When several
    fit, the HRM one is picked, then the first by name. UserError (one line naming what is shipped and how to pass
    ``--checkpoint``) when none does."""
    models = list_shipped(root)
    for model in models:
        if model.error is None and model.kind == kind and model.size == size:
            if family is None or model.family == family:
                return model
    what = describe_kind(kind, size) + (f" ({family} family)" if family else "")
    raise UserError(
        f"no shipped model for {what} (shipped: {shipped_summary(models)}); train one (`hrm train --list` "
        "lists the recipes) and pass --checkpoint RUN_DIR"
    )
