#!/usr/bin/env bash
# Small mazes (7x7, shortest path longer than 6 moves) on a CPU in 20 minutes: the Sudoku recipe's small model
# with M_max 8. Generates 1,000 train / 500 test mazes (plus the 8 dihedral transforms of each training maze).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/hrm train cpu-maze-small --out "${OUT:-runs_out/cpu-maze-small}" "$@"
.venv/bin/hrm plot "${OUT:-runs_out/cpu-maze-small}"
