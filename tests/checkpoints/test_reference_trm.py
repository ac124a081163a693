"""TRM reference interop: the TRM code's own per-segment outputs (tests/fixtures/trm, see its README) are
reproduced by the model that ``load_reference_checkpoint`` builds from a ``step_N`` + ``all_config.yaml`` pair."""

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


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("compiled", [False, True])
def test_trm_reference_segments_match(tmp_path, name, compiled):
    path, tensors = _write_reference_run(tmp_path, name, compiled)
    model = load_reference_checkpoint(path)
    assert isinstance(model, TRM) and not model.training
    inputs, pids = tensors["inputs"], tensors["puzzle_identifiers"]
    num_segments = len({k.split(".")[1] for k in tensors if k.startswith("out.")})
    trace = model.trace(inputs, pids, num_segments=num_segments)
    for s, seg in enumerate(trace):
        torch.testing.assert_close(seg["logits"], tensors[f"out.{s}.logits"], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(seg["q_halt_logits"], tensors[f"out.{s}.q_halt_logits"], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(
            seg["q_continue_logits"], tensors[f"out.{s}.q_continue_logits"], rtol=1e-4, atol=1e-4
        )


def test_trm_convert_reference_round_trip(tmp_path):
    path, tensors = _write_reference_run(tmp_path, "trm_mlp", compiled=True)
    converted = convert_reference_checkpoint(path, tmp_path / "step-100")
    assert json.loads((tmp_path / "step-100" / "config.json").read_text())["family"] == "trm"
    loaded = load_checkpoint(tmp_path / "step-100")
    assert isinstance(loaded.model, TRM) and loaded.model_config == converted.model.config
    trace = loaded.model.trace(tensors["inputs"], tensors["puzzle_identifiers"])
    torch.testing.assert_close(trace[-1]["logits"], tensors["out.2.logits"], rtol=1e-4, atol=1e-4)
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
    carry = model.initial_carry(batch)
    with torch.no_grad():
        for s in range(model.config.halt_max_steps):
            carry, out = model(carry, batch)
            torch.testing.assert_close(out["logits"], tensors[f"out.{s}.logits"], rtol=1e-4, atol=1e-4)
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
