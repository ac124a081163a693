#!/usr/bin/env bash
# Minimal 6x6 Sudoku (about 10 givens) in 20 minutes on a CPU with the curriculum that won the search in
# runs/search_minimal.py: first the 20-given puzzles (cpu-sudoku-6x6) for EASY_MIN minutes, then the minimal
# puzzles from those weights (checkpoint.init_from) for the rest. Both phases compile the recurrent modules
# (drop COMPILE=true if torch.compile does not work on your machine).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs_out/minimal-curriculum}
EASY_MIN=${EASY_MIN:-7}
HARD_MIN=${HARD_MIN:-13}
COMPILE=${COMPILE:-true}
.venv/bin/hrm train cpu-sudoku-6x6 --out "$OUT/easy" schedule.time_budget_minutes="$EASY_MIN" \
    runtime.compile="$COMPILE" "$@"
.venv/bin/hrm train cpu-sudoku-6x6-minimal --out "$OUT/minimal" schedule.time_budget_minutes="$HARD_MIN" \
    runtime.compile="$COMPILE" checkpoint.init_from="$OUT/easy" "$@"
.venv/bin/hrm plot "$OUT/minimal"
