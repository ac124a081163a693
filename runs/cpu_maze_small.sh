#!/usr/bin/env bash
# Small mazes (7x7, shortest path longer than 6 moves) on a CPU in 20 minutes: the Sudoku recipe's small model
# with M_max 8. Generates 1,000 train / 500 test mazes (plus the 8 dihedral transforms of each training maze),
# then `hrm evaluate` on the last checkpoint prints held-out exact accuracy by shortest-path length and writes it
# to $OUT/eval/eval.json (results[i].breakdown).
# Extra arguments are training overrides. HRM (the default) solves few of these mazes in 20 minutes; the maze
# search (README) found that TRM with the MLP-mixer learns them:
#   OUT=runs_out/cpu-maze-small-trm-mlp bash runs/cpu_maze_small.sh model=trm trm.mlp_t=true trm.pos_encodings=none
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs_out/cpu-maze-small}
.venv/bin/hrm train cpu-maze-small --out "$OUT" "$@"
.venv/bin/hrm plot "$OUT"
.venv/bin/hrm evaluate --checkpoint "$OUT" --out "$OUT/eval"
