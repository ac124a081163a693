"""AdamATan2, the puzzle-embedding sign-SGD and the LR schedule against independently computed values."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from torch import nn

from hrm.model.puzzle_embedding import PuzzleEmbedding
from hrm.training.optim import AdamATan2, PuzzleEmbeddingSignSGD, SignSGD, lr_at, set_lr

B1, B2 = 0.9, 0.95


def reference_adam_atan2(p0: float, grads: list[float | None], lrs: list[float], wd: float) -> float:
    """Scalar float64 Adam-atan2 written from the formula; a None grad skips the step (no count, no decay)."""
    p, m, v, t = p0, 0.0, 0.0, 0
    for g, lr in zip(grads, lrs):
        if g is None:
            continue
        t += 1
        p = p * (1 - lr * wd)
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        p = p - (lr / (1 - B1**t)) * math.atan2(m, math.sqrt(v) / math.sqrt(1 - B2**t))
    return p


# --------------------------------------------------------------------------------------------- AdamATan2


def test_adam_atan2_first_step_literal() -> None:
    # Step 1: m = 0.1g, √v/√(1−β2) = |g|, so p1 = p0(1 − lr·wd) − (lr/0.1)·atan(0.1)·sign(g).
    # (Bias correction inside atan2 would give π/4 instead of 10·atan(0.1) ≈ 0.9967.)
    p = nn.Parameter(torch.tensor([1.0, -0.5], dtype=torch.float64))
    opt = AdamATan2([p], lr=0.01, weight_decay=0.1)
    p.grad = torch.tensor([2.0, -3.0], dtype=torch.float64)
    opt.step()
    expected = [0.999 - 0.1 * math.atan(0.1), -0.5 * 0.999 + 0.1 * math.atan(0.1)]
    assert p.detach().tolist() == pytest.approx(expected, rel=1e-14, abs=1e-15)
    assert expected[0] == pytest.approx(0.989033135, abs=1e-9)


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-13), (torch.float32, 2e-6)])
def test_adam_atan2_three_steps_match_formula(dtype: torch.dtype, tol: float, foreach: bool) -> None:
    p0 = [0.3, -1.2, 2.0, 0.0, 0.7]
    grads = [
        [0.5, -0.1, 0.0, 1e-3, -2.0],
        [-0.4, -0.2, 0.3, 0.0, 1.5],
        [0.05, 0.6, -0.7, 2e-3, 0.0],
    ]
    lrs = [1e-2, 3e-2, 5e-3]  # the lr is read from param_groups at every step
    wd = 0.1
    p = nn.Parameter(torch.tensor(p0, dtype=dtype))
    opt = AdamATan2([p], lr=0.0, betas=(B1, B2), weight_decay=wd, foreach=foreach)
    for g, lr in zip(grads, lrs):
        set_lr(opt, lr)
        p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
    for i in range(len(p0)):
        want = reference_adam_atan2(p0[i], [g[i] for g in grads], lrs, wd)
        assert p[i].item() == pytest.approx(want, rel=tol, abs=tol)
    assert opt.state[p]["step"].item() == 3


@pytest.mark.parametrize("foreach", [True, False])
def test_adam_atan2_per_parameter_step_counts(foreach: bool) -> None:
    # b has no grad on step 1, so its bias corrections run one step behind a's.
    a = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    b = nn.Parameter(torch.tensor([-2.0], dtype=torch.float64))
    opt = AdamATan2([a, b], lr=0.02, weight_decay=0.5, foreach=foreach)
    ga, gb = [0.3, -0.8, 0.1], [None, 0.4, 0.9]
    for i in range(3):
        a.grad = torch.tensor([ga[i]], dtype=torch.float64)
        b.grad = None if gb[i] is None else torch.tensor([gb[i]], dtype=torch.float64)
        opt.step()
    assert a.item() == pytest.approx(reference_adam_atan2(1.0, ga, [0.02] * 3, 0.5), rel=1e-13)
    assert b.item() == pytest.approx(reference_adam_atan2(-2.0, gb, [0.02] * 3, 0.5), rel=1e-13)
    assert opt.state[b]["step"].item() == 2


def test_adam_atan2_param_groups_use_their_own_hyperparameters() -> None:
    a = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    b = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = AdamATan2([{"params": [a]}, {"params": [b], "lr": 0.1, "weight_decay": 0.0}], lr=0.01, weight_decay=0.2)
    a.grad = torch.tensor([1.0], dtype=torch.float64)
    b.grad = torch.tensor([1.0], dtype=torch.float64)
    opt.step()
    assert a.item() == pytest.approx(reference_adam_atan2(1.0, [1.0], [0.01], 0.2), rel=1e-14)
    assert b.item() == pytest.approx(reference_adam_atan2(1.0, [1.0], [0.1], 0.0), rel=1e-14)


def test_adam_atan2_paths_agree_on_large_and_strided_tensors() -> None:
    # Larger than one slice of the sliced path (with a ragged tail), plus a non-contiguous parameter.
    gen = torch.Generator().manual_seed(0)
    shapes = [(3, (1 << 18) + 1001), (7,)]
    init = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    init.append(torch.randn(5, 4, generator=gen, dtype=torch.float64).t())
    grads = [[torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in init] for _ in range(3)]
    results = []
    for foreach in (True, False):
        params = [nn.Parameter(t.clone()) if t.is_contiguous() else nn.Parameter(t.t().clone().t()) for t in init]
        assert not params[2].is_contiguous()
        opt = AdamATan2(params, lr=1e-2, weight_decay=0.1, foreach=foreach)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = g.clone()
            opt.step()
        results.append([p.detach() for p in params])
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=1e-14, atol=1e-16)
    # and both moved every element by the formula (spot-check a few against the scalar reference)
    for idx in [(0, 0), (2, (1 << 18) + 1000), (1, 5)]:
        want = reference_adam_atan2(init[0][idx].item(), [g[0][idx].item() for g in grads], [1e-2] * 3, 0.1)
        assert results[1][0][idx].item() == pytest.approx(want, rel=1e-12)


def test_adam_atan2_lr_zero_construction_and_step() -> None:
    lin = nn.Linear(3, 2)
    before = copy.deepcopy(lin.state_dict())
    opt = AdamATan2(lin.parameters(), lr=0)
    lin(torch.randn(4, 3)).sum().backward()
    opt.step()
    for k, v in lin.state_dict().items():
        assert torch.equal(v, before[k])
    # The moments and step count still advance (as in the reference, where step 1 may have lr = 0).
    assert opt.state[lin.weight]["step"].item() == 1
    assert opt.state[lin.weight]["exp_avg"].abs().sum() > 0


def test_adam_atan2_weight_decay_on_every_parameter_including_bias() -> None:
    lin = nn.Linear(4, 3, bias=True)
    with torch.no_grad():
        lin.bias.fill_(0.5)
    frozen = nn.Parameter(torch.ones(2))  # no grad at all: skipped, not even decayed
    before_w, before_b = lin.weight.detach().clone(), lin.bias.detach().clone()
    opt = AdamATan2([*lin.parameters(), frozen], lr=0.1, weight_decay=0.2)
    # Zero gradients make atan2(0, 0) = 0, leaving exactly the decoupled decay p·(1 − lr·wd).
    lin.weight.grad = torch.zeros_like(lin.weight)
    lin.bias.grad = torch.zeros_like(lin.bias)
    opt.step()
    factor = torch.tensor(1 - 0.1 * 0.2, dtype=torch.float32)
    assert torch.equal(lin.weight.detach(), before_w * factor)
    assert torch.equal(lin.bias.detach(), before_b * factor)
    assert torch.equal(frozen.detach(), torch.ones(2))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1e-3},
        {"lr": float("nan")},
        {"betas": (1.0, 0.95)},
        {"betas": (0.9, -0.1)},
        {"betas": (-0.01, 0.95)},
        {"weight_decay": -0.1},
    ],
)
def test_adam_atan2_rejects_invalid_hyperparameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        AdamATan2([nn.Parameter(torch.zeros(1))], **kwargs)


def _run(model: nn.Module, opt: AdamATan2, seeds: range) -> None:
    for seed in seeds:
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(5, 4, generator=gen)
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()


def test_adam_atan2_state_dict_round_trip_continues_identically() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = AdamATan2(model.parameters(), lr=1e-2)
    _run(model, opt, range(3))

    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)

    clone = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    clone.load_state_dict(saved["model"])
    clone_opt = AdamATan2(clone.parameters(), lr=0.0)
    clone_opt.load_state_dict(saved["opt"])
    assert clone_opt.param_groups[0]["lr"] == 1e-2

    _run(model, opt, range(3, 6))
    _run(clone, clone_opt, range(3, 6))
    for a, b in zip(model.parameters(), clone.parameters()):
        assert torch.equal(a, b)
    assert clone_opt.state[next(clone.parameters())]["step"].item() == 6


# --------------------------------------------------------------------------------------------- sign-SGD


def _backward_rows(emb: PuzzleEmbedding, ids: list[int], grads: list[list[float]]) -> None:
    """A training forward on ``ids`` whose rows then receive exactly ``grads`` as gradient."""
    out = emb(torch.tensor(ids), torch.float32)
    (out * torch.tensor(grads)).sum().backward()


def _table(rows: list[list[float]]) -> PuzzleEmbedding:
    emb = PuzzleEmbedding(len(rows), len(rows[0]))
    emb.weight.copy_(torch.tensor(rows))
    emb.train()
    return emb


def test_signsgd_updates_only_batch_rows_with_hand_values() -> None:
    emb = _table([[1.0, -2.0], [0.5, 0.5], [4.0, 4.0], [-1.0, 3.0]])
    opt = PuzzleEmbeddingSignSGD(emb, lr=0.5, weight_decay=0.5)
    _backward_rows(emb, [1, 3], [[0.3, -0.0], [-2.0, 7.0]])
    opt.step()
    decay = 1 - 0.5 * 0.5  # 0.75: every expected value is exact in float32
    expected = torch.tensor(
        [
            [1.0, -2.0],  # untouched: no lazy decay
            [0.5 * decay - 0.5, 0.5 * decay],  # sign(0) = 0: decayed only
            [4.0, 4.0],  # untouched
            [-1.0 * decay + 0.5, 3.0 * decay - 0.5],
        ]
    )
    assert torch.equal(emb.weight, expected)
    assert emb.pop_pending() == []  # step consumed the pending rows


def test_signsgd_sums_duplicate_ids_before_the_sign() -> None:
    # Id 1 appears three times: +3, -1, -1 sum to +1 (sign +1), while the per-occurrence majority is -1 and
    # applying each occurrence separately would give a net -1 step.
    emb = _table([[0.0], [0.0], [0.0]])
    opt = PuzzleEmbeddingSignSGD(emb, lr=0.25, weight_decay=0.0)
    _backward_rows(emb, [1, 2, 1, 1], [[3.0], [-5.0], [-1.0], [-1.0]])
    opt.step()
    assert emb.weight.flatten().tolist() == [0.0, -0.25, 0.25]


def test_signsgd_sums_across_forward_calls_and_skips_rows_without_grad() -> None:
    emb = _table([[1.0], [1.0], [1.0]])
    opt = PuzzleEmbeddingSignSGD(emb, lr=0.5, weight_decay=0.0)
    a = emb(torch.tensor([0]), torch.float32)
    b = emb(torch.tensor([0]), torch.float32)
    emb(torch.tensor([2]), torch.float32)  # never used in the loss: its rows get no grad
    (2.0 * a - 3.0 * b).sum().backward()  # id 0: 2 − 3 = −1 → sign −1 → +lr
    opt.step()
    assert emb.weight.flatten().tolist() == [1.5, 1.0, 1.0]


def test_signsgd_zero_grad_clears_recorded_gradients() -> None:
    emb = _table([[1.0], [1.0]])
    opt = SignSGD(emb, lr=0.5, weight_decay=0.1)
    _backward_rows(emb, [0], [[1.0]])
    opt.zero_grad()
    opt.step()
    assert emb.weight.flatten().tolist() == [1.0, 1.0]
    # forward → zero_grad → backward → step still trains
    out = emb(torch.tensor([1]), torch.float32)
    opt.zero_grad()
    out.sum().backward()
    opt.step()
    assert emb.weight.flatten().tolist() == pytest.approx([1.0, 1.0 * 0.95 - 0.5])


def test_signsgd_lr_schedule_and_state_dict() -> None:
    emb = _table([[0.0]])
    opt = PuzzleEmbeddingSignSGD(emb, lr=0.0, weight_decay=0.1)
    set_lr(opt, 0.125)
    assert opt.lr == 0.125
    _backward_rows(emb, [0], [[-1.0]])
    opt.step()
    assert emb.weight.item() == 0.125
    state = opt.state_dict()
    other = PuzzleEmbeddingSignSGD(_table([[0.0]]), lr=0.0, weight_decay=0.0)
    other.load_state_dict(state)
    assert other.param_groups == [{"lr": 0.125, "weight_decay": 0.1}]
    with pytest.raises(ValueError):
        PuzzleEmbeddingSignSGD(emb, lr=-1.0)
    with pytest.raises(ValueError):
        PuzzleEmbeddingSignSGD(emb, weight_decay=-1.0)
    with pytest.raises(ValueError):
        set_lr(opt, -0.1)


def test_signsgd_eval_forward_records_nothing() -> None:
    emb = _table([[1.0]])
    opt = PuzzleEmbeddingSignSGD(emb, lr=0.5, weight_decay=0.0)
    emb.eval()
    emb(torch.tensor([0]), torch.float32)
    opt.step()
    assert emb.weight.item() == 1.0


# --------------------------------------------------------------------------------------------- LR schedule


def test_lr_warmup_is_linear_from_step_one() -> None:
    assert lr_at(0, 1e-4, 2000, 10000) == 0.0
    assert lr_at(1, 1e-4, 2000, 10000) == pytest.approx(1e-4 / 2000, rel=1e-15)
    assert lr_at(1000, 1e-4, 2000, 10000, min_ratio=0.1) == pytest.approx(0.5e-4, rel=1e-15)
    assert lr_at(1999, 1e-4, 2000, 10000) == pytest.approx(1e-4 * 1999 / 2000, rel=1e-15)


def test_lr_cosine_boundary_middle_end() -> None:
    base, r = 2.0, 0.1
    assert lr_at(100, base, 100, 300, r) == pytest.approx(base)  # boundary: progress 0
    assert lr_at(200, base, 100, 300, r) == pytest.approx(base * (r + (1 - r) * 0.5))  # cos(π/2) = 0
    q = lr_at(150, base, 100, 300, r)  # progress 1/4
    assert q == pytest.approx(base * (r + (1 - r) * 0.5 * (1 + math.sqrt(0.5))), rel=1e-14)
    assert lr_at(300, base, 100, 300, r) == pytest.approx(base * r, rel=1e-14)  # end
    assert lr_at(400, base, 100, 300, r) == pytest.approx(base * r, rel=1e-14)  # held after the end
    assert lr_at(10, base, 0, 20, 0.0) == pytest.approx(base * 0.5)  # no warmup


def test_lr_min_ratio_one_is_constant_after_warmup() -> None:
    values = [lr_at(s, 1e-4, 2000, 26041) for s in (2000, 2001, 13000, 26041)]
    assert values == [1e-4] * 4


@pytest.mark.parametrize(
    "args", [(-1, 1.0, 10, 100, 1.0), (1, -1.0, 10, 100, 1.0), (1, 1.0, -1, 100, 1.0), (1, 1.0, 10, 100, 1.5)]
)
def test_lr_rejects_invalid_arguments(args: tuple) -> None:
    with pytest.raises(ValueError):
        lr_at(*args)


def test_set_lr_writes_every_group() -> None:
    opt = AdamATan2([{"params": [nn.Parameter(torch.zeros(1))]}, {"params": [nn.Parameter(torch.zeros(1))]}], lr=0)
    set_lr(opt, 3e-4)
    assert [g["lr"] for g in opt.param_groups] == [3e-4, 3e-4]
