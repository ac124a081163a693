"""Resolve what to evaluate: a built dataset split or a puzzle file, as batches plus the scorers the data needs.

:func:`resolve_inputs` turns the data options of an :class:`~hrm.evaluation.options.EvaluateOptions` and an opened
:class:`~hrm.checkpoints.Checkpoint` into :class:`EvalInputs`: where the rows come from (``--data``, default: the
dataset recorded in the checkpoint; or ``--sudoku``/``--csv``/``--arc-json`` read by
:mod:`hrm.evaluation.direct`), their kind, a batch source, the identifier names, and the row consumers that score
them beyond the per-row metrics (:class:`~hrm.evaluation.sudoku_check.SudokuChecker`,
:class:`~hrm.evaluation.arc_vote.ArcRowVoter`, :class:`~hrm.evaluation.breakdown.DifficultyBreakdown`). Every
mismatch between data and model is a one-line UserError here, before any compute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from hrm.checkpoints import Checkpoint, checkpoint_identifiers, recorded_data_path
from hrm.checkpoints.provenance import recorded_paths
from hrm.data import sudoku
from hrm.data.format import IDENTIFIERS_FILE, check_token_range, load_identifiers, load_split, locate_split
from hrm.data.kind import dataset_kind
from hrm.errors import UserError
from hrm.evaluation import arc_vote, direct
from hrm.evaluation.batches import EvalBatch, direct_batches, split_batches
from hrm.evaluation.breakdown import DifficultyBreakdown
from hrm.evaluation.evaluate import RowConsumer, check_compatible
from hrm.evaluation.options import EvaluateOptions
from hrm.evaluation.sudoku_check import SudokuChecker

# A converted reference checkpoint without dataset metadata is opened with ARC's sequence length for --arc-json.
ARC_SEQ_LEN_HINT = 900


@dataclass
class EvalInputs:
    """The rows to evaluate and how to score them.

    ``batches(device)`` yields the rows as :class:`EvalBatch` (callable twice: the evaluation and the segment
    trace each take one pass). ``identifiers`` names each puzzle identifier when known (``None`` for Sudoku files).
    ``sudoku_checker`` / ``arc_rows`` / ``breakdown`` are the row consumers for Sudoku validity, ARC voting and the
    metrics per difficulty (Sudoku givens, maze path length); ``arc_order`` is an ARC file's task -> test-input
    order for ``submission.json``.
    """

    kind: str  # "sudoku" | "arc" | "maze" | "puzzles"
    source: str
    num_rows: int
    batches: Callable[[torch.device], Iterator[EvalBatch]]
    identifiers: list[str] | None = None
    sudoku_checker: SudokuChecker | None = None
    arc_rows: arc_vote.ArcRowVoter | None = None
    arc_order: dict[str, list[str]] | None = None
    sudoku_side: int | None = None  # n of an n×n Sudoku (test-time scaling's symmetry views need it)
    breakdown: DifficultyBreakdown | None = None

    def __post_init__(self) -> None:
        if self.breakdown is None:
            self.breakdown = DifficultyBreakdown.for_kind(self.kind)

    @property
    def consumers(self) -> list[RowConsumer]:
        return [c for c in (self.sudoku_checker, self.arc_rows, self.breakdown) if c is not None]


def resolve_inputs(opts: EvaluateOptions, checkpoint: Checkpoint, keep_cap: int, notes: list[str]) -> EvalInputs:
    """The rows ``opts`` names, checked against ``checkpoint``'s model; notes for the report go to ``notes``.

    ``keep_cap``: the segment cap whose Sudoku predictions are kept for ``predictions.txt`` (direct files only).
    """
    if opts.direct:
        return _puzzle_file(opts, checkpoint, keep_cap, notes)
    return _dataset_split(opts, checkpoint, notes)


def _puzzle_file(opts: EvaluateOptions, checkpoint: Checkpoint, keep_cap: int, notes: list[str]) -> EvalInputs:
    model = checkpoint.model
    identifiers = None
    if opts.arc_json is not None:
        identifiers = checkpoint_identifiers(checkpoint, notes)
        data = direct.load_arc_json(
            opts.arc_json,
            identifiers,
            model.config.num_puzzle_identifiers,
            tasks=opts.tasks or None,
            progress=opts.progress,
        )
    elif opts.csv is not None:
        data = direct.load_sudoku_csv(opts.csv, limit=opts.limit)
    else:
        assert opts.sudoku is not None  # opts.direct, and neither --arc-json nor --csv: a --sudoku file
        data = direct.load_sudoku_lines(
            opts.sudoku,
            opts.solutions,
            limit=opts.limit,
            progress=opts.progress,
            model=model if checkpoint.dataset is not None else None,
        )
    notes.extend(data.notes)
    _adapt_rope_seq_len(checkpoint, data.seq_len, notes)
    direct.check_direct(model, data)
    inputs = EvalInputs(
        kind=data.kind,
        source=data.source,
        num_rows=len(data),
        batches=lambda device: direct_batches(data, opts.batch_size, device),
        identifiers=identifiers,
    )
    if data.kind == "sudoku":
        inputs.sudoku_checker = SudokuChecker(data.size, keep=keep_cap)
        inputs.sudoku_side = data.size
    else:
        inputs.arc_rows = arc_vote.ArcRowVoter(data.arc_views)
        inputs.arc_order = data.arc_order
    return inputs


def _dataset_split(opts: EvaluateOptions, checkpoint: Checkpoint, notes: list[str]) -> EvalInputs:
    model = checkpoint.model
    data_root = opts.data if opts.data is not None else recorded_data_path(checkpoint)
    if data_root is None:
        recorded = recorded_paths(checkpoint)
        what = f"its recorded dataset {recorded[0]} was not found" if recorded else "no dataset is recorded in it"
        raise UserError(f"{opts.checkpoint}: {what}; pass --data DIR, or a puzzle file with --sudoku/--csv/--arc-json")
    split_dir, root = locate_split(Path(data_root), opts.split or default_split(checkpoint))
    split = load_split(split_dir)
    meta = split.metadata
    _adapt_rope_seq_len(checkpoint, meta.seq_len, notes)
    check_compatible(model, meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers, f"dataset {split_dir}")
    check_token_range(split)
    identifiers = load_identifiers(root) if root is not None and (root / IDENTIFIERS_FILE).is_file() else None
    if identifiers is not None and checkpoint.identifiers is not None and identifiers != checkpoint.identifiers:
        raise UserError(
            f"{root}/{IDENTIFIERS_FILE} differs from the checkpoint's identifier map, so puzzle "
            "identifiers would select the wrong embeddings; pass the dataset the model was trained "
            "on with --data (or rebuild it with the same sources and seed)"
        )
    identifiers = identifiers or checkpoint.identifiers
    inputs = EvalInputs(
        kind=dataset_kind(root, meta) or "puzzles",
        source=str(split_dir),
        num_rows=split.num_examples,
        batches=lambda device: split_batches(split, opts.batch_size, device),
        identifiers=identifiers,
    )
    if inputs.kind == "sudoku":
        n = sudoku.board_side(meta.vocab_size, meta.seq_len)
        inputs.sudoku_checker = SudokuChecker(n) if n is not None else None
        inputs.sudoku_side = n
    elif inputs.kind == "arc":
        inputs.arc_rows = _arc_voter(root, identifiers, notes)
    return inputs


def default_split(checkpoint: Checkpoint) -> str:
    """The training config's test split (what is reported; a generated recipe's periodic evaluation reads its
    validation split instead), else its eval split (configs written before ``data.test_split`` existed), else
    ``test``."""
    config = checkpoint.train_config
    data = config.get("data") if isinstance(config, dict) else None
    if isinstance(data, dict):
        for key in ("test_split", "eval_split"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key]
    return "test"


def _arc_voter(root: Path | None, identifiers: list[str] | None, notes: list[str]) -> arc_vote.ArcRowVoter | None:
    """Voting needs each identifier's augmentation: the build's records if present, else the identifier names."""
    from hrm.data.arc import AUG_DIR, ArcVariants

    if root is not None and (root / AUG_DIR).is_dir():
        return arc_vote.ArcRowVoter(arc_vote.views_from_records(ArcVariants.load(root)))
    if identifiers is not None:
        return arc_vote.ArcRowVoter(arc_vote.views_from_identifiers(identifiers))
    notes.append("no identifiers.json or augmentation records: ARC voting skipped (per-view metrics only)")
    return None


def _adapt_rope_seq_len(checkpoint: Checkpoint, seq_len: int, notes: list[str]) -> None:
    """A converted reference rope checkpoint whose dataset was not found carries a guessed seq_len (900).

    Rope models accept any length, so set the model's seq_len to the data's (noted in the report).
    """
    cfg = checkpoint.model.config
    if cfg.seq_len == seq_len or cfg.pos_encodings != "rope" or checkpoint.dataset is not None:
        return
    if "converted_from" not in (checkpoint.meta or {}):
        return
    notes.append(f"reference rope checkpoint without dataset metadata: seq_len {cfg.seq_len} -> {seq_len}")
    cfg.seq_len = seq_len
