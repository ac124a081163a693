#!/usr/bin/env bash
# 6x6 Sudoku (20 givens) on a CPU in 20 minutes: width 64, 2+2 layers, N=T=2, M_max 4, AdamW lr 3e-3 with
# cosine decay over the time budget, batch 128, online Sudoku shuffles. Generates 1,000 train / 500 test puzzles.
# Minimal puzzles (about 10 givens) instead: RECIPE=cpu-sudoku-6x6-minimal.
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${RECIPE:-cpu-sudoku-6x6}
.venv/bin/hrm train "$RECIPE" --out "${OUT:-runs_out/$RECIPE}" "$@"
.venv/bin/hrm plot "${OUT:-runs_out/$RECIPE}"
