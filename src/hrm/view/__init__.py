"""``hrm view``: datasets, evaluations, runs and comparisons as one self-contained HTML page.

:func:`build_page` reads PATH and returns the page's data (plain JSON-able dicts); :func:`render_html` puts that
data into ``template.html`` (inline CSS and JavaScript, no network); :func:`write_html` writes it atomically;
:func:`serve_html` serves it on 127.0.0.1. PATH is one of four kinds, tried in this order:

* **comparison**: a folder with ``records.jsonl`` (the comparison lab of ``hrm compare``; see
  :mod:`hrm.lab.study_dir`): its records as a table, ``summary.csv`` / ``summary.md`` and every PNG plot;
* **run**: a folder with ``train_config.json`` or ``metrics.jsonl`` (``hrm train``): curves, config, checkpoints;
* **evaluation**: a folder with ``eval.json`` and/or ``segment_predictions.npz`` (``hrm evaluate --out DIR
  [--save-predictions N]``), or that ``.npz`` itself: metrics, per-puzzle segments with Q values, ARC votes;
* **dataset**: a dataset root (split folders with ``dataset.json``) or one split folder.

Large inputs stay fast: at most ``limit`` examples per split (puzzles of an evaluation, tasks of ARC voting) are
embedded, starting at ``start``, and the page says how many of how many it shows; the page itself pages through
them. Grids are embedded compactly (one character per cell) and drawn by the page as CSS grids.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hrm._version import __version__
from hrm.errors import UserError
from hrm.view.comparison import comparison_page
from hrm.view.dataset import dataset_page
from hrm.view.evaluation import evaluation_page
from hrm.view.grids import display_grid, encode_cells
from hrm.view.page_kind import KINDS, detect_kind
from hrm.view.render import default_out, render_html, write_html
from hrm.view.run import run_page
from hrm.view.server import page_server, serve_html

DEFAULT_LIMIT = 500


def build_page(
    path: str | os.PathLike,
    *,
    limit: int = DEFAULT_LIMIT,
    start: int = 0,
    match: str | None = None,
    originals: bool = False,
) -> dict[str, Any]:
    """The page data for PATH (see the module docstring); UserError on anything unreadable.

    ``match`` and ``originals`` select a dataset's examples before the ``start``/``limit`` window: only puzzles
    whose identifier name contains ``match`` (any case), only originals (no augmented versions)."""
    if limit < 1:
        raise UserError(f"--limit {limit}: must be >= 1")
    if start < 0:
        raise UserError(f"--start {start}: must be >= 0")
    path = Path(path)
    kind = detect_kind(path)
    builders: dict[str, Callable[..., dict[str, Any]]] = {
        "dataset": dataset_page,
        "evaluation": evaluation_page,
        "run": run_page,
        "comparison": comparison_page,
    }
    if (match or originals) and kind != "dataset":
        raise UserError(f"--match and --originals select dataset examples; {path} is a {kind}")
    extra = {"match": match, "originals": originals} if kind == "dataset" else {}
    page = builders[kind](path, limit=limit, start=start, **extra)
    page.setdefault("notes", [])
    return {"kind": kind, "source": str(path), "version": __version__, **page}


__all__ = [
    "DEFAULT_LIMIT",
    "KINDS",
    "build_page",
    "default_out",
    "detect_kind",
    "display_grid",
    "encode_cells",
    "page_server",
    "render_html",
    "serve_html",
    "write_html",
]
