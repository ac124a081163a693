"""Bring-your-own sequence tasks from JSONL, written in the reference format so HRM can train on them.

One JSON object per line::

    {"input": [3, 1, 4], "output": [1, 3, 4]}                          token lists (ints 0..V-1)
    {"input": "12+34=", "output": "46", "puzzle": "add-7", "group": "add"}   strings over a declared alphabet

* Token lists: user tokens 0..V-1 are stored as token + 1 (V = ``vocab_size`` or the largest token seen + 1).
* Strings: ``alphabet`` lists the characters; character i is stored as i + 1.
* Token 0 is PAD: every sequence is right-padded to ``seq_len`` (given, or the longest input/output seen), and
  padded label positions are not supervised (``ignore_label_id = 0``). Put an explicit end marker in your alphabet
  if the answer's length matters. The dataset's vocab_size is V + 1.
* ``puzzle`` (optional): records with the same key are the examples of one puzzle. ``group`` (optional): puzzles
  with the same key form one group (e.g. augmented versions of one task; the sampler draws one puzzle per group per
  epoch). Without keys each record is its own puzzle and group. Order: groups, then puzzles, by first appearance.
* Puzzle identifiers: ``shared`` (default; one identifier 0 for all, as Sudoku/Maze) or ``per-puzzle`` (each
  distinct puzzle key gets its own learned embedding, shared between train and test, as ARC's transductive setup).

``<root>/custom.json`` records the token mapping; :func:`load_codec` reads it back for encoding new inputs and
decoding predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hrm.data.build import (
    BuildSummary,
    SplitSummary,
    SplitWriter,
    atomic_output_dir,
    check_output_target,
    finish_root,
    source_record,
)
from hrm.errors import UserError

# Stored tokens are user tokens + 1 (0 is PAD) in int32 when the vocabulary exceeds uint8.
MAX_USER_TOKEN = int(np.iinfo(np.int32).max) - 1
# Longest sequence accepted: 2^20 tokens (the model's attention is quadratic in it; Maze/ARC use 900).
MAX_SEQ_LEN = 1 << 20

PAD_ID = 0
CODEC_FILE = "custom.json"
PuzzleIds = Literal["shared", "per-puzzle"]


@dataclass
class Codec:
    """Maps user tokens or characters to stored token ids (PAD = 0, user token t → t + 1)."""

    alphabet: str | None
    vocab_size: int  # dataset vocab, PAD included

    def encode(self, seq: str | list[int], seq_len: int | None = None) -> np.ndarray:
        if self.alphabet is not None:
            if not isinstance(seq, str):
                raise UserError("this dataset uses an alphabet: give a string")
            index = {ch: i + 1 for i, ch in enumerate(self.alphabet)}
            bad = [ch for ch in seq if ch not in index]
            if bad:
                raise UserError(f"character {bad[0]!r} is not in the alphabet {self.alphabet!r}")
            ids = [index[ch] for ch in seq]
        else:
            ids = [int(t) + 1 for t in seq]
            if any(not 1 <= t < self.vocab_size for t in ids):
                raise UserError(f"tokens must lie in 0..{self.vocab_size - 2}")
        out = np.array(ids, dtype=np.int64)
        if seq_len is not None:
            if out.shape[0] > seq_len:
                raise UserError(f"sequence of length {out.shape[0]} exceeds seq_len {seq_len}")
            out = np.pad(out, (0, seq_len - out.shape[0]), constant_values=PAD_ID)
        return out

    def decode(self, tokens: np.ndarray) -> str | list[int]:
        """Stored tokens → the user's string / token list, dropping PAD."""
        t = [int(x) for x in np.asarray(tokens).reshape(-1) if int(x) != PAD_ID]
        if self.alphabet is not None:
            return "".join(self.alphabet[x - 1] if 1 <= x <= len(self.alphabet) else "?" for x in t)
        return [x - 1 for x in t]

    def to_dict(self) -> dict:
        return {"alphabet": self.alphabet, "vocab_size": self.vocab_size, "pad_id": PAD_ID, "token_offset": 1}


def load_codec(root: Path | str) -> Codec:
    path = Path(root) / CODEC_FILE
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found; not a dataset built by `hrm data custom`") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    return Codec(alphabet=d.get("alphabet"), vocab_size=int(d["vocab_size"]))


@dataclass
class CustomBuildOptions:
    """Options of :func:`build_custom_dataset` (and ``hrm data custom``).

    Attributes:
        out: dataset root to create.
        train, test: JSONL files.
        seq_len: fixed length (default: the longest input or output in either file).
        alphabet: characters of string records (required for strings; forbidden for token lists).
        vocab_size: number of user tokens V for token-list records (default: largest token + 1).
        input_key, output_key, puzzle_key, group_key: field names in each record.
        puzzle_ids: "shared" or "per-puzzle" (needs puzzle keys).
    """

    out: Path
    train: Path
    test: Path
    seq_len: int | None = None
    alphabet: str | None = None
    vocab_size: int | None = None
    input_key: str = "input"
    output_key: str = "output"
    puzzle_key: str = "puzzle"
    group_key: str = "group"
    puzzle_ids: PuzzleIds = "shared"
    seed: int = 0
    force: bool = False
    show_progress: bool = True


@dataclass
class _Record:
    inp: list[int]
    out: list[int]
    puzzle: str | None
    group: str | None
    line: int


def _read_jsonl(path: Path, opts: CustomBuildOptions) -> list[_Record]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    index = {ch: i + 1 for i, ch in enumerate(opts.alphabet)} if opts.alphabet is not None else None
    records = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise UserError(
                f"{path}:{i}: each line must be a JSON object with '{opts.input_key}' and '{opts.output_key}'"
            )
        seqs = []
        for key in (opts.input_key, opts.output_key):
            if key not in obj:
                raise UserError(f"{path}:{i}: missing '{key}'")
            v = obj[key]
            if isinstance(v, str):
                if index is None:
                    raise UserError(f"{path}:{i}: '{key}' is a string; declare its characters with --alphabet")
                bad = [(j, ch) for j, ch in enumerate(v) if ch not in index]
                if bad:
                    j, ch = bad[0]
                    raise UserError(
                        f"{path}:{i}: '{key}' character {ch!r} at position {j + 1} is not in the "
                        f"alphabet {opts.alphabet!r}"
                    )
                seqs.append([index[ch] for ch in v])
            elif isinstance(v, list):
                if index is not None:
                    raise UserError(f"{path}:{i}: '{key}' is a token list but --alphabet was given; use strings")
                if not all(type(t) is int and t >= 0 for t in v):
                    raise UserError(f"{path}:{i}: '{key}' must be a list of non-negative integer tokens")
                if any(t > MAX_USER_TOKEN for t in v):
                    raise UserError(
                        f"{path}:{i}: '{key}' has token {max(v)}; tokens must lie in 0..{MAX_USER_TOKEN} "
                        "(the dataset stores token + 1 as int32)"
                    )
                if opts.vocab_size is not None and any(t >= opts.vocab_size for t in v):
                    raise UserError(
                        f"{path}:{i}: '{key}' has token {max(v)}, outside 0..{opts.vocab_size - 1} (--vocab-size)"
                    )
                seqs.append([t + 1 for t in v])
            else:
                raise UserError(f"{path}:{i}: '{key}' must be a string or a list of integer tokens")
            if not seqs[-1]:
                raise UserError(f"{path}:{i}: '{key}' is empty")
        if opts.seq_len is not None:
            for key, s in zip((opts.input_key, opts.output_key), seqs):
                if len(s) > opts.seq_len:
                    raise UserError(f"{path}:{i}: '{key}' has length {len(s)}, longer than --seq-len {opts.seq_len}")
        puzzle = obj.get(opts.puzzle_key)
        group = obj.get(opts.group_key)
        records.append(
            _Record(seqs[0], seqs[1], None if puzzle is None else str(puzzle), None if group is None else str(group), i)
        )
    if not records:
        raise UserError(f"{path}: no records")
    return records


def _structure(records: list[_Record], path: Path) -> list[list[list[_Record]]]:
    """groups → puzzles → records, by first appearance."""
    groups: dict[str, dict[str, list[_Record]]] = {}
    puzzle_group: dict[str, str] = {}
    for k, r in enumerate(records):
        pkey = r.puzzle if r.puzzle is not None else f"\x00record{k}"
        gkey = r.group if r.group is not None else (f"\x00puzzle{pkey}")
        if pkey in puzzle_group and puzzle_group[pkey] != gkey:
            raise UserError(
                f"{path}:{r.line}: puzzle {r.puzzle!r} appears in two groups ({puzzle_group[pkey]!r} "
                f"and {r.group!r}); a puzzle belongs to one group"
            )
        puzzle_group[pkey] = gkey
        groups.setdefault(gkey, {}).setdefault(pkey, []).append(r)
    return [list(puzzles.values()) for puzzles in groups.values()]


def build_custom_dataset(options: CustomBuildOptions) -> Path:
    """Build a dataset root from JSONL train/test files; returns its path."""
    opts = options
    if opts.puzzle_ids not in ("shared", "per-puzzle"):
        raise UserError(f"--puzzle-ids {opts.puzzle_ids!r}: choose 'shared' or 'per-puzzle'")
    if opts.seq_len is not None and not 1 <= opts.seq_len <= MAX_SEQ_LEN:
        raise UserError(f"--seq-len {opts.seq_len}: must lie in 1..{MAX_SEQ_LEN}")
    if opts.vocab_size is not None and not 1 <= opts.vocab_size <= MAX_USER_TOKEN + 1:
        raise UserError(f"--vocab-size {opts.vocab_size}: must lie in 1..{MAX_USER_TOKEN + 1} (user tokens 0..V-1)")
    if opts.alphabet is not None and len(set(opts.alphabet)) != len(opts.alphabet):
        raise UserError(f"--alphabet {opts.alphabet!r} repeats a character")
    out = Path(opts.out)
    check_output_target(out, opts.force)
    splits = {"train": _read_jsonl(Path(opts.train), opts), "test": _read_jsonl(Path(opts.test), opts)}
    longest = max(max(len(r.inp), len(r.out)) for recs in splits.values() for r in recs)
    seq_len = opts.seq_len if opts.seq_len is not None else longest
    if seq_len > MAX_SEQ_LEN:
        raise UserError(f"the longest sequence has {seq_len} tokens, more than the {MAX_SEQ_LEN} a dataset may hold")
    if opts.alphabet is not None:
        user_vocab = len(opts.alphabet)
    else:
        seen_max = max(max(max(r.inp), max(r.out)) for recs in splits.values() for r in recs)  # stored = user + 1
        user_vocab = opts.vocab_size if opts.vocab_size is not None else seen_max
    vocab = user_vocab + 1
    if opts.puzzle_ids == "per-puzzle":
        missing = [(name, r.line) for name, recs in splits.items() for r in recs if r.puzzle is None]
        if missing:
            name, line = missing[0]
            raise UserError(
                f"{getattr(opts, name)}:{line}: --puzzle-ids per-puzzle needs a '{opts.puzzle_key}' key on every record"
            )
    identifiers = ["<blank>"]
    id_of: dict[str, int] = {}
    structured = {name: _structure(recs, Path(getattr(opts, name))) for name, recs in splits.items()}
    if opts.puzzle_ids == "per-puzzle":
        for name in ("train", "test"):
            for group in structured[name]:
                for puzzle in group:
                    key = puzzle[0].puzzle
                    assert key is not None  # checked above: per-puzzle IDs need the key on every record
                    if key not in id_of:
                        id_of[key] = len(identifiers)
                        identifiers.append(key)
    with atomic_output_dir(out, force=opts.force) as tmp:
        summaries = {}
        for name in ("train", "test"):
            w = SplitWriter(tmp / name, seq_len, vocab)
            for group in structured[name]:
                for puzzle in group:
                    n = len(puzzle)
                    inputs = np.zeros((n, seq_len), np.int64)
                    labels = np.zeros((n, seq_len), np.int64)
                    for j, r in enumerate(puzzle):
                        inputs[j, : len(r.inp)] = r.inp
                        labels[j, : len(r.out)] = r.out
                    pid = 0
                    if opts.puzzle_ids == "per-puzzle":
                        key = puzzle[0].puzzle
                        assert key is not None  # as above
                        pid = id_of[key]
                    w.add_puzzles(inputs, labels, [n], [pid])
                w.end_group()
            w.finish(
                pad_id=PAD_ID, ignore_label_id=PAD_ID, blank_identifier_id=0, num_puzzle_identifiers=len(identifiers)
            )
            summaries[name] = SplitSummary(w.num_groups, w.num_puzzles, w.num_examples)
        codec = Codec(alphabet=opts.alphabet, vocab_size=vocab)
        with open(tmp / CODEC_FILE, "w", encoding="utf-8") as f:
            json.dump(codec.to_dict(), f, sort_keys=True)
            f.write("\n")
        summary = BuildSummary(
            kind="custom",
            seed=opts.seed,
            seq_len=seq_len,
            vocab_size=vocab,
            num_puzzle_identifiers=len(identifiers),
            splits=summaries,
            options={"alphabet": opts.alphabet, "puzzle_ids": opts.puzzle_ids, "seq_len": seq_len},
            sources=[source_record(opts.train, "train"), source_record(opts.test, "test")],
            stats={"longest sequence": longest, "augmentation": "none"},
        )
        finish_root(tmp, identifiers, summary)
    return out
