"""2-D rotary positions (``pos_encodings="rope2d"``, issue 22 item 6): rows and columns rotated separately."""

from __future__ import annotations

import pytest
import torch

from hrm.model.layers import Rotary2DEmbedding, RotaryEmbedding, apply_rotary
from hrm.model.registry import build_model
from hrm.training.config import apply_overrides
from hrm.training.recipes import get_recipe


def score(rotary, q, k, i, j, length):
    cos, sin = rotary(length)
    qi = apply_rotary(q.view(1, 1, 1, -1), cos[i : i + 1], sin[i : i + 1])
    kj = apply_rotary(k.view(1, 1, 1, -1), cos[j : j + 1], sin[j : j + 1])
    return float((qi * kj).sum())


def test_scores_depend_on_the_row_and_column_offset():
    torch.manual_seed(0)
    side, prefix = 4, 1
    rotary = Rotary2DEmbedding(16, prefix, prefix + side * side, 10000.0)
    q, k = torch.randn(16), torch.randn(16)

    def at(r, c):
        return prefix + r * side + c

    length = prefix + side * side
    # (0,0)->(1,2) and (2,1)->(3,3): the same offset, the same score.
    assert score(rotary, q, k, at(0, 0), at(1, 2), length) == pytest.approx(
        score(rotary, q, k, at(2, 1), at(3, 3), length), abs=1e-5
    )
    # 1-D RoPE on the same tokens sees reading-order distances: (0,3)->(1,0) is 1 apart, (0,0)->(1,1) is 5 apart.
    one_d = RotaryEmbedding(16, length, 10000.0)
    assert score(one_d, q, k, at(0, 3), at(1, 0), length) == pytest.approx(
        score(one_d, q, k, at(2, 0), at(2, 1), length), abs=1e-5
    )
    assert score(rotary, q, k, at(0, 3), at(1, 0), length) != pytest.approx(
        score(rotary, q, k, at(2, 0), at(2, 1), length), abs=1e-3
    )
    rows, cols = rotary.positions(length, torch.device("cpu"))
    assert (rows[0], cols[0]) == (0, 0) and (rows[at(2, 3)], cols[at(2, 3)]) == (3, 3)


def test_a_grid_that_is_not_square_is_refused():
    with pytest.raises(ValueError, match="square grid"):
        Rotary2DEmbedding(16, 1, 1 + 10, 10000.0)
    with pytest.raises(ValueError, match="divisible by 4"):
        Rotary2DEmbedding(6, 1, 17, 10000.0)


@pytest.mark.parametrize("family", ["hrm", "trm", "transformer", "looped"])
def test_every_attention_family_takes_rope2d(family):
    section = {"hrm": "arch"}.get(family, family)
    config = apply_overrides(get_recipe("tiny"), [f"model={family}", f"{section}.pos_encodings=rope2d"])
    torch.manual_seed(0)
    model = build_model(family, config.model_config(6, 16, 1)).eval()
    x = torch.randint(0, 6, (2, 16), dtype=torch.int32)
    out = model.predict(x, torch.zeros(2, dtype=torch.int32), max_segments=2)
    assert out["logits"].shape == (2, 16, 6) and torch.isfinite(out["logits"]).all()
    with pytest.raises(ValueError, match="square grid"):
        model.predict(torch.randint(0, 6, (2, 15), dtype=torch.int32), torch.zeros(2, dtype=torch.int32))
    with pytest.raises(Exception, match="seq_len=15 is not a square"):
        config.model_config(6, 15, 1)
