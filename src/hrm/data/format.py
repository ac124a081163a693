"""The on-disk puzzle-dataset format, exactly as the reference reads and writes it (hrm-reference.md §4.1).

A dataset root holds ``train/`` and ``test/`` split folders and ``identifiers.json``::

    <root>/identifiers.json            list: puzzle identifier -> name, index 0 = "<blank>"
    <root>/<split>/dataset.json        DatasetMetadata (the reference's PuzzleDatasetMetadata keys)
    <root>/<split>/<set>__inputs.npy             [N_examples, seq_len]  uint8 (int32 when vocab > 256)
    <root>/<split>/<set>__labels.npy             [N_examples, seq_len]  same dtype as inputs
    <root>/<split>/<set>__puzzle_identifiers.npy [N_puzzles]            int32
    <root>/<split>/<set>__puzzle_indices.npy     [N_puzzles + 1]        int32, CSR puzzle -> examples
    <root>/<split>/<set>__group_indices.npy      [N_groups + 1]         int32, CSR group -> puzzles

A *group* is one original task or puzzle, its *puzzles* are the augmented versions, and each puzzle has one or
more *examples* (input/label rows). Inputs and labels are memory-mapped on load; the small index arrays are read
into memory. Extra files in a split folder (our builders add none there) are ignored by both readers.

``dataset.json`` is written with the reference's key order and ``json.dump`` defaults, so for equal contents the
bytes equal the reference's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm.errors import UserError

FIELDS: tuple[str, ...] = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
SEQUENCE_FIELDS: tuple[str, ...] = ("inputs", "labels")
INDEX_FIELDS: tuple[str, ...] = ("puzzle_identifiers", "puzzle_indices", "group_indices")
METADATA_FILE = "dataset.json"
IDENTIFIERS_FILE = "identifiers.json"
BLANK_IDENTIFIER = "<blank>"
SPLITS: tuple[str, ...] = ("train", "test")

# Key order of the reference's PuzzleDatasetMetadata (dataset/common.py); json.dump keeps it.
_METADATA_KEYS: tuple[str, ...] = (
    "pad_id",
    "ignore_label_id",
    "blank_identifier_id",
    "vocab_size",
    "seq_len",
    "num_puzzle_identifiers",
    "total_groups",
    "mean_puzzle_examples",
    "sets",
)


def _names(value: Any) -> list[str]:
    """``sets``: a JSON list of subset names (a bare string such as ``"all"`` is refused, not split into letters)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'sets' must be a list of names such as [\"all\"], got {value!r}")
    return list(value)


@dataclass
class DatasetMetadata:
    """One split's ``dataset.json``.

    Attributes:
        pad_id: token used for padding inputs (0 everywhere in HRM).
        ignore_label_id: label value that the loader turns into -100 (not supervised); ``None`` for none.
        blank_identifier_id: puzzle identifier used for padding rows (0).
        vocab_size: number of token ids.
        seq_len: tokens per example.
        num_puzzle_identifiers: rows of the puzzle-ID embedding table (shared by both splits).
        total_groups: groups in this split (original puzzles/tasks).
        mean_puzzle_examples: examples per puzzle, averaged over the split.
        sets: subset names; always ``["all"]`` in the reference.
    """

    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    sets: list[str] = field(default_factory=lambda: ["all"])

    def to_dict(self) -> dict:
        return {
            "pad_id": int(self.pad_id),
            "ignore_label_id": None if self.ignore_label_id is None else int(self.ignore_label_id),
            "blank_identifier_id": int(self.blank_identifier_id),
            "vocab_size": int(self.vocab_size),
            "seq_len": int(self.seq_len),
            "num_puzzle_identifiers": int(self.num_puzzle_identifiers),
            "total_groups": int(self.total_groups),
            "mean_puzzle_examples": float(self.mean_puzzle_examples),
            "sets": [str(s) for s in self.sets],
        }

    def to_json(self) -> str:
        """The JSON text, byte-identical to the reference's ``json.dump(metadata.model_dump(), f)``."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict, source: str = "dataset.json") -> DatasetMetadata:
        if not isinstance(data, dict):
            raise UserError(f"{source}:1: expected a JSON object with the dataset metadata")
        missing = [k for k in _METADATA_KEYS if k not in data]
        if missing:
            raise UserError(
                f"{source}:1: missing key(s) {', '.join(missing)}; a dataset.json needs {', '.join(_METADATA_KEYS)}"
            )
        try:
            meta = cls(
                pad_id=int(data["pad_id"]),
                ignore_label_id=None if data["ignore_label_id"] is None else int(data["ignore_label_id"]),
                blank_identifier_id=int(data["blank_identifier_id"]),
                vocab_size=int(data["vocab_size"]),
                seq_len=int(data["seq_len"]),
                num_puzzle_identifiers=int(data["num_puzzle_identifiers"]),
                total_groups=int(data["total_groups"]),
                mean_puzzle_examples=float(data["mean_puzzle_examples"]),
                sets=_names(data["sets"]),
            )
        except (TypeError, ValueError) as exc:
            raise UserError(f"{source}:1: bad value in dataset metadata ({exc}); rebuild the dataset") from None
        if not meta.sets:
            raise UserError(f"{source}:1: 'sets' is empty; it must name at least one subset, e.g. [\"all\"]")
        if meta.vocab_size <= 0 or meta.seq_len <= 0 or meta.num_puzzle_identifiers <= 0:
            raise UserError(f"{source}:1: vocab_size, seq_len and num_puzzle_identifiers must be positive")
        return meta

    @classmethod
    def from_json(cls, text: str, source: str = "dataset.json") -> DatasetMetadata:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        return cls.from_dict(data, source)


@dataclass
class PuzzleSplit:
    """One split folder: its metadata and, per set, the five arrays (inputs/labels memory-mapped)."""

    path: Path
    metadata: DatasetMetadata
    arrays: dict[str, dict[str, np.ndarray]]

    def set(self, name: str | None = None) -> dict[str, np.ndarray]:
        """The arrays of one set (default: the only or first set)."""
        return self.arrays[name if name is not None else self.metadata.sets[0]]

    @property
    def num_examples(self) -> int:
        return sum(int(a["inputs"].shape[0]) for a in self.arrays.values())

    @property
    def num_puzzles(self) -> int:
        return sum(int(a["puzzle_identifiers"].shape[0]) for a in self.arrays.values())

    @property
    def num_groups(self) -> int:
        return sum(int(a["group_indices"].shape[0]) - 1 for a in self.arrays.values())


@dataclass
class DatasetRoot:
    """A dataset folder with both splits and the identifier list."""

    path: Path
    train: PuzzleSplit
    test: PuzzleSplit
    identifiers: list[str]


def _array_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint8) if vocab_size <= 256 else np.dtype(np.int32)


def sequence_dtype(vocab_size: int) -> np.dtype:
    """dtype of inputs/labels on disk: uint8 as the reference when tokens fit, else int32."""
    return _array_dtype(vocab_size)


def validate_arrays(
    metadata: DatasetMetadata, arrays: dict[str, np.ndarray], where: str = "split", check_tokens: bool = True
) -> None:
    """Check one set's arrays for shape, CSR and range consistency; raise UserError naming the problem."""
    for name in FIELDS:
        if name not in arrays:
            raise UserError(f"{where}: missing array '{name}'")
    inputs, labels = arrays["inputs"], arrays["labels"]
    pid, pidx, gidx = arrays["puzzle_identifiers"], arrays["puzzle_indices"], arrays["group_indices"]
    if inputs.ndim != 2 or inputs.shape[1] != metadata.seq_len:
        raise UserError(f"{where}: inputs has shape {inputs.shape}, expected [N, seq_len={metadata.seq_len}]")
    if labels.shape != inputs.shape:
        raise UserError(f"{where}: labels has shape {labels.shape} but inputs has {inputs.shape}")
    if pid.ndim != 1 or pidx.ndim != 1 or gidx.ndim != 1:
        raise UserError(f"{where}: puzzle_identifiers, puzzle_indices and group_indices must be 1-D")
    if pidx.shape[0] != pid.shape[0] + 1:
        raise UserError(
            f"{where}: puzzle_indices has {pidx.shape[0]} entries, expected num_puzzles + 1 = {pid.shape[0] + 1}"
        )
    if pidx.shape[0] == 0 or pidx[0] != 0 or pidx[-1] != inputs.shape[0] or np.any(np.diff(pidx) < 0):
        raise UserError(f"{where}: puzzle_indices must rise from 0 to the number of examples ({inputs.shape[0]})")
    if gidx.shape[0] == 0 or gidx[0] != 0 or gidx[-1] != pid.shape[0] or np.any(np.diff(gidx) < 0):
        raise UserError(f"{where}: group_indices must rise from 0 to the number of puzzles ({pid.shape[0]})")
    if pid.size and (pid.min() < 0 or pid.max() >= metadata.num_puzzle_identifiers):
        raise UserError(f"{where}: puzzle_identifiers outside [0, {metadata.num_puzzle_identifiers})")
    if check_tokens and inputs.size:
        hi = max(int(inputs.max()), int(labels.max()))
        lo = min(int(inputs.min()), int(labels.min()))
        if lo < 0 or hi >= metadata.vocab_size:
            raise UserError(f"{where}: tokens span [{lo}, {hi}], outside the vocabulary [0, {metadata.vocab_size})")


def first_puzzle_per_group(split: PuzzleSplit, max_groups: int) -> PuzzleSplit:
    """A small split of the first puzzle of each of (at most) ``max_groups`` groups, evenly spaced over the split.

    With augmented datasets a group is one original puzzle with its variants, so this picks originals (Sudoku-1k:
    the 1,000 training puzzles themselves) rather than the variants of the first few, which the head of the split
    would hold. The rows are copied into memory.
    """
    arrays = {}
    for name, a in split.arrays.items():
        pidx, gidx = np.asarray(a["puzzle_indices"]), np.asarray(a["group_indices"])
        num_groups = int(gidx.shape[0]) - 1
        chosen = np.unique(np.linspace(0, num_groups - 1, num=min(max_groups, num_groups)).round().astype(np.int64))
        puzzles = gidx[chosen]
        starts, stops = pidx[puzzles], pidx[puzzles + 1]
        rows = np.concatenate([np.arange(s, e) for s, e in zip(starts, stops)]) if chosen.size else np.zeros(0, int)
        sizes = (stops - starts).astype(np.int64)
        arrays[name] = {
            "inputs": np.asarray(a["inputs"][rows]),
            "labels": np.asarray(a["labels"][rows]),
            "puzzle_identifiers": np.asarray(a["puzzle_identifiers"])[puzzles].astype(np.int32),
            "puzzle_indices": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32),
            "group_indices": np.arange(chosen.size + 1, dtype=np.int32),
        }
    return PuzzleSplit(path=split.path, metadata=split.metadata, arrays=arrays)


def check_token_range(split: PuzzleSplit, rows_per_chunk: int = 1 << 16) -> None:
    """Scan every set's inputs and labels (memory-mapped, in chunks) for tokens outside ``[0, vocab_size)``.

    :func:`load_split` skips this scan to stay cheap; training and evaluation run it once, so a corrupt or
    hand-made dataset is one error naming the split instead of an index error deep inside the embedding.
    """
    vocab = split.metadata.vocab_size
    for set_name, arrays in split.arrays.items():
        for name in SEQUENCE_FIELDS:
            data = arrays[name]
            for start in range(0, int(data.shape[0]), rows_per_chunk):
                chunk = np.asarray(data[start : start + rows_per_chunk])
                if chunk.size == 0:
                    continue
                lo, hi = int(chunk.min()), int(chunk.max())
                if lo < 0 or hi >= vocab:
                    bad = lo if lo < 0 else hi
                    row = start + int(np.argwhere((chunk < 0) | (chunk >= vocab))[0][0])
                    raise UserError(
                        f"{split.path} set '{set_name}': {name} row {row} holds token {bad}, outside the vocabulary "
                        f"[0, {vocab}) of its dataset.json; rebuild the dataset or fix vocab_size"
                    )


def save_npy(path: Path | str, array: np.ndarray) -> None:
    """``np.save`` without pickles (the exact bytes of ``np.save``)."""
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def write_metadata(split_dir: Path | str, metadata: DatasetMetadata) -> None:
    with open(Path(split_dir) / METADATA_FILE, "w", encoding="utf-8") as f:
        f.write(metadata.to_json())


def write_split(
    path: Path | str, metadata: DatasetMetadata, arrays: dict[str, dict[str, np.ndarray]], check_tokens: bool = True
) -> None:
    """Write one split folder: ``dataset.json`` plus ``<set>__<field>.npy`` with the reference's dtypes.

    ``arrays`` maps each set name of ``metadata.sets`` to its five arrays. Inputs/labels are stored as uint8
    (int32 if the vocabulary exceeds 256) and index arrays as int32. This writes in place; builders write into a
    temporary folder (see :mod:`hrm.data.build`) and rename it when complete.
    """
    path = Path(path)
    if sorted(arrays) != sorted(metadata.sets):
        raise UserError(f"{path}: arrays are given for sets {sorted(arrays)} but metadata lists {metadata.sets}")
    seq_dtype = _array_dtype(metadata.vocab_size)
    path.mkdir(parents=True, exist_ok=True)
    for set_name in metadata.sets:
        a = arrays[set_name]
        validate_arrays(metadata, a, where=f"{path} set '{set_name}'", check_tokens=check_tokens)
        for name in FIELDS:
            dtype = seq_dtype if name in SEQUENCE_FIELDS else np.dtype(np.int32)
            save_npy(path / f"{set_name}__{name}.npy", np.asarray(a[name]).astype(dtype, copy=False))
    write_metadata(path, metadata)


def read_metadata(split_dir: Path | str) -> DatasetMetadata:
    meta_path = Path(split_dir) / METADATA_FILE
    try:
        text = meta_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{meta_path}: not found; is {split_dir} a dataset split folder (train/ or test/)?") from None
    except OSError as exc:
        raise UserError(f"{meta_path}: cannot read ({exc.strerror})") from None
    return DatasetMetadata.from_json(text, str(meta_path))


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{path}: missing; the split folder is incomplete, rebuild the dataset")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc}); rebuild the dataset") from None


def load_split(path: Path | str, validate: bool = True) -> PuzzleSplit:
    """Load a split folder written by our builders or by the reference's.

    Inputs and labels are memory-mapped read-only (``mmap_mode="r"``); index arrays are read into memory as
    int32. With ``validate`` the shapes and CSR offsets are checked (cheap: token ranges are not scanned).
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such dataset split folder")
    metadata = read_metadata(path)
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for set_name in metadata.sets:
        a: dict[str, np.ndarray] = {}
        for name in FIELDS:
            arr = _load_npy(path / f"{set_name}__{name}.npy", mmap=name in SEQUENCE_FIELDS)
            if name in INDEX_FIELDS:
                arr = np.asarray(arr, dtype=np.int32)
            a[name] = arr
        if validate:
            validate_arrays(metadata, a, where=f"{path} set '{set_name}'", check_tokens=False)
        arrays[set_name] = a
    return PuzzleSplit(path=path, metadata=metadata, arrays=arrays)


def write_identifiers(root: Path | str, identifiers: list[str]) -> None:
    """``identifiers.json``: puzzle identifier -> name, index 0 = "<blank>" (reference ``json.dump`` bytes)."""
    if not identifiers or identifiers[0] != BLANK_IDENTIFIER:
        raise ValueError("identifiers[0] must be '<blank>'")
    with open(Path(root) / IDENTIFIERS_FILE, "w", encoding="utf-8") as f:
        json.dump(list(identifiers), f)


def load_identifiers(dataset_root: Path | str) -> list[str]:
    path = Path(dataset_root) / IDENTIFIERS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found; a dataset root needs identifiers.json beside train/ and test/") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise UserError(f"{path}:1: expected a JSON list of identifier names")
    return data


def load_dataset_root(root: Path | str, validate: bool = True) -> DatasetRoot:
    """Load ``<root>/train``, ``<root>/test`` and ``<root>/identifiers.json``, checking they agree."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such dataset folder; build one with `hrm data ...`")
    for split in SPLITS:
        if not (root / split).is_dir():
            raise UserError(f"{root}: missing the '{split}/' split folder; is this a dataset root?")
    train = load_split(root / "train", validate=validate)
    test = load_split(root / "test", validate=validate)
    identifiers = load_identifiers(root)
    a, b = train.metadata, test.metadata
    for key in ("vocab_size", "seq_len", "num_puzzle_identifiers", "pad_id", "ignore_label_id"):
        if getattr(a, key) != getattr(b, key):
            raise UserError(f"{root}: train and test disagree on {key} ({getattr(a, key)} vs {getattr(b, key)})")
    if validate and len(identifiers) != train.metadata.num_puzzle_identifiers:
        raise UserError(
            f"{root / IDENTIFIERS_FILE}: {len(identifiers)} names but dataset.json says "
            f"num_puzzle_identifiers = {train.metadata.num_puzzle_identifiers}"
        )
    return DatasetRoot(path=root, train=train, test=test, identifiers=identifiers)


def is_dataset_root(path: Path | str) -> bool:
    p = Path(path)
    return all(os.path.isfile(p / s / METADATA_FILE) for s in SPLITS)


def locate_split(data: Path, split: str) -> tuple[Path, Path | None]:
    """(split folder, dataset root or None) from a dataset root or a split folder."""
    if (data / split / METADATA_FILE).is_file():
        return data / split, data
    if (data / METADATA_FILE).is_file():
        root = data.parent if (data.parent / IDENTIFIERS_FILE).is_file() else None
        return data, root
    if not data.exists():
        raise UserError(f"--data {data}: no such folder; pass a dataset root (with {split}/) or a split folder")
    raise UserError(
        f"--data {data}: no {split}/{METADATA_FILE} and no {METADATA_FILE}; pass a dataset root built "
        "by `hrm data ...` (or the reference's builders) or one of its split folders"
    )


def head_of_split(split: PuzzleSplit, max_examples: int) -> PuzzleSplit:
    """The first whole puzzles of ``split`` holding at most ``max_examples`` examples (for quick evaluations)."""
    arrays = {}
    for name, a in split.arrays.items():
        pidx, gidx = a["puzzle_indices"], a["group_indices"]
        num_puzzles = max(1, int(np.searchsorted(pidx, max_examples, side="right")) - 1)
        num_puzzles = min(num_puzzles, len(pidx) - 1)
        num_examples = int(pidx[num_puzzles])
        groups = gidx[gidx <= num_puzzles]
        if groups[-1] != num_puzzles:
            groups = np.append(groups, num_puzzles).astype(gidx.dtype)
        arrays[name] = {
            "inputs": a["inputs"][:num_examples],
            "labels": a["labels"][:num_examples],
            "puzzle_identifiers": a["puzzle_identifiers"][:num_puzzles],
            "puzzle_indices": pidx[: num_puzzles + 1],
            "group_indices": groups,
        }
    return PuzzleSplit(path=split.path, metadata=split.metadata, arrays=arrays)
