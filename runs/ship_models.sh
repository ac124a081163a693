#!/usr/bin/env bash
# The shipped models of `hrm solve` beside the 6x6 HRM (issue 23, item 1): 9x9 Sudoku and 7x7 mazes, each trained
# by the family that learned the task on this CPU (TRM with the MLP-mixer: docs/results.md), with a validation split
# choosing the checkpoint (RUN/best is chosen on `val`), then the test split read once, and the checkpoint copied
# without its optimiser state into src/hrm/assets/pretrained/NAME/ with a MODEL_CARD.md written from the
# measurements (runs/model_card.py).
#   bash runs/ship_models.sh            # both (about 1.5 h on a 2-core CPU, one thread each, one after the other)
#   bash runs/ship_models.sh sudoku-9x9 # one of them
# A step budget, not a time budget, so the result does not follow CPU speed or load.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-1}
WHICH=${1:-all}
TRM_MLP="model=trm trm.mlp_t=true trm.pos_encodings=none"

ship() {  # NAME RECIPE OVERRIDES...
  local name=$1 recipe=$2
  shift 2
  local out=runs_out/ship-$name
  local cmd="hrm train $recipe $* runtime.num_threads=$THREADS --out $out"
  echo "== $name: $cmd"
  # shellcheck disable=SC2086
  .venv/bin/hrm train "$recipe" "$@" "runtime.num_threads=$THREADS" logging.progress=false --out "$out"
  .venv/bin/hrm evaluate --checkpoint "$out/best" --split val --no-progress --out "$out/eval-val"
  .venv/bin/hrm evaluate --checkpoint "$out/best" --split test --no-progress --out "$out/eval-test"  # read once
  .venv/bin/python runs/model_card.py --name "$name" --run "$out" --val "$out/eval-val/eval.json" \
    --test "$out/eval-test/eval.json" --command "$cmd" --dest "${DEST:-src/hrm/assets/pretrained}/$name"
}

if [[ $WHICH == all || $WHICH == sudoku-9x9 ]]; then
  # 22-45 givens in training and test (the range of puzzle books and newspapers), 300 validation puzzles.
  # shellcheck disable=SC2086
  ship sudoku-9x9 cpu-sudoku-9x9 $TRM_MLP data.path=data/sudoku-9x9-g22-45-ship-val data.gen_givens=22-45 \
    data.gen_test_givens=22-45 schedule.time_budget_minutes=0 schedule.max_steps=3000 schedule.eval_every_steps=500
fi
if [[ $WHICH == all || $WHICH == maze-7x7 ]]; then
  # shellcheck disable=SC2086
  ship maze-7x7 cpu-maze-small $TRM_MLP schedule.time_budget_minutes=0 schedule.max_steps=2000 \
    schedule.eval_every_steps=500
fi
