"""Shared machinery of the dataset builders: atomic output folders, streamed .npy writing, progress, summaries.

* :func:`atomic_output_dir` builds into ``.<name>.partial-XXXX`` beside the target and renames it into place only
  when everything is written, so an interrupted build leaves nothing that looks like a dataset.
* :class:`NpyStreamWriter` appends rows to a ``.npy`` file and fixes the header at the end; the bytes equal
  ``np.save`` of the whole array, while memory stays bounded (ARC with 1000 augmentations is ~7 GB on disk).
* :class:`SplitWriter` streams one split (puzzles, groups, examples) to disk in the reference format.
* :class:`BuildSummary` is written to ``<root>/build.json`` (deterministic: no times, no absolute paths) and
  printed by the CLI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm.data.format import (
    FIELDS,
    DatasetMetadata,
    save_npy,
    sequence_dtype,
    write_identifiers,
    write_metadata,
)
from hrm.errors import UserError
from hrm.runtime.files import atomic_write

BUILD_FILE = "build.json"
FORMAT_VERSION = 1


def is_built_dataset(path: Path | str) -> bool:
    """Whether ``path`` is a dataset folder this tool wrote (it holds our ``build.json``)."""
    try:
        data = json.loads((Path(path) / BUILD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("format_version"), int) and isinstance(data.get("kind"), str)


def check_output_target(target: Path | str, force: bool) -> None:
    """Refuse to build over anything but a dataset we wrote (with ``force``) or nothing; called up front by the
    builders (before the long work) and again by :func:`atomic_output_dir`."""
    target = Path(target)
    cwd = Path.cwd().resolve()
    resolved = target.resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise UserError(f"--out {target}: is the current folder (or holds it); give a new folder, e.g. {target}/data")
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise UserError(f"--out {target}: exists and is not a folder; remove it or choose another --out")
    if not force:
        raise UserError(f"--out {target}: already exists; pass --force to replace it or choose another --out")
    if any(target.iterdir()) and not is_built_dataset(target):
        raise UserError(
            f"--out {target}: --force replaces only a dataset built by `hrm data` (with {BUILD_FILE}), and this "
            "folder is not one; remove it yourself or choose another --out"
        )


_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[^/]*$")


def host_tag() -> str:
    """8 hex digits naming this machine: a PID only means something on the machine that issued it, so partial
    folders on a shared file system are cleaned only by a build on the same machine."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def clean_stale_partials(target: Path) -> list[Path]:
    """Remove ``.<name>.partial-HOST-PID-*`` / ``.<name>.old-HOST-PID-*`` folders beside ``target`` whose process
    (on this machine) is gone.

    A build killed with SIGKILL cannot clean up after itself; the next build of the same ``--out`` does. Folders of
    a build still running (its PID is alive on this machine) are left alone.
    """
    parent = target.parent if str(target.parent) else Path(".")
    removed: list[Path] = []
    try:
        children = list(parent.iterdir())
    except OSError:
        return removed
    for child in children:
        match = _PARTIAL.match(child.name)
        if match is None or match.group("name") != target.name or not child.is_dir():
            continue
        if match.group("host") != host_tag():
            continue  # another machine's build: its PID cannot be checked from here
        if _process_alive(int(match.group("pid"))):
            continue
        shutil.rmtree(child, ignore_errors=True)
        removed.append(child)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        # os.kill(pid, 0) is no liveness probe on Windows (signal 0 is CTRL_C_EVENT: it would interrupt the
        # console's processes). Without one, another build's folder is kept: clutter beside --out, never a loss.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's live process (or a PID we cannot ask about): keep its folder
    return True


@contextlib.contextmanager
def atomic_output_dir(target: Path | str, force: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on success rename it to ``target``.

    If ``target`` exists the build fails up front with a UserError unless ``force`` and ``target`` is a dataset
    this tool built (its ``build.json``) or an empty folder; the old folder is replaced only after the new one is
    complete. On any exception (including Ctrl-C) the temporary folder is removed; folders left by a build that was
    killed outright (``.<name>.partial-HOST-PID-*``) are removed by the next build of the same target.
    """
    target = Path(target)
    check_output_target(target, force)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {target}: cannot create the folder {parent} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {target}: the folder {parent} is not writable; choose a path you can write")
    clean_stale_partials(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{host_tag()}-{os.getpid()}-", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the dataset should not be
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{host_tag()}-{os.getpid()}-", dir=parent))
            os.replace(target, old / "d")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class NpyStreamWriter:
    """Write a 2-D (or 1-D) array row-chunk by row-chunk into a ``.npy`` file.

    The header is written first for zero rows, then rewritten with the final row count. numpy reserves room in
    the header for the growing axis, so the header length never changes and the file is byte-identical to
    ``np.save`` of the concatenated array.
    """

    def __init__(self, path: Path | str, dtype: np.dtype | type, row_shape: tuple[int, ...] = ()):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(int(x) for x in row_shape)
        self.rows = 0
        self._f = open(self.path, "wb")
        self._write_header()
        self._header_len = self._f.tell()

    def _write_header(self) -> None:
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.rows, *self.row_shape),
        }
        np.lib.format.write_array_header_1_0(self._f, header)

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape[1:]}, expected {self.row_shape}")
        if rows.dtype != self.dtype:
            rows = rows.astype(self.dtype)
        self._f.write(np.ascontiguousarray(rows).tobytes())
        self.rows += int(rows.shape[0])

    def close(self) -> None:
        if self._f.closed:
            return
        self._f.seek(0)
        self._write_header()
        if self._f.tell() != self._header_len:  # numpy pads the header for up to 21-digit row counts
            self._f.close()
            raise RuntimeError(f"{self.path}: .npy header changed length while streaming")
        self._f.close()


class SplitWriter:
    """Stream one split (set "all") to disk: examples, then puzzles (CSR), then groups (CSR).

    Call :meth:`add_puzzle` for each puzzle of the current group, :meth:`end_group` after each group, then
    :meth:`finish` with the metadata fields the builder knows (vocab, seq_len, ids ...).
    """

    def __init__(self, split_dir: Path, seq_len: int, vocab_size: int, set_name: str = "all"):
        self.split_dir = Path(split_dir)
        self.split_dir.mkdir(parents=True, exist_ok=True)
        self.seq_len = int(seq_len)
        self.vocab_size = int(vocab_size)
        self.set_name = set_name
        dtype = sequence_dtype(vocab_size)
        self._inputs = NpyStreamWriter(self.split_dir / f"{set_name}__inputs.npy", dtype, (self.seq_len,))
        self._labels = NpyStreamWriter(self.split_dir / f"{set_name}__labels.npy", dtype, (self.seq_len,))
        self._puzzle_ids: list[np.ndarray] = []
        self._puzzle_sizes: list[np.ndarray] = []
        self._group_sizes: list[int] = []
        self._current_group = 0
        self.num_examples = 0

    def add_puzzles(
        self,
        inputs: np.ndarray,
        labels: np.ndarray,
        puzzle_sizes: np.ndarray | list[int],
        puzzle_identifiers: np.ndarray | list[int],
    ) -> None:
        """Append several puzzles of the current group at once; ``puzzle_sizes`` are their example counts."""
        sizes = np.asarray(puzzle_sizes, dtype=np.int64)
        ids = np.asarray(puzzle_identifiers, dtype=np.int32)
        if sizes.shape != ids.shape or int(sizes.sum()) != inputs.shape[0] or inputs.shape != labels.shape:
            raise ValueError("inconsistent puzzle batch")
        if np.any(sizes <= 0):
            raise ValueError("every puzzle needs at least one example")
        self._inputs.append(inputs)
        self._labels.append(labels)
        self._puzzle_sizes.append(sizes)
        self._puzzle_ids.append(ids)
        self._current_group += int(sizes.shape[0])
        self.num_examples += int(inputs.shape[0])

    def add_puzzle(self, inputs: np.ndarray, labels: np.ndarray, puzzle_identifier: int = 0) -> None:
        inputs = np.asarray(inputs).reshape(-1, self.seq_len)
        self.add_puzzles(inputs, np.asarray(labels).reshape(-1, self.seq_len), [inputs.shape[0]], [puzzle_identifier])

    def end_group(self) -> None:
        if self._current_group == 0:
            raise ValueError("empty group")
        self._group_sizes.append(self._current_group)
        self._current_group = 0

    def add_single_example_groups(self, inputs: np.ndarray, labels: np.ndarray, puzzles_per_group: int) -> None:
        """Fast path for Sudoku/Maze: consecutive groups of ``puzzles_per_group`` one-example puzzles, ID 0."""
        if self._current_group:
            raise ValueError("close the current group first")
        n = int(inputs.shape[0])
        if n % puzzles_per_group:
            raise ValueError("rows are not a whole number of groups")
        self._inputs.append(inputs)
        self._labels.append(labels)
        self._puzzle_sizes.append(np.ones(n, dtype=np.int64))
        self._puzzle_ids.append(np.zeros(n, dtype=np.int32))
        self._group_sizes.extend([puzzles_per_group] * (n // puzzles_per_group))
        self.num_examples += n

    @property
    def num_puzzles(self) -> int:
        return int(sum(s.shape[0] for s in self._puzzle_sizes))

    @property
    def num_groups(self) -> int:
        return len(self._group_sizes)

    def finish(
        self, *, pad_id: int, ignore_label_id: int | None, blank_identifier_id: int, num_puzzle_identifiers: int
    ) -> DatasetMetadata:
        if self._current_group:
            raise ValueError("the last group was not closed")
        self._inputs.close()
        self._labels.close()
        sizes = np.concatenate(self._puzzle_sizes) if self._puzzle_sizes else np.zeros(0, np.int64)
        ids = np.concatenate(self._puzzle_ids) if self._puzzle_ids else np.zeros(0, np.int32)
        if self.num_examples > np.iinfo(np.int32).max:
            raise UserError(f"{self.split_dir}: {self.num_examples} examples overflow the format's int32 indices")
        puzzle_indices = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
        group_indices = np.concatenate([[0], np.cumsum(np.asarray(self._group_sizes, np.int64))]).astype(np.int32)
        s = self.set_name
        save_npy(self.split_dir / f"{s}__puzzle_identifiers.npy", ids.astype(np.int32))
        save_npy(self.split_dir / f"{s}__puzzle_indices.npy", puzzle_indices)
        save_npy(self.split_dir / f"{s}__group_indices.npy", group_indices)
        num_puzzles = int(ids.shape[0])
        metadata = DatasetMetadata(
            pad_id=pad_id,
            ignore_label_id=ignore_label_id,
            blank_identifier_id=blank_identifier_id,
            vocab_size=self.vocab_size,
            seq_len=self.seq_len,
            num_puzzle_identifiers=num_puzzle_identifiers,
            total_groups=len(self._group_sizes),
            mean_puzzle_examples=(self.num_examples / num_puzzles) if num_puzzles else 0.0,
            sets=[s],
        )
        write_metadata(self.split_dir, metadata)
        return metadata

    def abort(self) -> None:
        self._inputs.close()
        self._labels.close()


# ----------------------------------------------------------------------------------------------------------------
# Progress and summaries


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    enabled: bool = True,
    unit: str = "it",
):
    """A tqdm bar on stderr (hidden when ``enabled`` is false or stderr is not a terminal)."""
    from tqdm import tqdm

    disable = (not enabled) or not _stderr_is_tty()
    return tqdm(
        iterable, total=total, desc=desc, disable=disable, file=sys.stderr, unit=unit, leave=False, dynamic_ncols=True
    )


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class SplitSummary:
    groups: int
    puzzles: int
    examples: int

    def to_dict(self) -> dict:
        return {"groups": self.groups, "puzzles": self.puzzles, "examples": self.examples}


@dataclass
class BuildSummary:
    """What a build produced; saved as ``<root>/build.json`` and printed at the end of a build."""

    kind: str
    seed: int
    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    splits: dict[str, SplitSummary]
    options: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "seed": self.seed,
            "seq_len": self.seq_len,
            "vocab_size": self.vocab_size,
            "num_puzzle_identifiers": self.num_puzzle_identifiers,
            "splits": {k: v.to_dict() for k, v in self.splits.items()},
            "options": self.options,
            "sources": self.sources,
            "stats": self.stats,
        }

    def write(self, root: Path) -> None:
        with atomic_write(Path(root) / BUILD_FILE) as f:
            json.dump(self.to_dict(), f, indent=1)  # insertion order: deterministic and readable
            f.write("\n")

    @classmethod
    def read(cls, root: Path | str) -> BuildSummary:
        path = Path(root) / BUILD_FILE
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: not found (datasets built by the reference have no build.json)") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        return cls(
            kind=d["kind"],
            seed=d["seed"],
            seq_len=d["seq_len"],
            vocab_size=d["vocab_size"],
            num_puzzle_identifiers=d["num_puzzle_identifiers"],
            splits={k: SplitSummary(**v) for k, v in d["splits"].items()},
            options=d.get("options", {}),
            sources=d.get("sources", []),
            stats=d.get("stats", {}),
        )

    def format(self, path: Path | str | None = None) -> str:
        lines = [f"{self.kind} dataset" + (f" -> {path}" if path is not None else "")]
        lines.append(
            f"  seq_len {self.seq_len}, vocab {self.vocab_size}, "
            f"puzzle identifiers {self.num_puzzle_identifiers}, seed {self.seed}"
        )
        order = sorted(self.splits, key=lambda k: (k not in ("train", "test"), k != "train", k))
        for name in order:
            s = self.splits[name]
            lines.append(f"  {name:<5}: {s.groups:>9,} groups  {s.puzzles:>10,} puzzles  {s.examples:>10,} examples")
        for key, value in self.stats.items():
            lines.append(f"  {key}: {_fmt(value)}")
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_record(path: Path | str, role: str) -> dict[str, Any]:
    """Provenance of one input file (name and SHA-256; no absolute path, so rebuilds elsewhere are identical)."""
    p = Path(path)
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(p.rglob("*.json")):
            h.update(str(f.relative_to(p)).encode())
            h.update(file_sha256(f).encode())
        return {"role": role, "name": p.name, "sha256": h.hexdigest(), "kind": "directory"}
    return {"role": role, "name": p.name, "sha256": file_sha256(p)}


def finish_root(root: Path, identifiers: list[str], summary: BuildSummary) -> None:
    write_identifiers(root, identifiers)
    summary.write(root)


__all__ = [
    "BUILD_FILE",
    "FIELDS",
    "BuildSummary",
    "NpyStreamWriter",
    "SplitSummary",
    "SplitWriter",
    "atomic_output_dir",
    "file_sha256",
    "finish_root",
    "progress",
    "source_record",
]
