#!/usr/bin/env bash
# The CPU study of issue 12 (item 4): every family and HRM ablation on minimal 6x6 Sudoku at an equal step budget,
# 3 seeds each (seed-major: every family's seed 0 first), then the Transformer depth-vs-width sweep; two cells at a
# time with one thread each (a 2-core machine). Resumable: rerun to continue. After each spec, the records, table
# and plots are copied to runs/results/<spec name>/ (small files, meant to be committed).
#   bash runs/cpu_study.sh                 # both specs
#   bash runs/cpu_study.sh --snapshot      # only copy what has finished so far (e.g. after stopping the study)
#   OUT=/tmp/study bash runs/cpu_study.sh  # elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
HRM=${HRM:-.venv/bin/hrm}
OUT=${OUT:-runs_out}
SPECS="cpu_study_6x6 cpu_study_depth_width"

snapshot() {  # rebuild the table and plots from the finished cells' records and copy them for committing
    local dir=$1 name=$2
    [ -s "$dir/records.jsonl" ] || return 0
    "$HRM" compare --report "$dir" > /dev/null
    mkdir -p "runs/results/$name/plots"
    cp "$dir"/records.jsonl "$dir"/summary.md "$dir"/summary.csv "$dir"/spec.yaml "runs/results/$name/"
    cp "$dir"/plots/*.png "runs/results/$name/plots/"
    echo "copied $(wc -l < "$dir/records.jsonl") finished cells of $name to runs/results/$name/"
}

for spec in $SPECS; do
    name=$(sed -n 's/^name: *//p' "runs/compare/$spec.yaml")
    dir="$OUT/$name"
    if [ "${1:-}" != "--snapshot" ]; then
        "$HRM" compare "runs/compare/$spec.yaml" --out "$dir" || true   # a failed cell is retried by the next run
    fi
    snapshot "$dir" "$name"
done
