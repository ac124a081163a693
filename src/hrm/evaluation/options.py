"""What ``hrm evaluate`` was asked to do: :class:`EvaluateOptions`, and its checks of option combinations.

The CLI (:mod:`hrm.cli.evaluate`) parses arguments into this one dataclass; :func:`hrm.evaluation.runner.run_evaluation`
validates it first, so a contradictory command line fails before any checkpoint or data is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hrm.errors import UserError
from hrm.evaluation.arc_vote import DEFAULT_KS
from hrm.evaluation.depth_breadth import DepthBreadthOptions
from hrm.evaluation.test_time import TestTimeOptions


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
        limit: evaluate only the first N puzzles of a direct file.
        pass_k: ARC pass@K values to report.
        test_time: also measure test-time scaling (augmentation voting, noisy trajectories, Sudoku rule check)
            at the last segment cap, on the same rows (:mod:`hrm.evaluation.test_time`).
        depth_breadth: also run depth x breadth (:mod:`hrm.evaluation.depth_breadth`) on the same rows.
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
    pass_k: tuple[int, ...] = DEFAULT_KS
    progress: bool = True
    save_predictions: int = 0  # with out: per-segment predictions of the first N rows (segment_trace.py)
    test_time: TestTimeOptions | None = None
    depth_breadth: DepthBreadthOptions | None = None  # K trajectories x D segments (hrm.evaluation.depth_breadth)

    @property
    def direct(self) -> bool:
        """Whether the data is a puzzle file read directly (``--sudoku``/``--csv``/``--arc-json``)."""
        return any(s is not None for s in (self.sudoku, self.csv, self.arc_json))

    def validate(self) -> None:
        """UserError (one line, with the fix) for a contradictory combination of options."""
        direct_sources = [s for s in (self.sudoku, self.csv, self.arc_json) if s is not None]
        if len(direct_sources) > 1:
            raise UserError("give at most one of --sudoku, --csv and --arc-json")
        if direct_sources and self.data is not None:
            raise UserError("--data and --sudoku/--csv/--arc-json are exclusive; pick a dataset or a puzzle file")
        if self.solutions is not None and self.sudoku is None:
            raise UserError("--solutions goes with --sudoku FILE (a puzzle line file)")
        if self.tasks and self.arc_json is None:
            raise UserError("--tasks goes with --arc-json FILE")
        if self.batch_size < 1:
            raise UserError(f"--batch-size {self.batch_size}: must be >= 1")
        if self.save_predictions and self.out is None:
            raise UserError("--save-predictions N writes into the --out folder; give --out DIR too")
