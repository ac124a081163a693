"""``hrm evaluate`` as a library call: :func:`run_evaluation`, the evaluation package's entry point.

It reads top to bottom, and every step is one call into a module below it:

1. check the options (:meth:`EvaluateOptions.validate`) and the ``--out`` folder, before anything is computed;
2. open the checkpoint (:func:`hrm.checkpoints.open_checkpoint`);
3. resolve the rows: a dataset split or a puzzle file (:func:`hrm.evaluation.inputs.resolve_inputs`);
4. evaluate every segment cap in one pass over the model's segment loop
   (:func:`hrm.evaluation.evaluate.evaluate_batches`);
5. score what the data needs beyond the per-row metrics: Sudoku validity, ARC votes and pass@K, the metrics per
   difficulty (Sudoku givens, maze path length: :mod:`hrm.evaluation.breakdown`);
6. report: :class:`~hrm.evaluation.report.EvalReport`, the per-segment trace
   (:mod:`hrm.evaluation.segment_trace`) and the files under ``--out`` (:func:`hrm.evaluation.report.write_outputs`).

The CLI (:mod:`hrm.cli.evaluate`) only parses arguments into :class:`EvaluateOptions` and prints
:meth:`EvalReport.format`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hrm.checkpoints import open_checkpoint
from hrm.evaluation import depth_breadth, test_time
from hrm.evaluation.evaluate import apply_precision, evaluate_batches, model_device, parse_segments
from hrm.evaluation.inputs import ARC_SEQ_LEN_HINT, resolve_inputs
from hrm.evaluation.options import EvaluateOptions
from hrm.evaluation.report import EvalReport, write_outputs
from hrm.evaluation.segment_trace import save_segment_predictions
from hrm.runtime.device import resolve_device, resolve_precision
from hrm.runtime.files import check_output_dir
from hrm.runtime.memory import keep_freed_memory

__all__ = ["EvalReport", "EvaluateOptions", "run_evaluation"]


def run_evaluation(options: EvaluateOptions) -> EvalReport:
    """Evaluate a checkpoint as ``hrm evaluate`` does; write ``eval.json`` and friends when ``options.out``."""
    opts = options
    opts.validate()
    if opts.out is not None:
        check_output_dir(opts.out, "--out")  # before the evaluation, so a bad --out costs nothing
    device = resolve_device(opts.device)
    precision = resolve_precision(device, opts.dtype)
    if device.type == "cpu":
        keep_freed_memory()  # at ARC scale, per-op mmap/munmap of activations cost as much as the arithmetic

    checkpoint = open_checkpoint(
        opts.checkpoint, device="cpu", seq_len=ARC_SEQ_LEN_HINT if opts.arc_json is not None else None
    )
    model = checkpoint.model
    caps = parse_segments(opts.max_segments) if opts.max_segments else [model.max_segments]
    notes: list[str] = []
    inputs = resolve_inputs(opts, checkpoint, keep_cap=caps[-1], notes=notes)

    if opts.test_time is not None:
        opts.test_time.check(inputs.kind, model)  # before the main pass: a bad flag costs nothing
    if opts.depth_breadth is not None:
        has_verifier = depth_breadth.verifier_for(inputs.kind, inputs.sudoku_side) is not None
        opts.depth_breadth.check(inputs.kind, model, has_verifier)
    apply_precision(model, precision)
    by_cap = evaluate_batches(
        model,
        inputs.batches(model_device(model)),
        caps,
        early_exit=opts.early_exit,
        consumers=inputs.consumers,
        total=inputs.num_rows,
        progress=opts.progress,
    )
    results = [by_cap[m] for m in sorted(by_cap)]

    for r in results:
        if inputs.sudoku_checker is not None:
            r.extra["valid_solution_rate"] = inputs.sudoku_checker.rate(r.max_segments)
        if inputs.arc_rows is not None:
            r.arc = inputs.arc_rows.voter(r.max_segments).score(opts.pass_k)
        if inputs.breakdown is not None:
            r.breakdown = inputs.breakdown.result(r.max_segments)
    tt_rows = None
    if opts.test_time is not None:  # on the same rows, at the last cap, beside the plain answer
        tt_options = dataclasses.replace(opts.test_time, max_segments=caps[-1], early_exit=opts.early_exit)
        tt_rows = test_time.evaluate_test_time(
            model, inputs.batches(model_device(model)), inputs.kind, inputs.sudoku_side, tt_options
        )

    db_result = None
    if opts.depth_breadth is not None:  # on the same rows: K trajectories x D segments, every choice rule
        db_result = _depth_breadth(opts, model, inputs)

    report = EvalReport(
        depth_breadth=db_result,
        test_time=tt_rows,
        checkpoint=str(checkpoint.path),
        data=inputs.source,
        kind=inputs.kind,
        num_rows=inputs.num_rows,
        results=results,
        notes=notes,
        seconds=results[0].seconds if results else 0.0,
    )
    if opts.out is not None and opts.save_predictions > 0:
        path = save_segment_predictions(
            model,
            inputs.batches(model_device(model)),
            Path(opts.out),
            opts.save_predictions,
            caps[-1],
            kind=inputs.kind,
            source=inputs.source,
            checkpoint=str(checkpoint.path),
            early_exit=opts.early_exit,
            identifiers=inputs.identifiers,
        )
        report.files.append(str(path))
    if opts.out is not None:
        write_outputs(report, Path(opts.out), inputs.sudoku_checker, inputs.arc_rows, inputs.arc_order)
    return report


def _depth_breadth(opts: EvaluateOptions, model: Any, inputs: Any) -> dict[str, Any]:
    from hrm.evaluation.flops import measure_segment_flops

    db = opts.depth_breadth
    assert db is not None
    seq_len = int(model.config.seq_len)
    return depth_breadth.run_depth_breadth(
        model,
        inputs.batches(model_device(model)),
        db,
        views_for=depth_breadth.views_for(inputs.kind, inputs.sudoku_side, seq_len, db.seed),
        verifier=depth_breadth.verifier_for(inputs.kind, inputs.sudoku_side),
        segment_flops=measure_segment_flops(model, seq_len),
    )
