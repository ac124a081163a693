"""Argument types the commands share, so every command bounds the same quantity the same way."""

from __future__ import annotations

import argparse

MAX_SEED = 2**32 - 1  # numpy's legacy seeding and many samplers take 32-bit seeds; torch takes 64-bit


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**32 - 1] (argparse reports anything else in one line, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer seed") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is out of range; a seed is in 0..{MAX_SEED}")
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
