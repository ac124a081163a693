"""TRM reference checkpoints (SamsungSAILMontreal/TinyRecursiveModels): ``step_N`` + ``all_config.yaml``.

The file is the ``ACTLossHead`` state dict (``model.inner.*``, ``_orig_mod.`` in front when compiled) and the
yaml's ``arch.name`` is ``recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1``. As for HRM, the dataset-fixed
sizes are read from the tensors: vocab and width from the token table, puzzle IDs from the puzzle table, layers
from the block keys, and the block type from the presence of ``mlp_t`` weights. ``seq_len`` comes from the
sequence-mixing SwiGLU (``mlp_t``) or the learned position table when there is one, else from the dataset named
by ``data_path``, else 900 (rope accepts any length).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

import torch

from hrm.errors import UserError
from hrm.model.config import LossType
from hrm.model.trm import TRMConfig

TRM_ARCH_NAME = "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"

# Reference key fragment → ours (after the "_orig_mod." and "model." prefixes are stripped).
_TRM_RENAMES = (
    ("inner.L_level.layers.", "core.net.layers."),
    ("inner.embed_tokens.embedding_weight", "core.embed.embed_tokens.weight"),
    ("inner.embed_pos.embedding_weight", "core.embed.embed_pos.weight"),
    ("inner.puzzle_emb.weights", "core.embed.puzzle_emb.weight"),
    ("inner.H_init", "core.z_H_init"),
    ("inner.L_init", "core.z_L_init"),
    ("inner.lm_head.", "core.lm_head."),
    ("inner.q_head.", "core.q_head."),
)
# config/arch/trm.yaml's values, for keys an all_config.yaml leaves out.
_TRM_DEFAULTS = {
    "num_heads": 8,
    "expansion": 4.0,
    "H_cycles": 3,
    "L_cycles": 6,
    "halt_max_steps": 16,
    "halt_exploration_prob": 0.1,
    "pos_encodings": "rope",
    "puzzle_emb_len": 16,
    "no_ACT_continue": True,
}


def is_trm_config(config: dict[str, Any]) -> bool:
    name = str(config.get("arch", {}).get("name", ""))
    return name.split("@")[0].endswith("recursive_reasoning.trm")


def rename_trm_key(key: str) -> str:
    while key.startswith("_orig_mod."):
        key = key[len("_orig_mod.") :]
    if key.startswith("model.inner."):
        key = key[len("model.") :]
    for old, new in _TRM_RENAMES:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def trm_reference_config(
    state: dict[str, torch.Tensor], config: dict[str, Any], source: str, seq_len: int | None, dataset_seq_len
) -> TRMConfig:
    """The :class:`TRMConfig` of a renamed reference state dict. ``dataset_seq_len()`` is tried for rope models.

    A config value of the wrong type (``L_layers: x``, ``loss: "str"``) or a tensor of the wrong rank is one
    UserError naming the file, as for HRM's reference checkpoints."""
    try:
        return _trm_reference_config(state, config, source, seq_len, dataset_seq_len)
    except (TypeError, ValueError, AttributeError, OverflowError, KeyError) as exc:
        if isinstance(exc, UserError):
            raise
        raise UserError(
            f"{source}: all_config.yaml or the tensors hold a value of the wrong type or shape "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _trm_reference_config(
    state: dict[str, torch.Tensor], config: dict[str, Any], source: str, seq_len: int | None, dataset_seq_len
) -> TRMConfig:
    arch = config["arch"]
    try:
        vocab_size, hidden = state["core.embed.embed_tokens.weight"].shape
    except KeyError as exc:
        raise UserError(f"{source}: no token embedding tensor; is this a reference TRM checkpoint?") from exc
    puzzle = state.get("core.embed.puzzle_emb.weight")
    num_ids, ndim = (puzzle.shape[0], puzzle.shape[1]) if puzzle is not None else (1, 0)
    emb_len = int(arch.get("puzzle_emb_len", _TRM_DEFAULTS["puzzle_emb_len"]))
    prefix = 0 if ndim == 0 else (emb_len if emb_len > 0 else -(-ndim // hidden))
    prefix_layers = "core.net.layers."
    layer_ids = {int(k[len(prefix_layers) :].split(".")[0]) for k in state if k.startswith(prefix_layers)}
    if not layer_ids:
        raise UserError(f"{source}: no L_level blocks; is this a reference TRM checkpoint?")
    if "L_layers" in arch and int(arch["L_layers"]) != len(layer_ids):
        raise UserError(f"{source}: arch.L_layers={arch['L_layers']} but the checkpoint has {len(layer_ids)} blocks")
    mlp_t = f"{prefix_layers}0.mlp_t.gate_up_proj.weight" in state
    if "mlp_t" in arch and bool(arch["mlp_t"]) != mlp_t:
        raise UserError(f"{source}: arch.mlp_t={arch['mlp_t']} but the checkpoint's blocks say {mlp_t}")
    pos = str(arch.get("pos_encodings", _TRM_DEFAULTS["pos_encodings"]))
    inferred = None
    if mlp_t:
        inferred = state[f"{prefix_layers}0.mlp_t.gate_up_proj.weight"].shape[1] - prefix
    elif pos == "learned":
        if "core.embed.embed_pos.weight" not in state:
            raise UserError(f"{source}: config says learned positions but the checkpoint has no embed_pos table")
        inferred = state["core.embed.embed_pos.weight"].shape[0] - prefix
    if inferred is not None:
        if seq_len is not None and seq_len != inferred:
            raise UserError(f"{source}: seq_len={seq_len} given but the checkpoint's tensors imply {inferred}")
        seq_len = inferred
    elif seq_len is None:
        seq_len = dataset_seq_len() or 900
    if int(arch.get("hidden_size", hidden)) != hidden:
        raise UserError(f"{source}: arch.hidden_size={arch['hidden_size']} but the tensors have width {hidden}")
    loss = arch.get("loss") or {}
    loss_type = str(loss.get("loss_type", "stablemax_cross_entropy")).replace("_cross_entropy", "")

    def get(key: str):
        return arch.get(key, _TRM_DEFAULTS[key])

    try:
        return TRMConfig(
            vocab_size=int(vocab_size),
            seq_len=int(seq_len),
            num_puzzle_identifiers=int(num_ids),
            puzzle_emb_ndim=int(ndim),
            puzzle_emb_len=emb_len,
            hidden_size=int(hidden),
            num_heads=int(get("num_heads")),
            expansion=float(get("expansion")),
            num_layers=len(layer_ids),
            high_cycles=int(get("H_cycles")),
            low_cycles=int(get("L_cycles")),
            pos_encodings=cast(Literal["rope", "learned", "none"], pos),  # other strings: TRMConfig's ValueError
            mlp_t=mlp_t,
            rope_theta=float(arch.get("rope_theta", 10000.0)),
            rms_norm_eps=float(arch.get("rms_norm_eps", 1e-5)),
            halt_max_steps=int(get("halt_max_steps")),
            halt_exploration_prob=float(get("halt_exploration_prob")),
            train_q_continue=not bool(get("no_ACT_continue")),
            loss_type=cast(LossType, loss_type),  # likewise validated by TRMConfig
        )
    except ValueError as exc:
        raise UserError(f"{source}: {exc}") from exc


def build_trm_from_reference(
    raw: dict[str, torch.Tensor], config: dict[str, Any], path: Path, seq_len: int | None, dataset_seq_len
):
    """A :class:`~hrm.model.trm.TRM` holding the reference state dict ``raw`` (strictly checked)."""
    from hrm.checkpoints.format import load_model_state
    from hrm.model.trm import TRM

    state = {rename_trm_key(k): v for k, v in raw.items()}
    model = TRM(trm_reference_config(state, config, str(path), seq_len, dataset_seq_len))
    load_model_state(model, state, source=str(path))
    return model
