"""The report of an evaluation: :class:`EvalReport`, the table ``hrm evaluate`` prints, and the files it writes.

:func:`write_outputs` writes ``eval.json`` (the report as JSON), ``submission.json`` and ``arc_candidates.json``
(ARC), ``predictions.txt`` (Sudoku puzzle files) and ``scaling.png`` (a sweep); every file is written to a
temporary name and renamed into place. :func:`format_report` is the printed table, followed (for the primary cap,
when the rows have at least two difficulty values) by the table of exact accuracy by Sudoku givens or maze path
length (:mod:`hrm.evaluation.breakdown`); ``eval.json`` has that breakdown for every cap, under
``results[i]["breakdown"]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.evaluation import arc_vote, test_time
from hrm.evaluation.breakdown import format_breakdown
from hrm.evaluation.evaluate import EvalResult
from hrm.evaluation.metrics import format_histogram
from hrm.evaluation.sudoku_check import SudokuChecker
from hrm.runtime.files import atomic_path, write_text_atomic

EVAL_FILE = "eval.json"
SUBMISSION_FILE = "submission.json"
ARC_DETAILS_FILE = "arc_candidates.json"
SUDOKU_PREDICTIONS_FILE = "predictions.txt"
PLOT_FILE = "scaling.png"
DEPTH_BREADTH_FILE = "depth_breadth.json"
DEPTH_BREADTH_PLOT = "depth_breadth.png"


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
    test_time: list[dict[str, Any]] | None = None  # hrm.evaluation.test_time rows, when asked for
    depth_breadth: dict[str, Any] | None = None  # hrm.evaluation.depth_breadth's result, when asked for

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
            **({"depth_breadth": self.depth_breadth} if self.depth_breadth is not None else {}),
        }

    def format(self) -> str:
        """The table ``hrm evaluate`` prints."""
        return format_report(self)


def write_outputs(
    report: EvalReport,
    out: Path,
    sudoku_checker: SudokuChecker | None,
    arc_rows: arc_vote.ArcRowVoter | None,
    arc_order: dict[str, list[str]] | None,
) -> None:
    """Write ``eval.json`` into ``out``, with ARC's ``submission.json`` and candidates, Sudoku predictions of a
    puzzle file, and a sweep's plot; each file atomically. Paths go to ``report.files``."""
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
    if report.depth_breadth is not None:
        from hrm.evaluation.depth_breadth import plot_depth_breadth

        data = out / DEPTH_BREADTH_FILE
        write_text_atomic(data, json.dumps(report.depth_breadth, indent=1) + "\n")
        report.files.append(str(data))
        with atomic_path(out / DEPTH_BREADTH_PLOT) as tmp:
            plot_depth_breadth(report.depth_breadth, tmp)
        report.files.append(str(out / DEPTH_BREADTH_PLOT))
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


def _pct(x: float) -> str:
    return "   n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100.0 * x:6.2f}"


def format_report(report: EvalReport) -> str:
    """The table ``hrm evaluate`` prints: one row per segment cap, notes, ARC summary, halting histogram, files."""
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
    if primary.breakdown is not None and primary.breakdown.distinct_values >= 2:
        lines.append("\n" + format_breakdown(primary.breakdown))
    lines.append(f"\nhalting histogram (M={primary.max_segments}; rows per number of segments run):")
    lines.append(format_histogram(primary.metrics.halting_histogram))
    if report.test_time is not None:
        lines.append("\n" + test_time.format_test_time(report.test_time))
    if report.depth_breadth is not None:
        from hrm.evaluation.depth_breadth import format_depth_breadth

        lines.append("\n" + format_depth_breadth(report.depth_breadth, report.primary.max_segments))
    lines.append(f"\n{report.seconds:.1f} s")
    lines += [f"wrote {f}" for f in report.files]
    return "\n".join(lines)
