"""Hostile sizes (T1): every family's config refuses a model too large or too deep before anything is built."""

from __future__ import annotations

import pytest

from hrm.model.limits import MAX_LAYERS, MAX_RECURRENCE
from hrm.model.registry import FAMILIES

HOSTILE = [
    ("hrm", {"hidden_size": 1_000_000, "num_heads": 8}, "values"),
    ("hrm", {"high_layers": 100_000}, "high_layers must be at most"),
    ("hrm", {"low_cycles": 10**9}, "low_cycles must be at most"),
    ("hrm", {"halt_max_steps": 10**9}, "halt_max_steps must be at most"),
    ("transformer", {"hidden_size": 1_000_000, "num_heads": 8}, "values"),
    ("transformer", {"num_layers": 100_000}, "num_layers must be at most"),
    ("looped", {"loops": 10**9}, "loops must be at most"),
    ("looped", {"num_layers": MAX_LAYERS + 1}, "num_layers must be at most"),
    ("trm", {"puzzle_emb_len": 100_000_000}, "puzzle_emb_len must be at most"),
    ("trm", {"high_cycles": MAX_RECURRENCE + 1}, "high_cycles must be at most"),
    ("trm", {"mlp_t": True, "puzzle_emb_len": 1000, "seq_len": 900, "expansion": 4000.0}, "values"),
    ("gru", {"rnn_hidden": 10_000_000}, "values"),
    ("gru", {"match_parameters": 10**12}, "match_parameters must be at most"),
    ("lstm", {"num_layers": 100_000}, "num_layers must be at most"),
    ("lstm", {"hidden_size": "wide"}, "must be"),
]


@pytest.mark.parametrize(("family", "fields", "message"), HOSTILE)
def test_hostile_sizes_are_refused_before_anything_is_built(family, fields, message):
    fields = {"vocab_size": 11, "seq_len": 81, **fields}
    with pytest.raises(ValueError, match=message):
        FAMILIES[family].config_cls(**fields)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_default_and_paper_sized_configs_pass_the_bounds(family):
    # The bound is a sanity check, not a limit on real experiments: the paper's ARC size (30x30 grids, a large
    # puzzle-ID table) passes for every family.
    FAMILIES[family].config_cls(vocab_size=12, seq_len=900, num_puzzle_identifiers=960_000)
