"""The one-pass segment runner agrees with HRM.predict for every cap, with and without early exit."""

from __future__ import annotations

import pytest
import torch

from hrm.errors import UserError
from hrm.evaluation.evaluate import outputs_by_cap, parse_segments
from hrm.model import HRM
from tests.conftest import tiny_batch, tiny_config


def _model() -> HRM:
    torch.manual_seed(0)
    model = HRM(tiny_config()).eval()
    with torch.no_grad():  # a Q head that halts some rows early
        model.core.q_head.weight.normal_(0.0, 1.0)
        model.core.q_head.bias.zero_()
    return model


@pytest.mark.parametrize("early_exit", [False, True])
def test_outputs_by_cap_matches_predict(early_exit):
    model = _model()
    batch = tiny_batch(model.config, batch_size=8)
    inputs, pids = batch["inputs"].long(), batch["puzzle_identifiers"].long()
    caps = [1, 2, 3, 6]
    out = outputs_by_cap(model, inputs, pids, caps, early_exit=early_exit)
    saw_early = False
    for m in caps:
        ref = model.predict(inputs, pids, max_segments=m, early_exit=early_exit)
        assert torch.equal(out[m].segments, ref["segments"])
        assert torch.equal(out[m].predictions, ref["logits"].argmax(-1))
        assert torch.allclose(out[m].q_halt_logits, ref["q_halt_logits"], atol=1e-5)
        assert torch.allclose(out[m].q_continue_logits, ref["q_continue_logits"], atol=1e-5)
        saw_early |= bool((ref["segments"] < m).any())
    assert saw_early == early_exit


def test_parse_segments():
    assert parse_segments("16") == [16]
    assert parse_segments("32,1,2, 4,2") == [1, 2, 4, 32]
    assert parse_segments(8) == [8]
    for bad in ("", "0", "a,b", "-1"):
        with pytest.raises(UserError):
            parse_segments(bad)
