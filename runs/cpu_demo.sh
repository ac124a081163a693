#!/usr/bin/env bash
# The README's first command: 6x6 Sudoku on two CPU cores in about 10 minutes, ending with the held-out exact
# accuracy and one solved puzzle printed beside its input.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/hrm demo --minutes "${MINUTES:-10}" --out "${OUT:-runs_out/demo}"
