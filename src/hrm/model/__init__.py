"""Pure ``nn.Module`` code for HRM: no device choice, file I/O, logging or distributed here."""

from hrm.model.config import HRMArchitecture, HRMConfig
from hrm.model.hrm import HRM, Carry, HRMCore
from hrm.model.losses import IGNORE_LABEL_ID, act_loss, stablemax_cross_entropy

__all__ = [
    "HRM",
    "Carry",
    "HRMArchitecture",
    "HRMConfig",
    "HRMCore",
    "IGNORE_LABEL_ID",
    "act_loss",
    "stablemax_cross_entropy",
]
