"""Evaluation: the reference's metrics, inference-time scaling, per-sample early exit, ARC voting and pass@K.

``hrm evaluate`` runs top to bottom through these modules (each imports only the ones below it):

* :mod:`~hrm.evaluation.runner` — :func:`run_evaluation`, the entry point: options → checkpoint → inputs →
  evaluation → scores → report and files;
* :mod:`~hrm.evaluation.options` — :class:`EvaluateOptions`, what was asked, and its checks;
* :mod:`~hrm.evaluation.inputs` — the rows to evaluate: a dataset split or a puzzle file, with its scorers;
* :mod:`~hrm.evaluation.direct` — puzzle files (Sudoku lines/CSV, ARC JSON) read into rows via :mod:`hrm.data`;
* :mod:`~hrm.evaluation.batches` — :class:`EvalBatch`, rows as tensors on the model's device;
* :mod:`~hrm.evaluation.evaluate` — the one evaluation: every segment cap from one pass of ``run_segments``
  (:func:`evaluate_batches`, :func:`evaluate_split`, :func:`scaling_sweep`), and the trainer's
  :func:`evaluate_model`;
* :mod:`~hrm.evaluation.metrics` — per-row metrics and their accumulation;
* :mod:`~hrm.evaluation.arc_vote` / :mod:`~hrm.evaluation.sudoku_check` — ARC voting and pass@K, Sudoku validity;
* :mod:`~hrm.evaluation.breakdown` — exact accuracy by difficulty (Sudoku givens, maze path length);
* :mod:`~hrm.evaluation.report` — :class:`EvalReport`, the printed table and the files under ``--out``;
* :mod:`~hrm.evaluation.segment_trace` / :mod:`~hrm.evaluation.plots` — per-segment predictions, the sweep plot.

See docs/evaluation.md for the metric definitions and the differences from the reference.
"""

from hrm.evaluation.arc_vote import ArcRowVoter, ArcScore, ArcVoter, views_from_identifiers, views_from_records
from hrm.evaluation.batches import EvalBatch
from hrm.evaluation.breakdown import Breakdown, DifficultyBreakdown, difficulty_for
from hrm.evaluation.evaluate import (
    EvalResult,
    evaluate_batches,
    evaluate_model,
    evaluate_split,
    outputs_by_cap,
    parse_segments,
    scaling_sweep,
)
from hrm.evaluation.metrics import MetricAccumulator, MetricSummary, row_metrics
from hrm.evaluation.options import EvaluateOptions
from hrm.evaluation.plots import plot_scaling_sweep
from hrm.evaluation.report import EvalReport
from hrm.evaluation.runner import run_evaluation

__all__ = [
    "ArcRowVoter",
    "ArcScore",
    "ArcVoter",
    "Breakdown",
    "DifficultyBreakdown",
    "EvalBatch",
    "EvalReport",
    "EvalResult",
    "EvaluateOptions",
    "MetricAccumulator",
    "MetricSummary",
    "difficulty_for",
    "evaluate_batches",
    "evaluate_model",
    "evaluate_split",
    "parse_segments",
    "plot_scaling_sweep",
    "row_metrics",
    "run_evaluation",
    "outputs_by_cap",
    "scaling_sweep",
    "views_from_identifiers",
    "views_from_records",
]
