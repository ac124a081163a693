"""A comparison's report: the summary table (mean, sd, 95% t-interval over seeds per family and task, as
``summary.md`` and ``summary.csv``) and the two plots (accuracy against training FLOPs and against segments)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.lab.plan import TRAIN_FLOPS_FACTOR
from hrm.lab.records import load_records
from hrm.lab.stats import mean_sd_ci
from hrm.lab.study_dir import (
    COMPUTE_PLOT,
    PLOTS_DIR,
    RECORDS_FILE,
    SEGMENTS_PLOT,
    SPEC_FILE,
    SUMMARY_CSV,
    SUMMARY_MD,
    VALIDATION_PLOT,
)

DEEP_SEGMENTS = 16  # the paper's M_max: the summary's second test column
SUMMARY_COLUMNS = (
    "family",
    "model",
    "task",
    "seeds",
    "parameters",
    "flops_per_step",
    "steps",
    "train_flops",
    "train_flops_measured",
    "wall_min",
    "exact_mean",
    "exact_sd",
    "exact_ci95_low",
    "exact_ci95_high",
    "token_mean",
    "token_sd",
    "token_ci95_low",
    "token_ci95_high",
    "mean_segments",
    "val_exact_mean",
    "val_exact_sd",
    "common_train_flops",
    "val_exact_at_common_mean",
    "val_exact_at_common_sd",
    "tuned_trials",
    "tuned_overrides",
    "exact_at_16_mean",
    "early_exit_exact_mean",
)


def value_at(curve: list[dict[str, Any]], flops: float) -> float | None:
    """Validation exact accuracy at the last point of ``curve`` within ``flops`` training FLOPs (None before it)."""
    within = [p for p in curve if p["train_flops"] <= flops]
    return within[-1]["exact_accuracy"] if within else None


def common_budgets(records: list[dict[str, Any]]) -> dict[str, float]:
    """Per task: the training FLOPs every cell with a validation curve reached (the smallest final point)."""
    ends: dict[str, float] = {}
    for r in records:
        curve = r.get("curve") or []
        if curve:
            ends[r["task"]] = min(ends.get(r["task"], math.inf), curve[-1]["train_flops"])
    return ends


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (family, task), in the order the records' cells first appear; with validation curves, also each
    family's validation accuracy at the task's common FLOPs budget (:func:`common_budgets`)."""
    common = common_budgets(records)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["family"], record["task"]), []).append(record)
    rows = []
    for (family, task), group in groups.items():
        exact = mean_sd_ci([r["exact_accuracy"] for r in group])
        val_values = [v["exact_accuracy"] for v in (r.get("validation") for r in group) if isinstance(v, dict)]
        val = mean_sd_ci(val_values) if len(val_values) == len(group) else (None, None, None)
        budget = common.get(task)
        at_common = [value_at(r.get("curve") or [], budget) for r in group] if budget is not None else []
        reached = [v for v in at_common if v is not None]
        at = mean_sd_ci(reached) if at_common and len(reached) == len(at_common) else (None, None, None)
        token = mean_sd_ci([r["token_accuracy"] for r in group])

        def bounds(stat: tuple[float, float | None, float | None]) -> tuple[float | None, float | None]:
            mean, _, half = stat
            return (None, None) if half is None else (max(0.0, mean - half), min(1.0, mean + half))

        rows.append(
            {
                "family": family,
                "model": group[0]["model"],
                "task": task,
                "seeds": len(group),
                "parameters": group[0]["parameters"].get("trunk", group[0]["parameters"].get("total")),
                "flops_per_step": group[0]["flops_per_step"],
                "steps": sum(r["steps"] for r in group) / len(group),
                "train_flops": sum(r["train_flops"] for r in group) / len(group),
                "train_flops_measured": _mean_if_all([r.get("train_flops_measured") for r in group]),
                "wall_min": sum(r["wall_s"] for r in group) / len(group) / 60,
                "exact_mean": exact[0],
                "exact_sd": exact[1],
                "exact_ci95_low": bounds(exact)[0],
                "exact_ci95_high": bounds(exact)[1],
                "token_mean": token[0],
                "token_sd": token[1],
                "token_ci95_low": bounds(token)[0],
                "token_ci95_high": bounds(token)[1],
                "mean_segments": sum(r["mean_segments"] for r in group) / len(group),
                "val_exact_mean": val[0],
                "val_exact_sd": val[1],
                "common_train_flops": budget,
                "val_exact_at_common_mean": at[0],
                "val_exact_at_common_sd": at[1],
                "exact_at_16_mean": _mean_if_all([_exact_at(r, DEEP_SEGMENTS) for r in group]),
                "early_exit_exact_mean": _mean_if_all(
                    [(r.get("early_exit") or {}).get("exact_accuracy") for r in group]
                ),
                "tuned_trials": (group[0].get("tuned") or {}).get("trials"),
                "tuned_overrides": " ".join((group[0].get("tuned") or {}).get("overrides", [])) or None,
            }
        )
    return rows


def _exact_at(record: dict[str, Any], segments: int) -> float | None:
    """Test exact accuracy with ``segments`` segments allowed, from the record's scaling sweep (None if not run)."""
    for point in record.get("scaling") or []:
        if isinstance(point, dict) and point.get("segments") == segments:
            return point.get("exact_accuracy")
    return None


def _mean_if_all(values: list[Any]) -> float | None:
    """The mean when every value is a number (records made before a field existed have none)."""
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return sum(values) / len(values)
    return None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def format_markdown(rows: list[dict[str, Any]], title: str = "") -> str:
    lines = [f"# {title}", ""] if title else []
    lines += [
        "| family | task | seeds | params | GFLOPs/step | steps | train PFLOPs | measured PFLOPs | wall min "
        "| exact % (mean ± sd) "
        "| exact 95% CI | exact % at 16 seg. | exact % early exit | token % (mean ± sd) | segments | val exact % "
        "| val exact % at equal FLOPs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        exact_sd = "" if r["exact_sd"] is None else f" ± {100 * r['exact_sd']:.1f}"
        token_sd = "" if r["token_sd"] is None else f" ± {100 * r['token_sd']:.1f}"
        val_sd = "" if r.get("val_exact_sd") is None else f" ± {100 * r['val_exact_sd']:.1f}"
        measured = "–" if r.get("train_flops_measured") is None else f"{r['train_flops_measured'] / 1e15:.3g}"
        at_common = "–"
        if r.get("val_exact_at_common_mean") is not None:
            sd = r.get("val_exact_at_common_sd")
            at_common = _pct(r["val_exact_at_common_mean"]) + ("" if sd is None else f" ± {100 * sd:.1f}")
            at_common += f" (@{r['common_train_flops'] / 1e15:.3g} PFLOPs)"
        ci = "–" if r["exact_ci95_low"] is None else f"{_pct(r['exact_ci95_low'])}–{_pct(r['exact_ci95_high'])}"
        lines.append(
            f"| {r['family']} | {r['task']} | {r['seeds']} | {r['parameters']:,} | {r['flops_per_step'] / 1e9:.3g} "
            f"| {r['steps']:.0f} | {r['train_flops'] / 1e15:.3g} | {measured} | {r['wall_min']:.1f} "
            f"| {_pct(r['exact_mean'])}{exact_sd} | {ci} | {_pct(r.get('exact_at_16_mean'))} "
            f"| {_pct(r.get('early_exit_exact_mean'))} | {_pct(r['token_mean'])}{token_sd} "
            f"| {r['mean_segments']:.2f} | {_pct(r.get('val_exact_mean'))}{val_sd} | {at_common} |"
        )
    tuned = [r for r in rows if r.get("tuned_trials")]
    if tuned:
        lines += ["", "Tuned on validation, seed 0, the same trial budget per family (`tune:`):", ""]
        lines += [
            f"- {r['family']} on {r['task']}: {r['tuned_trials']} trials → `{r['tuned_overrides'] or '(as given)'}`"
            for r in tuned
        ]
    lines += [
        "",
        "exact/token: test-split accuracy at the family's M_max segments (read once, at the end), also with 16 "
        "segments allowed and with early exit (– where not run); val exact: the "
        "validation split's, what choices read (– without one); at equal FLOPs: each cell's validation curve read "
        "at the last evaluation within the task's common training FLOPs (the smallest any cell reached); "
        "CI: 95% t-interval of the mean over seeds "
        "(clipped to [0, 100]); segments: mean segments used with early exit (M_max without a halting head); "
        f"train FLOPs = steps x {TRAIN_FLOPS_FACTOR} x forward FLOPs of one segment over the batch (the convention); "
        "measured = steps x one real training step counted by torch.utils.flop_counter (every segment, the halting "
        "target's extra segment, no-grad recursions and the backward that runs; what a flops budget spends).",
    ]
    return "\n".join(lines) + "\n"


def write_summary(out: Path, rows: list[dict[str, Any]], title: str = "") -> list[Path]:
    import csv

    md = out / SUMMARY_MD
    csv_file = out / SUMMARY_CSV
    tmp_md, tmp_csv = out / f".{SUMMARY_MD}.tmp", out / f".{SUMMARY_CSV}.tmp"
    tmp_md.write_text(format_markdown(rows, title), encoding="utf-8")
    with open(tmp_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in SUMMARY_COLUMNS})
    os.replace(tmp_md, md)
    os.replace(tmp_csv, csv_file)
    return [md, csv_file]


def _finish_axes(ax: Any, task: str, xlabel: str, ylabel: str) -> None:
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(task)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_records(out: Path, records: list[dict[str, Any]]) -> list[Path]:
    """Exact accuracy against training FLOPs (each seed a point, the mean a larger marker) and against the
    inference segment cap (mean over seeds), one colour per family, one panel per task."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # no pyplot: no global state (searches run trials in threads)

    plots = out / PLOTS_DIR
    plots.mkdir(exist_ok=True)
    tasks = list(dict.fromkeys(r["task"] for r in records))
    families = list(dict.fromkeys(r["family"] for r in records))
    colours = {f: colormaps["tab10" if len(families) <= 10 else "tab20"](i) for i, f in enumerate(families)}
    written = []

    fig = Figure(figsize=(5.5 * len(tasks), 4.2))
    axes = fig.subplots(1, len(tasks), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for family in families:
            group = [r for r in records if r["task"] == task and r["family"] == family]
            if not group:
                continue
            xs = [max(r["train_flops"], 1) for r in group]
            ys = [100 * r["exact_accuracy"] for r in group]
            ax.scatter(xs, ys, color=colours[family], alpha=0.45, s=18)
            ax.scatter([sum(xs) / len(xs)], [sum(ys) / len(ys)], color=colours[family], s=70, label=family,
                       edgecolors="black")  # fmt: skip
        ax.set_xscale("log")
        _finish_axes(ax, task, "training compute (FLOPs)", "held-out exact accuracy (%)")
    written.append(_save(fig, plots / COMPUTE_PLOT))

    fig = Figure(figsize=(5.5 * len(tasks), 4.2))
    axes = fig.subplots(1, len(tasks), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for family in families:
            group = [r for r in records if r["task"] == task and r["family"] == family]
            by_cap: dict[int, list[float]] = {}
            for r in group:
                for point in r.get("scaling", []):
                    by_cap.setdefault(int(point["segments"]), []).append(100 * point["exact_accuracy"])
            if not by_cap:
                continue
            caps = sorted(by_cap)
            ax.plot(caps, [sum(by_cap[c]) / len(by_cap[c]) for c in caps], marker="o", color=colours[family],
                    label=family)  # fmt: skip
        all_caps = sorted({int(p["segments"]) for r in records if r["task"] == task for p in r.get("scaling", [])})
        ax.set_xscale("log", base=2)
        ax.set_xticks(all_caps or [1], [str(c) for c in all_caps or [1]])
        _finish_axes(ax, task, "inference segments allowed", "held-out exact accuracy (%)")
    written.append(_save(fig, plots / SEGMENTS_PLOT))

    curved = [r for r in records if r.get("curve")]
    if curved:
        written.append(_plot_validation(plots, curved, tasks, families, colours))
    return written


def _plot_validation(
    plots: Path, records: list[dict[str, Any]], tasks: list[str], families: list[str], colours: dict[str, Any]
) -> Path:
    """Validation exact accuracy against measured training FLOPs: the mean over seeds at each evaluation and a band
    of ± one sd (seeds of a family share their evaluation steps under a step or FLOPs budget)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * len(tasks), 4.2))
    axes = fig.subplots(1, len(tasks), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for family in families:
            curves = [r["curve"] for r in records if r["task"] == task and r["family"] == family]
            if not curves:
                continue
            steps = sorted(set.intersection(*({p["step"] for p in c} for c in curves)))
            if not steps:
                continue
            xs, means, sds = [], [], []
            for step in steps:
                values = [100 * next(p["exact_accuracy"] for p in c if p["step"] == step) for c in curves]
                mean, sd, _ = mean_sd_ci(values)
                xs.append(max(next(p["train_flops"] for p in curves[0] if p["step"] == step), 1))
                means.append(mean)
                sds.append(sd or 0.0)
            ax.plot(xs, means, marker="o", color=colours[family], label=f"{family} (n={len(curves)})")
            ax.fill_between(xs, [m - s for m, s in zip(means, sds)], [m + s for m, s in zip(means, sds)],
                            color=colours[family], alpha=0.2)  # fmt: skip
        ax.set_xscale("log")
        _finish_axes(ax, task, "training compute (measured FLOPs)", "validation exact accuracy (%)")
    return _save(fig, plots / VALIDATION_PLOT)


def write_report(out: Path, records: list[dict[str, Any]] | None = None, title: str | None = None) -> list[Path]:
    """Summary table and plots from the records (``hrm compare --report DIR``)."""
    if records is None:
        records = load_records(out)
    if not records:
        raise UserError(f"{out}: no finished cells yet ({RECORDS_FILE} is empty); run `hrm compare SPEC --out {out}`")
    if title is None:
        title = _title(out)
    return [*write_summary(out, summarise(records), title), *plot_records(out, records)]


def _title(out: Path) -> str:
    spec = out / SPEC_FILE
    if spec.is_file():
        try:
            import yaml

            data = yaml.safe_load(spec.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                return data["name"]
        except Exception:  # noqa: BLE001 - the title is cosmetic
            pass
    return out.name
