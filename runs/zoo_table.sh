#!/usr/bin/env bash
# Every model family on cpu-sudoku-6x6 at the same fixed step budget (seed 0): the README's zoo table.
# Each family's section is sized from the recipe's HRM (hrm.training.recipes.match_zoo_sections): same width,
# heads and M_max; TRM and the looped Transformer at HRM's block applications per segment; the plain Transformer
# with HRM's depth (parameter count); GRU/LSTM 2 bidirectional layers at HRM's width.
# STEPS (default 300) and FAMILIES override; results go to runs/results/zoo_table.json.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-300}
FAMILIES=${FAMILIES:-"hrm trm transformer looped gru lstm"}
OUT=${OUT:-runs_out/zoo}
mkdir -p "$OUT"
for family in $FAMILIES; do
  start=$(date +%s)
  .venv/bin/hrm train cpu-sudoku-6x6 "model=$family" "max_steps=$STEPS" schedule.time_budget_minutes=0 \
    schedule.eval_every_steps=0 checkpoint.every_eval=false runtime.seed=0 logging.progress=false \
    --out "$OUT/$family" "$@" > "$OUT/$family.log" 2>&1
  echo "$family $(( $(date +%s) - start ))" >> "$OUT/wall_seconds.txt"
done
.venv/bin/python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
walls = dict(line.split() for line in (out / "wall_seconds.txt").read_text().splitlines())
rows = []
for family, wall in walls.items():
    records = [json.loads(x) for x in (out / family / "metrics.jsonl").read_text().splitlines()]
    ev = [r for r in records if r["split"] == "eval"][-1]
    cfg = json.loads(next((out / family).glob("step-*/config.json")).read_text())
    from hrm.checkpoints import load_checkpoint
    params = load_checkpoint(out / family).model.num_parameters()["trunk"]
    rows.append({"family": family, "step": ev["step"], "exact_accuracy": ev["exact_accuracy"],
                 "accuracy": ev["accuracy"], "trunk_parameters": params, "wall_seconds": int(wall),
                 "model": cfg["model"]})
Path("runs/results/zoo_table.json").write_text(json.dumps(rows, indent=2) + "\n")
for r in rows:
    print(f"| {r['family']} | {100*r['exact_accuracy']:.1f} | {100*r['accuracy']:.1f} | {r['trunk_parameters']:,} | {r['wall_seconds']} |")
PY
