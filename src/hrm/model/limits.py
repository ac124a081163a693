"""Sanity bounds on every size and count a user can give: one home, checked before anything is allocated.

A mistyped or hostile value (``hidden_size=1000000``, ``num_layers=100000``, ``--augment-votes 1e9``) must be one
clear error, not an allocator crash or a run that never ends. Each bound sits far above anything the paper, its
successors or a single machine use, so no real experiment meets it.
"""

from __future__ import annotations

# About 32 GiB of fp32 weights plus one row's activations; the paper's model has 2.7e7 values, the ARC
# puzzle-ID table about 5e8.
MAX_MODEL_VALUES = 2**33
# Blocks (or RNN layers) in one stack: the paper's modules have 4, TRM 2, the Transformer baseline 8-16.
MAX_LAYERS = 1024
# Recurrent steps of one kind: cycles, loops, segments (M_max, halt_max_steps, --max-segments, eval.segments).
MAX_RECURRENCE = 4096
# Test-time candidates per puzzle (--augment-votes, --noise-samples): the ARC Prize setting uses 1000.
MAX_CANDIDATES = 4096
# Seeds in one comparison, and the largest seed (numpy's legacy seeding and many samplers take 32 bits).
MAX_SEEDS = 1000
MAX_SEED = 2**32 - 1
# Side of a generated maze (the paper's are 30 x 30).
MAX_MAZE_SIZE = 1024
# Puzzles generated for one dataset split (Sudoku-Extreme's full training set is about 3.8e6).
MAX_GENERATED = 10**8


def check_count(name: str, value: object, limit: int, minimum: int = 1) -> int:
    """``value`` as an int in [minimum, limit]; ValueError naming ``name`` and the bound otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if value > limit:
        raise ValueError(f"{name} must be at most {limit} (a sanity bound, see hrm.model.limits), got {value}")
    return value


def check_model_values(what: str, values: float, detail: str) -> None:
    """ValueError when a model would hold more than :data:`MAX_MODEL_VALUES` values (weights and one row)."""
    if values > MAX_MODEL_VALUES:
        raise ValueError(
            f"{what} describes about {values:.3g} values ({detail}), more than the {MAX_MODEL_VALUES:.3g} this "
            "library builds; make it smaller"
        )
