"""``hrm convert-reference STEP_FILE OUT_DIR``: turn a reference checkpoint into our ``step-N`` format."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-reference",
        help="convert a reference (sapientinc/HRM) checkpoint into the hrm format",
        description="Convert a reference checkpoint (the step_N file, with all_config.yaml beside it) into a "
        "self-describing step-N directory (model.safetensors, config.json, dataset metadata and "
        "identifier map when the yaml's data_path is found).",
    )
    parser.add_argument("step_file", type=Path, help="the reference's step_N file")
    parser.add_argument("out_dir", type=Path, help="directory to write (e.g. runs_out/converted/step-26041)")
    parser.add_argument(
        "--seq-len",
        type=int,
        help="grid tokens per example, for rope models whose dataset "
        "is not found (default: from the dataset, else 900)",
    )
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrm.checkpoints import convert_reference_checkpoint

    checkpoint = convert_reference_checkpoint(args.step_file, args.out_dir, seq_len=args.seq_len, overwrite=args.force)
    counts = checkpoint.model.num_parameters()
    print(
        f"wrote {checkpoint.path} ({counts['trunk']:,} parameters + {counts['puzzle_embedding']:,} puzzle-embedding "
        f"values; step {checkpoint.step})"
    )
    return 0
