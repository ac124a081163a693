#!/usr/bin/env bash
# Issue #23 item 5: test-time fine-tuning on ARC tasks the model never saw (strict protocol), measured on CPU.
#
# ConceptARC (MIT; ../shared/data/concept-arc/corpus.json): 16 concept groups x 10 tasks. Tasks 1-9 of every group
# train (144 tasks, 8 augmented views each); task 10 of every group (16 tasks) is held out wholly: the strict
# protocol builds only their test pairs, so the model never sees their demonstrations. A small HRM is trained
# for a fixed step budget (final checkpoint: nothing is selected, so no validation split is read), then every
# held-out task is answered with and without fine-tuning at settings fixed before the run (no search):
# rows only, and rows + weights. Single seed.
#
#   bash runs/arc_finetune.sh [OUT]        (default runs_out/arc-finetune; ~30 min on 2 cores)
# STEPS (training steps, 300), FT_STEPS (fine-tuning steps, 40), FT_VIEWS (4) and THREADS (1) override the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs_out/arc-finetune}
export OMP_NUM_THREADS=${THREADS:-1}
HRM=(.venv/bin/hrm)
PY=.venv/bin/python
mkdir -p "$OUT"

"$PY" - "$OUT" <<'PY'
import json, re, sys
from pathlib import Path
out = Path(sys.argv[1])
corpus = json.loads(Path("../shared/data/concept-arc/corpus.json").read_text())
train, held = {}, {}
for task_id, task in corpus.items():
    number = int(re.search(r"(\d+)$", task_id).group(1))
    (held if number == 10 else train)[task_id] = task
(out / "train.json").write_text(json.dumps(train))
(out / "heldout.json").write_text(json.dumps(held))
print(f"{len(train)} training tasks, {len(held)} held-out tasks")
PY

if [ ! -d "$OUT/data" ]; then
  "${HRM[@]}" data arc --training "$OUT/train.json" --evaluation "$OUT/heldout.json" --protocol strict \
    --num-aug 7 --out "$OUT/data" --no-progress
fi

STEPS=${STEPS:-300}
if [ ! -d "$OUT/run/step-$STEPS" ]; then
  "${HRM[@]}" train arc-agi-1 data.path="$OUT/data" --out "$OUT/run" \
    arch.hidden_size=64 arch.num_heads=4 arch.high_layers=1 arch.low_layers=1 arch.high_cycles=1 \
    arch.low_cycles=2 arch.halt_max_steps=4 arch.puzzle_emb_ndim=64 \
    optim.optimizer=adamw optim.lr=1e-3 optim.puzzle_emb_lr=1e-2 optim.warmup_steps=50 optim.weight_decay=0.1 \
    schedule.global_batch_size=16 schedule.max_steps="$STEPS" schedule.time_budget_minutes=0 \
    schedule.eval_every_steps=0 eval.max_examples=32 checkpoint.best_on=none \
    checkpoint.every_steps="$STEPS" checkpoint.keep_last=1 \
    runtime.device=cpu runtime.num_threads="${THREADS:-1}" logging.progress=false logging.plot=false
fi

for mode in rows weights; do
  extra=()
  [ "$mode" = weights ] && extra=(--finetune-weights --no-baseline)  # the baseline (0 steps) is the same run
  "${HRM[@]}" evaluate --checkpoint "$OUT/run/step-$STEPS" --arc-json "$OUT/heldout.json" \
    --finetune-steps "${FT_STEPS:-40}" --finetune-views "${FT_VIEWS:-4}" "${extra[@]}" --device cpu \
    --out "$OUT/eval-$mode" --no-progress
done
