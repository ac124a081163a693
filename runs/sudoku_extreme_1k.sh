#!/usr/bin/env bash
# Sudoku-Extreme 1k with the reference's published hyperparameters (README; spec §3.7): 20,000 epochs at global
# batch 768 (26,041 steps), eval every 2,000 epochs, lr 1e-4, puzzle-embedding lr 1e-4, weight decay 1.0.
# GPUS=8 for the README's 8-GPU node (~10 min); one GPU works with the same command (GPUS=1, ~8x longer).
# Laptop variant (batch 384, lr 7e-5): RECIPE=sudoku-extreme-1k-laptop.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/sudoku-extreme-1k-aug-1000}
RECIPE=${RECIPE:-sudoku-extreme-1k}
if [ ! -d "$DATA" ]; then
    if [ -n "${TRAIN_CSV:-}" ]; then  # the Sudoku-Extreme CSVs (train.csv, test.csv) from the hub
        .venv/bin/hrm data sudoku --train-csv "$TRAIN_CSV" --test-csv "${TEST_CSV:?set TEST_CSV too}" \
            --subsample-size 1000 --num-aug 1000 --out "$DATA"
    else  # offline stand-in built from public puzzle lists (see docs/data.md)
        .venv/bin/hrm data sudoku --preset sudoku-extreme-like --data-root "${DATA_ROOT:?set DATA_ROOT or TRAIN_CSV}" \
            --num-aug 1000 --out "$DATA"
    fi
fi
.venv/bin/torchrun --standalone --nproc-per-node "${GPUS:-1}" -m hrm train "$RECIPE" data="$DATA" \
    --out "${OUT:-runs_out/$RECIPE}" "$@"
