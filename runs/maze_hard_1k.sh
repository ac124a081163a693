#!/usr/bin/env bash
# Maze-Hard 30x30 (1k) with the reference's published hyperparameters (same as Sudoku 1k; README ~1 h on 8 GPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/maze-30x30-hard-1k}
if [ ! -d "$DATA" ]; then
    .venv/bin/hrm data maze --out "$DATA"
fi
.venv/bin/torchrun --standalone --nproc-per-node "${GPUS:-1}" -m hrm train maze-hard-1k data="$DATA" \
    --out "${OUT:-runs_out/maze-hard-1k}" "$@"
