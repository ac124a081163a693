"""Inference on single puzzles: parse a user's puzzle, run a model with early exit, check and show the answer.

The entry point is :func:`hrm.solve` (defined in :mod:`hrm.inference.solve`).
"""

from hrm.inference.puzzles import Puzzle, load_puzzle
from hrm.inference.solve import SegmentPrediction, SolveResult, UnseenTaskError

__all__ = ["Puzzle", "SegmentPrediction", "SolveResult", "UnseenTaskError", "load_puzzle"]
