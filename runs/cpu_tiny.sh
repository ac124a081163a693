#!/usr/bin/env bash
# Smoke run (seconds on a laptop CPU): 4x4 Sudoku, a width-32 HRM. Generates its data on first use.
# Checks the whole loop: training, evaluation, checkpoints, exact resume, plotting.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs_out/tiny}
rm -rf "$OUT"
.venv/bin/hrm train tiny data=runs_out/data/sudoku-4x4-tiny max_steps=40 checkpoint.every_steps=20 --out "$OUT"
.venv/bin/hrm train --resume "$OUT" max_steps=60          # continue the same run for 20 more steps
.venv/bin/hrm plot "$OUT"
