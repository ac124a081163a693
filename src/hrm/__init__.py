"""hrm: the Hierarchical Reasoning Model (Wang et al. 2025, arXiv 2506.21734) as installable research software."""

__version__ = "0.1.0"

from hrm.model import HRM, Carry, HRMConfig  # noqa: E402

__all__ = ["HRM", "Carry", "HRMConfig", "__version__"]
