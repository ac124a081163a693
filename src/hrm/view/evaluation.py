"""The page of an evaluation (``hrm evaluate --out DIR``): the metrics table, the scaling plot, per-puzzle
segments with their Q values (``--save-predictions N``) and the ARC votes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hrm.data.format import IDENTIFIERS_FILE
from hrm.errors import UserError
from hrm.evaluation.report import ARC_DETAILS_FILE, DEPTH_BREADTH_PLOT, EVAL_FILE, PLOT_FILE
from hrm.evaluation.segment_trace import SEGMENTS_FILE
from hrm.view.common import png_data_uri, read_json
from hrm.view.grids import display_grid, encode_cells, grid_style

ARC_TOP_CANDIDATES = 5


def evaluation_page(path: Path, *, limit: int, start: int) -> dict[str, Any]:
    from hrm.evaluation.segment_trace import load_segment_predictions

    folder = path if path.is_dir() else path.parent
    npz = path if path.is_file() and path.suffix == ".npz" else folder / SEGMENTS_FILE
    report = None
    if (folder / EVAL_FILE).is_file():
        report = read_json(folder / EVAL_FILE, "re-run `hrm evaluate --out DIR`")
        if not isinstance(report, dict) or not isinstance(report.get("results"), list):
            raise UserError(f"{folder / EVAL_FILE}: no 'results' list; not written by `hrm evaluate --out DIR`")
    notes: list[str] = list(report.get("notes", [])) if report else []
    page: dict[str, Any] = {
        "title": f"evaluation {folder.name}",
        "report": _summarise_report(report) if report else None,
        "puzzles": None,
        "arc": None,
        "plots": [],
        "limit": limit,
    }
    plot = png_data_uri(folder / PLOT_FILE) if (folder / PLOT_FILE).is_file() else None
    if plot:
        page["plots"].append({"name": PLOT_FILE, "src": plot})
    depth_plot = png_data_uri(folder / DEPTH_BREADTH_PLOT) if (folder / DEPTH_BREADTH_PLOT).is_file() else None
    if depth_plot:  # hrm evaluate --depth: exact accuracy against test-time FLOPs, one line per choice rule
        page["plots"].append({"name": DEPTH_BREADTH_PLOT, "src": depth_plot})
    if report and isinstance(report.get("depth_breadth"), dict):
        notes.extend(_depth_breadth_notes(report))
    if npz.is_file():
        meta, arrays = load_segment_predictions(npz)
        page["puzzles"] = _evaluation_puzzles(meta, arrays, start, limit)
        page["grid"] = page["puzzles"].pop("grid")
    else:
        notes.append(
            f"no {SEGMENTS_FILE}: per-puzzle segments are not shown; re-run `hrm evaluate ... --out DIR "
            "--save-predictions N` to record them"
        )
    if (folder / ARC_DETAILS_FILE).is_file():
        details = read_json(folder / ARC_DETAILS_FILE, "re-run `hrm evaluate --out DIR`")
        try:
            page["arc"] = _arc_votes(details, report, start, limit)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{folder / ARC_DETAILS_FILE}: unexpected content ({type(exc).__name__}: {exc}); "
                "re-run `hrm evaluate --out DIR`"
            ) from None
    page["notes"] = notes
    return page


def _depth_breadth_notes(report: dict[str, Any]) -> list[str]:
    """One line per choice curve of ``hrm evaluate --depth`` (its table), or one line saying it cannot be read."""
    from hrm.evaluation.depth_breadth import summarise

    try:
        top = max((r for r in report["results"] if isinstance(r, dict)), key=lambda r: r["max_segments"])
        rows = summarise(report["depth_breadth"], int(top["max_segments"]))
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        return [f"depth_breadth in {EVAL_FILE} could not be read ({type(exc).__name__}); re-run `hrm evaluate --depth`"]
    return [
        f"depth x breadth: {r['label']}: best exact {100 * r['best_exact']:.1f}% at depth {r['best_depth']} "
        f"({r['gain_pp_over_single_at_mmax']:+.1f} pp, {r['flops_per_puzzle_at_best'] / 1e9:.2f} GFLOP/puzzle)"
        for r in rows
    ]


def _summarise_report(report: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for r in report["results"]:
        if not isinstance(r, dict):
            continue
        rows.append(
            {
                "M": r.get("max_segments"),
                "exact": r.get("exact_accuracy"),
                "token": r.get("token_accuracy"),
                "q_halt": r.get("q_halt_accuracy"),
                "segments": r.get("mean_segments"),
                "valid": r.get("valid_solution_rate"),
                "pass_at": (r.get("arc") or {}).get("pass_at"),
                "histogram": r.get("halting_histogram"),
                "count": r.get("count"),
                "early_exit": r.get("early_exit"),
                "breakdown": r.get("breakdown") if isinstance(r.get("breakdown"), dict) else None,
            }
        )
    return {
        "checkpoint": report.get("checkpoint"),
        "data": report.get("data"),
        "kind": report.get("kind"),
        "num_rows": report.get("num_rows"),
        "seconds": report.get("seconds"),
        "rows": rows,
    }


def _evaluation_puzzles(meta: dict[str, Any], arrays: dict[str, np.ndarray], start: int, limit: int) -> dict:
    from hrm.data.arc import decode_grid

    kind = str(meta.get("kind", "puzzles"))
    vocab, seq_len = int(meta.get("vocab_size", 0)), int(arrays["inputs"].shape[1])
    root = _existing_root(meta.get("source"))
    style = grid_style(kind, vocab, seq_len, root)
    n, m = arrays["q_halt_logits"].shape
    early_exit = bool(meta.get("early_exit", False))
    names = meta.get("names") or [""] * n
    items = []
    for r in range(start, min(start + limit, n)):
        labels = arrays["labels"][r].astype(np.int64)
        mask = labels >= 0
        expected = display_grid(style, labels)
        qh, qc = arrays["q_halt_logits"][r], arrays["q_continue_logits"][r]
        halts = np.flatnonzero(qh > qc)
        halt = int(halts[0]) + 1 if halts.size else None
        used = halt if (early_exit and halt is not None) else m
        segs = []
        for s in range(m):
            pred = arrays["predictions"][r, s].astype(np.int64)
            ok = bool(mask.any() and np.all(pred[mask] == labels[mask]))
            if style["style"] == "arc":
                grid = decode_grid(pred).astype(np.int64)
                wrong = _arc_wrong(grid, expected)
            else:
                grid = display_grid(style, pred)
                wrong = np.flatnonzero(mask & (pred != labels)).tolist()  # one drawn cell per token
            segs.append(
                {
                    "g": encode_cells(grid),
                    "x": wrong,
                    "ok": ok,
                    "qh": round(float(qh[s]), 4),
                    "qc": round(float(qc[s]), 4),
                }
            )
        items.append(
            {
                "i": int(arrays["index"][r]),
                "pid": int(arrays["puzzle_identifiers"][r]),
                "name": str(names[r]) if r < len(names) and names[r] else "",
                "in": encode_cells(display_grid(style, arrays["inputs"][r])),
                "exp": encode_cells(expected),
                "segs": segs,
                "halt": halt,
                "used": used,
                "ok": segs[used - 1]["ok"],
            }
        )
    return {
        "grid": style,
        "kind": kind,
        "checkpoint": meta.get("checkpoint"),
        "source": meta.get("source"),
        "early_exit": early_exit,
        "num_segments": m,
        "total": n,
        "start": start,
        "items": items,
    }


def _existing_root(source: Any) -> Path | None:
    """The dataset root of a recorded split folder, when it still exists (for a custom dataset's alphabet)."""
    if not isinstance(source, str) or not source:
        return None
    p = Path(source)
    for candidate in (p, p.parent):
        if (candidate / IDENTIFIERS_FILE).is_file():
            return candidate
    return None


def _arc_wrong(pred: np.ndarray, expected: np.ndarray) -> list[int]:
    """Flat indices of predicted cells that differ from the expected grid (or lie outside its shape)."""
    h, w = pred.shape
    eh, ew = expected.shape
    wrong = np.ones((h, w), dtype=bool)
    ch, cw = min(h, eh), min(w, ew)
    wrong[:ch, :cw] = pred[:ch, :cw] != expected[:ch, :cw]
    return np.flatnonzero(wrong).tolist()


def _arc_votes(details: Any, report: dict[str, Any] | None, start: int, limit: int) -> dict[str, Any]:
    if not isinstance(details, dict):
        raise TypeError("expected {task: [test inputs]}")
    results = (report or {}).get("results") or [{}]
    arc = results[-1].get("arc") if isinstance(results[-1], dict) else None
    solved = arc.get("solved", {}) if isinstance(arc, dict) else {}
    ks = sorted(int(k) for k in solved) if solved else []
    tasks = []
    for task_id in list(details)[start : start + limit]:
        tests = []
        entries = details[task_id]
        if not isinstance(entries, list):
            raise TypeError(f"task {task_id}: expected a list of test inputs")
        for entry in entries:
            cands = [
                {"g": encode_cells(_grid(c["grid"])), "votes": c["votes"], "q": c["mean_q_halt"]}
                for c in entry.get("candidates", [])[:ARC_TOP_CANDIDATES]
            ]
            sol = entry.get("solution")
            tests.append(
                {
                    "rank": entry.get("solution_rank"),
                    "n": entry.get("num_candidates"),
                    "votes": entry.get("votes"),
                    "sol": encode_cells(_grid(sol)) if sol is not None else None,
                    "cands": cands,
                }
            )
        tasks.append(
            {"task": task_id, "solved": {str(k): task_id in solved.get(str(k), []) for k in ks}, "tests": tests}
        )
    return {
        "pass_at": (arc or {}).get("pass_at") if isinstance(arc, dict) else None,
        "ks": ks,
        "total": len(details),
        "start": start,
        "tasks": tasks,
    }


def _grid(rows: Any) -> np.ndarray:
    """A JSON grid (list of rows) as a 2-D array; an empty prediction is 0×0."""
    grid = np.asarray(rows, dtype=np.int64)
    return grid if grid.ndim == 2 else np.zeros((0, 0), np.int64)
