"""Pure ``nn.Module`` code for every model family: no device choice, file I/O, logging or distributed here.

Every family implements the model protocol (:mod:`hrm.model.protocol`, docs/architecture.md) and registers itself
in :mod:`hrm.model.registry`.
"""

from hrm.model.common import Carry
from hrm.model.config import HRMArchitecture, HRMConfig
from hrm.model.hrm import HRM, HRMCore
from hrm.model.losses import IGNORE_LABEL_ID, act_loss, stablemax_cross_entropy
from hrm.model.protocol import ReasoningModel, SegmentOutput, SegmentRunner, SegmentStep
from hrm.model.registry import FAMILIES, FamilySpec, build_model, family_spec, register_family

__all__ = [
    "FAMILIES",
    "HRM",
    "Carry",
    "FamilySpec",
    "HRMArchitecture",
    "HRMConfig",
    "HRMCore",
    "IGNORE_LABEL_ID",
    "ReasoningModel",
    "SegmentOutput",
    "SegmentRunner",
    "SegmentStep",
    "act_loss",
    "build_model",
    "family_spec",
    "register_family",
    "stablemax_cross_entropy",
]
