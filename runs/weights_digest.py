"""sha256 of a checkpoint's weights, file and tensor by tensor (issue 21's byte-identity check of a restructure).

    python runs/weights_digest.py RUN/step-40/model.safetensors [--out digest.json]

The file digest changes when a tensor is renamed; the tensor digests (sha256 of each tensor's dtype, shape and
raw bytes, under the name today's model code gives it: older names are mapped through the family's
``upgrade_key``) show whether the weights themselves are identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def digest(path: Path) -> dict:
    from hrm.checkpoints.format import upgraded
    from hrm.model.registry import family_spec

    config = json.loads((path.parent / "config.json").read_text())
    family = config.get("family", "hrm")
    state = upgraded(family_spec(family).model_cls, load_file(str(path)))
    tensors = {}
    for name in sorted(state):
        t = state[name].contiguous()
        h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        tensors[name] = h.hexdigest()
    combined = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in tensors.items()).encode()).hexdigest()
    return {
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "tensors_sha256": combined,
        "tensors": tensors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = digest(args.file)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "tensors"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
