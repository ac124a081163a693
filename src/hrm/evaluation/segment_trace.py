"""Per-segment predictions of a bounded number of rows, for looking at the reasoning (``hrm view``).

``hrm evaluate ... --out DIR --save-predictions N`` writes ``DIR/segment_predictions.npz``: for the first N rows
of the evaluated data, the argmax prediction and both Q logits after **every** segment up to the largest segment
cap, from the initial state (eval semantics: :meth:`hrm.model.HRM.trace`). Arrays (compressed, no pickles):

* ``inputs`` / ``labels`` [N, seq_len] int32 (labels -100 where not supervised), ``puzzle_identifiers`` [N] int32,
  ``index`` [N] int64 (each row's position in the evaluated data);
* ``predictions`` [N, M, seq_len] (uint8 when the vocabulary fits, else int32), ``q_halt_logits`` and
  ``q_continue_logits`` [N, M] float32 (NaN for a model without a halting head);
* ``meta``: a JSON string (kind, data source, checkpoint, early_exit, num_segments, vocab_size, seq_len, and the
  identifier name of each row when known).

The file is written to a temporary name and renamed into place, so an interrupted write leaves no partial file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrm.errors import UserError
from hrm.evaluation.batches import EvalBatch
from hrm.model import ReasoningModel
from hrm.model.losses import IGNORE_LABEL_ID

SEGMENTS_FILE = "segment_predictions.npz"
FORMAT_VERSION = 1
ARRAYS = ("inputs", "labels", "puzzle_identifiers", "index", "predictions", "q_halt_logits", "q_continue_logits")


@torch.no_grad()
def collect_segment_predictions(
    model: ReasoningModel, batches: Iterable[EvalBatch], limit: int, num_segments: int
) -> dict[str, np.ndarray]:
    """Trace the first ``limit`` rows of ``batches`` for ``num_segments`` segments; numpy arrays as in the file."""
    if limit < 1 or num_segments < 1:
        raise ValueError("limit and num_segments must be >= 1")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ARRAYS}
    seen = 0
    for batch in batches:
        if seen >= limit:
            break
        take = min(limit - seen, batch.size)
        if take <= 0:
            continue
        inputs, pids = batch.inputs[:take], batch.puzzle_identifiers[:take]
        steps = model.trace(inputs, pids, num_segments)
        parts["predictions"].append(torch.stack([_logits(s).argmax(-1) for s in steps], dim=1).cpu().numpy())
        for key in ("q_halt_logits", "q_continue_logits"):
            parts[key].append(torch.stack([_q_values(s.get(key), take) for s in steps], dim=1).cpu().numpy())
        labels = batch.labels[:take] if batch.labels is not None else torch.full_like(inputs, IGNORE_LABEL_ID)
        parts["inputs"].append(inputs.cpu().numpy())
        parts["labels"].append(labels.cpu().numpy())
        parts["puzzle_identifiers"].append(pids.cpu().numpy())
        index = batch.index[:take].cpu().numpy() if batch.index is not None else np.arange(seen, seen + take)
        parts["index"].append(index)
        seen += take
    if not seen:
        raise UserError("no rows to trace: the evaluated data is empty")
    vocab = model.config.vocab_size
    dtypes = {
        "inputs": np.int32,
        "labels": np.int32,
        "puzzle_identifiers": np.int32,
        "index": np.int64,
        "predictions": np.uint8 if vocab <= 256 else np.int32,
        "q_halt_logits": np.float32,
        "q_continue_logits": np.float32,
    }
    return {name: np.concatenate(parts[name]).astype(dtypes[name]) for name in ARRAYS}


def _logits(segment: dict[str, torch.Tensor | None]) -> torch.Tensor:
    logits = segment["logits"]
    assert logits is not None  # every segment has logits (only the Q logits may be None)
    return logits


def _q_values(q: torch.Tensor | None, rows: int) -> torch.Tensor:
    """A segment's Q logits as float32 [rows]; NaN for a model without a halting head."""
    return torch.full((rows,), float("nan")) if q is None else q.float().cpu()


def save_segment_predictions(
    model: ReasoningModel,
    batches: Iterable[EvalBatch],
    out_dir: str | os.PathLike,
    limit: int,
    num_segments: int,
    *,
    kind: str,
    source: str,
    checkpoint: str,
    early_exit: bool,
    identifiers: Sequence[str] | None = None,
) -> Path:
    """Collect and write ``out_dir/segment_predictions.npz`` (see the module docstring); returns its path."""
    arrays = collect_segment_predictions(model, batches, limit, num_segments)
    names = None
    if identifiers is not None:
        names = [identifiers[p] if 0 <= p < len(identifiers) else "" for p in arrays["puzzle_identifiers"].tolist()]
    meta: dict[str, Any] = {
        "format": "hrm-segment-predictions",
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "source": source,
        "checkpoint": checkpoint,
        "early_exit": bool(early_exit),
        "num_segments": int(num_segments),
        "vocab_size": int(model.config.vocab_size),
        "seq_len": int(arrays["inputs"].shape[1]),
        "ignore_label_id": IGNORE_LABEL_ID,
        "names": names,
    }
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out_dir}: cannot create the folder ({exc.strerror})") from None
    path = out_dir / SEGMENTS_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{SEGMENTS_FILE}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            # Named one by one (in ARRAYS order): numpy's stub would let a ``**dict`` fill ``allow_pickle``.
            np.savez_compressed(
                f,
                meta=np.array(json.dumps(meta)),
                inputs=arrays["inputs"],
                labels=arrays["labels"],
                puzzle_identifiers=arrays["puzzle_identifiers"],
                index=arrays["index"],
                predictions=arrays["predictions"],
                q_halt_logits=arrays["q_halt_logits"],
                q_continue_logits=arrays["q_continue_logits"],
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_segment_predictions(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of a ``segment_predictions.npz``; UserError naming the problem when it is not one."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise UserError(f"{path}: a single .npy array, not a segment-predictions .npz file")
        with data:
            missing = [name for name in ("meta", *ARRAYS) if name not in data.files]
            if missing:
                raise UserError(
                    f"{path}: missing array(s) {', '.join(missing)}; not written by "
                    "`hrm evaluate --save-predictions N`, re-run it"
                )
            meta = json.loads(str(data["meta"]))
            arrays = {name: np.asarray(data[name]) for name in ARRAYS}
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable segment-predictions file ({exc}); re-run hrm evaluate") from None
    n, m = arrays["q_halt_logits"].shape if arrays["q_halt_logits"].ndim == 2 else (-1, -1)
    pred = arrays["predictions"]
    if not isinstance(meta, dict) or pred.ndim != 3 or pred.shape[:2] != (n, m) or arrays["inputs"].shape[0] != n:
        raise UserError(f"{path}: inconsistent array shapes; re-run `hrm evaluate --save-predictions N`")
    return meta, arrays
