"""Our checkpoint format: a self-describing ``step-N/`` directory.

::

    step-N/
      model.safetensors   model weights (incl. the puzzle-ID table and the fixed z_H/z_L init vectors)
      config.json         {"format": "hrm-checkpoint", "format_version": 1, "family": "hrm", "model": the family's
                          config (HRMConfig for "hrm"), "train": ...}; no "family" (older checkpoints) means "hrm"
      dataset.json        the training split's metadata (vocab, seq_len, puzzle IDs, ...) and provenance
      identifiers.json    puzzle-ID → name map of the dataset the model was trained on
      meta.json           step, metrics of the last evaluation, library version
      train_state.pt      optional: optimiser/EMA/RNG/sampler/carry state for exact resume (loaded weights_only)

Writes are atomic: everything goes into a temporary sibling directory that is renamed into place last, so an
interrupted save never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from hrm._version import __version__
from hrm.errors import UserError
from hrm.model.protocol import FamilyModule, ReasoningModel
from hrm.model.registry import build_model, family_spec

FORMAT_NAME = "hrm-checkpoint"
FORMAT_VERSION = 1
DEFAULT_FAMILY = "hrm"  # what a config.json without "family" (written before there were other families) holds
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
DATASET_FILE = "dataset.json"
IDENTIFIERS_FILE = "identifiers.json"
META_FILE = "meta.json"
TRAIN_STATE_FILE = "train_state.pt"


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``model`` is in eval mode on the requested device, fp32 activations."""

    path: Path
    model: FamilyModule  # a model family's nn.Module
    model_config: Any  # the family's config dataclass
    train_config: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    identifiers: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int | None:
        return self.meta.get("step")

    @property
    def family(self) -> str:
        return type(self.model).family


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _read_json(path: Path, what: str, expect: type | tuple[type, ...] | None = None) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: missing {what}; is this an hrm checkpoint directory (step-N/)?") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: invalid JSON in {what} (line {exc.lineno}): {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read {what} ({getattr(exc, 'strerror', None) or exc})") from exc
    if expect is not None and not isinstance(data, expect):
        wanted = "a JSON object" if expect is dict else "a JSON list" if expect is list else "JSON of another type"
        raise UserError(f"{path}: {what} holds {type(data).__name__}, expected {wanted}; rewrite or remove the file")
    return data


def _read_optional_json(path: Path, what: str, expect: type) -> Any:
    return _read_json(path, what, expect) if path.exists() else None


def model_state_for_saving(model: ReasoningModel) -> dict[str, torch.Tensor]:
    """Plain fp32/bool/int tensors, contiguous, on CPU (safetensors refuses shared or strided storage)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_checkpoint(
    path: str | os.PathLike,
    model: ReasoningModel,
    *,
    train_config: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    identifiers: list[str] | None = None,
    meta: dict[str, Any] | None = None,
    train_state: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``path`` (a ``step-N`` directory) atomically and return it."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; choose another directory or remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        save_file(model_state_for_saving(model), str(tmp / MODEL_FILE), metadata={"format": FORMAT_NAME})
        _write_json(
            tmp / CONFIG_FILE,
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "family": type(model).family,
                "model": model.config.to_dict(),
                "train": train_config,
            },
        )
        if dataset is not None:
            _write_json(tmp / DATASET_FILE, dataset)
        if identifiers is not None:
            _write_json(tmp / IDENTIFIERS_FILE, list(identifiers))
        _write_json(tmp / META_FILE, {"hrm_version": __version__, **(meta or {})})
        if train_state is not None:
            torch.save(train_state, tmp / TRAIN_STATE_FILE)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_family(path: str | os.PathLike) -> str:
    """The model family a ``step-N`` directory holds (``"hrm"`` for checkpoints written before families)."""
    family = _read_config(path).get("family", DEFAULT_FAMILY)
    if not isinstance(family, str):
        raise UserError(f"{path}/config.json: 'family' is {family!r}, expected a family name")
    return family


def _read_config(path: str | os.PathLike) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory, checked for shape (a JSON object of our format and version)."""
    config = _read_json(Path(path) / CONFIG_FILE, "config.json", dict)
    if config.get("format") != FORMAT_NAME:
        raise UserError(f"{path}/config.json is not an hrm checkpoint config (format={config.get('format')!r})")
    version = config.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise UserError(f"{path}/config.json: format_version is {version!r}, expected an integer")
    if version > FORMAT_VERSION:
        raise UserError(f"{path} was written by a newer hrm (format {version}); upgrade hrm to read it")
    if not isinstance(config.get("model"), dict):
        raise UserError(f"{path}/config.json: 'model' must be a JSON object with the model config")
    if config.get("train") is not None and not isinstance(config["train"], dict):
        raise UserError(f"{path}/config.json: 'train' must be a JSON object or null")
    return config


def read_model_config(path: str | os.PathLike, family: str | None = None) -> Any:
    """The model config of a ``step-N`` directory, as its family's config dataclass.

    With ``family``, a checkpoint of another family is a UserError (the caller needs that family).
    """
    config = _read_config(path)
    recorded = read_family(path)
    if family is not None and recorded != family:
        raise UserError(f"{path} holds a {recorded!r} model, not {family!r}; pass a checkpoint of a {family} model")
    try:
        spec = family_spec(recorded)
    except ValueError as exc:
        raise UserError(f"{path}/config.json: {exc}; was it written by a newer hrm?") from None
    try:
        return spec.config_cls.from_dict(config["model"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise UserError(f"{path}/config.json: invalid model config: {exc}") from exc


def expected_shapes(family: str, config: Any) -> dict[str, tuple[int, ...]]:
    """Every state-dict entry's shape for ``config``, without allocating (the model is built on the meta device)."""
    with torch.device("meta"):
        model = build_model(family, config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_weights_file(file: Path, family: str, config: Any) -> None:
    """Compare the tensor names and shapes in a safetensors header with ``config`` before any weight is read.

    A config.json that does not belong to its weights (or a hostile one) is refused here, before the model is
    built, so it cannot make us allocate what the weights do not back.
    """
    try:
        with safe_open(str(file), framework="pt", device="cpu") as f:
            found = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118 (not a dict)
        found = upgraded(family_spec(family).model_cls, found)
    except FileNotFoundError as exc:
        raise UserError(f"{file.parent}: missing {MODEL_FILE}") from exc
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{file}: unreadable weights ({exc})") from exc
    expected = expected_shapes(family, config)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        raise UserError(
            f"{file}: weights do not match config.json (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "was it written by another hrm version or another model?"
        )
    for key, shape in expected.items():
        if found[key] != shape:
            raise UserError(f"{file}: {key} has shape {found[key]}, config.json expects {shape}")


def read_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", family: str | None = None
) -> Checkpoint:
    """Read one ``step-N`` directory written by :func:`save_checkpoint` (not the training state).

    Callers pass what a user typed through :func:`hrm.checkpoints.load_checkpoint`, which also accepts run
    directories and ``RUN/best``. The weights' header is checked against config.json before the model is built.
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"checkpoint {path} not found (expected a step-N directory or a run directory)")
    model_config = read_model_config(path, family)
    config = _read_config(path)
    recorded = read_family(path)
    check_weights_file(path / MODEL_FILE, recorded, model_config)
    model = build_model(recorded, model_config)
    try:
        state = load_file(str(path / MODEL_FILE), device="cpu")
    except FileNotFoundError as exc:
        raise UserError(f"{path}: missing {MODEL_FILE}") from exc
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{path}/{MODEL_FILE}: unreadable weights ({exc})") from exc
    load_model_state(model, state, source=str(path / MODEL_FILE))
    model.to(device).eval()
    dataset = _read_optional_json(path / DATASET_FILE, DATASET_FILE, dict)
    identifiers = _read_optional_json(path / IDENTIFIERS_FILE, IDENTIFIERS_FILE, list)
    if identifiers is not None and not all(isinstance(name, str) for name in identifiers):
        raise UserError(f"{path / IDENTIFIERS_FILE}: expected a JSON list of puzzle names (strings)")
    meta = _read_optional_json(path / META_FILE, META_FILE, dict) or {}
    return Checkpoint(
        path=path,
        model=model,
        model_config=model_config,
        train_config=config.get("train"),
        dataset=dataset,
        identifiers=identifiers,
        meta=meta,
    )


def upgraded(model: ReasoningModel | type[ReasoningModel], named: dict[str, Any]) -> dict[str, Any]:
    """``named`` (weights, an EMA's shadow, ... by parameter name) under today's names: a name an older version
    saved is mapped through the family's ``upgrade_key``."""
    return {model.upgrade_key(name): value for name, value in named.items()}


def load_model_state(model: ReasoningModel, state: dict[str, torch.Tensor], source: str) -> None:
    """Strictly load ``state`` (older names upgraded) into ``model``; shape or key mismatches become one-line
    UserErrors."""
    state = upgraded(model, state)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise UserError(
            f"{source}: weights do not match the config (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); was it written by another hrm version or another model?"
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise UserError(
                f"{source}: {key} has shape {tuple(tensor.shape)}, config expects {tuple(expected[key].shape)}"
            )
    with torch.no_grad():
        model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def load_train_state(path: str | os.PathLike) -> dict[str, Any]:
    file = Path(path) / TRAIN_STATE_FILE
    if not file.exists():
        raise UserError(f"{path}: no {TRAIN_STATE_FILE}; this checkpoint cannot resume training")
    state = safe_torch_load(file, "training state")
    if not isinstance(state, dict):
        raise UserError(f"{file}: holds {type(state).__name__}, not a training state")
    return state


def safe_torch_load(file: Path, what: str) -> Any:
    """``torch.load`` that cannot run code: only tensors and plain containers are unpickled (``weights_only``).

    Any failure (a damaged file, or a pickle that asks for other objects) is one UserError; torch's own message is
    not passed on, because it suggests turning the protection off.
    """
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise UserError(f"{file}: not found") from exc
    except Exception as exc:  # torch raises many unrelated types (UnpicklingError, RuntimeError, EOFError ...)
        kind = "refused: it asks to build objects other than tensors" if "weights_only" in str(exc) else "damaged"
        raise UserError(f"{file}: not a readable {what} ({type(exc).__name__}; {kind}); it is not loaded") from None


def to_storable(obj: Any) -> Any:
    """Numpy values → torch tensors / Python scalars, so ``torch.load(weights_only=True)`` can read them back
    (what ``train_state.pt`` holds, e.g. the sampler's state)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_storable(v) for v in obj)
    return obj


def from_storable(obj: Any) -> Any:
    """Inverse of :func:`to_storable` for states that hold no torch tensors of their own (the sampler's)."""
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: from_storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_storable(v) for v in obj)
    return obj
