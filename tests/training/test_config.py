"""TrainConfig: recipes (reference hyperparameters), typed overrides, validation, schedule arithmetic."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from hrm.model import HRMArchitecture, HRMConfig
from hrm.training.config import ConfigError, TrainConfig, apply_overrides, parse_value, valid_keys
from hrm.training.recipes import RECIPES, get_recipe
from hrm.training.schedule import eval_every_for, learning_rate, total_steps_for


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_validates_and_round_trips(name):
    config = get_recipe(name)
    assert config.name == name
    data = json.loads(json.dumps(config.to_dict()))
    assert TrainConfig.from_dict(data) == config


def test_reference_defaults_are_cfg_pretrain():
    c = get_recipe("arc-agi-1")
    assert c.schedule.global_batch_size == 768
    assert (c.schedule.epochs, c.schedule.eval_interval) == (100000, 10000)
    assert (c.optim.optimizer, c.optim.lr, c.optim.puzzle_emb_lr) == ("adam_atan2", 1e-4, 1e-2)
    assert (c.optim.weight_decay, c.optim.puzzle_emb_weight_decay) == (0.1, 0.1)
    assert (c.optim.betas, c.optim.warmup_steps, c.optim.lr_min_ratio) == ((0.9, 0.95), 2000, 1.0)
    assert c.optim.grad_clip == 0.0 and not c.ema.enabled
    assert c.checkpoint.every_eval and c.runtime.seed == 0
    a = c.arch
    assert (a.hidden_size, a.num_heads, a.expansion, a.high_layers, a.low_layers) == (512, 8, 4.0, 4, 4)
    assert (a.high_cycles, a.low_cycles, a.halt_max_steps, a.halt_exploration_prob) == (2, 2, 16, 0.1)
    assert (a.pos_encodings, a.loss_type, a.puzzle_emb_ndim) == ("rope", "stablemax", None)
    assert get_recipe("arc-agi-2").data.path == "data/arc-2-aug-1000"


def test_published_sudoku_maze_recipes():
    s = get_recipe("sudoku-extreme-1k")
    assert (s.schedule.epochs, s.schedule.eval_interval) == (20000, 2000)
    assert (s.optim.lr, s.optim.puzzle_emb_lr, s.optim.weight_decay, s.optim.puzzle_emb_weight_decay) == (
        1e-4,
        1e-4,
        1.0,
        1.0,
    )
    laptop = get_recipe("sudoku-extreme-1k-laptop")
    assert (laptop.schedule.global_batch_size, laptop.optim.lr, laptop.optim.puzzle_emb_lr) == (384, 7e-5, 7e-5)
    maze = get_recipe("maze-hard-1k")
    assert maze.optim == s.optim and maze.schedule == s.schedule and maze.data.path != s.data.path
    # Total steps (spec §3.3): 20000 epochs × 1000 puzzles / 768 = 26,041; at batch 384, 52,083.
    assert total_steps_for(s, total_groups=1000, mean_puzzle_examples=1.0) == 26041
    assert total_steps_for(laptop, total_groups=1000, mean_puzzle_examples=1.0) == 52083
    assert eval_every_for(s, 1000, 1.0) == 2604


def test_arch_config_mirrors_hrm_config():
    dataset_fields = {"vocab_size", "seq_len", "num_puzzle_identifiers"}
    model_fields = {f.name: f.default for f in dataclasses.fields(HRMConfig)}
    arch_fields = {f.name: f.default for f in dataclasses.fields(HRMArchitecture)}
    assert set(arch_fields) == set(model_fields) - dataset_fields
    assert all(arch_fields[k] == model_fields[k] for k in arch_fields)
    assert type(TrainConfig().arch) is HRMArchitecture
    model = TrainConfig().model_config(vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    assert model == HRMConfig(vocab_size=11, seq_len=81)


def test_every_registered_family_has_its_section_and_keys():
    from hrm.model.registry import FAMILIES

    config, keys = TrainConfig(), valid_keys()
    for name, spec in FAMILIES.items():
        section = config.section(name)
        assert type(section) is spec.architecture_cls
        assert {f"{spec.config_section}.{f.name}" for f in dataclasses.fields(section)} <= set(keys)
        assert apply_overrides(config, [f"model={name}"]).architecture is not None


def test_a_family_registered_before_the_config_module_gets_a_section(tmp_path):
    # A new family is its model file plus one registry entry: the training config picks its section up.
    import subprocess
    import sys

    code = """
import dataclasses
from hrm.model.registry import FamilySpec, register_family, family_spec
from hrm.model.recurrent import GRUBaseline, GRUConfig, RecurrentArchitecture

@dataclasses.dataclass(kw_only=True)
class WideArch(RecurrentArchitecture):
    hidden_size: int = 96

register_family(FamilySpec("wide-gru", GRUConfig, GRUBaseline, WideArch, section="wide"))
from hrm.training.config import apply_overrides, valid_keys
from hrm.training.recipes import get_recipe
assert "wide.hidden_size" in valid_keys()
config = apply_overrides(get_recipe("tiny"), ["model=wide-gru", "wide.hidden_size=40"])
print(config.model_config(11, 16, 1).hidden_size)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "40"


def test_overrides_are_typed_and_copied():
    base = get_recipe("tiny")
    c = apply_overrides(
        base,
        [
            "arch.hidden_size=64",
            "lr=1e-4",
            "data=/some/where",
            "optim.betas=0.8,0.9",
            "ema.enabled=yes",
            "arch.puzzle_emb_ndim=none",
            "arch.loss_type=softmax",
            "max_steps=1e3",
            "runtime.compile=false",
            "global_batch_size=32",
        ],
    )
    assert c.arch.hidden_size == 64 and isinstance(c.arch.hidden_size, int)
    assert c.optim.lr == 1e-4 and c.data.path == "/some/where"
    assert c.optim.betas == (0.8, 0.9) and c.ema.enabled is True
    assert c.arch.puzzle_emb_ndim is None and c.arch.loss_type == "softmax"
    assert c.schedule.max_steps == 1000 and c.schedule.global_batch_size == 32
    assert base.arch.hidden_size == 32 and base.optim.lr != 1e-4  # the recipe itself is untouched


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        apply_overrides(get_recipe("tiny"), ["arch.hiden_size=3"])
    message = str(err.value)
    assert "unknown config key 'arch.hiden_size'" in message and "arch.hidden_size" in message
    assert "optim.lr" in message and "\n" not in message
    assert "arch.hidden_size" in valid_keys()


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("lr=fast", "expected a number"),
        ("arch.hidden_size=2.5", "expected an integer"),
        ("ema.enabled=maybe", "expected true or false"),
        ("arch.loss_type=hinge", "expected one of"),
        ("optim.betas=0.9", "expected 2 comma-separated values"),
        ("lr", "not key=value"),
        ("lr=-1", "optim.lr must be"),
        ("schedule.eval_interval=3", "must divide schedule.epochs"),
        ("arch.hidden_size=33", "divisible by num_heads"),
        ("optim.lr_min_ratio=2", "lr_min_ratio"),
        ("runtime.dtype=int8", "runtime.dtype"),
    ],
)
def test_bad_values_are_one_line_errors(override, fragment):
    with pytest.raises(ConfigError) as err:
        apply_overrides(get_recipe("tiny"), [override])
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_from_dict_rejects_unknown_and_checks_types():
    data = get_recipe("tiny").to_dict()
    data["optim"]["momentum"] = 0.9
    with pytest.raises(ConfigError, match="optim.momentum"):
        TrainConfig.from_dict(data)
    data = get_recipe("tiny").to_dict()
    data["arch"]["hidden_size"] = "big"
    with pytest.raises(ConfigError, match="arch.hidden_size"):
        TrainConfig.from_dict(data).validate()


def test_parse_value_types():
    assert parse_value("3", int) == 3
    assert parse_value("none", int | None) is None
    assert parse_value("(0.5, 0.25)", tuple[float, float]) == (0.5, 0.25)
    assert parse_value("off", bool) is False


def test_learning_rate_schedule():
    c = apply_overrides(get_recipe("tiny"), ["optim.warmup_steps=10", "optim.lr_min_ratio=0.1", "lr=1.0"])
    assert learning_rate(c, 1.0, 1, 100, 0.0) == pytest.approx(0.1)  # warmup: step / warmup
    assert learning_rate(c, 1.0, 10, 100, 0.0) == pytest.approx(1.0)
    assert learning_rate(c, 1.0, 100, 100, 0.0) == pytest.approx(0.1)
    mid = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert learning_rate(c, 1.0, 55, 100, 0.0) == pytest.approx(mid)
    # Under a time budget the cosine follows whichever of steps and time is further along.
    assert learning_rate(c, 1.0, 20, 100, 0.5) == pytest.approx(mid)
    assert learning_rate(c, 1.0, 20, 100, 1.0) == pytest.approx(0.1)
    constant = apply_overrides(c, ["optim.lr_min_ratio=1"])
    assert learning_rate(constant, 1.0, 80, 100, 0.9) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [-1, 2**32, 18446744073709551616])
def test_runtime_seed_out_of_range_is_a_config_error(seed):
    cfg = TrainConfig()
    cfg.runtime.seed = seed
    with pytest.raises(ConfigError, match="runtime.seed"):
        cfg.validate()


def test_an_unused_family_section_is_validated_too():
    """S6: `model=gru trm.num_layers=-5` is an error naming the section, not an override silently ignored."""
    from hrm.training.config import ConfigError

    with pytest.raises(ConfigError, match=r"trm.num_layers must be an integer >= 1.*not used with model=gru"):
        apply_overrides(get_recipe("tiny"), ["model=gru", "trm.num_layers=-5"]).validate()
    apply_overrides(get_recipe("tiny"), ["model=gru", "trm.num_layers=3"]).validate()


@pytest.mark.parametrize(("content", "message"), [(b"\xff\xfe\x00", "not UTF-8"), (b"[1]", "expected a JSON object")])
def test_a_corrupt_train_config_is_a_user_error(tmp_path, content, message):
    """T5: `hrm train --resume` on a run whose train_config.json is binary or not an object: one clear error."""
    from hrm.errors import UserError
    from hrm.training.run_dir import TRAIN_CONFIG_FILE, RunDir

    (tmp_path / TRAIN_CONFIG_FILE).write_bytes(content)
    with pytest.raises(UserError, match=message):
        RunDir(tmp_path).read_config()


def test_a_word_for_an_integer_field_says_integer():
    with pytest.raises(ConfigError, match="lstm.match_parameters=true: expected an integer, got 'true'"):
        apply_overrides(get_recipe("tiny"), ["lstm.match_parameters=true"])
