"""Argument types the commands share, so every command bounds the same quantity the same way."""

from __future__ import annotations

import argparse

from hrm.model.limits import MAX_SEED


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**32 - 1] (argparse reports anything else in one line, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer seed") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is out of range; a seed is in 0..{MAX_SEED}")
    return value


def count(limit: int, minimum: int = 1):
    """An argparse type: an integer in [minimum, limit] (the bounds of :mod:`hrm.model.limits`), checked at parse time,
    so a hostile count (``--augment-votes 1000000000``) is one line before anything is allocated."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not minimum <= value <= limit:
            raise argparse.ArgumentTypeError(f"{value} is out of range; use {minimum}..{limit}")
        return value

    return parse


def finite_non_negative(text: str) -> float:
    """A finite float >= 0 (``inf`` and ``nan`` are refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def check_plot_suffix(path, option: str = "--plot") -> None:
    """Refuse a plot file matplotlib cannot write, before any analysis runs."""
    from pathlib import Path

    from hrm.errors import UserError

    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise UserError(
            f"{option} {path}: unknown image type {suffix or '(no extension)'}; use one of {', '.join(PLOT_SUFFIXES)}"
        )
