#!/usr/bin/env bash
# ARC-AGI-1 (or ARC-AGI-2 with RECIPE=arc-agi-2) with the reference defaults: batch 768, 100k epochs, eval every
# 10k, lr 1e-4, puzzle-embedding lr 1e-2, weight decay 0.1, warmup 2,000 then constant. README: ~24 h on 8 GPUs.
# Build the data first with `hrm data arc ...` (see `hrm data arc --help`), then:
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${RECIPE:-arc-agi-1}
DATA=${DATA:?set DATA to the ARC dataset folder built by hrm data arc}
.venv/bin/torchrun --standalone --nproc-per-node "${GPUS:-8}" -m hrm train "$RECIPE" data="$DATA" \
    --out "${OUT:-runs_out/$RECIPE}" "$@"
