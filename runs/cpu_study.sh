#!/usr/bin/env bash
# The CPU study of issue 12 (item 4): every family and HRM ablation on minimal 6x6 Sudoku at an equal step budget,
# 3 seeds each, then the Transformer depth-vs-width sweep; two cells at a time with one thread each (a 2-core
# machine). Resumable: rerun to continue. After each spec, the records, table and plots are copied to
# runs/results/<spec name>/ (small files, meant to be committed).
#   bash runs/cpu_study.sh                 # both specs
#   OUT=/tmp/study bash runs/cpu_study.sh  # elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
HRM=${HRM:-.venv/bin/hrm}
OUT=${OUT:-runs_out}
for spec in cpu_study_6x6 cpu_study_depth_width; do
    name=$(sed -n 's/^name: *//p' "runs/compare/$spec.yaml")
    dir="$OUT/$name"
    "$HRM" compare "runs/compare/$spec.yaml" --out "$dir" || true   # a failed cell is retried by the next run
    if [ -f "$dir/records.jsonl" ]; then
        mkdir -p "runs/results/$name/plots"
        cp "$dir"/records.jsonl "$dir"/summary.md "$dir"/summary.csv "$dir"/spec.yaml "runs/results/$name/"
        cp "$dir"/plots/*.png "runs/results/$name/plots/"
    fi
done
