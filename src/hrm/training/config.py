"""Typed, validated training configuration: :class:`TrainConfig` and its sections.

A run is fully described by one ``TrainConfig``. Recipes (:mod:`hrm.training.recipes`) build complete configs in
Python; the command line then changes individual fields with dotted ``key=value`` overrides
(:func:`apply_overrides`), parsed by each field's declared type. Unknown keys are rejected with the list of valid
ones, and :meth:`TrainConfig.validate` names the first impossible value.

Defaults are the reference's (``config/cfg_pretrain.yaml`` and ``config/arch/hrm_v1.yaml``, spec §1.1 and §3),
except where a field is marked "ours" (the reference has no such option).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hrm.data.config import DataConfig
from hrm.errors import ConfigError
from hrm.model.registry import FAMILIES, family_spec


@dataclass(kw_only=True)
class OptimConfig:
    """Both optimisers and the learning-rate schedule (spec §3.1-3.2).

    Attributes:
        optimizer: ``adam_atan2`` (the reference) or ``adamw`` (torch's, with ``adamw_eps``) for the dense weights;
            ours: ``muon``, Muon on the blocks' hidden weight matrices and ``muon_aux_optimizer`` on every other
            parameter (embeddings, output and Q heads, biases), in one optimiser (docs/optimisers.md).
        lr / betas / weight_decay: the dense optimiser's; decay is decoupled and applies to every parameter. With
            ``muon``: those of the parameters Muon does not take.
        puzzle_emb_lr / puzzle_emb_weight_decay: the sign-SGD of the puzzle-ID table.
        warmup_steps: linear warmup from 0 (the reference's ``lr_warmup_steps``).
        lr_min_ratio: cosine floor as a fraction of lr after warmup; 1.0 = constant (the reference default).
        adamw_eps: ε of ``adamw`` (also with ``muon_aux_optimizer=adamw``).
        grad_clip: ours: clip the dense gradients' global norm to this value; 0 = off (the reference).
        muon_lr: ours: Muon's peak rate; the schedule scales it by the same factor as ``lr`` (lr must be > 0).
        muon_momentum / muon_nesterov / muon_ns_steps: Muon's momentum, Nesterov direction and Newton–Schulz
            steps (the Muon reference's 0.95, true, 5).
        muon_weight_decay: decoupled decay of the Muon matrices (multiplied by their rate; the Muon README's 0.01).
        muon_aux_optimizer: ``adam_atan2`` or ``adamw`` for the parameters Muon does not take.
        muon_ns_dtype: ``auto``: Newton–Schulz in bfloat16 on CUDA (as the Muon reference), in the weights'
            dtype (fp32) elsewhere; ``float32``: always fp32.
    """

    optimizer: Literal["adam_atan2", "adamw", "muon"] = "adam_atan2"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    puzzle_emb_lr: float = 1e-2
    puzzle_emb_weight_decay: float = 0.1
    warmup_steps: int = 2000
    lr_min_ratio: float = 1.0
    adamw_eps: float = 1e-8
    grad_clip: float = 0.0
    muon_lr: float = 0.02
    muon_momentum: float = 0.95
    muon_nesterov: bool = True
    muon_ns_steps: int = 5
    muon_weight_decay: float = 0.01
    muon_aux_optimizer: Literal["adam_atan2", "adamw"] = "adam_atan2"
    muon_ns_dtype: Literal["auto", "float32"] = "auto"


@dataclass(kw_only=True)
class ScheduleConfig:
    """How long to train and when to evaluate.

    Attributes:
        global_batch_size: rows per optimiser step over all ranks (each rank runs global / world_size).
        epochs: training length; total steps = int(epochs · total_groups · mean_puzzle_examples / global batch).
        eval_interval: epochs between evaluations (the reference asserts it divides ``epochs``).
        max_steps: ours: when > 0, the total number of steps (overrides the epoch formula).
        time_budget_minutes: ours: when > 0, stop after this much wall time of training (steps and evaluations,
            counted from the first step: set-up is excluded, so a run always trains at least one step); with
            ``lr_min_ratio < 1`` the cosine decays over the budget (progress = elapsed / budget) instead of over steps.
        eval_every_steps: ours: when > 0, evaluate every this many steps instead of every ``eval_interval``.
        eval_at_end: ours: evaluate after the last step even if it is not an evaluation step.
        grad_accum_steps: ours: split each rank's rows into this many micro-batches, run one after the other with
            their gradients summed before the optimiser step; the carry, ACT and the loss normalisation by the global
            batch are those of one big batch (``global_batch_size / world_size`` must divide by it). Trades time for
            memory: the paper's batch of 768 on a small GPU or a CPU.
        max_nonfinite_steps: ours: a step whose loss or gradient norm is not finite is skipped (no update of the
            weights, optimiser state, EMA or carry); this many skipped steps in a row stop the run (exit code 2).
    """

    global_batch_size: int = 768
    epochs: int = 100000
    eval_interval: int = 10000
    max_steps: int = 0
    time_budget_minutes: float = 0.0
    eval_every_steps: int = 0
    eval_at_end: bool = True
    grad_accum_steps: int = 1
    max_nonfinite_steps: int = 5


@dataclass(kw_only=True)
class EvalConfig:
    """Periodic evaluation on the eval split (every row runs M_max segments, metrics of the last one).

    Attributes:
        batch_size: global rows per eval batch; 0 = the training global batch size.
        max_examples: ours: evaluate only the first this many examples; 0 = the whole split.
    """

    batch_size: int = 0
    max_examples: int = 0


@dataclass(kw_only=True)
class CheckpointConfig:
    """What is written to ``RUN_DIR/step-N/``.

    Attributes:
        every_eval: save after every evaluation (the reference's ``checkpoint_every_eval``).
        every_steps: ours: also save every this many steps; 0 = off.
        keep_last: ours: keep only the newest this many step directories (besides the best); 0 = keep all (the
            reference keeps every evaluation checkpoint, and the paper recipes do too).
        keep_best: ours: never delete the best checkpoint (see ``best_on``).
        best_on: ours: what "best" (``RUN_DIR/best``, ``best.json``) is chosen on, at every evaluation, by exact
            accuracy. ``train``: the first puzzle of up to ``best_groups`` groups of the training split (training
            metrics: the paper recipes, so no model is chosen on the test split it is reported on); ``eval``: the
            evaluation split (``data.eval_split``, the test split: selection on test, labelled as such; the quick
            CPU recipes); ``none``: no best is tracked. ``best.json`` records which.
        best_groups: ours: groups of the training split used by ``best_on=train``.
        at_end: save after the last step.
        init_from: ours: start from the weights of this checkpoint (a ``step-N`` or run directory, whose best
            checkpoint is taken); the optimisers, the step count and the schedule start fresh. For fine-tuning and
            curricula (e.g. easy puzzles first). ``""`` = random initialisation.
    """

    every_eval: bool = True
    every_steps: int = 0
    keep_last: int = 3
    keep_best: bool = True
    best_on: Literal["train", "eval", "none"] = "eval"
    best_groups: int = 1000
    at_end: bool = True
    init_from: str = ""


@dataclass(kw_only=True)
class RuntimeConfig:
    """Hardware and numerics.

    Attributes:
        device: ``auto`` (cuda, else mps, else cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        dtype: activation dtype: ``auto`` (bf16 on CUDA, fp32 elsewhere), ``float32``, ``bfloat16``, ``float16``.
        compile: ``torch.compile`` the recurrent modules: ``auto`` (default) compiles on CPU and CUDA when a
            compiler works here and the run is long enough to pay for the compilation (``schedule.max_steps`` 0
            or >= 200 and no time budget under 2 minutes), and falls back to eager with one printed line when no
            compiler works; ``true`` compiles or fails; ``false`` never compiles.
        deterministic: deterministic kernels; on CPU, runs and resumed runs repeat bit for bit.
        seed: torch seed (each rank uses seed + rank, as the reference) and the data sampler's seed.
        num_threads: CPU threads for torch; 0 = torch's default.
    """

    device: str = "auto"
    dtype: str = "auto"
    compile: bool | Literal["auto"] = "auto"
    deterministic: bool = False
    seed: int = 0
    num_threads: int = 0


@dataclass(kw_only=True)
class LoggingConfig:
    """Where metrics go. ``metrics.jsonl`` and ``metrics.csv`` in the run directory are always written.

    Attributes:
        progress: show a progress bar on stderr.
        log_every: write training metrics every this many steps (averaged over them).
        plot: write ``curves.png`` at every evaluation.
        tensorboard: also log to TensorBoard (``pip install tensorboard``).
        wandb: also log to Weights & Biases (``pip install wandb``); never required.
        wandb_project: the W&B project name.
    """

    progress: bool = True
    log_every: int = 1
    plot: bool = True
    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "hrm"


@dataclass(kw_only=True)
class EMAConfig:
    """Ours (the reference has none; TRM uses 0.999): evaluate and export with an EMA of the weights."""

    enabled: bool = False
    decay: float = 0.999


@dataclass(kw_only=True)
class _TrainConfigBase:
    """The sections every run has; :class:`TrainConfig` adds one section per registered model family."""

    name: str = "custom"
    model: str = "hrm"
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)

    if TYPE_CHECKING:  # the family sections (arch, trm, ...) are made from the registry below

        def __getattr__(self, name: str) -> Any: ...

    def validate(self) -> TrainConfig:
        """Raise :class:`ConfigError` naming the first impossible value; returns ``self``."""
        _check_types(self, "")
        s, o = self.schedule, self.optim

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(bool(self.name), "name must not be empty")
        need(
            0 <= self.runtime.seed <= 2**32 - 1,
            f"runtime.seed must be in 0..{2**32 - 1} (the samplers take 32-bit seeds), got {self.runtime.seed}",
        )
        for key, value in (
            ("schedule.global_batch_size", s.global_batch_size),
            ("schedule.epochs", s.epochs),
            ("schedule.eval_interval", s.eval_interval),
            ("schedule.grad_accum_steps", s.grad_accum_steps),
            ("schedule.max_nonfinite_steps", s.max_nonfinite_steps),
            ("logging.log_every", self.logging.log_every),
        ):
            need(value >= 1, f"{key} must be >= 1, got {value}")
        need(
            s.global_batch_size % s.grad_accum_steps == 0,
            f"schedule.grad_accum_steps ({s.grad_accum_steps}) must divide schedule.global_batch_size "
            f"({s.global_batch_size}); choose a divisor",
        )
        need(
            s.epochs % s.eval_interval == 0,
            f"schedule.eval_interval ({s.eval_interval}) must divide schedule.epochs ({s.epochs})",
        )
        for key, value in (
            ("schedule.max_steps", s.max_steps),
            ("schedule.eval_every_steps", s.eval_every_steps),
            ("eval.batch_size", self.eval.batch_size),
            ("eval.max_examples", self.eval.max_examples),
            ("checkpoint.every_steps", self.checkpoint.every_steps),
            ("checkpoint.keep_last", self.checkpoint.keep_last),
            ("checkpoint.best_groups", self.checkpoint.best_groups),
            ("optim.warmup_steps", o.warmup_steps),
            ("runtime.num_threads", self.runtime.num_threads),
        ):
            need(value >= 0, f"{key} must be >= 0, got {value}")
        need(
            _finite(s.time_budget_minutes) and s.time_budget_minutes >= 0,
            f"schedule.time_budget_minutes must be >= 0, got {s.time_budget_minutes}",
        )
        for key, number in (
            ("optim.lr", o.lr),
            ("optim.puzzle_emb_lr", o.puzzle_emb_lr),
            ("optim.weight_decay", o.weight_decay),
            ("optim.puzzle_emb_weight_decay", o.puzzle_emb_weight_decay),
            ("optim.grad_clip", o.grad_clip),
            ("optim.muon_lr", o.muon_lr),
            ("optim.muon_weight_decay", o.muon_weight_decay),
        ):
            need(_finite(number) and number >= 0, f"{key} must be a finite number >= 0, got {number}")
        need(o.adamw_eps > 0, f"optim.adamw_eps must be > 0, got {o.adamw_eps}")
        need(0 <= o.muon_momentum < 1, f"optim.muon_momentum must be in [0, 1), got {o.muon_momentum}")
        need(o.muon_ns_steps >= 1, f"optim.muon_ns_steps must be >= 1, got {o.muon_ns_steps}")
        need(
            o.optimizer != "muon" or o.lr > 0,
            "optim.optimizer=muon needs optim.lr > 0 (the schedule scales optim.muon_lr by the same factor as lr)",
        )
        need(
            len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
            f"optim.betas must be two numbers in [0, 1), got {o.betas}",
        )
        need(0 <= o.lr_min_ratio <= 1, f"optim.lr_min_ratio must be in [0, 1], got {o.lr_min_ratio}")
        need(0 <= self.ema.decay <= 1, f"ema.decay must be in [0, 1], got {self.ema.decay}")
        need(
            self.runtime.dtype in ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16"),
            f"runtime.dtype must be auto, float32, bfloat16 or float16, got {self.runtime.dtype!r}",
        )
        if self.data.generate:
            need(self.data.gen_size >= 2, f"data.gen_size must be >= 2, got {self.data.gen_size}")
            need(
                self.data.gen_num_train >= 1 and self.data.gen_num_test >= 1,
                "data.gen_num_train and data.gen_num_test must be >= 1",
            )
        if self.data.generate == "sudoku":
            self.data.sudoku_givens()
            self.data.sudoku_givens(test=True)
        trainable = sorted(f for f in FAMILIES if _has_section(self, f))
        need(self.model in trainable, f"model must be one of {', '.join(trainable)}, got {self.model!r}")
        # Every family's section, with placeholder dataset sizes: the selected one builds the model, and an unused
        # one must be valid too, so that `model=gru trm.num_layers=-5` is an error rather than a silently ignored
        # override (and a config stays valid whichever family a later override selects).
        for family in [self.model] + [f for f in trainable if f != self.model]:
            try:
                self.family_model_config(family, vocab_size=2, seq_len=1, num_puzzle_identifiers=1)
            except ValueError as exc:
                section = _section_of(family)
                name = family_spec(family).config_cls.__name__
                message = str(exc).replace(f"{name}.", f"{section}.").replace(f"{name}:", f"{section}:")
                if family != self.model:
                    message += f" (the {section} section is not used with model={self.model}, but must be valid)"
                raise ConfigError(message) from exc
        return self

    @property
    def architecture_section(self) -> str:
        """The config section holding the selected family's architecture (``arch`` for HRM)."""
        return _section_of(self.model)

    @property
    def architecture(self) -> Any:
        return getattr(self, self.architecture_section)

    @property
    def loss_type(self) -> str:
        return self.architecture.loss_type

    def model_config(self, vocab_size: int, seq_len: int, num_puzzle_identifiers: int) -> Any:
        """The selected family's model config for a dataset of these sizes."""
        return self.family_model_config(self.model, vocab_size, seq_len, num_puzzle_identifiers)

    def section(self, family: str) -> Any:
        """``family``'s architecture section (``arch`` for HRM), whichever family is selected."""
        return getattr(self, _section_of(family))

    def family_model_config(self, family: str, vocab_size: int, seq_len: int, num_puzzle_identifiers: int) -> Any:
        """The model config ``family``'s section describes, for a dataset of these sizes (whichever is selected)."""
        section = self.section(family)
        values = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
        config_cls: type = family_spec(family).config_cls  # every family's config takes the dataset's sizes
        return config_cls(
            vocab_size=vocab_size, seq_len=seq_len, num_puzzle_identifiers=num_puzzle_identifiers, **values
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready nested dict (tuples become lists)."""
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`. Missing keys keep defaults."""
        return _from_plain(cls, data, "")


def _section_of(family: str) -> str:
    """The TrainConfig section holding ``family``'s architecture (``arch`` for HRM)."""
    return family_spec(family).config_section


def _has_section(config: Any, family: str) -> bool:
    spec = FAMILIES[family]
    return spec.architecture_cls is not None and hasattr(config, spec.config_section)


def _family_sections() -> list[tuple[str, type, Any]]:
    """One section per registered family with an architecture dataclass, in registry order."""
    sections: dict[str, type] = {}
    for spec in FAMILIES.values():
        if spec.architecture_cls is not None:
            sections.setdefault(spec.config_section, spec.architecture_cls)
    return [(name, cls, field(default_factory=cls)) for name, cls in sections.items()]


# A complete training run. The family sections come from the registry (FamilySpec.architecture_cls), so a family
# registered before this module is imported gets its section, its `--keys` and its config-file keys with no edit
# here. For type checkers a family section is an attribute of type Any (`_TrainConfigBase.__getattr__`).
if TYPE_CHECKING:
    TrainConfig = _TrainConfigBase
else:
    TrainConfig = dataclasses.make_dataclass("TrainConfig", _family_sections(), bases=(_TrainConfigBase,), kw_only=True)
    TrainConfig.__module__ = __name__  # (make_dataclass's module= needs Python 3.12) for pickle and repr
    TrainConfig.__doc__ = """A complete training run. Build one with a recipe, change it with :func:`apply_overrides`.

    ``model`` names the model family (``hrm``, ``trm``, ``transformer``, ``looped``, ``gru``, ``lstm``, or any
    family registered with an ``architecture_cls``); its architecture is that family's section (``arch`` for
    ``hrm``, else the family's name), documented on the family's ``...Architecture`` dataclass in
    :mod:`hrm.model`. The other families' sections are kept (and validated) but unused.
    """


# ---------------------------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------------------------

# Short names accepted on the command line, including the reference's own config keys.
ALIASES = {
    "data": "data.path",
    "data_path": "data.path",
    "lr": "optim.lr",
    "puzzle_emb_lr": "optim.puzzle_emb_lr",
    "weight_decay": "optim.weight_decay",
    "puzzle_emb_weight_decay": "optim.puzzle_emb_weight_decay",
    "lr_warmup_steps": "optim.warmup_steps",
    "lr_min_ratio": "optim.lr_min_ratio",
    "grad_clip": "optim.grad_clip",
    "global_batch_size": "schedule.global_batch_size",
    "epochs": "schedule.epochs",
    "eval_interval": "schedule.eval_interval",
    "max_steps": "schedule.max_steps",
    "time_budget_minutes": "schedule.time_budget_minutes",
    "checkpoint_every_eval": "checkpoint.every_eval",
    "seed": "runtime.seed",
    "device": "runtime.device",
}


def valid_keys(config: TrainConfig | None = None) -> list[str]:
    """Every dotted key :func:`apply_overrides` accepts (aliases not included)."""
    return sorted(_leaf_keys(config if config is not None else TrainConfig(), ""))


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Return a copy of ``config`` with ``["section.field=value", ...]`` applied, then validated.

    Values are parsed by the field's type: ints, floats (``1e-4``), booleans (``true/false/1/0/yes/no/on/off``),
    ``none`` for optional fields, comma-separated tuples (``0.9,0.95``) and strings. Reference-style aliases
    (``lr``, ``data``, ``epochs``, ``global_batch_size``, ...; see :data:`ALIASES`) are accepted too.
    """
    config = copy.deepcopy(config)
    keys = _leaf_keys(config, "")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value (e.g. optim.lr=1e-4)")
        key, text = item.split("=", 1)
        key = ALIASES.get(key.strip(), key.strip())
        if key not in keys:
            raise ConfigError(
                f"unknown config key {key!r}; valid keys: {', '.join(sorted(keys))}; "
                f"aliases: {', '.join(sorted(ALIASES))}"
            )
        *path, leaf = key.split(".")
        owner = config
        for part in path:
            owner = getattr(owner, part)
        hint = typing.get_type_hints(type(owner))[leaf]
        try:
            value = parse_value(text.strip(), hint)
        except ValueError as exc:
            raise ConfigError(f"{key}={text}: {exc}") from exc
        setattr(owner, leaf, value)
    return config.validate()


def parse_value(text: str, hint: Any) -> Any:
    """Parse ``text`` as a value of type ``hint`` (the subset of types TrainConfig uses)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return parse_value(text, option)
            except ValueError as exc:  # e.g. bool | Literal["auto"]: the next option may accept it
                errors.append(str(exc))
        raise ValueError(" or ".join(errors))
    if origin is Literal:
        if text not in args:
            raise ValueError(f"expected one of {', '.join(repr(a) for a in args)}")
        return text
    if origin is tuple:
        parts = [p.strip() for p in text.strip("()[]").split(",") if p.strip()]
        if len(parts) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values")
        return tuple(parse_value(p, a) for p, a in zip(parts, args))
    if hint is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)  # accept 1e3 for an int field, but not 2.5
            except ValueError:
                raise ValueError(f"expected an integer, got {text!r}") from None
            if not number.is_integer():
                raise ValueError(f"expected an integer, got {text!r}") from None
            return int(number)
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if hint is str:
        return text
    raise TypeError(f"unsupported config type {hint!r}")


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def _leaf_keys(obj: Any, prefix: str) -> set[str]:
    keys = set()
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            keys |= _leaf_keys(value, f"{prefix}{f.name}.")
        else:
            keys.add(f"{prefix}{f.name}")
    return keys


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _from_plain(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown config keys {[prefix + k for k in unknown]}; valid keys at "
            f"{prefix.rstrip('.') or 'top level'}: {sorted(names)}"
        )
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[name] = _from_plain(hint, value, f"{prefix}{name}.")
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is Literal:
        return value in args
    if origin is tuple:
        return isinstance(value, tuple) and len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _check_types(obj: Any, prefix: str) -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if not isinstance(value, hint):
                raise ConfigError(f"{prefix}{f.name} must be a {hint.__name__}, got {type(value).__name__}")
            _check_types(value, f"{prefix}{f.name}.")
        elif not _matches(value, hint):
            expected = str(hint).replace("typing.", "")
            if typing.get_origin(hint) not in (typing.Union, types.UnionType, Literal):
                expected = getattr(hint, "__name__", None) or expected
            raise ConfigError(f"{prefix}{f.name}={value!r} is not a valid {expected}")
