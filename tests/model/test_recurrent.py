"""GRU / LSTM baselines: shapes, parameter matching, one pass, determinism."""

from __future__ import annotations

import pytest
import torch

from hrm.model.recurrent import GRUBaseline, GRUConfig, LSTMBaseline, LSTMConfig
from tests.model.zoo_helpers import batch_for

FAMILIES = [(GRUBaseline, GRUConfig), (LSTMBaseline, LSTMConfig)]


def tiny(config_cls, **over):
    base = dict(vocab_size=6, seq_len=16, num_puzzle_identifiers=3, hidden_size=16, num_layers=2)
    base.update(over)
    return config_cls(**base)


@pytest.mark.parametrize("model_cls, config_cls", FAMILIES)
def test_shapes_and_single_pass(model_cls, config_cls):
    torch.manual_seed(0)
    model = model_cls(tiny(config_cls)).train()
    assert model.family == config_cls.family and model.max_segments == 1 and not model.has_halting_head
    batch = batch_for(model.config)
    carry, out = model(model.initial_carry(batch), batch)
    assert set(out) == {"logits"} and out["logits"].shape == (3, 16, 6)
    assert bool(carry.halted.all()) and carry.state == {}
    out["logits"].sum().backward()
    assert model.core.rnn.weight_hh_l1.grad is not None


@pytest.mark.parametrize("model_cls, config_cls", FAMILIES)
def test_parameter_count_formula_and_matching(model_cls, config_cls):
    cfg = tiny(config_cls, rnn_hidden=12)
    assert model_cls(cfg).num_parameters()["trunk"] == cfg.trunk_parameters(12)
    matched = tiny(config_cls, match_parameters=27_275_266, hidden_size=512, num_layers=2)
    with torch.device("meta"):
        count = model_cls(matched).num_parameters()["trunk"]
    assert abs(count - 27_275_266) / 27_275_266 < 0.005
    assert abs(matched.trunk_parameters(matched.units + 1) - 27_275_266) >= abs(count - 27_275_266)


@pytest.mark.parametrize("model_cls, config_cls", FAMILIES)
def test_reads_the_whole_grid_in_both_directions(model_cls, config_cls):
    """Changing the last token changes the first position's logits (backward direction) and vice versa."""
    torch.manual_seed(0)
    model = model_cls(tiny(config_cls, puzzle_emb_ndim=0)).eval()
    batch = batch_for(model.config)
    inputs = batch["inputs"].clone()
    ids = batch["puzzle_identifiers"]
    base = model._segment({}, inputs, ids)[1]
    inputs[:, -1] = (inputs[:, -1] + 1) % 6
    changed = model._segment({}, inputs, ids)[1]
    assert not torch.allclose(base[:, 0], changed[:, 0])
    uni = model_cls(tiny(config_cls, puzzle_emb_ndim=0, bidirectional=False)).eval()
    base = uni._segment({}, batch["inputs"], ids)[1]
    changed = uni._segment({}, inputs, ids)[1]
    torch.testing.assert_close(base[:, :-1], changed[:, :-1])


@pytest.mark.parametrize("model_cls, config_cls", FAMILIES)
def test_deterministic(model_cls, config_cls):
    def run():
        torch.manual_seed(4)
        model = model_cls(tiny(config_cls)).train()
        batch = batch_for(model.config)
        return model(model.initial_carry(batch), batch)[1]["logits"].detach()

    torch.testing.assert_close(run(), run(), rtol=0, atol=0)
    assert config_cls.from_dict(tiny(config_cls).to_dict()) == tiny(config_cls)
