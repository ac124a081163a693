"""Muon (``optim.optimizer=muon``): the Newton–Schulz iteration against float64 truth, the update against the Muon
reference (tests/fixtures/muon, see its README), which parameters it takes, its config errors, and a tiny run that
learns and resumes exactly."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from hrm.checkpoints import list_checkpoints, load_train_state
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.model import HRM
from hrm.model.registry import build_model
from hrm.training.config import ConfigError, OptimConfig, TrainConfig, apply_overrides
from hrm.training.optim import (
    NS_COEFFICIENTS,
    AdamATan2,
    Muon,
    build_muon,
    lr_at,
    newton_schulz,
    set_lr,
    split_for_muon,
)
from hrm.training.recipes import get_recipe
from hrm.training.trainer import train
from tests.conftest import tiny_config

FIXTURE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "muon" / "muon_reference.json").read_text())

# Tolerance against float64 truth and the float64 reference run. Both sides compute the same products in float64
# (unit roundoff 1.1e-16) but in different orders (fused addmm vs separate ops, different norm kernels). The
# quintic's largest slope is a = 3.4445 at 0, so five steps can amplify a rounding difference by at most about
# 3.4445⁵ ≈ 490, and the update of entries of size ≤ 1 then differs by ≲ 1e-13; a step multiplies that by lr ≤ 0.1.
# 1e-12 leaves 10x of margin; the difference measured on the machine that wrote the fixture is ≤ 8e-16.
F64_ATOL = 1e-12


def f64(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def quintic(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The scalar map Newton–Schulz applies to each singular value (written from the coefficients)."""
    a, b, c = NS_COEFFICIENTS
    for _ in range(steps):
        x = a * x + b * x**3 + c * x**5
    return x


# --------------------------------------------------------------------------------------------- Newton–Schulz


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (8, 5), (3, 7)])
def test_newton_schulz_approximates_u_vt_with_the_quintics_known_looseness(shape):
    g = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)), dtype=torch.float64)
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    relative = s / (torch.linalg.matrix_norm(g) + 1e-7)
    # Below ~0.003 five steps cannot lift a singular value to 0.68 (the band below needs that): true here.
    assert relative.min() > 0.003
    out = newton_schulz(g, steps=5)
    assert out.dtype == torch.float64 and out.shape == g.shape
    # Float64 truth: an odd polynomial of X keeps U and V and maps each σ/‖G‖_F through the scalar quintic.
    truth = u @ torch.diag(quintic(relative, 5)) @ vh
    torch.testing.assert_close(out, truth, rtol=0, atol=F64_ATOL)
    # The looseness: singular values in roughly [0.7, 1.2] (the scalar map's range on [0.003, 1] is
    # [0.682, 1.203]), so the distance to U·Vᵀ in spectral norm is at most 0.32.
    sv = torch.linalg.svdvals(out)
    assert sv.min() >= 0.68 and sv.max() <= 1.21, sv
    assert torch.linalg.matrix_norm(out - u @ vh, ord=2) <= 0.32
    # In fp32 (the CPU training dtype) it is the same up to fp32 rounding times the same amplification.
    torch.testing.assert_close(newton_schulz(g.float()).double(), truth, rtol=0, atol=1e-4)


def test_newton_schulz_matches_the_reference_in_float64():
    ns = FIXTURE["newton_schulz"]
    torch.testing.assert_close(newton_schulz(f64(ns["input"]), ns["steps"]), f64(ns["output"]), rtol=0, atol=F64_ATOL)
    # The transposed matrix is orthogonalised to the transposed result (the tall/wide orientations agree).
    torch.testing.assert_close(
        newton_schulz(f64(ns["input"]).T.contiguous(), ns["steps"]), f64(ns["output"]).T, rtol=0, atol=F64_ATOL
    )


def test_newton_schulz_rejects_what_it_cannot_orthogonalise():
    with pytest.raises(ValueError, match="2-D"):
        newton_schulz(torch.zeros(4))
    with pytest.raises(ValueError, match="steps"):
        newton_schulz(torch.zeros(2, 3), steps=0)
    assert newton_schulz(torch.zeros(2, 3)).abs().max() == 0  # the norm's ε: zero stays zero, not NaN


# --------------------------------------------------------------------------------------------- the update


@pytest.mark.parametrize("name", sorted(FIXTURE["steps"]))
def test_muon_steps_match_the_reference_in_float64(name):
    case = FIXTURE["steps"][name]
    p = nn.Parameter(f64(case["p0"]))
    opt = Muon(
        [p],
        lr=0.0,
        momentum=case["momentum"],
        nesterov=case["nesterov"],
        ns_steps=case["ns_steps"],
        weight_decay=case["weight_decay"],
    )
    for i, (grad, lr, after) in enumerate(zip(case["grads"], case["lrs"], case["after"])):
        p.grad = f64(grad)
        opt.param_groups[0]["lr"] = lr  # a different rate each step, as a schedule writes
        opt.step()
        torch.testing.assert_close(p.detach(), f64(after), rtol=0, atol=F64_ATOL, msg=f"{name}, step {i + 1}")
        assert p.grad.equal(f64(grad))  # the gradient is read, not overwritten (the reference reuses it)
    torch.testing.assert_close(opt.state[p]["momentum_buffer"], f64(case["momentum_buffer"]), rtol=0, atol=F64_ATOL)


def test_a_higher_dimensional_weight_is_orthogonalised_as_rows_by_the_rest():
    gen = torch.Generator().manual_seed(3)
    flat = nn.Parameter(torch.randn(4, 6, generator=gen, dtype=torch.float64))
    cube = nn.Parameter(flat.detach().reshape(4, 2, 3).clone())
    opts = [Muon([flat], lr=0.03, weight_decay=0.1), Muon([cube], lr=0.03, weight_decay=0.1)]
    for _ in range(2):
        grad = torch.randn(4, 6, generator=gen, dtype=torch.float64)
        flat.grad, cube.grad = grad.clone(), grad.reshape(4, 2, 3).clone()
        for opt in opts:
            opt.step()
    assert cube.detach().reshape(4, 6).equal(flat.detach())


def test_a_bfloat16_iteration_updates_fp32_weights_to_bfloat16_accuracy():
    # What CUDA runs by default (ns_dtype=None there), forced here on a tiny matrix: bf16 is slow only on big ones.
    gen = torch.Generator().manual_seed(4)
    start, grad = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    results = []
    for dtype in (torch.bfloat16, torch.float32):
        p = nn.Parameter(start.clone())
        opt = Muon([p], lr=0.05, ns_dtype=dtype)
        p.grad = grad.clone()
        opt.step()
        assert p.dtype == torch.float32 and opt.param_groups[0]["ns_dtype"] == str(dtype).removeprefix("torch.")
        results.append(p.detach())
    # bf16 keeps 8 bits: the orthogonalised entries (≤ 1) move by a few 1e-2 at most, times lr · √1.5.
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0.05 * 1.23 * 0.05)
    assert not results[0].equal(results[1])  # the bf16 path did run
    assert build_muon(HRM(tiny_config()), OptimConfig(muon_ns_dtype="float32")).param_groups[0]["ns_dtype"] == "float32"


def test_a_parameter_without_gradient_is_left_alone():
    moved, idle = nn.Parameter(torch.randn(3, 5)), nn.Parameter(torch.randn(5, 3))
    before = idle.detach().clone()
    opt = Muon([moved, idle], lr=0.02, weight_decay=0.5)
    moved.grad = torch.randn(3, 5)
    opt.step()
    assert idle.detach().equal(before) and idle not in opt.state and moved in opt.state


def test_the_other_parameters_get_exactly_adam_atan2_or_adamw():
    gen = torch.Generator().manual_seed(5)
    shapes = [(7,), (3, 4), ()]  # a bias, an embedding-like table, a scalar
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    grads = [[torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes] for _ in range(3)]
    lrs = [1e-2, 3e-2, 5e-3]

    def run(make) -> list[torch.Tensor]:
        params = [nn.Parameter(t.clone()) for t in start]
        opt = make(params)
        for step_grads, lr in zip(grads, lrs):
            for p, g in zip(params, step_grads):
                p.grad = g.clone()
            set_lr(opt, lr)
            opt.step()
        return [p.detach() for p in params]

    kwargs = dict(aux_betas=(0.8, 0.9), aux_weight_decay=0.1, aux_lr=1.0)
    ours = run(lambda ps: Muon([], ps, aux_optimizer="adam_atan2", **kwargs))
    theirs = run(lambda ps: AdamATan2(ps, lr=1.0, betas=(0.8, 0.9), weight_decay=0.1))
    assert all(a.equal(b) for a, b in zip(ours, theirs))  # the same code: the same numbers
    ours = run(lambda ps: Muon([], ps, aux_optimizer="adamw", aux_eps=1e-6, **kwargs))
    torch_adamw = run(
        lambda ps: torch.optim.AdamW(ps, lr=1.0, betas=(0.8, 0.9), weight_decay=0.1, eps=1e-6, foreach=False)
    )
    for a, b in zip(ours, torch_adamw):  # the same formula, written independently: float64 rounding apart
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-15)


def test_one_schedule_drives_both_rates():
    matrix, bias = nn.Parameter(torch.randn(4, 4)), nn.Parameter(torch.zeros(4))
    opt = Muon([matrix], [bias], lr=0.02, aux_lr=1e-4)
    muon_group, aux_group = opt.param_groups
    assert muon_group["use_muon"] and not aux_group["use_muon"] and muon_group["lr_scale"] == pytest.approx(200)
    for step in (0, 5, 10, 50, 100):
        lr = lr_at(step, 1e-4, warmup_steps=10, total_steps=100, min_ratio=0.1)
        set_lr(opt, lr)
        assert aux_group["lr"] == lr
        assert muon_group["lr"] == pytest.approx(lr_at(step, 0.02, 10, 100, 0.1), rel=1e-15)
    assert Muon([matrix], [bias], lr=0.02, aux_lr=1e-4, lr_scale=3.0).param_groups[0]["lr_scale"] == 3.0


def test_state_round_trips_through_a_weights_only_checkpoint():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    twin = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    x = torch.randn(8, 6)

    def make(m: nn.Module) -> Muon:
        matrices = [p for p in m.parameters() if p.ndim == 2]
        return Muon(matrices, [p for p in m.parameters() if p.ndim < 2], lr=0.05, aux_lr=1e-2, weight_decay=0.1)

    def step(m: nn.Module, opt: Muon) -> None:
        opt.zero_grad()
        m(x).square().mean().backward()
        opt.step()

    opt = make(model)
    for _ in range(2):
        step(model, opt)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    twin.load_state_dict(model.state_dict())
    twin_opt = make(twin)
    twin_opt.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    for _ in range(2):
        step(model, opt)
        step(twin, twin_opt)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert a.equal(b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(momentum=1.0), "momentum"),
        (dict(ns_steps=0), "ns_steps"),
        (dict(aux_optimizer="sgd"), "aux_optimizer"),
        (dict(lr=-1.0), "learning rate"),
        (dict(aux_lr=0.0), "lr_scale"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Muon([nn.Parameter(torch.zeros(2, 2))], **kwargs)


def test_a_vector_is_not_a_muon_parameter():
    with pytest.raises(ValueError, match=">= 2 dimensions"):
        Muon([nn.Parameter(torch.zeros(3))])


# --------------------------------------------------------------------------------------------- which parameters


def test_split_on_a_tiny_hrm_gives_muon_the_blocks_matrices_only():
    model = HRM(tiny_config(pos_encodings="learned"))
    matrices, others = split_for_muon(model)
    names = {name for name, _ in matrices}
    projections = ("self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj")
    assert names == {f"core.{m}.layers.0.{p}.weight" for m in ("high_level", "low_level") for p in projections}
    assert {name for name, _ in others} == {
        "core.embed.embed_tokens.weight",  # token embedding
        "core.embed.embed_pos.weight",  # learned positions
        "core.lm_head.weight",  # output head
        "core.q_head.weight",  # halting head
        "core.q_head.bias",
    }
    assert len(matrices) + len(others) == len(list(model.parameters()))
    assert "core.embed.puzzle_emb.weight" in dict(model.named_buffers())  # the sign-SGD's, in neither list

    optim = OptimConfig(optimizer="muon", lr=1e-3, muon_lr=0.05, muon_aux_optimizer="adamw")
    opt = build_muon(model, optim)
    muon_group, aux_group = opt.param_groups
    assert [id(p) for p in muon_group["params"]] == [id(p) for _, p in matrices]
    assert [id(p) for p in aux_group["params"]] == [id(p) for _, p in others]
    assert muon_group["lr"] == aux_group["lr"] == 0.0  # like every dense optimiser: the schedule sets the rate
    assert muon_group["lr_scale"] == pytest.approx(50) and aux_group["aux_optimizer"] == "adamw"
    assert (muon_group["momentum"], muon_group["nesterov"], muon_group["ns_steps"]) == (0.95, True, 5)
    assert (muon_group["weight_decay"], muon_group["ns_dtype"]) == (0.01, None)
    assert (aux_group["betas"], aux_group["weight_decay"], aux_group["eps"]) == ((0.9, 0.95), 0.1, 1e-8)


def test_split_on_a_gru_gives_muon_its_weight_matrices():
    model = build_model("gru", TrainConfig(model="gru").model_config(vocab_size=5, seq_len=4, num_puzzle_identifiers=1))
    matrices, others = split_for_muon(model)
    assert matrices and all(".rnn.weight_" in name for name, _ in matrices)
    assert {name for name, p in others if p.ndim >= 2} == {"core.embed.embed_tokens.weight", "core.lm_head.weight"}


# --------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["optim.optimizer=sgd"], "optim.optimizer"),
        (["optim.muon_lr=-1"], "optim.muon_lr must be a finite number >= 0"),
        (["optim.muon_weight_decay=nan"], "optim.muon_weight_decay must be a finite number >= 0"),
        (["optim.muon_momentum=1"], "optim.muon_momentum must be in [0, 1)"),
        (["optim.muon_ns_steps=0"], "optim.muon_ns_steps must be >= 1"),
        (["optim.muon_nesterov=maybe"], "expected true or false"),
        (["optim.muon_aux_optimizer=sgd"], "optim.muon_aux_optimizer"),
        (["optim.muon_ns_dtype=bfloat16"], "optim.muon_ns_dtype"),
        (["optim.optimizer=muon", "optim.lr=0"], "optim.optimizer=muon needs optim.lr > 0"),
    ],
)
def test_bad_muon_settings_are_one_line_errors(overrides, fragment):
    with pytest.raises(ConfigError) as err:
        apply_overrides(get_recipe("tiny"), overrides)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_muon_settings_round_trip_and_default_off():
    assert get_recipe("tiny").optim.optimizer != "muon" and OptimConfig().optimizer == "adam_atan2"
    config = apply_overrides(get_recipe("tiny"), ["optim.optimizer=muon", "optim.muon_lr=0.01"])
    assert TrainConfig.from_dict(config.to_dict()).optim == config.optim
    assert apply_overrides(get_recipe("tiny"), ["optim.lr=0"]).optim.lr == 0  # only muon needs lr > 0


# --------------------------------------------------------------------------------------------- a tiny run


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "sudoku-4x4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=64, num_test=32, givens=8, seed=0, show_progress=False)
    )
    return root


def test_a_tiny_muon_run_learns_and_resumes_exactly(tiny_data, tmp_path, one_thread):
    config = apply_overrides(
        get_recipe("tiny"),
        [
            f"data={tiny_data}",
            "max_steps=16",
            "optim.optimizer=muon",
            "logging.log_every=4",
            "runtime.num_threads=1",
            "runtime.deterministic=true",
            "schedule.eval_every_steps=0",
            "checkpoint.every_eval=false",
            "checkpoint.every_steps=8",
            "checkpoint.keep_last=10",
        ],
    )
    full = tmp_path / "full"
    train(config, full)
    records = [json.loads(line) for line in (full / "metrics.jsonl").read_text().splitlines()]
    losses = [r["lm_loss"] for r in records if r["split"] == "train"]
    assert losses[-1] < losses[0], losses
    state = load_train_state(full / "step-16")
    groups = state["dense_optimizer"]["param_groups"]
    assert [g["use_muon"] for g in groups] == [True, False] and groups[0]["lr_scale"] > 1

    # Cut a copy back to step 8 and resume it: the same weights and optimiser state at step 16, bit for bit.
    partial = tmp_path / "partial"
    shutil.copytree(full, partial)
    for at, path in list_checkpoints(partial):
        if at > 8:
            shutil.rmtree(path)
    lines = (partial / "metrics.jsonl").read_text().splitlines()
    (partial / "metrics.jsonl").write_text("".join(f"{x}\n" for x in lines if json.loads(x)["step"] <= 8))
    train(config, partial, resume=True)
    a, b = (
        load_file(str(full / "step-16" / "model.safetensors")),
        load_file(str(partial / "step-16" / "model.safetensors")),
    )
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    resumed = load_train_state(partial / "step-16")["dense_optimizer"]
    for key, value in state["dense_optimizer"]["state"].items():
        assert all(value[k].equal(resumed["state"][key][k]) for k in value), key
