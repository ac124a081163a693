"""Copy a checkpoint with its live (un-averaged) weights in place of the EMA ones, to evaluate both.

With ``ema.enabled`` the trainer saves the EMA weights as ``model.safetensors`` (the ones evaluated, as TRM) and
the live parameters in ``train_state.pt``. TRM's EMA (decay 0.999, no bias correction) averages over ~1,000 steps,
so after a short budget the EMA weights are still mostly the initialisation; this diagnostic shows what the live
weights had learnt. Buffers (puzzle table, initial states) are the checkpoint's own.

    python runs/live_weights.py RUN_OR_STEP_DIR OUT_STEP_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def main() -> int:
    source, dest = Path(sys.argv[1]), Path(sys.argv[2])
    if not (source / "model.safetensors").is_file():
        steps = sorted(source.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
        source = steps[-1]
    if dest.exists():
        raise SystemExit(f"{dest}: exists; choose a new folder")
    state = torch.load(source / "train_state.pt", map_location="cpu", weights_only=False)
    live = state["live_parameters"]
    if state.get("ema") is None:
        raise SystemExit(f"{source}: trained without EMA; its weights are already the live ones")
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("train_state.pt"))
    weights = load_file(source / "model.safetensors")
    missing = sorted(set(live) - set(weights))
    if missing:
        raise SystemExit(f"{source}: live parameters {missing[:3]} are not in model.safetensors")
    weights.update({k: v.to(weights[k].dtype).contiguous() for k, v in live.items()})
    save_file(weights, str(dest / "model.safetensors"))
    print(f"{dest}: {len(live)} live parameter tensors in place of the EMA ones (from {source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
