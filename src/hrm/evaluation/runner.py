"""``hrm evaluate`` as a library call: resolve the checkpoint and data, evaluate, write the outputs.

:func:`run_evaluation` takes an :class:`EvaluateOptions` and returns an :class:`EvalReport`; the CLI only parses
arguments and prints :meth:`EvalReport.format`. Data is either a dataset split (``--data``, default: the dataset
recorded in the checkpoint) or a puzzle file read directly (Sudoku line file or CSV, ARC JSON).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrm.checkpoints import Checkpoint, checkpoint_identifiers, open_checkpoint, recorded_data_path
from hrm.checkpoints.provenance import recorded_paths
from hrm.data import sudoku
from hrm.data.format import IDENTIFIERS_FILE, check_token_range, load_identifiers, load_split, locate_split
from hrm.data.kind import dataset_kind
from hrm.errors import UserError
from hrm.evaluation import arc_vote, direct, test_time
from hrm.evaluation.evaluate import (
    EvalResult,
    RowConsumer,
    apply_precision,
    check_compatible,
    evaluate_batches,
    model_device,
    parse_segments,
    split_batches,
)
from hrm.evaluation.metrics import format_histogram
from hrm.runtime.device import resolve_device, resolve_precision
from hrm.runtime.files import check_output_dir, write_text_atomic
from hrm.runtime.memory import keep_freed_memory

EVAL_FILE = "eval.json"
SUBMISSION_FILE = "submission.json"
ARC_DETAILS_FILE = "arc_candidates.json"
SUDOKU_PREDICTIONS_FILE = "predictions.txt"
PLOT_FILE = "scaling.png"


@dataclass
class EvaluateOptions:
    """What ``hrm evaluate`` was asked to do (see ``hrm evaluate --help``).

    Attributes:
        checkpoint: a run directory (latest, or ``RUN/best``), a ``step-N`` directory, or a reference ``step_N``
            file with ``all_config.yaml`` beside it.
        data: dataset root (or split folder); default: the dataset recorded in the checkpoint.
        split: split folder under ``data`` (default: the training config's eval split, else ``test``).
        max_segments: ``"16"`` or a sweep ``"1,2,4,8,16,32"``; default: the model's M_max.
        early_exit: per-sample early exit (a row stops once q_halt > q_continue).
        sudoku / solutions / csv / arc_json: evaluate directly on a file instead of a dataset.
        tasks: ARC JSON only: evaluate just these task ids.
        test_time: also measure test-time scaling (augmentation voting, noisy trajectories, Sudoku rule check)
            at the last segment cap, on the same rows (:mod:`hrm.evaluation.test_time`).
        limit: evaluate only the first N puzzles of a direct file.
        pass_k: ARC pass@K values to report.
    """

    checkpoint: Path
    data: Path | None = None
    split: str | None = None
    max_segments: str | None = None
    early_exit: bool = False
    batch_size: int = 256
    device: str = "auto"
    dtype: str = "auto"
    out: Path | None = None
    sudoku: Path | None = None
    solutions: Path | None = None
    csv: Path | None = None
    arc_json: Path | None = None
    tasks: list[str] = field(default_factory=list)
    limit: int | None = None
    pass_k: tuple[int, ...] = arc_vote.DEFAULT_KS
    progress: bool = True
    save_predictions: int = 0  # with out: per-segment predictions of the first N rows (segment_trace.py)
    test_time: test_time.TestTimeOptions | None = None


@dataclass
class EvalReport:
    """Everything an evaluation produced: per-cap results, where the data came from, files written."""

    checkpoint: str
    data: str
    kind: str  # "sudoku" | "arc" | "maze" | "puzzles"
    num_rows: int
    results: list[EvalResult]
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    test_time: list[dict[str, Any]] | None = None

    @property
    def primary(self) -> EvalResult:
        return self.results[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "data": self.data,
            "kind": self.kind,
            "num_rows": self.num_rows,
            "seconds": self.seconds,
            "notes": self.notes,
            "results": [r.as_dict() for r in self.results],
            **({"test_time": self.test_time} if self.test_time is not None else {}),
        }

    def format(self) -> str:
        """The table ``hrm evaluate`` prints."""
        return format_report(self)


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint and data resolution


def default_split(checkpoint: Checkpoint) -> str:
    data = (checkpoint.train_config or {}).get("data")
    if isinstance(data, dict) and isinstance(data.get("eval_split"), str) and data["eval_split"]:
        return data["eval_split"]
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


# ---------------------------------------------------------------------------------------------------------------
# The run


def run_evaluation(options: EvaluateOptions) -> EvalReport:
    """Evaluate a checkpoint as ``hrm evaluate`` does; write ``eval.json`` and friends when ``options.out``."""
    opts = options
    direct_sources = [s for s in (opts.sudoku, opts.csv, opts.arc_json) if s is not None]
    if len(direct_sources) > 1:
        raise UserError("give at most one of --sudoku, --csv and --arc-json")
    if direct_sources and opts.data is not None:
        raise UserError("--data and --sudoku/--csv/--arc-json are exclusive; pick a dataset or a puzzle file")
    if opts.solutions is not None and opts.sudoku is None:
        raise UserError("--solutions goes with --sudoku FILE (a puzzle line file)")
    if opts.tasks and opts.arc_json is None:
        raise UserError("--tasks goes with --arc-json FILE")
    if opts.batch_size < 1:
        raise UserError(f"--batch-size {opts.batch_size}: must be >= 1")
    if opts.save_predictions and opts.out is None:
        raise UserError("--save-predictions N writes into the --out folder; give --out DIR too")
    if opts.out is not None:
        check_output_dir(opts.out, "--out")  # before the evaluation, so a bad --out costs nothing
    device = resolve_device(opts.device)
    precision = resolve_precision(device, opts.dtype)
    if device.type == "cpu":
        keep_freed_memory()  # at ARC scale, per-op mmap/munmap of activations cost as much as the arithmetic
    hint = 900 if opts.arc_json is not None else None
    checkpoint = open_checkpoint(opts.checkpoint, device="cpu", seq_len=hint)
    model = checkpoint.model
    caps = parse_segments(opts.max_segments) if opts.max_segments else [model.max_segments]
    notes: list[str] = []
    consumers: list[RowConsumer] = []
    sudoku_checker: direct.SudokuChecker | None = None
    arc_rows: arc_vote.ArcRowVoter | None = None
    arc_order: dict[str, list[str]] | None = None

    if direct_sources:
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
            assert opts.sudoku is not None  # the one direct source left
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
        kind, source, num_rows = data.kind, data.source, len(data)
        batches_of = lambda dev: direct.direct_batches(data, opts.batch_size, dev)  # noqa: E731
        if kind == "sudoku":
            sudoku_checker = direct.SudokuChecker(data.size, keep=caps[-1])
        else:
            arc_rows = arc_vote.ArcRowVoter(data.arc_views)
            arc_order = data.arc_order
    else:
        data_root = opts.data if opts.data is not None else recorded_data_path(checkpoint)
        if data_root is None:
            recorded = recorded_paths(checkpoint)
            what = f"its recorded dataset {recorded[0]} was not found" if recorded else "no dataset is recorded in it"
            raise UserError(
                f"{opts.checkpoint}: {what}; pass --data DIR, or a puzzle file with --sudoku/--csv/--arc-json"
            )
        split_dir, root = locate_split(Path(data_root), opts.split or default_split(checkpoint))
        split = load_split(split_dir)
        _adapt_rope_seq_len(checkpoint, split.metadata.seq_len, notes)
        check_compatible(
            model,
            split.metadata.vocab_size,
            split.metadata.seq_len,
            split.metadata.num_puzzle_identifiers,
            f"dataset {split_dir}",
        )
        check_token_range(split)
        identifiers = load_identifiers(root) if root is not None and (root / IDENTIFIERS_FILE).is_file() else None
        if identifiers is not None and checkpoint.identifiers is not None and identifiers != checkpoint.identifiers:
            raise UserError(
                f"{root}/{IDENTIFIERS_FILE} differs from the checkpoint's identifier map, so puzzle "
                "identifiers would select the wrong embeddings; pass the dataset the model was trained "
                "on with --data (or rebuild it with the same sources and seed)"
            )
        identifiers = identifiers or checkpoint.identifiers
        kind = dataset_kind(root, split.metadata) or "puzzles"
        source, num_rows = str(split_dir), split.num_examples
        batches_of = lambda dev: split_batches(split, opts.batch_size, dev)  # noqa: E731
        if kind == "sudoku":
            n = sudoku.board_side(split.metadata.vocab_size, split.metadata.seq_len)
            sudoku_checker = direct.SudokuChecker(n) if n is not None else None
        elif kind == "arc":
            arc_rows = _arc_voter(root, identifiers, notes)
    if sudoku_checker is not None:
        consumers.append(sudoku_checker)
    if arc_rows is not None:
        consumers.append(arc_rows)

    if opts.test_time is not None:
        opts.test_time.check(kind, model)  # before the main pass: a bad flag costs nothing
    apply_precision(model, precision)
    results_by_cap = evaluate_batches(
        model,
        batches_of(model_device(model)),
        caps,
        early_exit=opts.early_exit,
        consumers=consumers,
        total=num_rows,
        progress=opts.progress,
    )
    results = [results_by_cap[m] for m in sorted(results_by_cap)]
    for r in results:
        if sudoku_checker is not None:
            r.extra["valid_solution_rate"] = sudoku_checker.rate(r.max_segments)
        if arc_rows is not None:
            r.arc = arc_rows.voter(r.max_segments).score(opts.pass_k)
    tt_rows = None
    if opts.test_time is not None:
        if kind == "sudoku":
            side = data.size if direct_sources else sudoku.board_side(split.metadata.vocab_size, split.metadata.seq_len)
        else:
            side = None
        tt_options = dataclasses.replace(opts.test_time, max_segments=caps[-1], early_exit=opts.early_exit)
        tt_rows = test_time.evaluate_test_time(model, batches_of(model_device(model)), kind, side, tt_options)
    report = EvalReport(
        test_time=tt_rows,
        checkpoint=str(checkpoint.path),
        data=source,
        kind=kind,
        num_rows=num_rows,
        results=results,
        notes=notes,
        seconds=results[0].seconds if results else 0.0,
    )
    if opts.save_predictions > 0 and opts.out is not None:
        from hrm.evaluation.segment_trace import save_segment_predictions

        names = identifiers if (not direct_sources or opts.arc_json is not None) else None
        path = save_segment_predictions(
            model,
            batches_of(model_device(model)),
            Path(opts.out),
            opts.save_predictions,
            caps[-1],
            kind=kind,
            source=source,
            checkpoint=str(checkpoint.path),
            early_exit=opts.early_exit,
            identifiers=names,
        )
        report.files.append(str(path))
    if opts.out is not None:
        _write_outputs(report, Path(opts.out), sudoku_checker if direct_sources else None, arc_rows, arc_order)
    return report


def _write_outputs(
    report: EvalReport,
    out: Path,
    sudoku_checker: direct.SudokuChecker | None,
    arc_rows: arc_vote.ArcRowVoter | None,
    arc_order: dict[str, list[str]] | None,
) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    top = report.primary.max_segments
    if arc_rows is not None:
        voter = arc_rows.voter(top)
        report.files.append(str(arc_vote.write_submission(out / SUBMISSION_FILE, voter.submission(arc_order))))
        details = out / ARC_DETAILS_FILE
        write_text_atomic(details, json.dumps(voter.details(), separators=(",", ":")) + "\n")
        report.files.append(str(details))
    if sudoku_checker is not None and sudoku_checker.predictions:
        report.files.append(str(sudoku_checker.write(out / SUDOKU_PREDICTIONS_FILE)))
    if len(report.results) > 1:
        from hrm.evaluation.plots import plot_scaling_sweep

        report.files.append(str(plot_scaling_sweep(report.results, out / PLOT_FILE)))
    path = out / EVAL_FILE
    report.files.insert(0, str(path))
    write_text_atomic(
        path, json.dumps({**report.as_dict(), "files": report.files}, indent=2, default=_json_default) + "\n"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# Printing


def _pct(x: float) -> str:
    return "   n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100.0 * x:6.2f}"


def format_report(report: EvalReport) -> str:
    results = report.results
    has_valid = any("valid_solution_rate" in r.extra for r in results)
    ks = sorted(results[0].arc.pass_at) if results and results[0].arc is not None else []
    header = ["M", "exact%", "token%", "q_halt%", "segments"]
    if has_valid:
        header.append("valid%")
    header += [f"pass@{k}%" for k in ks]
    rows = []
    for r in results:
        m = r.metrics
        row = [
            str(r.max_segments),
            _pct(m.exact_accuracy),
            _pct(m.token_accuracy),
            _pct(m.q_halt_accuracy),
            f"{m.mean_segments:.2f}",
        ]
        if has_valid:
            row.append(_pct(r.extra.get("valid_solution_rate", math.nan)))
        row += [_pct(r.arc.pass_at[k]) if r.arc is not None else "   n/a" for k in ks]
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    mode = "per-sample early exit" if results and results[0].early_exit else "every row runs M segments"
    lines = [
        f"checkpoint: {report.checkpoint}",
        f"data:       {report.data} ({report.kind}, {report.num_rows:,} rows; {mode})",
    ]
    lines += [f"note:       {n}" for n in report.notes]
    lines.append("")
    lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    primary = report.primary
    if primary.arc is not None:
        a = primary.arc
        lines.append(
            f"\nARC (M={primary.max_segments}): {a.num_tasks} tasks, {a.num_test_inputs} test inputs voted "
            "over augmented views"
            + (f"; {len(a.unscored_tasks)} tasks without known solutions" if a.unscored_tasks else "")
        )
    lines.append(f"\nhalting histogram (M={primary.max_segments}; rows per number of segments run):")
    lines.append(format_histogram(primary.metrics.halting_histogram))
    if report.test_time is not None:
        lines.append("\n" + test_time.format_test_time(report.test_time))
    lines.append(f"\n{report.seconds:.1f} s")
    lines += [f"wrote {f}" for f in report.files]
    return "\n".join(lines)
