"""ARC: load tasks, encode grids on the 30×30 canvas, augment, build datasets, invert for evaluation (§4.5, §5.2).

Grid encoding (reference): a grid of colours 0..9 sits at the top-left of a 30×30 canvas (or at a translation
offset in the train split) as tokens colour + 2; PAD = 0 fills the rest; EOS = 1 marks the row just below the grid
(over its columns) and the column just right of it (over its rows); the diagonal corner stays PAD. vocab 12,
seq_len 900, ``ignore_label_id = 0`` (PAD unsupervised, EOS supervised).

Augmentation: each task gets up to ``num_aug`` distinct variants besides the original, each a dihedral transform
``tid`` ∈ 0..7 combined with a colour permutation that keeps black (0) fixed; at most ``retries_factor × num_aug``
candidates are drawn, and a candidate equal to the original or to an earlier variant (same multiset of
(input, output) grids over all the task's pairs) is rejected. Every variant is its own puzzle, named
``<task>_t<tid>_<10-digit colour map>`` (the original: ``<task>``), with its own puzzle identifier shared by its
train- and test-split parts. In the train split every example gets a random translation (offset limited by the
larger of its input and output) except one randomly chosen example per puzzle; the test split is untranslated.

Protocols:
  * ``transductive`` (the reference): all pairs of training tasks go to train; evaluation tasks' demonstration
    pairs go to train and their test pairs to test.
  * ``strict``: evaluation tasks are wholly held out; only their test pairs appear, in the test split.

Randomness is keyed per task (``SeedSequence([seed, hash(task id)])``), so a task's variants and identifier names
do not depend on which other tasks are in the build; identifiers are numbered in source order, tasks sorted by id.

Each build writes ``<root>/augmentations/`` so evaluation can undo every augmentation:
``tasks.json`` (id, role, source, content hash ``sha256``, variants, pair counts), ``puzzle_task.npy``
[num_identifiers] int32 (task index, -1 for the blank), ``puzzle_dihedral.npy`` uint8, ``puzzle_colour_map.npy``
uint8 [num_identifiers, 10], and ``train_offsets.npy`` uint8 [train examples, 2] (row, column translation).
:class:`ArcVariants` reads them; the names in ``identifiers.json`` also encode tid and colour map, as the
reference's evaluation expects.

Duplicates by content: two tasks with the same multiset of (input, output) pairs (:func:`task_sha256`) under
different ids are refused (``duplicates="refuse"``), kept (``"keep"``) or built once (``"drop"``); the ids alone
would not catch it (ARC-AGI-1 training ``40853293`` is evaluation ``070dd51e``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from hrm.data.augment import (
    DIHEDRAL_INVERSE,
    NUM_DIHEDRAL,
    arc_invert,
    colour_map_name,
    dihedral_shape,
    dihedral_transform,
    invert_colour_map,
    random_colour_maps,
)
from hrm.data.build import (
    BuildSummary,
    SplitSummary,
    SplitWriter,
    atomic_output_dir,
    check_output_target,
    finish_root,
    progress,
    source_record,
)
from hrm.data.format import save_npy
from hrm.errors import UserError

MAX_GRID = 30
SEQ_LEN = MAX_GRID * MAX_GRID
PAD_ID = 0
EOS_ID = 1
COLOUR_OFFSET = 2
VOCAB_SIZE = 12
AUG_DIR = "augmentations"
IDENTITY_COLOURS = np.arange(10, dtype=np.uint8)
# The standard ARC colours of 0..9 (black, blue, red, green, yellow, grey, magenta, orange, azure, maroon), as
# drawn by the ARC testing interface; used by every picture and page that shows ARC grids.
ARC_PALETTE = (
    "#000000",
    "#0074D9",
    "#FF4136",
    "#2ECC40",
    "#FFDC00",
    "#AAAAAA",
    "#F012BE",
    "#FF851B",
    "#7FDBFF",
    "#870C25",
)

Role = Literal["training", "evaluation"]
Protocol = Literal["transductive", "strict"]
Duplicates = Literal["refuse", "keep", "drop"]
PRESETS: dict[str, tuple[tuple[str, Role], ...]] = {
    # ARC-AGI-1 training + evaluation + ConceptARC corpus: the reference's ARC-1 setting (960 tasks).
    "arc-agi-1": (
        ("arc-agi-1/training.json", "training"),
        ("arc-agi-1/evaluation.json", "evaluation"),
        ("concept-arc/corpus.json", "training"),
    ),
    # ARC-AGI-2 training + evaluation: the reference's ARC-2 setting (1120 tasks).
    "arc-agi-2": (("arc-agi-2/training.json", "training"), ("arc-agi-2/evaluation.json", "evaluation")),
}


# ----------------------------------------------------------------------------------------------------------------
# Canvas encoding


def encode_grid(grid: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A grid (h, w) of colours 0..9 → 900 tokens with its top-left at ``offset`` (PAD, EOS, colour + 2)."""
    g = np.asarray(grid)
    h, w = g.shape
    r0, c0 = offset
    if not (1 <= h and 1 <= w and r0 + h <= MAX_GRID and c0 + w <= MAX_GRID):
        raise ValueError(f"grid {h}×{w} at offset {offset} does not fit the 30×30 canvas")
    canvas = np.zeros((MAX_GRID, MAX_GRID), np.uint8)
    canvas[r0 : r0 + h, c0 : c0 + w] = g + COLOUR_OFFSET
    if r0 + h < MAX_GRID:
        canvas[r0 + h, c0 : c0 + w] = EOS_ID
    if c0 + w < MAX_GRID:
        canvas[r0 : r0 + h, c0 + w] = EOS_ID
    return canvas.reshape(-1)


def decode_grid(tokens: np.ndarray) -> np.ndarray:
    """900 tokens → the grid, as the reference's evaluation crops it (§5.2).

    The largest-area top-left rectangle whose cells are all colour tokens (2..11) — scanning rows downwards, the
    width is the run of colour tokens from column 0, never wider than any row above — minus 2. Empty (0×0) when the
    top-left cell is not a colour.
    """
    t = np.asarray(tokens).reshape(MAX_GRID, MAX_GRID)
    is_colour = (t >= COLOUR_OFFSET) & (t < COLOUR_OFFSET + 10)
    run = np.where(is_colour.all(axis=1), MAX_GRID, np.argmin(is_colour, axis=1))
    width = np.minimum.accumulate(run)
    area = width * np.arange(1, MAX_GRID + 1)
    rows = int(np.argmax(area)) + 1
    if area[rows - 1] == 0:
        return np.zeros((0, 0), np.uint8)
    return (t[:rows, : width[rows - 1]] - COLOUR_OFFSET).astype(np.uint8)


def shift_canvas(tokens: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """Move a 900-token canvas by (dr, dc) cells (negative = up/left), filling with PAD.

    ``decode_grid(shift_canvas(row, -r, -c))`` undoes a train-split translation by offset (r, c)."""
    t = np.asarray(tokens).reshape(MAX_GRID, MAX_GRID)
    out = np.zeros_like(t)
    src_r = slice(max(0, -dr), MAX_GRID - max(0, dr))
    dst_r = slice(max(0, dr), MAX_GRID - max(0, -dr))
    src_c = slice(max(0, -dc), MAX_GRID - max(0, dc))
    dst_c = slice(max(0, dc), MAX_GRID - max(0, -dc))
    out[dst_r, dst_c] = t[src_r, src_c]
    return out.reshape(-1)


def _scatter(flat: np.ndarray, base: np.ndarray, grids: np.ndarray, dr: np.ndarray, dc: np.ndarray, trash: int) -> None:
    """Write V grids [V, h, w] (colours) as canvases into ``flat`` at row starts ``base`` [V] with offsets
    (dr, dc) and EOS borders; EOS cells that would fall off the canvas are sent to index ``trash``."""
    v, h, w = grids.shape
    start = base + dr * MAX_GRID + dc  # [V]
    cells = (np.arange(h)[:, None] * MAX_GRID + np.arange(w)[None, :]).reshape(-1)
    flat[start[:, None] + cells[None, :]] = grids.reshape(v, h * w) + COLOUR_OFFSET
    eos_row = h * MAX_GRID + np.arange(w)  # the row just below the grid
    eos_col = np.arange(h) * MAX_GRID + w  # the column just right of it
    flat[np.where((dr + h < MAX_GRID)[:, None], start[:, None] + eos_row[None, :], trash)] = EOS_ID
    flat[np.where((dc + w < MAX_GRID)[:, None], start[:, None] + eos_col[None, :], trash)] = EOS_ID


# ----------------------------------------------------------------------------------------------------------------
# Loading and validation


class ArcPair(NamedTuple):
    """One (input, output) pair of grids; ``output`` is None for a test input whose answer is not given."""

    input: np.ndarray
    output: np.ndarray | None


@dataclass
class ArcTask:
    """One task: demonstration ("train") pairs and test pairs (the one ARC task type of the library: datasets,
    direct evaluation and ``hrm solve`` all use it).

    ``role`` and ``source`` say where a dataset build took it from; ``where`` is ``file:line`` for messages.
    """

    task_id: str | None
    role: Role | None
    source: str
    train: list[ArcPair]
    test: list[ArcPair]
    where: str = ""

    @property
    def pairs(self) -> list[ArcPair]:
        return self.train + self.test


def parse_grid(raw, where: str, what: str) -> np.ndarray:
    """Validate a JSON grid (rectangular, ≤ 30×30, integer colours 0–9) → uint8 array; UserError otherwise."""
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{where}: {what} must be a non-empty list of rows")
    width = None
    for r, row in enumerate(raw):
        if not isinstance(row, list) or not row:
            raise UserError(f"{where}: {what} row {r + 1} must be a non-empty list of colours")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise UserError(f"{where}: {what} is ragged: row {r + 1} has {len(row)} cells, row 1 has {width}")
    assert width is not None  # raw is a non-empty list
    if len(raw) > MAX_GRID or width > MAX_GRID:
        raise UserError(f"{where}: {what} is {len(raw)}×{width}; ARC grids are at most 30×30")
    # Check cell types before numpy sees them: np.array would turn True into 1 and fail on nested lists.
    for r, row in enumerate(raw):
        for c, v in enumerate(row):
            if type(v) is not int or not 0 <= v <= 9:
                raise UserError(f"{where}: {what} row {r + 1} column {c + 1} is {v!r}; colours must be integers 0-9")
    return np.array(raw, dtype=np.uint8)


def _parse_task(
    task_id: str, data, role: Role | None, source: str, where: str, need_test_output: bool = True
) -> ArcTask:
    if not isinstance(data, dict):
        raise UserError(f"{where}: task {task_id!r} must be an object with 'train' and 'test' lists")
    parts = {}
    for kind in ("train", "test"):
        pairs = data.get(kind)
        if not isinstance(pairs, list):
            raise UserError(f"{where}: task {task_id!r} has no '{kind}' list of pairs")
        parsed = []
        for k, pair in enumerate(pairs):
            if not isinstance(pair, dict) or "input" not in pair:
                raise UserError(f"{where}: task {task_id!r} {kind} pair {k + 1} needs 'input' and 'output'")
            if pair.get("output") is None and (kind == "train" or need_test_output):
                raise UserError(
                    f"{where}: task {task_id!r} {kind} pair {k + 1} has no 'output'; a dataset needs "
                    "the answers (hidden test sets cannot be built)"
                )
            what = f"task {task_id!r} {kind} pair {k + 1}"
            output = pair.get("output")
            parsed.append(
                ArcPair(
                    parse_grid(pair["input"], where, f"{what} input"),
                    parse_grid(output, where, f"{what} output") if output is not None else None,
                )
            )
        parts[kind] = parsed
    if not parts["train"] and not parts["test"]:
        raise UserError(f"{where}: task {task_id!r} has no pairs")
    return ArcTask(task_id, role, source, parts["train"], parts["test"], where)


_KEY_AT_LINE_START = re.compile(r'^\s*[{,]?\s*"((?:[^"\\]|\\.)*)"\s*:')


def _key_lines(text: str, keys) -> dict[str, int]:
    """1-based line where each task id starts (for error messages); 1 when it cannot be found."""
    wanted = set(keys)
    out: dict[str, int] = {}
    for i, line in enumerate(text.splitlines(), start=1):
        m = _KEY_AT_LINE_START.match(line)
        if m and m.group(1) in wanted and m.group(1) not in out:
            out[m.group(1)] = i
    return {k: out.get(k, 1) for k in keys}


def _load_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def _tasks_from_file(path: Path, role: Role | None, source: str, need_test_output: bool = True) -> list[ArcTask]:
    data, text = _load_json(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: expected a JSON object (one task, or task id -> task)")
    if "train" in data or "test" in data:  # one task per file (upstream layout); id = file stem
        return [_parse_task(path.stem, data, role, source, f"{path}:1", need_test_output)]
    lines = _key_lines(text, data.keys())
    return [
        _parse_task(tid, task, role, source, f"{path}:{lines[tid]}", need_test_output) for tid, task in data.items()
    ]


def read_task_file(path: Path | str) -> list[ArcTask]:
    """The tasks of one JSON file (``{task id: task}``, or one task named by the file stem), in file order, for
    evaluation: a test pair may lack its ``output`` (then ``None``: predicted, not scored)."""
    path = Path(path)
    return _tasks_from_file(path, None, path.name, need_test_output=False)


def load_arc_tasks(path: Path | str, role: Role, source: str | None = None) -> list[ArcTask]:
    """Tasks of one source, sorted by id: a file of ``{task id: task}`` (shared/data layout), a one-task file, or
    a directory searched recursively for ``*.json`` (upstream one-file-per-task layout, ConceptARC's concept
    folders included)."""
    path = Path(path)
    source = source or path.name
    if path.is_dir():
        files = sorted(path.rglob("*.json"))
        if not files:
            raise UserError(f"{path}: no .json task files found")
        tasks = [t for f in files for t in _tasks_from_file(f, role, source)]
    elif path.is_file():
        tasks = _tasks_from_file(path, role, source)
    else:
        raise UserError(f"{path}: no such ARC file or folder")
    seen: dict[str, str] = {}
    for t in tasks:
        task_id = _file_task_id(t)
        if task_id in seen:
            raise UserError(f"{t.where}: task id {task_id!r} occurs twice in {source} (also {seen[task_id]})")
        seen[task_id] = t.where
    return sorted(tasks, key=_file_task_id)


def _file_task_id(task: ArcTask) -> str:
    """The id of a task read from a file (its file name or JSON key: never None, unlike a pasted task's)."""
    assert task.task_id is not None
    return task.task_id


def dataset_dir_sources(path: Path | str) -> list[tuple[Path, Role]]:
    """The reference's ``--dataset-dirs`` convention: subfolder ``evaluation`` → evaluation, any other → training."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such folder")
    # Training folders first, then evaluation (the presets' order), so identifiers do not depend on names.
    subdirs = sorted((p for p in path.iterdir() if p.is_dir()), key=lambda p: (p.name == "evaluation", p.name))
    if not subdirs:
        raise UserError(f"{path}: expected subfolders such as training/ and evaluation/")
    return [(p, "evaluation" if p.name == "evaluation" else "training") for p in subdirs]


def preset_sources(preset: str, data_root: Path | str) -> list[tuple[Path, Role]]:
    if preset not in PRESETS:
        raise UserError(f"unknown ARC preset {preset!r}; choose one of {', '.join(PRESETS)}")
    root = Path(data_root)
    out = []
    for rel, role in PRESETS[preset]:
        p = root / rel
        if not p.exists():
            raise UserError(f"{p}: not found; --data-root must be the shared data folder (with arc-agi-1/ etc.)")
        out.append((p, role))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Variants


@dataclass
class TaskVariants:
    """The kept variants of one task: dihedral ids [V] and colour maps [V, 10]; variant 0 is the original."""

    tids: np.ndarray
    colour_maps: np.ndarray
    candidates_drawn: int = 0

    def __len__(self) -> int:
        return int(self.tids.shape[0])


def _task_seed(task_id: str) -> int:
    return int.from_bytes(hashlib.sha256(task_id.encode("utf-8")).digest()[:8], "little")


def task_rng(seed: int, task_id: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), _task_seed(task_id)])


# Two independent random 64-bit weight vectors per grid slot (input / output), fixed for all builds.
_HASH_WEIGHTS = np.random.default_rng(0x48524D).integers(0, 2**63, size=(2, 2, SEQ_LEN + 1), dtype=np.uint64) * 2 + 1


class _TaskHasher:
    """Content keys of a task's candidate variants, without materialising the variants.

    A pair's key under (tid, colour map m) is Σ_i W[i]·m[grid_t[i]] over the transformed input and output (mod
    2^64, two independent weight sets, plus a term for the shapes). Since it is linear in m, it equals
    m · S with S[c] = Σ_{i: grid_t[i] = c} W[i], so S is precomputed per (tid, pair) and a candidate costs one dot
    product per pair. A variant's key is its pairs' keys sorted (a multiset, as the reference's sorted hashes).
    """

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]]):
        num_p = len(pairs)
        self.sums = np.zeros((NUM_DIHEDRAL, num_p, 2, 10), np.uint64)  # [tid, pair, hash, colour]
        self.shape_terms = np.zeros((NUM_DIHEDRAL, num_p, 2), np.uint64)
        colours = np.arange(10, dtype=np.uint8)
        with np.errstate(over="ignore"):
            for k, (inp, out) in enumerate(pairs):
                for side, grid in enumerate((inp, out)):
                    stack = np.stack(
                        [np.ascontiguousarray(dihedral_transform(grid, t)).reshape(-1) for t in range(NUM_DIHEDRAL)]
                    )  # [8, h*w]
                    onehot = (stack[:, :, None] == colours).astype(np.uint64)  # [8, h*w, 10]
                    weights = _HASH_WEIGHTS[:, side, : stack.shape[1]]  # [2, h*w]
                    self.sums[:, k] += np.einsum("tnc,jn->tjc", onehot, weights)
                    codes = np.array(
                        [
                            (lambda hw: hw[0] * 31 + hw[1] + 1)(dihedral_shape(grid.shape, t))
                            for t in range(NUM_DIHEDRAL)
                        ],
                        np.uint64,
                    )
                    self.shape_terms[:, k] += codes[:, None] * _HASH_WEIGHTS[:, side, SEQ_LEN][None, :]

    def keys(self, tids: np.ndarray, colour_maps: np.ndarray) -> list[bytes]:
        sums = self.sums[tids.astype(np.intp)]  # [V, P, 2, 10]
        with np.errstate(over="ignore"):
            h = np.einsum("vc,vpjc->vpj", colour_maps.astype(np.uint64), sums) + self.shape_terms[tids.astype(np.intp)]
        order = np.argsort(h[:, :, 0], axis=1, kind="stable")
        h = np.take_along_axis(h, order[:, :, None], axis=1)
        return [row.tobytes() for row in h.reshape(h.shape[0], -1)]


def choose_variants(task: ArcTask, num_aug: int, rng: np.random.Generator, retries_factor: int = 5) -> TaskVariants:
    """The original plus up to ``num_aug`` distinct random (dihedral, colour map) variants, in draw order."""
    labelled = []
    for pair in task.pairs:
        assert pair.output is not None  # dataset tasks have every output (read with need_test_output)
        labelled.append((pair.input, pair.output))
    hasher = _TaskHasher(labelled)
    tids = [0]
    maps = [IDENTITY_COLOURS]
    seen = set(hasher.keys(np.zeros(1, np.int64), IDENTITY_COLOURS[None]))
    budget = retries_factor * num_aug
    drawn = 0
    while len(tids) < num_aug + 1 and drawn < budget:
        k = min(num_aug, budget - drawn)
        cand_t = rng.integers(0, NUM_DIHEDRAL, size=k)
        cand_m = random_colour_maps(rng, k)
        keys = hasher.keys(cand_t, cand_m)
        for j in range(k):
            drawn += 1
            if keys[j] in seen:
                continue
            seen.add(keys[j])
            tids.append(int(cand_t[j]))
            maps.append(cand_m[j])
            if len(tids) == num_aug + 1:
                break
    return TaskVariants(np.asarray(tids, np.uint8), np.stack(maps).astype(np.uint8), drawn)


def variant_names(task_id: str, tids: np.ndarray, colour_maps: np.ndarray) -> list[str]:
    """Names of a task's variants; the first (the original) is the bare task id."""
    digits = (np.asarray(colour_maps, np.uint8) + ord("0")).tobytes().decode("ascii")
    names = [f"{task_id}_t{int(t)}_{digits[10 * j : 10 * j + 10]}" for j, t in enumerate(tids.tolist())]
    if names:
        names[0] = task_id
    return names


def variant_name(task_id: str, tid: int, colour_map: np.ndarray, original: bool = False) -> str:
    return task_id if original else f"{task_id}_t{int(tid)}_{colour_map_name(colour_map)}"


def _encode_examples(
    pairs: list[tuple[np.ndarray, np.ndarray]], variants: TaskVariants, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canvases for every (variant, pair): inputs/labels [V, P, 900] and offsets [V, P, 2].

    With ``rng`` (train split) each example is translated except one random example per variant."""
    num_v, num_p = len(variants), len(pairs)
    total = num_v * num_p * SEQ_LEN
    flat_in = np.zeros(total + 1, np.uint8)  # last cell: scratch for off-canvas EOS
    flat_out = np.zeros(total + 1, np.uint8)
    offsets = np.zeros((num_v, num_p, 2), np.uint8)
    if rng is not None and num_p:
        keep_still = rng.integers(0, num_p, size=num_v)
        u = rng.random((num_v, num_p, 2))
    for t in range(NUM_DIHEDRAL):
        sel = np.flatnonzero(variants.tids == t)
        if sel.shape[0] == 0:
            continue
        maps = variants.colour_maps[sel]
        for k, (inp, out) in enumerate(pairs):
            ti = np.ascontiguousarray(dihedral_transform(inp, t))
            to = np.ascontiguousarray(dihedral_transform(out, t))
            dr = np.zeros(sel.shape[0], np.int64)
            dc = np.zeros(sel.shape[0], np.int64)
            if rng is not None:
                span_r = MAX_GRID - max(ti.shape[0], to.shape[0]) + 1
                span_c = MAX_GRID - max(ti.shape[1], to.shape[1]) + 1
                dr = np.floor(u[sel, k, 0] * span_r).astype(np.int64)
                dc = np.floor(u[sel, k, 1] * span_c).astype(np.int64)
                still = keep_still[sel] == k
                dr[still] = 0
                dc[still] = 0
            base = (sel * num_p + k) * SEQ_LEN
            _scatter(flat_in, base, maps[:, ti.reshape(-1)].reshape(-1, *ti.shape), dr, dc, total)
            _scatter(flat_out, base, maps[:, to.reshape(-1)].reshape(-1, *to.shape), dr, dc, total)
            offsets[sel, k, 0] = dr
            offsets[sel, k, 1] = dc
    return (flat_in[:total].reshape(num_v, num_p, SEQ_LEN), flat_out[:total].reshape(num_v, num_p, SEQ_LEN), offsets)


def encode_variant_pairs(
    pairs: list[tuple[np.ndarray, np.ndarray]], variants: TaskVariants, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canvases of ``pairs`` under every variant: inputs/labels [V, P, 900] uint8 and offsets [V, P, 2].

    The builder's own encoding (translated when ``rng`` is given, as in the train split), public so that
    test-time fine-tuning (:mod:`hrm.inference.finetune`) trains on exactly what a build would have written.
    """
    return _encode_examples(pairs, variants, rng)


# ----------------------------------------------------------------------------------------------------------------
# Build


@dataclass
class ArcBuildOptions:
    """Options of :func:`build_arc_dataset` (and ``hrm data arc``).

    Attributes:
        out: dataset root to create.
        sources: (path, role) pairs in order; role "training" or "evaluation". See :func:`preset_sources` and
            :func:`dataset_dir_sources`.
        protocol: "transductive" (reference) or "strict" (evaluation tasks wholly held out of training).
        num_aug: variants per task besides the original (reference: 1000).
        retries_factor: at most ``retries_factor * num_aug`` candidates are drawn per task (reference: 5).
        translate: random translation of train-split examples (reference: on).
        seed: the only source of randomness.
        preset: recorded in build.json when the sources came from a preset.
        duplicates: what to do with tasks whose pairs equal another task's (:func:`duplicate_groups`): "refuse"
            (default: a UserError naming both), "keep" (build every copy, as the reference does) or "drop" (build
            one copy: the first evaluation copy if there is one, else the first in source order).
    """

    out: Path
    sources: list[tuple[Path, Role]] = field(default_factory=list)
    protocol: Protocol = "transductive"
    num_aug: int = 1000
    retries_factor: int = 5
    translate: bool = True
    seed: int = 0
    preset: str | None = None
    duplicates: Duplicates = "refuse"
    force: bool = False
    show_progress: bool = True


def _source_name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def load_sources(sources: list[tuple[Path, Role]]) -> list[ArcTask]:
    """All tasks of ``sources`` in order (each source sorted by task id); ids must be unique across sources."""
    tasks: list[ArcTask] = []
    where: dict[str, str] = {}
    for path, role in sources:
        if role not in ("training", "evaluation"):
            raise UserError(f"{path}: role must be 'training' or 'evaluation', got {role!r}")
        for t in load_arc_tasks(path, role, _source_name(Path(path))):
            task_id = _file_task_id(t)
            if task_id in where:
                raise UserError(
                    f"{t.where}: task id {task_id!r} is also in {where[task_id]}; task ids must be "
                    "unique across sources (do not mix ARC-AGI-1 with ARC-AGI-2)"
                )
            where[task_id] = t.where
            tasks.append(t)
    return tasks


def _pair_sha256(pair: ArcPair) -> str:
    # Compact JSON of the grids as lists of rows: what anyone can recompute from the task file with
    # json.dumps([p["input"], p["output"]], separators=(",", ":")), whatever the file's whitespace or key order.
    grids = [pair.input.tolist(), None if pair.output is None else pair.output.tolist()]
    return hashlib.sha256(json.dumps(grids, separators=(",", ":")).encode("ascii")).hexdigest()


def task_sha256(task: ArcTask) -> str:
    """The content hash of a task: SHA-256 of its pairs' SHA-256 digests (hex), sorted, joined by newlines.

    It reads the grids only: not the task id, the file name or its JSON formatting, not the order of the pairs
    (ARC-AGI-2 re-lists ARC-AGI-1 tasks with their pairs re-ordered), and not which pairs are demonstrations and
    which are tests. The last is deliberate: a copy with a test pair moved among the demonstrations still hands
    that answer to training when either copy is a training task (all of its pairs go to the train split).
    """
    digests = sorted(_pair_sha256(p) for p in task.pairs)
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


def duplicate_groups(hashes: list[str]) -> list[list[int]]:
    """Indices of the tasks that share a content hash, one group per hash seen more than once, in source order."""
    by_hash: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        by_hash.setdefault(h, []).append(i)
    return [group for group in by_hash.values() if len(group) > 1]


def _kept_copy(tasks: list[ArcTask], group: list[int]) -> int:
    # The evaluation copy, so that what is scored stays exactly the benchmark's; leaving out a training copy
    # only costs one training task.
    return next((i for i in group if tasks[i].role == "evaluation"), group[0])


def _duplicate_error(tasks: list[ArcTask], groups: list[list[int]]) -> UserError:
    group = groups[0]
    kept = _kept_copy(tasks, group)
    other = tasks[next(i for i in group if i != kept)]
    first = tasks[kept]
    copies = f" (and {len(group) - 2} more {'copies' if len(group) > 3 else 'copy'})" if len(group) > 2 else ""
    more = f"; {len(groups) - 1} more duplicated task{'s' if len(groups) > 2 else ''}" if len(groups) > 1 else ""
    harm = "its test answers would be trained on" if other.role != first.role else "it would count twice"
    return UserError(
        f"{other.where}: task {other.task_id!r} ({other.role}) has the same pairs as task {first.task_id!r} "
        f"({first.role}, {first.where}){copies}{more}, so {harm}: pass --drop-duplicates to build without "
        f"{other.task_id!r}, or --allow-duplicates to keep {'both' if len(group) == 2 else 'them all'}"
    )


def _describe_duplicates(tasks: list[ArcTask], groups: list[list[int]], duplicates: Duplicates) -> list[str]:
    """One line per group for build.json: the copies, and what the build did with them."""
    lines = []
    for group in groups:
        names = " = ".join(f"{tasks[i].task_id} ({tasks[i].role})" for i in group)
        kept = _kept_copy(tasks, group)
        left_out = ", ".join(str(tasks[i].task_id) for i in group if i != kept)
        lines.append(f"{names}: " + ("kept all" if duplicates == "keep" else f"left out {left_out}"))
    return lines


def build_arc_dataset(options: ArcBuildOptions) -> Path:
    """Build an ARC dataset root in the reference format plus augmentation records; returns its path."""
    opts = options
    if opts.protocol not in ("transductive", "strict"):
        raise UserError(f"--protocol {opts.protocol!r}: choose 'transductive' or 'strict'")
    if opts.num_aug < 0 or opts.retries_factor < 1:
        raise UserError("--num-aug must be ≥ 0 and --retries-factor ≥ 1")
    if opts.seed < 0:
        raise UserError(f"--seed {opts.seed}: must be ≥ 0")
    if opts.duplicates not in ("refuse", "keep", "drop"):
        raise UserError(f"duplicates={opts.duplicates!r}: choose 'refuse', 'keep' or 'drop'")
    if not opts.sources:
        raise UserError("no ARC sources: give --preset with --data-root, or --training/--evaluation files")
    out = Path(opts.out)
    check_output_target(out, opts.force)
    tasks = load_sources(opts.sources)
    # Before anything is written: a refused build leaves no folder behind.
    hashes = [task_sha256(t) for t in tasks]
    groups = duplicate_groups(hashes)
    if groups and opts.duplicates == "refuse":
        raise _duplicate_error(tasks, groups)
    duplicate_notes = _describe_duplicates(tasks, groups, opts.duplicates)
    if opts.duplicates == "drop":
        left_out = {i for group in groups for i in group if i != _kept_copy(tasks, group)}
        tasks = [t for i, t in enumerate(tasks) if i not in left_out]
        hashes = [h for i, h in enumerate(hashes) if i not in left_out]
    per_source = [sum(1 for t in tasks if t.source == _source_name(Path(p))) for p, _ in opts.sources]
    if not any(t.role == "evaluation" for t in tasks):
        raise UserError("no evaluation tasks: the test split would be empty; give an --evaluation source")
    identifiers = ["<blank>"]
    puzzle_task = [-1]
    puzzle_tid = [0]
    puzzle_maps = [IDENTITY_COLOURS]
    train_offsets: list[np.ndarray] = []
    task_records = []
    variant_counts = []
    short_tasks = []
    with atomic_output_dir(out, force=opts.force) as tmp:
        train_w = SplitWriter(tmp / "train", SEQ_LEN, VOCAB_SIZE)
        test_w = SplitWriter(tmp / "test", SEQ_LEN, VOCAB_SIZE)
        for ti, task in enumerate(
            progress(tasks, desc="augmenting ARC tasks", enabled=opts.show_progress, unit="task")
        ):
            rng = task_rng(opts.seed, task.task_id)
            variants = choose_variants(task, opts.num_aug, rng, opts.retries_factor)
            nv = len(variants)
            variant_counts.append(nv)
            if nv < opts.num_aug + 1:
                short_tasks.append(task.task_id)
            first_id = len(identifiers)
            ids = np.arange(first_id, first_id + nv, dtype=np.int32)
            identifiers.extend(variant_names(task.task_id, variants.tids, variants.colour_maps))
            puzzle_task.extend([ti] * nv)
            puzzle_tid.extend(variants.tids.tolist())
            puzzle_maps.extend(list(variants.colour_maps))
            if task.role == "training":
                train_pairs, test_pairs = task.pairs, []
            elif opts.protocol == "transductive":
                train_pairs, test_pairs = task.train, task.test
            else:
                train_pairs, test_pairs = [], task.test
            if train_pairs:
                inp, lab, off = _encode_examples(train_pairs, variants, rng if opts.translate else None)
                p = len(train_pairs)
                train_w.add_puzzles(inp.reshape(-1, SEQ_LEN), lab.reshape(-1, SEQ_LEN), np.full(nv, p), ids)
                train_w.end_group()
                train_offsets.append(off.reshape(-1, 2))
            if test_pairs:
                inp, lab, _ = _encode_examples(test_pairs, variants, None)
                p = len(test_pairs)
                test_w.add_puzzles(inp.reshape(-1, SEQ_LEN), lab.reshape(-1, SEQ_LEN), np.full(nv, p), ids)
                test_w.end_group()
            task_records.append(
                {
                    "id": task.task_id,
                    "role": task.role,
                    "source": task.source,
                    "sha256": hashes[ti],
                    "variants": nv,
                    "first_identifier": first_id,
                    "train_pairs": len(task.train),
                    "test_pairs": len(task.test),
                    "in_train_split": len(train_pairs),
                    "in_test_split": len(test_pairs),
                }
            )
        num_ids = len(identifiers)
        common = dict(pad_id=PAD_ID, ignore_label_id=PAD_ID, blank_identifier_id=0, num_puzzle_identifiers=num_ids)
        train_w.finish(**common)
        test_w.finish(**common)
        aug = tmp / AUG_DIR
        aug.mkdir()
        with open(aug / "tasks.json", "w", encoding="utf-8") as f:
            json.dump(task_records, f, indent=0)
            f.write("\n")
        save_npy(aug / "puzzle_task.npy", np.asarray(puzzle_task, np.int32))
        save_npy(aug / "puzzle_dihedral.npy", np.asarray(puzzle_tid, np.uint8))
        save_npy(aug / "puzzle_colour_map.npy", np.stack(puzzle_maps).astype(np.uint8))
        save_npy(
            aug / "train_offsets.npy", np.concatenate(train_offsets) if train_offsets else np.zeros((0, 2), np.uint8)
        )
        counts = np.asarray(variant_counts)
        roles = {r: sum(t.role == r for t in tasks) for r in ("training", "evaluation")}
        summary = BuildSummary(
            kind="arc",
            seed=opts.seed,
            seq_len=SEQ_LEN,
            vocab_size=VOCAB_SIZE,
            num_puzzle_identifiers=num_ids,
            splits={
                "train": SplitSummary(train_w.num_groups, train_w.num_puzzles, train_w.num_examples),
                "test": SplitSummary(test_w.num_groups, test_w.num_puzzles, test_w.num_examples),
            },
            options={
                "protocol": opts.protocol,
                "num_aug": opts.num_aug,
                "retries_factor": opts.retries_factor,
                "translate": opts.translate,
                "preset": opts.preset,
                "duplicates": opts.duplicates,
            },
            sources=[dict(source_record(p, role), tasks=n) for (p, role), n in zip(opts.sources, per_source)],
            stats={
                "protocol": opts.protocol,
                "tasks": {"training": roles["training"], "evaluation": roles["evaluation"]},
                "variants per task": {"min": int(counts.min()), "mean": float(counts.mean()), "max": int(counts.max())},
                "tasks with fewer than num_aug + 1 variants": len(short_tasks),
                "first of them": short_tasks[:10],
                "duplicate tasks (same pairs)": duplicate_notes or "none",
            },
        )
        finish_root(tmp, identifiers, summary)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Evaluation side: invert augmentations


@dataclass
class ArcVariants:
    """Per-identifier augmentation records of an ARC build (see module docstring)."""

    tasks: list[dict]
    puzzle_task: np.ndarray
    puzzle_dihedral: np.ndarray
    puzzle_colour_map: np.ndarray
    train_offsets: np.ndarray

    @classmethod
    def load(cls, root: Path | str) -> ArcVariants:
        d = Path(root) / AUG_DIR
        if not d.is_dir():
            raise UserError(
                f"{d}: missing; not an ARC dataset built by hrm (use parse_variant_name on "
                "identifiers.json for reference-built datasets)"
            )
        try:
            tasks = json.loads((d / "tasks.json").read_text(encoding="utf-8"))
            return cls(
                tasks,
                np.load(d / "puzzle_task.npy"),
                np.load(d / "puzzle_dihedral.npy"),
                np.load(d / "puzzle_colour_map.npy"),
                np.load(d / "train_offsets.npy"),
            )
        except (OSError, ValueError) as exc:
            raise UserError(f"{d}: unreadable augmentation records ({exc}); rebuild the dataset") from None

    def task_id(self, puzzle_identifier: int) -> str:
        t = int(self.puzzle_task[puzzle_identifier])
        if t < 0:
            raise ValueError("the blank identifier belongs to no task")
        return self.tasks[t]["id"]

    def transform(self, puzzle_identifier: int) -> tuple[int, np.ndarray]:
        return int(self.puzzle_dihedral[puzzle_identifier]), self.puzzle_colour_map[puzzle_identifier]

    def invert_grid(self, grid: np.ndarray, puzzle_identifier: int) -> np.ndarray:
        """Map a grid of variant ``puzzle_identifier`` back to the original task's frame and colours."""
        tid, cmap = self.transform(puzzle_identifier)
        return arc_invert(grid, tid, cmap)

    def invert_tokens(self, tokens: np.ndarray, puzzle_identifier: int) -> np.ndarray:
        """900 predicted tokens → crop (§5.2) → inverse dihedral → inverse colour map."""
        return self.invert_grid(decode_grid(tokens), puzzle_identifier)


_NAME_RE = re.compile(r"^(?P<task>.+)_t(?P<tid>[0-7])_(?P<map>0[0-9]{9})$")


def parse_variant_name(name: str) -> tuple[str, int, np.ndarray]:
    """``<task>_t<tid>_<colour map>`` (or a bare ``<task>``) → (task id, tid, colour map [10])."""
    m = _NAME_RE.match(name)
    if not m:
        return name, 0, IDENTITY_COLOURS.copy()
    cmap = np.array([int(c) for c in m["map"]], dtype=np.uint8)
    if sorted(cmap.tolist()) != list(range(10)):
        return name, 0, IDENTITY_COLOURS.copy()
    return m["task"], int(m["tid"]), cmap


__all__ = [
    "ARC_PALETTE",
    "DIHEDRAL_INVERSE",
    "PRESETS",
    "ArcBuildOptions",
    "ArcPair",
    "ArcTask",
    "ArcVariants",
    "build_arc_dataset",
    "choose_variants",
    "dataset_dir_sources",
    "decode_grid",
    "dihedral_shape",
    "duplicate_groups",
    "encode_grid",
    "encode_variant_pairs",
    "invert_colour_map",
    "load_arc_tasks",
    "parse_variant_name",
    "preset_sources",
    "task_rng",
    "task_sha256",
    "variant_name",
]
