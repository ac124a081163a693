"""``hrm view``: datasets, evaluations, runs and comparisons as one self-contained HTML page.

:func:`build_page` reads PATH and returns the page's data (plain JSON-able dicts); :func:`render_html` puts that
data into ``view_template.html`` (inline CSS and JavaScript, no network); :func:`write_html` writes it atomically;
:func:`serve_html` serves it on 127.0.0.1. PATH is one of four kinds, tried in this order:

* **comparison**: a folder with ``records.jsonl`` (the comparison lab of ``hrm compare``; see
  :data:`COMPARE_RECORDS`): its records as a table, ``summary.csv`` / ``summary.md`` and every PNG plot;
* **run**: a folder with ``train_config.json`` or ``metrics.jsonl`` (``hrm train``): curves, config, checkpoints;
* **evaluation**: a folder with ``eval.json`` and/or ``segment_predictions.npz`` (``hrm evaluate --out DIR
  [--save-predictions N]``), or that ``.npz`` itself: metrics, per-puzzle segments with Q values, ARC votes;
* **dataset**: a dataset root (split folders with ``dataset.json``) or one split folder.

Large inputs stay fast: at most ``limit`` examples per split (puzzles of an evaluation, tasks of ARC voting) are
embedded, starting at ``start``, and the page says how many of how many it shows; the page itself pages through
them. Grids are embedded compactly (one character per cell) and drawn by the page as CSS grids.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import html
import http.server
import json
import math
import os
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hrm._version import __version__
from hrm.checkpoints.format import MODEL_FILE
from hrm.data.format import IDENTIFIERS_FILE, METADATA_FILE, PuzzleSplit, load_identifiers, load_split
from hrm.errors import UserError
from hrm.runtime.logging import METRICS_JSONL, read_metrics

KINDS = ("dataset", "evaluation", "run", "comparison")
DEFAULT_LIMIT = 500
TEMPLATE = "view_template.html"
DATA_MARK = "/*__HRM_VIEW_DATA__*/"
TITLE_MARK = "__HRM_VIEW_TITLE__"

# A run directory's config (the name hrm.training.run_dir writes; analysis does not import training).
TRAIN_CONFIG_FILE = "train_config.json"
# Files of an evaluation output (hrm.evaluation.report / segment_trace).
EVAL_FILE = "eval.json"
ARC_DETAILS_FILE = "arc_candidates.json"
SCALING_PLOT = "scaling.png"
# The comparison lab's directory (issue 12, `hrm compare`): one JSON record per cell in records.jsonl (the marker),
# a summary table as summary.csv and/or summary.md, and PNG plots in the folder or its plots/ subfolder.
COMPARE_RECORDS = "records.jsonl"
COMPARE_SUMMARY_CSV = "summary.csv"
COMPARE_SUMMARY_MD = "summary.md"

MAX_IMAGE_BYTES = 4 << 20
MAX_IMAGES = 24
MAX_TRAIN_POINTS = 1500
ARC_TOP_CANDIDATES = 5


# ---------------------------------------------------------------------------------------------------------------
# What PATH is


def detect_kind(path: Path) -> str:
    """``dataset`` | ``evaluation`` | ``run`` | ``comparison``; UserError naming the four when it is none."""
    from hrm.evaluation.segment_trace import SEGMENTS_FILE

    if path.is_file():
        if path.suffix == ".npz":
            return "evaluation"
        if path.name == EVAL_FILE:
            return "evaluation"
    elif path.is_dir():
        if (path / COMPARE_RECORDS).is_file():
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
        if (path / METADATA_FILE).is_file() or _split_dirs(path):
            return "dataset"
    else:
        raise UserError(f"{path}: no such file or folder")
    raise UserError(
        f"{path}: not a dataset (split folders with {METADATA_FILE}), a run ({TRAIN_CONFIG_FILE}), an evaluation "
        f"({EVAL_FILE} or {SEGMENTS_FILE} from `hrm evaluate --out DIR`) or a comparison ({COMPARE_RECORDS}); "
        "pass one of those"
    )


def _split_dirs(root: Path) -> list[str]:
    """Split folders of a dataset root, train and test first."""
    names = [
        p.name
        for p in root.iterdir()
        # a checkpoint folder keeps a copy of its dataset's dataset.json: it is not a split
        if p.is_dir() and (p / METADATA_FILE).is_file() and not (p / MODEL_FILE).is_file()
    ]
    return sorted(names, key=lambda n: (n not in ("train", "test"), n != "train", n))


def build_page(
    path: str | os.PathLike,
    *,
    limit: int = DEFAULT_LIMIT,
    start: int = 0,
    match: str | None = None,
    originals: bool = False,
) -> dict[str, Any]:
    """The page data for PATH (see the module docstring); UserError on anything unreadable.

    ``match`` and ``originals`` select a dataset's examples before the ``start``/``limit`` window: only puzzles
    whose identifier name contains ``match`` (any case), only originals (no augmented versions)."""
    if limit < 1:
        raise UserError(f"--limit {limit}: must be >= 1")
    if start < 0:
        raise UserError(f"--start {start}: must be >= 0")
    path = Path(path)
    kind = detect_kind(path)
    builders: dict[str, Callable[..., dict[str, Any]]] = {
        "dataset": dataset_page,
        "evaluation": evaluation_page,
        "run": run_page,
        "comparison": comparison_page,
    }
    if (match or originals) and kind != "dataset":
        raise UserError(f"--match and --originals select dataset examples; {path} is a {kind}")
    extra = {"match": match, "originals": originals} if kind == "dataset" else {}
    page = builders[kind](path, limit=limit, start=start, **extra)
    page.setdefault("notes", [])
    return {"kind": kind, "source": str(path), "version": _version(), **page}


def _version() -> str:
    return __version__


# ---------------------------------------------------------------------------------------------------------------
# Grids: tokens -> what is drawn


def encode_cells(grid: np.ndarray) -> dict[str, Any]:
    """A 2-D grid as ``{"h", "w", "v"}``; ``v`` is one character chr(48 + value) per cell when every value is in
    0..78 (compact, printable), else a list of ints."""
    g = np.asarray(grid)
    if g.ndim != 2:
        raise ValueError(f"expected a 2-D grid, got shape {g.shape}")
    flat = g.reshape(-1).astype(np.int64)
    if flat.size == 0 or (flat.min() >= 0 and flat.max() <= 78):
        v: Any = (flat + 48).astype(np.uint8).tobytes().decode("ascii")
    else:
        v = flat.tolist()
    return {"h": int(g.shape[0]), "w": int(g.shape[1]), "v": v}


def grid_style(kind: str, vocab_size: int, seq_len: int, root: Path | None) -> dict[str, Any]:
    """How the page draws this data's grids: ``arc`` (10 colours), ``sudoku`` (digits, boxes), ``maze``, or
    ``tokens`` (token ids, or the characters of a custom dataset's alphabet)."""
    from hrm.data.sudoku import board_side

    if kind == "arc":
        from hrm.data.arc import ARC_PALETTE

        return {"style": "arc", "palette": list(ARC_PALETTE)}
    n = board_side(vocab_size, seq_len)
    if kind == "sudoku" and n is not None:
        from hrm.data.sudoku import box_shape

        return {"style": "sudoku", "n": n, "box": list(box_shape(n))}
    side = math.isqrt(seq_len)
    if kind == "maze" and side * side == seq_len:
        return {"style": "maze", "n": side}
    alphabet = None
    if root is not None and (root / "custom.json").is_file():
        from hrm.data.custom import load_codec

        alphabet = load_codec(root).alphabet
    width = side if side * side == seq_len else min(seq_len, 32)
    return {"style": "tokens", "width": width, "alphabet": alphabet}


def _bbox_crop(tokens: np.ndarray) -> np.ndarray:
    """An ARC canvas → the colours (0..9) of the bounding box of its colour tokens (works for translated grids)."""
    from hrm.data.arc import COLOUR_OFFSET, MAX_GRID

    t = np.asarray(tokens).reshape(MAX_GRID, MAX_GRID).astype(np.int64)
    colour = (t >= COLOUR_OFFSET) & (t < COLOUR_OFFSET + 10)
    if not colour.any():
        return np.zeros((0, 0), np.int64)
    rows, cols = np.flatnonzero(colour.any(1)), np.flatnonzero(colour.any(0))
    crop = t[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] - COLOUR_OFFSET
    return np.clip(crop, 0, 9)


def display_grid(style: dict[str, Any], tokens: np.ndarray) -> np.ndarray:
    """Tokens of one row → the 2-D grid the page draws (ARC colours, Sudoku digits, maze or raw tokens)."""
    t = np.asarray(tokens).reshape(-1).astype(np.int64)
    s = style["style"]
    if s == "arc":
        return _bbox_crop(np.where(t < 0, 0, t))
    if s == "sudoku":
        n = style["n"]
        d = t - 1
        return np.where((d < 0) | (d > n), 0, d).reshape(n, n)
    if s == "maze":
        return np.where(t < 0, 0, t).reshape(style["n"], style["n"])
    w = style["width"]
    t = np.where(t < 0, 0, t)
    rows = -(-t.size // w)
    return np.pad(t, (0, rows * w - t.size)).reshape(rows, w)


# ---------------------------------------------------------------------------------------------------------------
# Dataset


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
        split_paths = {name: path / name for name in _split_dirs(path)}
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


# ---------------------------------------------------------------------------------------------------------------
# Evaluation


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc}); {what}") from None


def _png_data_uri(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(b"\x89PNG") or len(data) > MAX_IMAGE_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def evaluation_page(path: Path, *, limit: int, start: int) -> dict[str, Any]:
    from hrm.evaluation.segment_trace import SEGMENTS_FILE, load_segment_predictions

    folder = path if path.is_dir() else path.parent
    npz = path if path.is_file() and path.suffix == ".npz" else folder / SEGMENTS_FILE
    report = None
    if (folder / EVAL_FILE).is_file():
        report = _read_json(folder / EVAL_FILE, "re-run `hrm evaluate --out DIR`")
        if not isinstance(report, dict) or not isinstance(report.get("results"), list):
            raise UserError(f"{folder / EVAL_FILE}: no 'results' list; not written by `hrm evaluate --out DIR`")
    notes: list[str] = list(report.get("notes", [])) if report else []
    page: dict[str, Any] = {
        "title": f"evaluation {folder.name}",
        "report": _summarise_report(report) if report else None,
        "puzzles": None,
        "arc": None,
        "plots": [],
        "limit": limit,
    }
    plot = _png_data_uri(folder / SCALING_PLOT) if (folder / SCALING_PLOT).is_file() else None
    if plot:
        page["plots"].append({"name": SCALING_PLOT, "src": plot})
    if npz.is_file():
        meta, arrays = load_segment_predictions(npz)
        page["puzzles"] = _evaluation_puzzles(meta, arrays, start, limit)
        page["grid"] = page["puzzles"].pop("grid")
    else:
        notes.append(
            f"no {SEGMENTS_FILE}: per-puzzle segments are not shown; re-run `hrm evaluate ... --out DIR "
            "--save-predictions N` to record them"
        )
    if (folder / ARC_DETAILS_FILE).is_file():
        details = _read_json(folder / ARC_DETAILS_FILE, "re-run `hrm evaluate --out DIR`")
        try:
            page["arc"] = _arc_votes(details, report, start, limit)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{folder / ARC_DETAILS_FILE}: unexpected content ({type(exc).__name__}: {exc}); "
                "re-run `hrm evaluate --out DIR`"
            ) from None
    page["notes"] = notes
    return page


def _summarise_report(report: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for r in report["results"]:
        if not isinstance(r, dict):
            continue
        rows.append(
            {
                "M": r.get("max_segments"),
                "exact": r.get("exact_accuracy"),
                "token": r.get("token_accuracy"),
                "q_halt": r.get("q_halt_accuracy"),
                "segments": r.get("mean_segments"),
                "valid": r.get("valid_solution_rate"),
                "pass_at": (r.get("arc") or {}).get("pass_at"),
                "histogram": r.get("halting_histogram"),
                "count": r.get("count"),
                "early_exit": r.get("early_exit"),
                "breakdown": r.get("breakdown") if isinstance(r.get("breakdown"), dict) else None,
            }
        )
    return {
        "checkpoint": report.get("checkpoint"),
        "data": report.get("data"),
        "kind": report.get("kind"),
        "num_rows": report.get("num_rows"),
        "seconds": report.get("seconds"),
        "rows": rows,
    }


def _evaluation_puzzles(meta: dict[str, Any], arrays: dict[str, np.ndarray], start: int, limit: int) -> dict:
    from hrm.data.arc import decode_grid

    kind = str(meta.get("kind", "puzzles"))
    vocab, seq_len = int(meta.get("vocab_size", 0)), int(arrays["inputs"].shape[1])
    root = _existing_root(meta.get("source"))
    style = grid_style(kind, vocab, seq_len, root)
    n, m = arrays["q_halt_logits"].shape
    early_exit = bool(meta.get("early_exit", False))
    names = meta.get("names") or [""] * n
    items = []
    for r in range(start, min(start + limit, n)):
        labels = arrays["labels"][r].astype(np.int64)
        mask = labels >= 0
        expected = display_grid(style, labels)
        qh, qc = arrays["q_halt_logits"][r], arrays["q_continue_logits"][r]
        halts = np.flatnonzero(qh > qc)
        halt = int(halts[0]) + 1 if halts.size else None
        used = halt if (early_exit and halt is not None) else m
        segs = []
        for s in range(m):
            pred = arrays["predictions"][r, s].astype(np.int64)
            ok = bool(mask.any() and np.all(pred[mask] == labels[mask]))
            if style["style"] == "arc":
                grid = decode_grid(pred).astype(np.int64)
                wrong = _arc_wrong(grid, expected)
            else:
                grid = display_grid(style, pred)
                wrong = np.flatnonzero(mask & (pred != labels)).tolist()  # one drawn cell per token
            segs.append(
                {
                    "g": encode_cells(grid),
                    "x": wrong,
                    "ok": ok,
                    "qh": round(float(qh[s]), 4),
                    "qc": round(float(qc[s]), 4),
                }
            )
        items.append(
            {
                "i": int(arrays["index"][r]),
                "pid": int(arrays["puzzle_identifiers"][r]),
                "name": str(names[r]) if r < len(names) and names[r] else "",
                "in": encode_cells(display_grid(style, arrays["inputs"][r])),
                "exp": encode_cells(expected),
                "segs": segs,
                "halt": halt,
                "used": used,
                "ok": segs[used - 1]["ok"],
            }
        )
    return {
        "grid": style,
        "kind": kind,
        "checkpoint": meta.get("checkpoint"),
        "source": meta.get("source"),
        "early_exit": early_exit,
        "num_segments": m,
        "total": n,
        "start": start,
        "items": items,
    }


def _rounded(value: Any) -> float | None:
    """A Q logit for the page: None when the model has no halting head (NaN in the file)."""
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def _existing_root(source: Any) -> Path | None:
    """The dataset root of a recorded split folder, when it still exists (for a custom dataset's alphabet)."""
    if not isinstance(source, str) or not source:
        return None
    p = Path(source)
    for candidate in (p, p.parent):
        if (candidate / IDENTIFIERS_FILE).is_file():
            return candidate
    return None


def _arc_wrong(pred: np.ndarray, expected: np.ndarray) -> list[int]:
    """Flat indices of predicted cells that differ from the expected grid (or lie outside its shape)."""
    h, w = pred.shape
    eh, ew = expected.shape
    wrong = np.ones((h, w), dtype=bool)
    ch, cw = min(h, eh), min(w, ew)
    wrong[:ch, :cw] = pred[:ch, :cw] != expected[:ch, :cw]
    return np.flatnonzero(wrong).tolist()


def _arc_votes(details: Any, report: dict[str, Any] | None, start: int, limit: int) -> dict[str, Any]:
    if not isinstance(details, dict):
        raise TypeError("expected {task: [test inputs]}")
    results = (report or {}).get("results") or [{}]
    arc = results[-1].get("arc") if isinstance(results[-1], dict) else None
    solved = arc.get("solved", {}) if isinstance(arc, dict) else {}
    ks = sorted(int(k) for k in solved) if solved else []
    tasks = []
    for task_id in list(details)[start : start + limit]:
        tests = []
        entries = details[task_id]
        if not isinstance(entries, list):
            raise TypeError(f"task {task_id}: expected a list of test inputs")
        for entry in entries:
            cands = [
                {"g": encode_cells(_grid(c["grid"])), "votes": c["votes"], "q": c["mean_q_halt"]}
                for c in entry.get("candidates", [])[:ARC_TOP_CANDIDATES]
            ]
            sol = entry.get("solution")
            tests.append(
                {
                    "rank": entry.get("solution_rank"),
                    "n": entry.get("num_candidates"),
                    "votes": entry.get("votes"),
                    "sol": encode_cells(_grid(sol)) if sol is not None else None,
                    "cands": cands,
                }
            )
        tasks.append(
            {"task": task_id, "solved": {str(k): task_id in solved.get(str(k), []) for k in ks}, "tests": tests}
        )
    return {
        "pass_at": (arc or {}).get("pass_at") if isinstance(arc, dict) else None,
        "ks": ks,
        "total": len(details),
        "start": start,
        "tasks": tasks,
    }


def _grid(rows: Any) -> np.ndarray:
    """A JSON grid (list of rows) as a 2-D array; an empty prediction is 0×0."""
    grid = np.asarray(rows, dtype=np.int64)
    return grid if grid.ndim == 2 else np.zeros((0, 0), np.int64)


# ---------------------------------------------------------------------------------------------------------------
# Run


def run_page(path: Path, *, limit: int, start: int) -> dict[str, Any]:
    from hrm.checkpoints.format import META_FILE, TRAIN_STATE_FILE
    from hrm.checkpoints.locate import BEST_FILE, list_checkpoints

    config = None
    if (path / TRAIN_CONFIG_FILE).is_file():
        config = _read_json(path / TRAIN_CONFIG_FILE, "the run's config is corrupt")
    best = _read_json(path / BEST_FILE, "the run's best record is corrupt") if (path / BEST_FILE).is_file() else None
    records = read_metrics(path)
    series: dict[str, dict[str, list]] = {}
    for split in ("train", "eval"):
        recs = [r for r in records if r.get("split") == split and isinstance(r.get("step"), (int, float))]
        if split == "train" and len(recs) > MAX_TRAIN_POINTS:
            stride = -(-len(recs) // MAX_TRAIN_POINTS)
            recs = recs[::stride] + ([recs[-1]] if (len(recs) - 1) % stride else [])
        keys = sorted({k for r in recs for k, v in r.items() if isinstance(v, (int, float)) and k != "step"})
        series[split] = {"step": [int(r["step"]) for r in recs]}
        for key in keys:
            series[split][key] = [_finite(r.get(key)) for r in recs]
    checkpoints = []
    for step, child in list_checkpoints(path):
        meta = None
        if (child / META_FILE).is_file():
            with contextlib.suppress(OSError, json.JSONDecodeError, UnicodeDecodeError):
                meta = json.loads((child / META_FILE).read_text(encoding="utf-8"))
        checkpoints.append(
            {
                "step": step,
                "bytes": sum(f.stat().st_size for f in child.iterdir() if f.is_file()),
                "resumable": (child / TRAIN_STATE_FILE).is_file(),
                "best": bool(isinstance(best, dict) and best.get("step") == step),
                "metrics": meta.get("eval") if isinstance(meta, dict) and isinstance(meta.get("eval"), dict) else None,
            }
        )
    notes = []
    if not records:
        notes.append(f"no {METRICS_JSONL} records yet: no curves")
    return {
        "title": f"run {path.name}",
        "config": config,
        "best": best,
        "series": series,
        "num_records": len(records),
        "checkpoints": checkpoints,
        "notes": notes,
    }


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Comparison lab


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[name] = value
    return out


def comparison_page(path: Path, *, limit: int, start: int) -> dict[str, Any]:
    records = []
    file = path / COMPARE_RECORDS
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{file}: cannot read ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # a torn last line from a killed cell: skipped, as metrics.jsonl
                continue
            raise UserError(
                f"{file}:{number}: not valid JSON ({exc.msg}); rebuild with `hrm compare --report`"
            ) from None
        if not isinstance(record, dict):
            raise UserError(f"{file}:{number}: expected one JSON object per cell")
        records.append(_flatten(record))
    columns: list[str] = []
    for r in records:
        columns.extend(k for k in r if k not in columns)
    summary = None
    if (path / COMPARE_SUMMARY_CSV).is_file():
        try:
            with open(path / COMPARE_SUMMARY_CSV, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UserError(f"{path / COMPARE_SUMMARY_CSV}: cannot read ({exc})") from None
        summary = {"header": rows[0] if rows else [], "rows": rows[1:]}
    markdown = None
    if (path / COMPARE_SUMMARY_MD).is_file():
        markdown = (path / COMPARE_SUMMARY_MD).read_text(encoding="utf-8", errors="replace")
    plots = []
    for png in sorted([*path.glob("*.png"), *path.glob("plots/*.png")])[:MAX_IMAGES]:
        src = _png_data_uri(png)
        if src:
            plots.append({"name": str(png.relative_to(path)), "src": src})
    shown = records[start : start + limit]
    return {
        "title": f"comparison {path.name}",
        "columns": columns,
        "records": shown,
        "total": len(records),
        "start": start,
        "summary": summary,
        "markdown": markdown,
        "plots": plots,
        "notes": [] if records else [f"{COMPARE_RECORDS} holds no records yet"],
    }


# ---------------------------------------------------------------------------------------------------------------
# HTML


def _template() -> str:
    return resources.files("hrm.analysis").joinpath(TEMPLATE).read_text(encoding="utf-8")


def _finite_json(value: Any) -> Any:
    """NaN and infinities (e.g. in an eval.json with nothing counted) as null: JavaScript's JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
    return value


def render_html(page: dict[str, Any]) -> str:
    """The self-contained page: the template with the data embedded as JSON (``<`` escaped, so no ``</script>``
    inside the data can end the script element)."""
    data = json.dumps(_finite_json(page), separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    text = _template()
    return text.replace(TITLE_MARK, html.escape(str(page.get("title", "hrm view")))).replace(DATA_MARK, data)


def write_html(text: str, out: str | os.PathLike) -> Path:
    """Write atomically (:func:`hrm.runtime.files.write_text_atomic`): never a half-written page."""
    from hrm.runtime.files import check_output_file, write_text_atomic

    out = check_output_file(out, "--out")
    try:
        return write_text_atomic(out, text)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror})") from None


class _PageHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?")[0] not in ("/", "/index.html"):
            self.send_error(404, "only / is served")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        pass  # quiet: the command prints the address once


@contextlib.contextmanager
def page_server(text: str, port: int = 0) -> Iterator[http.server.ThreadingHTTPServer]:
    """A server for the page on 127.0.0.1 only (``port`` 0: any free port), running in a background thread
    until the block exits."""
    handler = type("PageHandler", (_PageHandler,), {"body": text.encode("utf-8")})
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise UserError(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror}); pick another port") from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="hrm-view", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_html(text: str, port: int, announce: Callable[[str], None] = print) -> None:
    """Serve the page on http://127.0.0.1:PORT/ until Ctrl-C (which returns normally)."""
    with page_server(text, port) as server:
        announce(f"serving on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)")
        stop = threading.Event()  # never set: the loop ends with Ctrl-C (a short wait keeps it interruptible)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


def default_out(path: Path) -> Path:
    """``<name>.html`` in the working directory (a dataset or run folder is never written into)."""
    name = path.stem if path.is_file() else (path.resolve().name or "view")
    return Path(f"{name}.html")


__all__ = [
    "KINDS",
    "build_page",
    "default_out",
    "detect_kind",
    "display_grid",
    "encode_cells",
    "page_server",
    "render_html",
    "serve_html",
    "write_html",
]
