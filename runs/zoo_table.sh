#!/usr/bin/env bash
# The README's model-zoo table (issue 11): every family on cpu-sudoku-6x6 at 1,000 optimiser steps (the demo's budget), seed 0, one cell
# at a time on both cores (runs/compare/zoo_table.yaml). Resumable: rerun to continue. The records, table and
# plots are copied to runs/results/zoo-table/ (small files, meant to be committed).
#   bash runs/zoo_table.sh                 # ~1 hour on an idle 2-core machine
#   OUT=/tmp/zoo bash runs/zoo_table.sh    # elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
HRM=${HRM:-.venv/bin/hrm}
OUT=${OUT:-runs_out}
dir="$OUT/zoo-table"
"$HRM" compare runs/compare/zoo_table.yaml --out "$dir"
mkdir -p runs/results/zoo-table/plots
cp "$dir"/records.jsonl "$dir"/summary.md "$dir"/summary.csv "$dir"/spec.yaml runs/results/zoo-table/
cp "$dir"/plots/*.png runs/results/zoo-table/plots/
