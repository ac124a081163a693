#!/usr/bin/env bash
# Test-time compute on puzzles harder than the model was trained on (issue 24, item 5): depth x breadth with every
# choice rule, from one `hrm evaluate --depth` run per dataset; results under runs/results/depth-breadth-*/.
#   bash runs/depth_breadth.sh 6x6      # the shipped 6x6 HRM (trained on 20 givens) on 14- and 16-given puzzles
#   bash runs/depth_breadth.sh 9x9      # the shipped 9x9 model on 22-27 givens and on top1465 (evaluation only)
# ROWS puzzles each (default 100), seed 0, one thread. Single seed: the figures say so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100}
WHICH=${1:-6x6}
HRM=".venv/bin/hrm"
COMMON=(--depth 64 --breadth 1,4 --views 1,8 --choose single,halt,converge,vote,oracle --test-time-rows "$ROWS"
  --no-progress)
export OMP_NUM_THREADS=1

if [[ $WHICH == 6x6 ]]; then
  for g in 14 16; do
    data=data/sudoku-6x6-test-g$g
    [[ -d $data ]] || $HRM data sudoku --size 6 --num-train 10 --num-test 500 --givens 20 --test-givens $g \
      --seed 7 --out "$data" --no-progress
    $HRM evaluate --checkpoint src/hrm/assets/pretrained/sudoku-6x6 --data "$data" "${COMMON[@]}" \
      --out runs/results/depth-breadth-6x6-g$g
  done
fi
if [[ $WHICH == 9x9 ]]; then
  data=data/sudoku-9x9-test-g22-27
  [[ -d $data ]] || $HRM data sudoku --size 9 --num-train 10 --num-test 600 --givens 30 --test-givens 22-27 \
    --seed 11 --out "$data" --no-progress
  $HRM evaluate --checkpoint src/hrm/assets/pretrained/sudoku-9x9 --data "$data" "${COMMON[@]}" \
    --out runs/results/depth-breadth-9x9-g22-27
  $HRM evaluate --checkpoint src/hrm/assets/pretrained/sudoku-9x9 \
    --sudoku ../shared/data/sudoku/puzzles3_magictour_top1465.txt "${COMMON[@]}" \
    --out runs/results/depth-breadth-9x9-top1465
fi
