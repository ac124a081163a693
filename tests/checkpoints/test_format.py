import json

import pytest
import torch

from hrm.checkpoints import load_checkpoint, save_checkpoint
from hrm.errors import UserError
from hrm.model import HRM
from tests.conftest import tiny_batch, tiny_config


def _model(**kw):
    torch.manual_seed(0)
    model = HRM(tiny_config(**kw))
    with torch.no_grad():
        model.core.embed.puzzle_emb.weight.normal_()  # a trained table must survive the round trip
    return model.eval()


def test_round_trip_same_outputs(tmp_path):
    model = _model(pos_encodings="learned")
    save_checkpoint(
        tmp_path / "step-3",
        model,
        train_config={"lr": 1e-3},
        dataset={"vocab_size": 7},
        identifiers=["<blank>", "a", "b"],
        meta={"step": 3, "metrics": {"exact_accuracy": 0.5}},
    )
    ckpt = load_checkpoint(tmp_path / "step-3")
    assert ckpt.model_config == model.config and ckpt.step == 3 and ckpt.identifiers[1] == "a"
    assert ckpt.train_config == {"lr": 1e-3} and not ckpt.model.training
    batch = tiny_batch(model.config)
    a = model.trace(batch["inputs"], batch["puzzle_identifiers"], 2)
    b = ckpt.model.trace(batch["inputs"], batch["puzzle_identifiers"], 2)
    assert all(torch.equal(x["logits"], y["logits"]) for x, y in zip(a, b))
    assert not list(tmp_path.glob(".step-3*"))  # no temp dirs left behind


def test_refuses_to_overwrite_and_reports_missing(tmp_path):
    model = _model()
    save_checkpoint(tmp_path / "step-1", model)
    with pytest.raises(UserError, match="already exists"):
        save_checkpoint(tmp_path / "step-1", model)
    save_checkpoint(tmp_path / "step-1", model, overwrite=True)
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="config.json"):
        load_checkpoint(tmp_path / "empty")


def test_corrupt_files_give_user_errors(tmp_path):
    path = save_checkpoint(tmp_path / "step-1", _model())
    (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="unreadable weights"):
        load_checkpoint(path)
    path = save_checkpoint(tmp_path / "step-2", _model())
    config = json.loads((path / "config.json").read_text())
    config["model"]["hidden_size"] = 64
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="shape"):
        load_checkpoint(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="invalid JSON"):
        load_checkpoint(path)


def test_interrupted_save_leaves_nothing(tmp_path, monkeypatch):
    import hrm.checkpoints.format as fmt

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fmt, "_write_json", boom)
    with pytest.raises(RuntimeError):
        save_checkpoint(tmp_path / "step-1", _model())
    assert list(tmp_path.iterdir()) == []


def test_family_is_recorded_and_old_checkpoints_are_hrm(tmp_path):
    path = save_checkpoint(tmp_path / "step-1", _model())
    config = json.loads((path / "config.json").read_text())
    assert config["family"] == "hrm"
    assert load_checkpoint(path, family="hrm").family == "hrm"
    with pytest.raises(UserError, match="holds a 'hrm' model, not 'trm'"):
        load_checkpoint(path, family="trm")
    del config["family"]  # written before there were other families
    (path / "config.json").write_text(json.dumps(config))
    assert isinstance(load_checkpoint(path).model, HRM)
    config["family"] = "no-such-family"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="unknown model family 'no-such-family'"):
        load_checkpoint(path)
