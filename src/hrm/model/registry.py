"""Model families by name: ``build_model("hrm", config)`` builds any registered family from its config.

A family registers a :class:`FamilySpec` (its name, config dataclass and model class) with :func:`register_family`.
Checkpoints record the family's name in ``config.json`` (absent: ``"hrm"``), so loading builds the right class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, dataclass
from typing import Any, ClassVar, Protocol

from hrm.model.config import HRMArchitecture, HRMConfig
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
    """A model family: ``config_cls`` has ``to_dict()`` / ``from_dict()``; ``model_cls(config)`` builds the model.

    What a training config needs of it (so that adding a family is its model file plus this entry):

    Attributes:
        architecture_cls: the dataclass of the family's choices without the dataset's sizes (``XArchitecture``);
            a training config has one section of this type, and ``config_cls(vocab_size=..., seq_len=...,
            num_puzzle_identifiers=..., **section)`` is the model config. ``None``: not trainable from a config.
        section: that section's name in a training config (default: the family's name; HRM's is ``arch``).
        size_like_hrm: ``f(section, hrm_arch)`` sizes the family's section to compare with an HRM architecture
            (same width and M_max, comparable depth); the small recipes call it so that ``model=NAME`` works on
            them.
    """

    name: str
    config_cls: type[ModelConfig]
    model_cls: type[FamilyModule]
    architecture_cls: type | None = None
    section: str = ""
    size_like_hrm: Callable[[Any, HRMArchitecture], None] | None = None

    @property
    def config_section(self) -> str:
        return self.section or self.name


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


register_family(FamilySpec("hrm", HRMConfig, HRM, architecture_cls=HRMArchitecture, section="arch"))


def _register_zoo() -> None:
    # Imported here, not at the top: the zoo's modules import hrm.model pieces that import this module's users.
    from hrm.model import looped, recurrent, transformer, trm

    for spec in (
        FamilySpec("trm", trm.TRMConfig, trm.TRM, trm.TRMArchitecture, size_like_hrm=trm.size_like_hrm),
        FamilySpec(
            "transformer",
            transformer.TransformerConfig,
            transformer.Transformer,
            transformer.TransformerArchitecture,
            size_like_hrm=transformer.size_like_hrm,
        ),
        FamilySpec(
            "looped", looped.LoopedConfig, looped.Looped, looped.LoopedArchitecture, size_like_hrm=looped.size_like_hrm
        ),
        FamilySpec(
            "gru",
            recurrent.GRUConfig,
            recurrent.GRUBaseline,
            recurrent.RecurrentArchitecture,
            size_like_hrm=recurrent.size_like_hrm,
        ),
        FamilySpec(
            "lstm",
            recurrent.LSTMConfig,
            recurrent.LSTMBaseline,
            recurrent.RecurrentArchitecture,
            size_like_hrm=recurrent.size_like_hrm,
        ),
    ):
        register_family(spec)


_register_zoo()
