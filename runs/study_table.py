"""Print the Markdown tables of the CPU study in docs/results.md from its committed records (issue 12, item 4).

    python runs/study_table.py                      # both tables from runs/results/
    python runs/study_table.py --records DIR/records.jsonl --kind families

`hrm compare --report` writes the lab's own summary (mean, sd, 95% interval); this script adds what docs/results.md
shows besides: every seed's value, the accuracy at one segment, early exit, and a column that says what each
family tests. Only the standard library: it reads JSON and prints text.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = {  # family name in the spec -> what the row tests
    "hrm": "the model (ACT, M_max 4, 1-step gradient)",
    "hrm-flat": "no hierarchy: one state, equal parameters and compute (`arch.flat`)",
    "hrm-fixed-segments": "always 4 segments, no adaptive halting (`arch.act=false`)",
    "hrm-no-deep-supervision": "one segment per sample (`arch.halt_max_steps=1`)",
    "trm-att": "TRM, attention",
    "trm-mlp": "TRM, MLP-mixer",
    "transformer": "same blocks, one pass, HRM's parameters",
    "transformer-outer-loop": "the same inside HRM's outer loop (ARC Prize baseline)",
    "looped": "one 2-block stack looped to HRM's 12 block applications",
    "gru": "2 bidirectional layers, width 64",
    "lstm": "2 bidirectional layers, width 64",
}


def pct(values: list[float]) -> str:
    """Mean ± sample sd in percent (the sd only with two or more seeds)."""
    mean = 100 * statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.1f}%"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}%"


def seeds(values: list[float]) -> str:
    return ", ".join(f"{100 * v:.1f}" for v in values)


def at_segments(record: dict, segments: int) -> float:
    return next(s["exact_accuracy"] for s in record["scaling"] if s["segments"] == segments)


def load(path: Path) -> dict[str, list[dict]]:
    by_family: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            by_family.setdefault(record["family"], []).append(record)
    return {family: sorted(rows, key=lambda r: r["seed"]) for family, rows in by_family.items()}


def families_table(by_family: dict[str, list[dict]]) -> list[str]:
    lines = [
        "| family | what it tests | trunk params | seeds | held-out exact, mean ± sd | per seed | token | "
        "exact at 1 segment | early exit: exact / segments |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for family in [f for f in FAMILIES if f in by_family] + sorted(set(by_family) - set(FAMILIES)):
        rows = by_family[family]
        exact = [r["exact_accuracy"] for r in rows]
        exits = [r["early_exit"] for r in rows if r.get("early_exit")]
        early = "–"
        if exits:
            mean_segments = statistics.fmean(e["mean_segments"] for e in exits)
            early = f"{pct([e['exact_accuracy'] for e in exits])} / {mean_segments:.2f}"
        lines.append(
            f"| {family} | {FAMILIES.get(family, '')} | {rows[0]['parameters']['trunk']:,} | {len(rows)} | "
            f"**{pct(exact)}** | {seeds(exact)} | {pct([r['token_accuracy'] for r in rows])} | "
            f"{pct([at_segments(r, 1) for r in rows])} | {early} |"
        )
    return lines


def depth_width_table(by_family: dict[str, list[dict]]) -> list[str]:
    lines = [
        "| blocks × width | trunk params | GFLOPs/step | seeds | held-out exact, mean ± sd | per seed | token |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def depth(family: str) -> int:  # transformer-L<blocks>-D<width>
        return int(family.split("-L")[1].split("-")[0])

    for family in sorted(by_family, key=depth):
        rows = by_family[family]
        width = family.split("-D")[1]
        exact = [r["exact_accuracy"] for r in rows]
        lines.append(
            f"| {depth(family)} × {width} | {rows[0]['parameters']['trunk']:,} | "
            f"{rows[0]['flops_per_step'] / 1e9:.2f} | {len(rows)} | **{pct(exact)}** | {seeds(exact)} | "
            f"{pct([r['token_accuracy'] for r in rows])} |"
        )
    return lines


def footer(by_family: dict[str, list[dict]]) -> str:
    rows = [r for family in by_family.values() for r in family]
    loads = [r["machine"]["load_average"][0] for r in rows]
    walls = [r["wall_s"] / 60 for r in rows]
    return (
        f"{len(rows)} cells; load average at cell ends {min(loads):.1f}–{max(loads):.1f}; "
        f"wall {min(walls):.1f}–{max(walls):.1f} min per cell"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, help="one records.jsonl (default: both committed studies)")
    parser.add_argument("--kind", choices=["families", "depth-width"], default="families")
    args = parser.parse_args()
    jobs = (
        [(args.records, args.kind)]
        if args.records
        else [
            (ROOT / "runs/results/cpu-study-6x6-minimal/records.jsonl", "families"),
            (ROOT / "runs/results/cpu-study-depth-width/records.jsonl", "depth-width"),
        ]
    )
    for path, kind in jobs:
        if not path.is_file():
            print(f"{path}: not there yet (run bash runs/cpu_study.sh)\n")
            continue
        by_family = load(path)
        table = families_table(by_family) if kind == "families" else depth_width_table(by_family)
        print("\n".join([f"<!-- {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} -->", *table]))
        print(f"\n{footer(by_family)}\n")


if __name__ == "__main__":
    main()
