"""Depth × breadth over a comparison's cells: ``hrm compare --test-time DIR --depth D ...`` (issue #24 item 4).

Every finished cell of the comparison directory ``DIR`` is evaluated with the same
:class:`~hrm.evaluation.depth_breadth.DepthBreadthOptions` on its own dataset's split (``test`` by default: the
cells' test split, read once per cell as the cell's record already did; ``val`` to choose a rule or a depth), by
the one evaluation entry point :func:`hrm.evaluation.runner.run_evaluation`. Each cell's files land in
``DIR/test_time/<cell>/`` (``eval.json``, ``depth_breadth.json`` and its plot); a cell whose files were written
with the same options and split is not run again, so an interrupted sweep resumes.

The summary groups cells by (family, task): for every choice rule, the mean over seeds of exact accuracy at each
depth, with a 95 % t-interval over seeds at the sweep's full depth (the one depth fixed before the run, so not
chosen on these rows) and at the family's own M_max, and test-time FLOPs per puzzle. Written as
``DIR/test_time.md`` / ``.json`` and ``DIR/test_time.png`` (one panel per choice rule, one line per family:
exact accuracy against test-time FLOPs per puzzle; oracle rules dashed and labelled).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hrm.errors import UserError
from hrm.evaluation.depth_breadth import ORACLE_NOTE, DepthBreadthOptions, curve_label
from hrm.evaluation.report import DEPTH_BREADTH_FILE
from hrm.lab.records import load_records
from hrm.lab.stats import mean_sd_ci
from hrm.lab.study_dir import (
    CELLS_DIR,
    TEST_TIME_DIR,
    TEST_TIME_JSON,
    TEST_TIME_MD,
    TEST_TIME_PLOT,
    write_json_atomic,
)

SUMMARY_MD, SUMMARY_JSON, SUMMARY_PLOT = TEST_TIME_MD, TEST_TIME_JSON, TEST_TIME_PLOT


def _options_key(options: DepthBreadthOptions, split: str) -> dict[str, Any]:
    """Everything that makes two sweeps of a cell the same one (a sweep is reused only when all of it matches)."""
    return {"split": split, **options.settings(), "choose": sorted(options.choose), "limit": options.limit}


def _cell_result(
    out: Path, record: dict[str, Any], options: DepthBreadthOptions, split: str, progress: bool
) -> dict[str, Any]:
    """The cell's depth × breadth result: read back when written with the same options, else run."""
    from hrm.evaluation.options import EvaluateOptions
    from hrm.evaluation.runner import run_evaluation

    cell = str(record["cell"])
    run_dir = out / CELLS_DIR / cell / "run"
    where = out / TEST_TIME_DIR / cell
    key = _options_key(options, split)
    marker = where / "options.json"
    if marker.is_file() and (where / DEPTH_BREADTH_FILE).is_file():
        try:
            if json.loads(marker.read_text()) == key:
                return json.loads((where / DEPTH_BREADTH_FILE).read_text())
        except (OSError, ValueError):
            pass  # torn or foreign: evaluate again
    report = run_evaluation(
        EvaluateOptions(checkpoint=run_dir, split=split, depth_breadth=options, out=where, progress=progress)
    )
    assert report.depth_breadth is not None
    write_json_atomic(marker, key)  # last: only a finished evaluation is reused
    return report.depth_breadth


def check_cells(out: Path, records: list[dict[str, Any]], options: DepthBreadthOptions) -> None:
    """Every cell's model and data accept ``options`` (one line naming the first that does not), before any runs."""
    import math

    from hrm.checkpoints import checkpoint_kind, open_checkpoint
    from hrm.evaluation.depth_breadth import verifier_for

    for record in records:
        run_dir = out / CELLS_DIR / str(record["cell"]) / "run"
        if not run_dir.is_dir():
            raise UserError(f"{run_dir}: the cell's run directory is missing (its checkpoints); rerun the comparison")
        ckpt = open_checkpoint(run_dir, device="cpu")
        kind = checkpoint_kind(ckpt) or "puzzles"
        side = math.isqrt(int(ckpt.model.config.seq_len)) if kind == "sudoku" else None
        try:
            options.check(kind, ckpt.model, verifier_for(kind, side) is not None)
        except UserError as exc:
            raise UserError(f"cell {record['cell']}: {exc}") from None


def summarise_test_time(records: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (family, task, choice curve): exact over seeds at M_max and at the full depth, the mean curve."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        if record["cell"] in results:
            groups.setdefault((record["family"], record["task"]), []).append(record)
    rows = []
    for (family, task), group in sorted(groups.items()):
        first = results[group[0]["cell"]]
        depths = list(first["depths"])
        max_segments = int(group[0].get("max_segments") or depths[0])
        at_mmax = depths.index(max_segments) if max_segments in depths else None
        for c, curve in enumerate(first["curves"]):
            per_seed = [np.asarray(results[r["cell"]]["curves"][c]["exact"], dtype=float) for r in group]
            mean_curve = np.mean(per_seed, axis=0)
            full = mean_sd_ci([float(s[-1]) for s in per_seed])
            mmax = mean_sd_ci([float(s[at_mmax]) for s in per_seed]) if at_mmax is not None else None
            best = int(np.argmax(mean_curve))
            rows.append(
                {
                    "family": family,
                    "task": task,
                    "seeds": len(group),
                    "label": curve_label(curve),
                    "choose": curve["choose"],
                    "views": curve["views"],
                    "starts": curve["starts"],
                    "oracle": curve["oracle"],
                    "max_segments": max_segments,
                    "depth": depths[-1],
                    "exact_at_mmax_mean": None if mmax is None else mmax[0],
                    "exact_at_mmax_ci95": None if mmax is None else mmax[2],
                    "exact_at_depth_mean": full[0],
                    "exact_at_depth_ci95": full[2],
                    "best_depth_of_mean": depths[best],
                    "best_exact_of_mean": float(mean_curve[best]),
                    "flops_per_puzzle_at_depth": float(curve["flops_per_puzzle"][-1]),
                    "depths": depths,
                    "exact_mean": [float(v) for v in mean_curve],
                    "flops_per_puzzle": [float(v) for v in curve["flops_per_puzzle"]],
                }
            )
    return rows


def _pct(mean: float | None, half: float | None) -> str:
    if mean is None:
        return "–"
    return f"{100 * mean:.1f}" + ("" if half is None else f" ± {100 * half:.1f}")


def format_test_time(rows: list[dict[str, Any]], split: str) -> str:
    lines = [
        "| family | task | seeds | choice | exact % at M_max | exact % at depth | GFLOP / puzzle at depth | "
        "best depth (mean curve) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['task']} | {r['seeds']} | {r['label']} | "
            f"{_pct(r['exact_at_mmax_mean'], r['exact_at_mmax_ci95'])} (M = {r['max_segments']}) | "
            f"{_pct(r['exact_at_depth_mean'], r['exact_at_depth_ci95'])} (D = {r['depth']}) | "
            f"{r['flops_per_puzzle_at_depth'] / 1e9:.3g} | {r['best_depth_of_mean']} "
            f"({100 * r['best_exact_of_mean']:.1f}%) |"
        )
    lines.append("")
    lines.append(
        f"Split: `{split}`. ± is the half-width of a 95% t-interval over seeds (none with one seed). The depth D is "
        "fixed before the run; the best depth is read off the same rows (optimistic). " + ORACLE_NOTE + "."
    )
    return "\n".join(lines)


def plot_test_time(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hrm.runtime.files import atomic_path

    labels = list(dict.fromkeys(r["label"] for r in rows))
    cols = min(3, len(labels))
    nrows = -(-len(labels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.6 * nrows), squeeze=False, constrained_layout=True)
    for ax, label in zip(axes.flat, labels):
        for r in (r for r in rows if r["label"] == label):
            ax.plot(
                r["flops_per_puzzle"],
                [100 * e for e in r["exact_mean"]],
                label=f"{r['family']} ({r['seeds']} seeds)",
                linestyle="--" if r["oracle"] else "-",
                marker=".",
                markersize=3,
            )
        ax.set_xscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("test-time FLOPs per puzzle")
        ax.set_ylabel("exact % (mean over seeds)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(labels) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def run_study_test_time(
    out: str | Path,
    options: DepthBreadthOptions,
    *,
    split: str = "test",
    families: list[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Depth × breadth on every finished cell of the comparison ``out`` (module docstring); returns the files."""
    out = Path(out)
    records = load_records(out)
    if families:
        unknown = sorted(set(families) - {r["family"] for r in records})
        if unknown:
            raise UserError(f"--families {','.join(unknown)}: no finished cell of that family in {out}")
        records = [r for r in records if r["family"] in families]
    if not records:
        raise UserError(f"{out}: no finished cells yet; run `hrm compare SPEC --out {out}` first")
    check_cells(out, records, options)
    results: dict[str, dict[str, Any]] = {}
    for i, record in enumerate(records, 1):
        log(f"[{i}/{len(records)}] {record['cell']}: depth x breadth on {split}")
        results[record["cell"]] = _cell_result(out, record, options, split, progress)
    rows = summarise_test_time(records, results)
    md = out / SUMMARY_MD
    from hrm.runtime.files import write_text_atomic

    title = f"{out.name}: depth x breadth on {split}"
    write_text_atomic(md, f"# {title}\n\n{format_test_time(rows, split)}\n")
    write_json_atomic(out / SUMMARY_JSON, {"split": split, "options": _options_key(options, split), "rows": rows})
    return [md, out / SUMMARY_JSON, plot_test_time(rows, out / SUMMARY_PLOT, title)]


__all__ = ["run_study_test_time", "summarise_test_time", "format_test_time", "plot_test_time"]
