"""Analyses of trained models: dimensionality of the states (paper Fig. 8) and halting behaviour."""

from hrm.analysis.dimensionality import (
    DimensionalityReport,
    DimensionalityResult,
    compare_trained_untrained,
    measure_dimensionality,
    participation_ratio,
)
from hrm.analysis.halting import HaltingReport, analyze_halting

__all__ = [
    "DimensionalityReport",
    "DimensionalityResult",
    "HaltingReport",
    "analyze_halting",
    "compare_trained_untrained",
    "measure_dimensionality",
    "participation_ratio",
]
