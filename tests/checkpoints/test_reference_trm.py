"""TRM reference interop: the TRM code's own per-segment outputs (tests/fixtures/trm, see its README) are
reproduced by the model that ``load_reference_checkpoint`` builds from a ``step_N`` + ``all_config.yaml`` pair.

Parity is judged against float64 truth (the reference run in float64), never against another CPU's fp32 rounding:
our model in float64 must match the truth tightly, and our fp32 error must stay within a small multiple of the
reference's own fp32 error (its fp32 outputs are in the fixture too). Which fp32 kernels a CPU picks moves fp32
results by ~1e-4 on these models, so a fixed fp32 tolerance passes on one CPU and fails on another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open

from hrm import convert_reference_checkpoint, load_checkpoint, load_reference_checkpoint
from hrm.errors import UserError
from hrm.model.trm import TRM

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trm"
NAMES = ("trm_attention", "trm_mlp", "trm_learned")


def _fixture(name: str):
    with safe_open(str(FIXTURES / f"{name}.safetensors"), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        arch = json.loads(f.metadata()["arch"])
    return tensors, arch


def _write_reference_run(tmp_path: Path, name: str, compiled: bool) -> tuple[Path, dict]:
    tensors, arch = _fixture(name)
    state = {k: v.float() for k, v in tensors.items() if k.startswith("model.")}
    if compiled:
        state = {"_orig_mod." + k: v for k, v in state.items()}
    run = tmp_path / name
    run.mkdir()
    torch.save(state, run / "step_100")
    config = {"arch": {**arch, "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}}}
    (run / "all_config.yaml").write_text(yaml.safe_dump(config))
    return run / "step_100", tensors


OUTPUTS = ("logits", "q_halt_logits", "q_continue_logits")
F64_TOLERANCE = 1e-9  # float64 on both sides: agreement to ~1e-12 is expected; a 1e-4-sized change fails by far
FP32_FACTOR = 8.0  # our fp32 error may be this many times the reference's own fp32 error (plus a floor)
FP32_FLOOR = 2e-5


def _num_segments(tensors) -> int:
    return len({k.split(".")[1] for k in tensors if k.startswith("truth.")})


def _as_float64(model: TRM) -> TRM:
    model.double()  # weights and buffers (the RoPE tables hold the same fp32-computed values as the reference's)
    model.forward_dtype = torch.float64
    return model


def _f64_errors(trace, tensors) -> float:
    return max(
        (seg[key].double() - tensors[f"truth.{s}.{key}"]).abs().max().item()
        for s, seg in enumerate(trace)
        for key in OUTPUTS
    )


def _check_fp32(got: torch.Tensor, tensors, s: int, key: str) -> None:
    truth = tensors[f"truth.{s}.{key}"]
    reference_error = (tensors[f"out.{s}.{key}"].double() - truth).abs().max().item()
    our_error = (got.double() - truth).abs().max().item()
    assert our_error <= FP32_FACTOR * reference_error + FP32_FLOOR, (s, key, our_error, reference_error)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("compiled", [False, True])
def test_trm_reference_segments_match(tmp_path, name, compiled):
    path, tensors = _write_reference_run(tmp_path, name, compiled)
    model = load_reference_checkpoint(path)
    assert isinstance(model, TRM) and not model.training
    inputs, pids = tensors["inputs"], tensors["puzzle_identifiers"]
    num_segments = _num_segments(tensors)
    for s, seg in enumerate(model.trace(inputs, pids, num_segments=num_segments)):
        for key in OUTPUTS:
            _check_fp32(seg[key], tensors, s, key)
    trace = _as_float64(model).trace(inputs, pids, num_segments=num_segments)
    assert trace[0]["logits"].dtype == torch.float64
    assert _f64_errors(trace, tensors) <= F64_TOLERANCE


@pytest.mark.parametrize("name", NAMES)
def test_trm_parity_catches_a_small_change(tmp_path, name):
    """The float64 check is sensitive: RMSNorm's eps ×10 (a ~1e-4-sized change of the outputs) fails it."""
    path, tensors = _write_reference_run(tmp_path, name, compiled=False)
    model = _as_float64(load_reference_checkpoint(path))
    changed = 0
    for module in model.modules():
        if hasattr(module, "norm_eps"):
            module.norm_eps *= 10
            changed += 1
    assert changed
    trace = model.trace(tensors["inputs"], tensors["puzzle_identifiers"], num_segments=_num_segments(tensors))
    assert _f64_errors(trace, tensors) > 1e3 * F64_TOLERANCE


def test_trm_convert_reference_round_trip(tmp_path):
    path, tensors = _write_reference_run(tmp_path, "trm_mlp", compiled=True)
    converted = convert_reference_checkpoint(path, tmp_path / "step-100")
    assert json.loads((tmp_path / "step-100" / "config.json").read_text())["family"] == "trm"
    loaded = load_checkpoint(tmp_path / "step-100")
    assert isinstance(loaded.model, TRM) and loaded.model_config == converted.model.config
    trace = loaded.model.trace(tensors["inputs"], tensors["puzzle_identifiers"])
    _check_fp32(trace[-1]["logits"], tensors, 2, "logits")
    trace = _as_float64(loaded.model).trace(tensors["inputs"], tensors["puzzle_identifiers"])
    assert _f64_errors(trace, tensors) <= F64_TOLERANCE
    with pytest.raises(UserError, match="holds a 'trm' model"):
        load_checkpoint(tmp_path / "step-100", family="hrm")


@pytest.mark.parametrize("name", NAMES)
def test_trm_reference_training_carry_in_eval_mode_matches(tmp_path, name):
    """The ACT wrapper (initial_carry + forward, eval mode) follows the reference's segment sequence too."""
    path, tensors = _write_reference_run(tmp_path, name, compiled=False)
    model = load_reference_checkpoint(path)
    batch = {
        "inputs": tensors["inputs"],
        "labels": tensors["inputs"].clone(),
        "puzzle_identifiers": tensors["puzzle_identifiers"],
    }
    for dtype in (torch.float32, torch.float64):
        if dtype == torch.float64:
            _as_float64(model)
        carry = model.initial_carry(batch)
        with torch.no_grad():
            for s in range(model.config.halt_max_steps):
                carry, out = model(carry, batch)
                if dtype == torch.float32:
                    _check_fp32(out["logits"], tensors, s, "logits")
                else:
                    error = (out["logits"] - tensors[f"truth.{s}.logits"]).abs().max().item()
                    assert error <= F64_TOLERANCE, (s, error)
        assert bool(carry.halted.all())  # eval mode: every row runs exactly halt_max_steps


def test_trm_reference_config_read_from_tensors(tmp_path):
    path, _ = _write_reference_run(tmp_path, "trm_learned", compiled=False)
    cfg = load_reference_checkpoint(path).config
    assert (cfg.seq_len, cfg.num_layers, cfg.puzzle_emb_len_resolved, cfg.pos_encodings) == (16, 1, 3, "learned")
    path, _ = _write_reference_run(tmp_path, "trm_mlp", compiled=False)
    cfg = load_reference_checkpoint(path).config
    assert cfg.mlp_t and cfg.seq_len == 8 and cfg.high_cycles == 2 and not cfg.train_q_continue


def test_trm_reference_layer_count_mismatch_is_one_line_error(tmp_path):
    path, _ = _write_reference_run(tmp_path, "trm_attention", compiled=False)
    config = yaml.safe_load((path.parent / "all_config.yaml").read_text())
    config["arch"]["L_layers"] = 3
    (path.parent / "all_config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(UserError, match="L_layers=3"):
        load_reference_checkpoint(path)


@pytest.mark.parametrize(
    "change",
    [
        {"L_layers": "x"},
        {"loss": "str"},
        {"H_cycles": [1, 2]},
        {"expansion": "wide"},
    ],
)
def test_trm_reference_config_of_the_wrong_type_is_one_line_error(tmp_path, capsys, change):
    """T3: a wrong-typed all_config.yaml value is a UserError naming the file (`hrm info`: exit 2, one line)."""
    from hrm.cli import main

    path, _ = _write_reference_run(tmp_path, "trm_attention", compiled=False)
    config = yaml.safe_load((path.parent / "all_config.yaml").read_text())
    config["arch"].update(change)
    (path.parent / "all_config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(UserError, match=str(path)):
        load_reference_checkpoint(path)
    assert main(["info", "--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


def test_trm_reference_token_table_of_the_wrong_rank_is_one_line_error(tmp_path):
    path, _ = _write_reference_run(tmp_path, "trm_attention", compiled=False)
    state = torch.load(path, weights_only=True)
    key = next(k for k in state if k.endswith("embed_tokens.embedding_weight"))
    state[key] = state[key].reshape(-1)
    torch.save(state, path)
    with pytest.raises(UserError, match="wrong type or shape"):
        load_reference_checkpoint(path)
