"""hrm: the Hierarchical Reasoning Model (Wang et al. 2025, arXiv 2506.21734) as installable research software."""

from hrm._version import __version__
from hrm.checkpoints import (  # noqa: E402
    convert_reference_checkpoint,
    load_checkpoint,
    load_reference_checkpoint,
    save_checkpoint,
)
from hrm.model import HRM, Carry, HRMConfig  # noqa: E402

__all__ = [
    "HRM",
    "Carry",
    "HRMConfig",
    "__version__",
    "convert_reference_checkpoint",
    "load_checkpoint",
    "load_reference_checkpoint",
    "save_checkpoint",
    "solve",
]


def __getattr__(name: str):
    # `hrm.solve` is imported on first use, so `import hrm` does not load the data and inference packages.
    if name == "solve":
        from hrm.inference.solve import solve

        return solve
    raise AttributeError(f"module 'hrm' has no attribute {name!r}")
