#!/usr/bin/env bash
# Fresh-machine set-up: creates .venv in the repo root and installs hrm (editable) with its test extras.
# PyTorch is pinned by constraints/cpu.txt (the CPU build); set HRM_CONSTRAINTS=/dev/null to let pip choose
# (on a CUDA machine, install your CUDA build of torch into .venv first).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
CONSTRAINTS=${HRM_CONSTRAINTS:-constraints/cpu.txt}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" -e '.[test]'
