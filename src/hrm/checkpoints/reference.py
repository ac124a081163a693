"""Read checkpoints written by the reference code (sapientinc/HRM): ``step_N`` + ``all_config.yaml``.

TRM reference checkpoints (TinyRecursiveModels, ``arch.name`` ``recursive_reasoning.trm@...``) load through the same
functions as a :class:`~hrm.model.trm.TRM` (see :mod:`hrm.checkpoints.reference_trm`).

A reference checkpoint is a bare ``torch.save(state_dict)`` (keys possibly prefixed ``_orig_mod.`` by
``torch.compile``, and ``model.`` by the loss wrapper) with the training config in ``all_config.yaml`` beside it.
The yaml's ``arch`` section gives the architecture; vocab size, puzzle-ID count and width, and (for learned
positions) seq_len are read from the tensors, because the reference takes them from the dataset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import torch
import yaml

from hrm.checkpoints.format import Checkpoint, load_model_state, safe_torch_load, save_checkpoint
from hrm.checkpoints.reference_trm import build_trm_from_reference, is_trm_config
from hrm.errors import UserError
from hrm.model import HRM, HRMConfig
from hrm.model.config import LossType, PosEncoding

# Reference key fragment → ours (applied after the prefixes are stripped).
_RENAMES = (
    ("inner.H_level.layers.", "core.high_level.layers."),
    ("inner.L_level.layers.", "core.low_level.layers."),
    ("inner.embed_tokens.embedding_weight", "core.embed.embed_tokens.weight"),
    ("inner.embed_pos.embedding_weight", "core.embed.embed_pos.weight"),
    ("inner.puzzle_emb.weights", "core.embed.puzzle_emb.weight"),
    ("inner.H_init", "core.z_H_init"),
    ("inner.L_init", "core.z_L_init"),
    ("inner.lm_head.", "core.lm_head."),
    ("inner.q_head.", "core.q_head."),
)
# The reference's hrm_v1.yaml values, used for keys an all_config.yaml leaves out (layer counts are read
# from the tensors instead).
_ARCH_DEFAULTS = {
    "num_heads": 8,
    "expansion": 4.0,
    "H_cycles": 2,
    "L_cycles": 2,
    "halt_max_steps": 16,
    "halt_exploration_prob": 0.1,
}
_DEFAULT_SEQ_LEN_ROPE = 900  # largest reference grid (Maze/ARC 30×30); rope accepts any length at run time


def _rename(key: str) -> str:
    while key.startswith("_orig_mod."):
        key = key[len("_orig_mod.") :]
    if key.startswith("model.inner."):
        key = key[len("model.") :]
    for old, new in _RENAMES:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (``*name``): a few hundred bytes of nested aliases expand to
    gigabytes (an "alias bomb"), and the reference writes its configs without any."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted (an alias can expand to gigabytes)", event.start_mark
            )
        return super().compose_node(parent, index)


def load_config_yaml(text: str) -> Any:
    """Parse YAML safely: no Python objects (``!!python`` tags), no aliases. Every YAML the package reads from a
    user (reference ``all_config.yaml``, comparison and search specs) goes through here."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_config_yaml(path.read_text())
    except FileNotFoundError as exc:
        raise UserError(
            f"{path} not found: a reference checkpoint needs the all_config.yaml written beside it "
            "(copy it from the run's checkpoint directory)"
        ) from exc
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict) or not isinstance(data.get("arch"), dict):
        raise UserError(f"{path}: no 'arch' section; is this a reference all_config.yaml?")
    return data


def _dataset_seq_len(config: dict[str, Any], base: Path) -> int | None:
    data_path = config.get("data_path")
    if not data_path:
        return None
    for candidate in (Path(data_path), base / data_path):
        meta = candidate / "train" / "dataset.json"
        if meta.is_file():
            try:
                return int(json.loads(meta.read_text())["seq_len"])
            except (ValueError, KeyError, TypeError):
                return None
    return None


def reference_config(
    state: dict[str, torch.Tensor],
    config: dict[str, Any],
    source: str,
    seq_len: int | None = None,
    base: Path | None = None,
) -> HRMConfig:
    """The HRMConfig of a reference checkpoint: its yaml's ``arch`` section checked against the tensors."""
    try:
        return _reference_config(state, config, source, seq_len, base)
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise UserError(
            f"{source}: all_config.yaml or the tensors hold a value of the wrong type or shape ({exc})"
        ) from None


def _reference_config(
    state: dict[str, torch.Tensor],
    config: dict[str, Any],
    source: str,
    seq_len: int | None,
    base: Path | None,
) -> HRMConfig:
    arch = config["arch"]
    try:
        embed = state["core.embed.embed_tokens.weight"]
    except KeyError as exc:
        raise UserError(f"{source}: no token embedding tensor; is this a reference HRM checkpoint?") from exc
    vocab_size, hidden = embed.shape
    puzzle = state.get("core.embed.puzzle_emb.weight")
    num_ids, ndim = (puzzle.shape[0], puzzle.shape[1]) if puzzle is not None else (1, 0)
    puzzle_len = -(-ndim // hidden)
    pos = str(arch.get("pos_encodings", "rope"))
    if pos == "learned":
        if "core.embed.embed_pos.weight" not in state:
            raise UserError(f"{source}: config says learned positions but the checkpoint has no embed_pos table")
        inferred = state["core.embed.embed_pos.weight"].shape[0] - puzzle_len
        if seq_len is not None and seq_len != inferred:
            raise UserError(f"{source}: seq_len={seq_len} given but the position table implies {inferred}")
        seq_len = inferred
    elif seq_len is None:
        seq_len = _dataset_seq_len(config, base or Path(".")) or _DEFAULT_SEQ_LEN_ROPE
    layers = {}
    for level, key in (("high_level", "H_layers"), ("low_level", "L_layers")):
        prefix = f"core.{level}.layers."
        found = {int(k[len(prefix) :].split(".")[0]) for k in state if k.startswith(prefix)}
        layers[key] = len(found)
        if key in arch and int(arch[key]) != len(found):
            raise UserError(f"{source}: arch.{key}={arch[key]} but the checkpoint has {len(found)} {level} blocks")
    loss = arch.get("loss") or {}
    loss_type = str(loss.get("loss_type", "stablemax_cross_entropy")).replace("_cross_entropy", "")
    if int(arch.get("hidden_size", hidden)) != hidden:
        raise UserError(f"{source}: arch.hidden_size={arch['hidden_size']} but the tensors have width {hidden}")
    try:
        return HRMConfig(
            vocab_size=int(vocab_size),
            seq_len=int(seq_len),
            num_puzzle_identifiers=int(num_ids),
            puzzle_emb_ndim=int(ndim),
            hidden_size=int(hidden),
            num_heads=int(arch.get("num_heads", _ARCH_DEFAULTS["num_heads"])),
            expansion=float(arch.get("expansion", _ARCH_DEFAULTS["expansion"])),
            high_layers=layers["H_layers"],
            low_layers=layers["L_layers"],
            high_cycles=int(arch.get("H_cycles", _ARCH_DEFAULTS["H_cycles"])),
            low_cycles=int(arch.get("L_cycles", _ARCH_DEFAULTS["L_cycles"])),
            pos_encodings=cast(PosEncoding, pos),  # any other string: HRMConfig.validate's ValueError below
            rope_theta=float(arch.get("rope_theta", 10000.0)),
            rms_norm_eps=float(arch.get("rms_norm_eps", 1e-5)),
            halt_max_steps=int(arch.get("halt_max_steps", _ARCH_DEFAULTS["halt_max_steps"])),
            halt_exploration_prob=float(arch.get("halt_exploration_prob", _ARCH_DEFAULTS["halt_exploration_prob"])),
            loss_type=cast(LossType, loss_type),  # likewise validated by HRMConfig
        )
    except ValueError as exc:
        raise UserError(f"{source}: {exc}") from exc


def load_reference_checkpoint(
    path: str | os.PathLike, seq_len: int | None = None, device: str | torch.device = "cpu"
) -> HRM:
    """Load a reference ``step_N`` file (with ``all_config.yaml`` beside it) as an :class:`HRM` (or, for a TRM
    checkpoint, a :class:`~hrm.model.trm.TRM`) in eval mode.

    ``seq_len`` only matters for rope models (learned-position models carry it in their table); when not given,
    it is read from the yaml's ``data_path`` dataset if present, else 900. Rope models accept any input length.
    """
    model, _ = _load(Path(path), seq_len)
    return model.to(device).eval()


def _load(path: Path, seq_len: int | None) -> tuple[HRM, dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"reference checkpoint {path} not found (expected the step_N file)")
    config = _load_yaml(path.parent / "all_config.yaml")
    raw = safe_torch_load(path, "torch state_dict")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a state_dict, found {type(raw).__name__}")
    bad = [k for k, v in raw.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UserError(f"{path}: entry {bad[0]!r} is not a named tensor; is this a reference model state_dict?")
    if is_trm_config(config):  # TinyRecursiveModels' TRM (arch.name recursive_reasoning.trm@...)
        model = build_trm_from_reference(raw, config, path, seq_len, lambda: _dataset_seq_len(config, path.parent))
        return model, config
    state = {_rename(k): v for k, v in raw.items()}
    model = HRM(reference_config(state, config, str(path), seq_len, base=path.parent))
    load_model_state(model, state, source=str(path))
    return model, config


def convert_reference_checkpoint(
    path: str | os.PathLike, out: str | os.PathLike, seq_len: int | None = None, overwrite: bool = False
) -> Checkpoint:
    """Convert a reference checkpoint into our ``step-N`` format (one call); returns the loaded result."""
    path = Path(path)
    model, config = _load(path, seq_len)
    dataset = identifiers = None
    data_path = config.get("data_path")
    if data_path:
        for root in (Path(data_path), path.parent / data_path):
            if (root / "train" / "dataset.json").is_file():
                dataset = {"metadata": json.loads((root / "train" / "dataset.json").read_text()), "source": str(root)}
                if (root / "identifiers.json").is_file():
                    identifiers = json.loads((root / "identifiers.json").read_text())
                break
    step = None
    if path.name.startswith("step_") and path.name[5:].isdigit():
        step = int(path.name[5:])
    meta = {"step": step, "converted_from": str(path), "reference_config": config}
    out = save_checkpoint(
        out, model, train_config=None, dataset=dataset, identifiers=identifiers, meta=meta, overwrite=overwrite
    )
    return Checkpoint(
        path=out, model=model.eval(), model_config=model.config, dataset=dataset, identifiers=identifiers, meta=meta
    )
