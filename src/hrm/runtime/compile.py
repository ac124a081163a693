"""``torch.compile`` policy: ``runtime.compile`` = ``auto`` (the default), ``true`` or ``false``.

``auto`` compiles on CPU and CUDA when a compiler works here and falls back to eager with one printed line when
none does (no C++ compiler for inductor's CPU kernels, no Triton on CUDA); MPS runs eagerly. ``true`` compiles or
fails with a one-line :class:`CompileError`; ``false`` never compiles. Whether a run is long enough for the
compilation to pay is the caller's decision (the trainer compiles only runs of more than a few hundred steps).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from hrm.errors import UserError

CompileSetting = bool | Literal["auto"]


class CompileError(UserError):
    """``runtime.compile=true`` failed (no working inductor backend, e.g. no C++ compiler): run without it."""


_PROBED: dict[str, str | None] = {}


def compiler_problem(device: torch.device) -> str | None:
    """Why ``torch.compile`` does not work on ``device`` (``None`` when it does); probed once per device type.

    Compiles and runs a two-op function, which exercises the whole tool chain (dynamo, inductor, the C++ or
    Triton compiler) in a few seconds, before a model's first step would.
    """
    key = device.type
    if key not in _PROBED:
        try:
            probe = torch.compile(lambda x: torch.sin(x) * 2.0 + 1.0, dynamic=False)
            x = torch.linspace(0.0, 1.0, 8, device=device)
            if not torch.allclose(probe(x), torch.sin(x) * 2.0 + 1.0):
                raise RuntimeError("compiled probe gave wrong values")
            _PROBED[key] = None
        except Exception as exc:  # backend-specific types (InvalidCxxCompiler, BackendCompilerFailed, ...)
            _PROBED[key] = _one_line(exc)
    return _PROBED[key]


def compile_modules(modules: Sequence[nn.Module], setting: CompileSetting, device: torch.device) -> bool:
    """Compile ``modules`` in place (parameter names, hence checkpoints, unchanged) per ``setting``.

    Returns whether they were compiled. ``auto`` prints one line to stderr and returns ``False`` when no compiler
    works here; ``True`` raises :class:`CompileError` instead.
    """
    if setting is False:
        return False
    if setting == "auto":
        if device.type not in ("cpu", "cuda"):
            return False
        problem = compiler_problem(device)
        if problem is not None:
            print(f"torch.compile is not usable here ({problem}); running without it", file=sys.stderr)
            return False
    try:
        for module in modules:
            module.compile(dynamic=False)
    except Exception as exc:
        uncompile_modules(modules)
        if setting == "auto":
            print(f"torch.compile is not usable here ({_one_line(exc)}); running without it", file=sys.stderr)
            return False
        raise CompileError(f"runtime.compile=true failed ({_one_line(exc)}); run with runtime.compile=false") from exc
    return True


def uncompile_modules(modules: Sequence[nn.Module]) -> None:
    """Undo :func:`compile_modules` (``nn.Module.compile`` keeps the compiled callable in ``_compiled_call_impl``)."""
    for module in modules:
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
