#!/usr/bin/env bash
# 9x9 Sudoku on a CPU in 30 minutes (recipe cpu-sudoku-9x9: width 64, 2+2 layers, M_max 8, AdamW lr 3e-3 with
# cosine decay over the time budget, batch 128, online Sudoku shuffles), then the held-out exact accuracy per
# number of givens. Generates 3,000 train puzzles with 28-45 givens and 1,100 test puzzles with 30-40 givens
# (about 100 per count) on first use. Then `hrm evaluate` on the last checkpoint (not RUN/best, which is chosen on
# this test split) prints the table "exact by givens" and writes it to $OUT/eval/eval.json (results[i].breakdown).
# The recipe is a starting point, not tuned.
# Extra arguments are training overrides, e.g. `bash runs/cpu_sudoku_9x9.sh schedule.time_budget_minutes=10`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs_out/cpu-sudoku-9x9}
.venv/bin/hrm train cpu-sudoku-9x9 --out "$OUT" "$@"
.venv/bin/hrm plot "$OUT"
.venv/bin/hrm evaluate --checkpoint "$OUT" --out "$OUT/eval"
