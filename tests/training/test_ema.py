"""EMA of the parameters: the averaging formula, swapping in and out, buffers, state dicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hrm.model.puzzle_embedding import PuzzleEmbedding
from hrm.training.ema import EMA


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.puzzle_emb = PuzzleEmbedding(4, 2)  # a trained buffer: not averaged

    def set_all(self, value: float) -> None:
        with torch.no_grad():
            for p in self.parameters():
                p.fill_(value)


def test_ema_formula_over_updates() -> None:
    model = Tiny()
    model.set_all(1.0)
    ema = EMA(model, decay=0.9)
    model.set_all(3.0)
    ema.update(model)
    model.set_all(-2.0)
    ema.update(model)
    # s1 = 0.9·1 + 0.1·3 = 1.2; s2 = 0.9·1.2 + 0.1·(−2) = 0.88
    for name, shadow in ema.shadow.items():
        assert shadow.dtype == torch.float32
        assert torch.allclose(shadow, torch.full_like(shadow, 0.88), rtol=0, atol=1e-6), name
    assert ema.num_updates == 2
    assert set(ema.shadow) == {"lin.weight", "lin.bias"}  # parameters only, no buffers


def test_ema_shadow_is_a_copy() -> None:
    model = Tiny()
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.lin.weight.add_(1.0)
    assert not torch.equal(ema.shadow["lin.weight"], model.lin.weight)


def test_swapped_in_loads_averages_keeps_buffers_and_restores() -> None:
    model = Tiny()
    model.set_all(0.0)
    ema = EMA(model, decay=0.5)
    model.set_all(4.0)
    ema.update(model)  # shadow = 2
    with torch.no_grad():
        model.puzzle_emb.weight.fill_(7.0)  # the live table must be used verbatim during the swap
    with ema.swapped_in(model) as swapped:
        assert swapped is model
        assert torch.equal(model.lin.weight, torch.full_like(model.lin.weight, 2.0))
        assert torch.equal(model.lin.bias, torch.full_like(model.lin.bias, 2.0))
        assert torch.equal(model.puzzle_emb.weight, torch.full((4, 2), 7.0))
        out = model.lin(torch.ones(1, 3))
        assert torch.allclose(out, torch.full((1, 2), 2.0 * 3 + 2.0))
    assert torch.equal(model.lin.weight, torch.full_like(model.lin.weight, 4.0))
    assert torch.equal(model.puzzle_emb.weight, torch.full((4, 2), 7.0))


def test_swapped_in_restores_after_an_exception() -> None:
    model = Tiny()
    model.set_all(1.0)
    ema = EMA(model, decay=0.0)
    model.set_all(5.0)
    with pytest.raises(RuntimeError, match="boom"), ema.swapped_in(model):
        raise RuntimeError("boom")
    assert torch.equal(model.lin.weight, torch.full_like(model.lin.weight, 5.0))


def test_ema_state_dict_round_trip_and_copy_to() -> None:
    model = Tiny()
    ema = EMA(model, decay=0.75)
    with torch.no_grad():
        model.lin.weight.mul_(2.0)
    ema.update(model)
    state = ema.state_dict()
    other = EMA(Tiny(), decay=0.1)
    other.load_state_dict(state)
    assert other.decay == 0.75 and other.num_updates == 1
    for name in ema.shadow:
        assert torch.equal(other.shadow[name], ema.shadow[name])
    # the state dict holds copies, not the live shadow
    state["shadow"]["lin.bias"].add_(100.0)
    assert not torch.equal(ema.shadow["lin.bias"], state["shadow"]["lin.bias"])
    target = Tiny()
    other.copy_to(target)
    assert torch.equal(target.lin.weight, ema.shadow["lin.weight"])


def test_ema_errors() -> None:
    with pytest.raises(ValueError):
        EMA(Tiny(), decay=1.5)
    ema = EMA(Tiny())
    with pytest.raises(ValueError, match="missing"):
        ema.update(nn.Linear(3, 2))
    with pytest.raises(ValueError):
        ema.load_state_dict({"decay": 0.9, "num_updates": 0, "shadow": {"lin.weight": torch.zeros(2, 3)}})
