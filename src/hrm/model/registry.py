"""Model families by name: ``build_model("hrm", config)`` builds any registered family from its config.

A family registers a :class:`FamilySpec` (its name, config dataclass and model class) with :func:`register_family`.
Checkpoints record the family's name in ``config.json`` (absent: ``"hrm"``), so loading builds the right class.
"""

from __future__ import annotations

from dataclasses import Field, dataclass
from typing import Any, ClassVar, Protocol

from hrm.model.config import HRMConfig
from hrm.model.hrm import HRM
from hrm.model.protocol import FamilyModule


class ModelConfig(Protocol):
    """What the registry needs of a family's config: a dataclass with ``to_dict()`` / ``from_dict()``."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class FamilySpec:
    """A model family: ``config_cls`` has ``to_dict()`` / ``from_dict()``; ``model_cls(config)`` builds the model."""

    name: str
    config_cls: type[ModelConfig]
    model_cls: type[FamilyModule]


FAMILIES: dict[str, FamilySpec] = {}


def register_family(spec: FamilySpec) -> FamilySpec:
    """Add (or replace) a family; returns ``spec`` so it can be used as a module-level statement."""
    FAMILIES[spec.name] = spec
    return spec


def family_spec(name: str) -> FamilySpec:
    """The family called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known families: {', '.join(sorted(FAMILIES))}") from None


def build_model(family: str, config: dict[str, Any] | Any) -> FamilyModule:
    """A freshly initialised model of ``family`` from its config (the dataclass, or its ``to_dict()`` form)."""
    spec = family_spec(family)
    if isinstance(config, dict):
        config = spec.config_cls.from_dict(config)
    elif not isinstance(config, spec.config_cls):
        raise TypeError(
            f"family {family!r} needs a {spec.config_cls.__name__} (or a dict), got {type(config).__name__}"
        )
    return spec.model_cls(config)


register_family(FamilySpec("hrm", HRMConfig, HRM))


def _register_zoo() -> None:
    # Imported here, not at the top: the zoo's modules import hrm.model pieces that import this module's users.
    from hrm.model.looped import Looped, LoopedConfig
    from hrm.model.recurrent import GRUBaseline, GRUConfig, LSTMBaseline, LSTMConfig
    from hrm.model.transformer import Transformer, TransformerConfig
    from hrm.model.trm import TRM, TRMConfig

    for spec in (
        FamilySpec("trm", TRMConfig, TRM),
        FamilySpec("transformer", TransformerConfig, Transformer),
        FamilySpec("looped", LoopedConfig, Looped),
        FamilySpec("gru", GRUConfig, GRUBaseline),
        FamilySpec("lstm", LSTMConfig, LSTMBaseline),
    ):
        register_family(spec)


_register_zoo()
