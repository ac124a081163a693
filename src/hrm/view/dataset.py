"""The page of a dataset root or one split folder: metadata, build record, and a window of examples (selected by
identifier name or to the originals) with their augmentation."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from hrm.data.format import IDENTIFIERS_FILE, METADATA_FILE, PuzzleSplit, load_identifiers, load_split
from hrm.errors import UserError
from hrm.view.grids import display_grid, encode_cells, grid_style
from hrm.view.page_kind import split_dirs


def _identifier_names(root: Path | None) -> list[str] | None:
    if root is not None and (root / IDENTIFIERS_FILE).is_file():
        return load_identifiers(root)
    return None


def _dataset_kind(root: Path | None, split: PuzzleSplit) -> str:
    """``sudoku`` | ``maze`` | ``arc`` | ``custom`` recorded in build.json, else guessed from the shapes, else
    ``puzzles`` (drawn as token grids), as ``hrm evaluate`` names it."""
    from hrm.data.kind import dataset_kind

    return dataset_kind(root, split.metadata) or "puzzles"


def dataset_page(
    path: Path, *, limit: int, start: int, match: str | None = None, originals: bool = False
) -> dict[str, Any]:
    if (path / METADATA_FILE).is_file():
        split_paths = {path.name: path}
        root = path.parent if (path.parent / IDENTIFIERS_FILE).is_file() else None
    else:
        split_paths = {name: path / name for name in split_dirs(path)}
        root = path
    splits = {name: load_split(p) for name, p in split_paths.items()}
    first = next(iter(splits.values()))
    names = _identifier_names(root)
    kind = _dataset_kind(root, first)
    meta = first.metadata
    style = grid_style(kind, meta.vocab_size, meta.seq_len, root)
    build = None
    if root is not None and (root / "build.json").is_file():
        with contextlib.suppress(OSError, json.JSONDecodeError):
            build = json.loads((root / "build.json").read_text(encoding="utf-8"))
    out_splits = []
    notes = []
    for name, split in splits.items():
        items, total = _dataset_items(split, kind, style, names, start, limit, match, originals)
        out_splits.append(
            {
                "name": name,
                "examples": split.num_examples,
                "puzzles": split.num_puzzles,
                "groups": split.num_groups,
                "start": start,
                "items": items,
                "total": total,
            }
        )
        if start >= total and total:
            what = "selected examples" if (match or originals) else "examples"
            notes.append(f"{name}: --start {start} is past its {total:,} {what}; nothing embedded")
        if not total and (match or originals):
            notes.append(f"{name}: no example matches the selection")
    return {
        "title": f"{kind} dataset {path.name}",
        "data_kind": kind,
        "grid": style,
        "metadata": meta.to_dict(),
        "build": build,
        "splits": out_splits,
        "limit": limit,
        "selection": {"match": match, "originals": originals} if (match or originals) else None,
        "notes": notes,
    }


def _selected_examples(
    arrays: dict[str, np.ndarray], kind: str, names: list[str] | None, match: str | None, originals: bool
) -> np.ndarray:
    """Indices of one set's examples whose puzzle passes ``--match`` (identifier name contains the text, any case)
    and ``--originals`` (not an augmented version), over the whole set; vectorised per distinct identifier."""
    pidx, gidx, pids = arrays["puzzle_indices"], arrays["group_indices"], arrays["puzzle_identifiers"]
    num_puzzles = int(pids.shape[0])
    keep = np.ones(num_puzzles, dtype=bool)
    unique, inverse = np.unique(pids, return_inverse=True)
    name_of = [names[p] if names is not None and 0 <= p < len(names) else "" for p in unique.tolist()]
    if originals:
        if kind == "arc" and names is not None:
            keep &= np.array([not _augmentation(kind, n, 0)["aug"] for n in name_of], dtype=bool)[inverse]
        else:  # the original is the first puzzle of its group
            group_start = np.repeat(gidx[:-1], np.diff(gidx))
            keep &= np.arange(num_puzzles) == group_start
    if match:
        if names is None:
            raise UserError(f"--match {match!r}: this dataset has no {IDENTIFIERS_FILE}, so puzzles have no names")
        text = match.lower()
        keep &= np.array([text in n.lower() for n in name_of], dtype=bool)[inverse]
    starts, lengths = pidx[:-1][keep].astype(np.int64), np.diff(pidx)[keep].astype(np.int64)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) - first + np.repeat(starts, lengths)


def _dataset_items(
    split: PuzzleSplit,
    kind: str,
    style: dict[str, Any],
    names: list[str] | None,
    start: int,
    limit: int,
    match: str | None = None,
    originals: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """Examples ``start .. start+limit`` of a split (its sets in order; only those selected by ``match`` and
    ``originals`` when given) with puzzle, group and identifier; and how many there are in all."""
    items: list[dict[str, Any]] = []
    offset, seen = 0, 0
    for set_name in split.metadata.sets:
        arrays = split.set(set_name)
        n = int(arrays["inputs"].shape[0])
        if match or originals:
            chosen = _selected_examples(arrays, kind, names, match, originals)
        else:
            chosen = np.arange(n, dtype=np.int64)
        window = chosen[max(start - seen, 0) : max(start + limit - seen, 0)]
        seen += int(chosen.shape[0])
        if window.size:
            puzzle_of = np.searchsorted(arrays["puzzle_indices"], window, side="right") - 1
            group_of = np.searchsorted(arrays["group_indices"], puzzle_of, side="right") - 1
            inputs = np.asarray(arrays["inputs"][window])  # reads only these rows of the memory map
            labels = np.asarray(arrays["labels"][window])
            for j, e in enumerate(window.tolist()):
                p, g = int(puzzle_of[j]), int(group_of[j])
                pid = int(arrays["puzzle_identifiers"][p])
                name = names[pid] if names is not None and 0 <= pid < len(names) else ""
                variant = p - int(arrays["group_indices"][g])
                items.append(
                    {
                        "i": offset + e,
                        "p": p,
                        "g": g,
                        "k": variant,
                        "pid": pid,
                        "name": name,
                        "set": set_name,
                        **_augmentation(kind, name, variant),
                        "in": encode_cells(display_grid(style, inputs[j])),
                        "out": encode_cells(display_grid(style, labels[j])),
                    }
                )
        offset += n
    return items, seen


def _augmentation(kind: str, name: str, variant: int) -> dict[str, Any]:
    """Whether an example is an augmented version: ARC from its identifier name, others by its place in its group
    (hrm's and the reference's builders put the original first)."""
    if kind == "arc" and name:
        from hrm.data.arc import parse_variant_name

        task, tid, cmap = parse_variant_name(name)
        aug = task != name
        return {
            "task": task,
            "aug": aug,
            "augdesc": f"dihedral t{tid}, colours {''.join(map(str, cmap))}" if aug else "",
        }
    return {"task": "", "aug": variant > 0, "augdesc": f"variant {variant} of its group" if variant > 0 else ""}
