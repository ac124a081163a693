"""What the commands load: hostile or wrong-typed files give one line and exit 2, never run code, never allocate
what the weights do not back (issue 10, "Loaders trust what they read")."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import hrm.cli
from hrm.checkpoints import load_checkpoint
from hrm.checkpoints.format import TRAIN_STATE_FILE, load_train_state
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.errors import UserError
from tests.checkpoints.test_reference import CASES, _write_reference
from tests.inference import helpers


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = hrm.cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *fragments: str) -> None:
    """Exit 2 and one error line (``hrm train`` may print its run directory on the line before)."""
    assert code == 2, err
    lines = err.splitlines()
    assert lines and lines[-1].startswith("hrm: error: ") and err.count("hrm: error") == 1, err
    assert len(lines) == 1 or (len(lines) == 2 and lines[0].startswith("run directory: ")), err
    assert "Traceback" not in err and "weights_only=False" not in err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture
def ckpt(tmp_path) -> Path:
    return helpers.sudoku_checkpoint(tmp_path / "step-7", n=6, halt_max_steps=2)


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


# ---- checkpoint JSON files of the wrong type -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "file, content, fragment",
    [
        ("config.json", [1, 2], "holds list, expected a JSON object"),
        ("config.json", "just a string", "holds str, expected a JSON object"),
        ("meta.json", None, "holds NoneType"),
        ("meta.json", [1], "holds list"),
        ("meta.json", "x", "holds str"),
        ("dataset.json", "x", "holds str"),
        ("identifiers.json", {"a": 1}, "holds dict, expected a JSON list"),
        ("identifiers.json", [1, 2], "list of puzzle names"),
    ],
)
@pytest.mark.parametrize("command", ["info", "solve"])
def test_wrong_typed_checkpoint_json(capsys, ckpt, file, content, fragment, command):
    (ckpt / file).write_text(json.dumps(content))
    argv = ["info", "--checkpoint", ckpt] if command == "info" else ["solve", "--checkpoint", ckpt, helpers.SUDOKU_6]
    code, _, err = _run(capsys, *argv)
    _one_line_error(code, err, file, fragment)


@pytest.mark.parametrize("version", ["1", [1], 1.5, None, True])
def test_format_version_of_the_wrong_type(capsys, ckpt, version):
    _edit_json(ckpt / "config.json", lambda d: {**d, "format_version": version})
    code, _, err = _run(capsys, "info", "--checkpoint", ckpt)
    _one_line_error(code, err, "format_version")


def test_hostile_model_config_is_refused_before_allocating(capsys, ckpt, monkeypatch):
    # vocab_size 1e11 would be a 100-billion-row table: refused by the size bound, before any tensor exists.
    _edit_json(ckpt / "config.json", lambda d: {**d, "model": {**d["model"], "vocab_size": 10**11}})
    code, _, err = _run(capsys, "solve", "--checkpoint", ckpt, helpers.SUDOKU_6)
    _one_line_error(code, err, "config.json", "more than")
    # A plausible but wrong config is caught by the safetensors header, before the model is built.
    _edit_json(ckpt / "config.json", lambda d: {**d, "model": {**d["model"], "vocab_size": 12}})
    import hrm.checkpoints.format as fmt

    built = []
    original = fmt.build_model

    def spy(family, config):
        model = original(family, config)
        if next(model.parameters()).device.type != "meta":
            built.append(config)
        return model

    monkeypatch.setattr(fmt, "build_model", spy)
    code, _, err = _run(capsys, "info", "--checkpoint", ckpt)
    _one_line_error(code, err, "model.safetensors", "config.json expects")
    assert built == []


def test_truncated_weights_file(capsys, ckpt):
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    code, _, err = _run(capsys, "info", "--checkpoint", ckpt)
    _one_line_error(code, err, "model.safetensors")


# ---- pickles cannot run code ---------------------------------------------------------------------------------------


class _Evil:
    """Unpickling this calls Path.touch(marker): code execution, if the loader allowed it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_crafted_train_state_pickle_does_not_execute(tmp_path, ckpt):
    marker = tmp_path / "pwned"
    torch.save({"step": 1, "payload": _Evil(marker)}, ckpt / TRAIN_STATE_FILE)
    with pytest.raises(UserError) as info:
        load_train_state(ckpt)
    assert not marker.exists()
    assert "weights_only" not in str(info.value) and "\n" not in str(info.value)
    assert "refused" in str(info.value)
    torch.save({"step": 1, "x": torch.zeros(2)}, ckpt / TRAIN_STATE_FILE)  # plain data and tensors still load
    assert load_train_state(ckpt)["step"] == 1


def test_crafted_reference_pickle_does_not_execute(capsys, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": _Evil(marker)}, tmp_path / "step_5")
    (tmp_path / "all_config.yaml").write_text("arch: {H_cycles: 2}\n")
    code, _, err = _run(capsys, "convert-reference", tmp_path / "step_5", tmp_path / "out")
    _one_line_error(code, err, "step_5", "refused")
    assert not marker.exists() and not (tmp_path / "out").exists()


# ---- reference configs and state dicts ----------------------------------------------------------------------------


def test_yaml_alias_bomb_is_refused(capsys, tmp_path):
    _write_reference(tmp_path, CASES["rope-1-prefix"])
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):  # 9^9 = 387 million strings if expanded
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    (tmp_path / "all_config.yaml").write_text("\n".join(lines) + "\narch: {H_cycles: 2}\n")
    assert len((tmp_path / "all_config.yaml").read_bytes()) < 1000
    code, _, err = _run(capsys, "convert-reference", tmp_path / "step_1234", tmp_path / "out")
    _one_line_error(code, err, "all_config.yaml", "aliases")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "arch_change",
    [{"H_cycles": [1, 2]}, {"num_heads": {"a": 1}}, {"loss": "stablemax"}, {"expansion": "wide"}, {"H_layers": None}],
)
def test_reference_config_of_the_wrong_type(capsys, tmp_path, arch_change):
    import yaml

    _write_reference(tmp_path, CASES["rope-1-prefix"])
    config = yaml.safe_load((tmp_path / "all_config.yaml").read_text())
    config["arch"].update(arch_change)
    (tmp_path / "all_config.yaml").write_text(yaml.safe_dump(config))
    code, _, err = _run(capsys, "convert-reference", tmp_path / "step_1234", tmp_path / "out")
    _one_line_error(code, err, "step_1234")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", ["1-D embedding", "int entry", "list"])
def test_reference_state_dict_of_the_wrong_shape_or_type(capsys, tmp_path, bad):
    _, state = _write_reference(tmp_path, CASES["rope-1-prefix"])
    key = next(k for k in state if k.endswith("embed_tokens.embedding_weight"))
    if bad == "1-D embedding":
        state[key] = torch.zeros(11)
    elif bad == "int entry":
        state[key] = 3
    torch.save(list(state.values()) if bad == "list" else state, tmp_path / "step_1234")
    code, _, err = _run(capsys, "convert-reference", tmp_path / "step_1234", tmp_path / "out")
    _one_line_error(code, err, "step_1234")
    assert not (tmp_path / "out").exists()


def test_convert_reference_full_disk_leaves_nothing(capsys, tmp_path, monkeypatch):
    import hrm.checkpoints.format as fmt

    _write_reference(tmp_path, CASES["rope-1-prefix"])

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out"))

    monkeypatch.setattr(fmt, "save_file", full)
    code, _, err = _run(capsys, "convert-reference", tmp_path / "step_1234", tmp_path / "out" / "step-1")
    _one_line_error(code, err, "No space left on device")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


# ---- run-directory files: best.json, metrics.jsonl -----------------------------------------------------------------


def test_best_json_and_metrics_lines_of_the_wrong_shape(capsys, tmp_path):
    run = tmp_path / "run"
    helpers.sudoku_checkpoint(run / "step-7", n=6, halt_max_steps=2)
    lines = [[1, 2], "text", None, {"step": "x", "split": "train"}, {"split": "train", "lm_loss": 1.0}, 5]
    good = [{"step": s, "split": "train", "lm_loss": 1.0 / s, "lr": 1e-3} for s in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines + good) + '{"step": 4, "spl')
    for best in ([1, 2], {"step": "x", "value": 1}, {"value": 0.5}, "best", {"step": 7, "value": "high"}):
        (run / "best.json").write_text(json.dumps(best))
        code, out, err = _run(capsys, "info", "--checkpoint", run / "best")
        assert code == 0 and "step-7" in out, err
    code, out, err = _run(capsys, "plot", run, "--out", tmp_path / "c.png")
    assert code == 0, err
    assert (tmp_path / "c.png").stat().st_size > 1000


# ---- datasets with tokens outside their vocabulary ----------------------------------------------------------------


@pytest.fixture
def bad_token_data(tmp_path) -> Path:
    data = tmp_path / "s6"
    build_sudoku_dataset(SudokuBuildOptions(out=data, size=6, num_train=4, num_test=4, givens=20, show_progress=False))
    for split in ("train", "test"):
        path = data / split / "all__inputs.npy"
        arr = np.load(path)
        arr[1, 3] = 200  # vocab is 8
        np.save(path, arr)
    return data


def test_out_of_vocab_dataset_evaluate(capsys, tmp_path, bad_token_data):
    ckpt = helpers.sudoku_checkpoint(tmp_path / "step-1", n=6, halt_max_steps=2)
    code, _, err = _run(capsys, "evaluate", "--checkpoint", ckpt, "--data", bad_token_data, "--no-progress")
    _one_line_error(code, err, "token 200", "outside the vocabulary [0, 8)")


def test_out_of_vocab_dataset_train_leaves_no_run_dir(capsys, tmp_path, bad_token_data):
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "tiny", f"data={bad_token_data}", "max_steps=2", "--out", run)
    _one_line_error(code, err, "token 200")
    assert not run.exists()


def test_huge_vocab_dataset_train_is_refused_before_allocating(capsys, tmp_path):
    data = tmp_path / "s6"
    build_sudoku_dataset(SudokuBuildOptions(out=data, size=6, num_train=20, num_test=4, givens=20, show_progress=False))
    for split in ("train", "test"):
        _edit_json(data / split / "dataset.json", lambda d: {**d, "vocab_size": 10**11})
    # Without build.json the kind is not recorded (with it, "sudoku never has this vocab" refuses first): this
    # exercises the size bound itself.
    (data / "build.json").unlink()
    run = tmp_path / "run"
    code, _, err = _run(
        capsys, "train", "tiny", f"data={data}", "data.online_augment=false", "max_steps=2", "--out", run
    )
    _one_line_error(code, err, "vocab_size=100000000000")
    assert not run.exists()


def test_checkpoint_still_loads(ckpt):
    assert load_checkpoint(ckpt).model.config.vocab_size == 8


def test_solve_with_a_folder_as_the_puzzle(capsys, ckpt, tmp_path):
    code, _, err = _run(capsys, "solve", "--checkpoint", ckpt, str(tmp_path))
    _one_line_error(code, err, "is a directory")
    assert "no such file" not in err
