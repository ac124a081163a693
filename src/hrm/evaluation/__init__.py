"""Evaluation: the reference's metrics, inference-time scaling, per-sample early exit, ARC voting and pass@K.

* :func:`evaluate_model` — the trainer's periodic evaluation (reference semantics, all-reduced across ranks).
* :func:`evaluate_split` / :func:`scaling_sweep` — one segment cap, or many from a single pass over the data.
* :class:`ArcVoter` / :class:`ArcRowVoter` — de-augment, vote by (count, mean halt probability), pass@K.
* :func:`run_evaluation` — everything ``hrm evaluate`` does, from an :class:`EvaluateOptions`.

See docs/evaluation.md for the metric definitions and the differences from the reference.
"""

from hrm.evaluation.arc_vote import ArcRowVoter, ArcScore, ArcVoter, views_from_identifiers, views_from_records
from hrm.evaluation.evaluate import (
    EvalBatch,
    EvalResult,
    evaluate_batches,
    evaluate_model,
    evaluate_split,
    outputs_by_cap,
    parse_segments,
    scaling_sweep,
)
from hrm.evaluation.metrics import MetricAccumulator, MetricSummary, row_metrics
from hrm.evaluation.plots import plot_scaling_sweep
from hrm.evaluation.runner import EvalReport, EvaluateOptions, run_evaluation

__all__ = [
    "ArcRowVoter",
    "ArcScore",
    "ArcVoter",
    "EvalBatch",
    "EvalReport",
    "EvalResult",
    "EvaluateOptions",
    "MetricAccumulator",
    "MetricSummary",
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
