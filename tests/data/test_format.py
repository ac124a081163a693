"""The reference on-disk format: metadata bytes, dtypes, memory-mapping, round trips, atomic writes."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from hrm.data.build import NpyStreamWriter, SplitWriter, atomic_output_dir
from hrm.data.format import (
    DatasetMetadata,
    is_dataset_root,
    load_dataset_root,
    load_identifiers,
    load_split,
    write_identifiers,
    write_split,
)
from hrm.errors import UserError

from .conftest import make_split

REFERENCE_KEYS = [
    "pad_id",
    "ignore_label_id",
    "blank_identifier_id",
    "vocab_size",
    "seq_len",
    "num_puzzle_identifiers",
    "total_groups",
    "mean_puzzle_examples",
    "sets",
]


def _reference_metadata_bytes(**values) -> str:
    """What the reference writes: json.dump(PuzzleDatasetMetadata(...).model_dump(), f) (pydantic field order)."""
    d = {k: values[k] for k in REFERENCE_KEYS}
    d["mean_puzzle_examples"] = float(d["mean_puzzle_examples"])
    return json.dumps(d)


def test_metadata_json_is_byte_identical_to_reference():
    values = dict(
        pad_id=0,
        ignore_label_id=0,
        blank_identifier_id=0,
        vocab_size=11,
        seq_len=81,
        num_puzzle_identifiers=1,
        total_groups=1000,
        mean_puzzle_examples=1,
        sets=["all"],
    )
    meta = DatasetMetadata(**values)
    assert meta.to_json() == _reference_metadata_bytes(**values)
    assert list(json.loads(meta.to_json())) == REFERENCE_KEYS
    assert DatasetMetadata.from_json(meta.to_json()) == meta


def test_metadata_accepts_null_ignore_label_and_rejects_missing_keys():
    text = _reference_metadata_bytes(
        pad_id=0,
        ignore_label_id=None,
        blank_identifier_id=0,
        vocab_size=12,
        seq_len=900,
        num_puzzle_identifiers=5,
        total_groups=2,
        mean_puzzle_examples=3.5,
        sets=["all"],
    )
    assert DatasetMetadata.from_json(text).ignore_label_id is None
    d = json.loads(text)
    del d["seq_len"]
    with pytest.raises(UserError, match="seq_len"):
        DatasetMetadata.from_json(json.dumps(d), "x/dataset.json")
    with pytest.raises(UserError, match=r"x/dataset.json:1: not valid JSON"):
        DatasetMetadata.from_json("{", "x/dataset.json")


def test_write_load_round_trip_dtypes_and_memmap(tmp_path):
    meta, arrays = make_split(tmp_path / "train", [[1, 2], [3], [1, 1, 1]], seq_len=5, vocab=9)
    split = load_split(tmp_path / "train")
    assert split.metadata == meta
    a = split.set()
    for name in ("inputs", "labels"):
        assert isinstance(a[name], np.memmap) and a[name].dtype == np.uint8
        np.testing.assert_array_equal(a[name], arrays[name])
    for name in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
        assert a[name].dtype == np.int32
        np.testing.assert_array_equal(a[name], arrays[name])
    assert (split.num_examples, split.num_puzzles, split.num_groups) == (9, 6, 3)
    # on-disk dtypes are the reference's
    for name, dtype in [
        ("inputs", np.uint8),
        ("labels", np.uint8),
        ("puzzle_identifiers", np.int32),
        ("puzzle_indices", np.int32),
        ("group_indices", np.int32),
    ]:
        assert np.load(tmp_path / "train" / f"all__{name}.npy").dtype == dtype


def test_reference_written_split_loads_unchanged(tmp_path):
    """Emulate the reference builder's writes (np.save of its arrays, json.dump of the metadata)."""
    d = tmp_path / "data" / "test"
    d.mkdir(parents=True)
    inputs = (np.arange(12, dtype=np.uint8).reshape(3, 4) % 9) + 1
    np.save(d / "all__inputs.npy", inputs)
    np.save(d / "all__labels.npy", inputs[::-1].copy())
    np.save(d / "all__puzzle_identifiers.npy", np.array([0, 0], dtype=np.int32))
    np.save(d / "all__puzzle_indices.npy", np.array([0, 1, 3], dtype=np.int32))
    np.save(d / "all__group_indices.npy", np.array([0, 2], dtype=np.int32))
    with open(d / "dataset.json", "w") as f:
        json.dump(
            {
                "pad_id": 0,
                "ignore_label_id": 0,
                "blank_identifier_id": 0,
                "vocab_size": 10,
                "seq_len": 4,
                "num_puzzle_identifiers": 1,
                "total_groups": 1,
                "mean_puzzle_examples": 1.5,
                "sets": ["all"],
            },
            f,
        )
    split = load_split(d)
    np.testing.assert_array_equal(split.set()["inputs"], inputs)
    assert split.metadata.mean_puzzle_examples == 1.5


def test_our_split_is_what_the_reference_reader_expects(tmp_path):
    """Mirror of the reference loader: metadata keys, then np.load of each field with its mmap mode."""
    make_split(tmp_path / "train", [[2, 1], [1]], seq_len=3)
    meta = json.loads((tmp_path / "train" / "dataset.json").read_text())
    assert set(meta) == set(REFERENCE_KEYS)
    for set_name in meta["sets"]:
        for field, mode in [
            ("inputs", "r"),
            ("labels", "r"),
            ("puzzle_identifiers", None),
            ("puzzle_indices", None),
            ("group_indices", None),
        ]:
            arr = np.load(tmp_path / "train" / f"{set_name}__{field}.npy", mmap_mode=mode)
            assert arr.astype(np.int32).ndim in (1, 2)


def test_load_split_errors_name_the_file(tmp_path):
    make_split(tmp_path / "s", [[1]])
    (tmp_path / "s" / "all__labels.npy").unlink()
    with pytest.raises(UserError, match=r"all__labels\.npy: missing"):
        load_split(tmp_path / "s")
    with pytest.raises(UserError, match="dataset.json: not found"):
        load_split(tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "dataset.json").write_text('{"pad_id": 0,\n oops}')
    with pytest.raises(UserError, match=r"dataset.json:2: not valid JSON"):
        load_split(tmp_path / "bad")


def test_inconsistent_csr_is_rejected(tmp_path):
    meta, arrays = make_split(tmp_path / "s", [[1, 2]])
    arrays = dict(arrays, puzzle_indices=np.array([0, 1, 4], np.int32))
    with pytest.raises(UserError, match="puzzle_indices"):
        write_split(tmp_path / "t", meta, {"all": arrays})


def test_dataset_root_and_identifiers(tmp_path):
    make_split(tmp_path / "train", [[1]], num_ids=3)
    make_split(tmp_path / "test", [[1]], num_ids=3)
    with pytest.raises(UserError, match="identifiers.json: not found"):
        load_dataset_root(tmp_path)
    write_identifiers(tmp_path, ["<blank>", "a", "b"])
    root = load_dataset_root(tmp_path)
    assert root.identifiers == ["<blank>", "a", "b"] == load_identifiers(tmp_path)
    assert (tmp_path / "identifiers.json").read_text() == json.dumps(["<blank>", "a", "b"])
    assert is_dataset_root(tmp_path)
    with pytest.raises(UserError, match="missing the 'train/'"):
        load_dataset_root(tmp_path / "train")


def test_stream_writer_bytes_equal_np_save(tmp_path):
    rng = np.random.default_rng(0)
    full = rng.integers(0, 12, size=(1234, 900)).astype(np.uint8)
    w = NpyStreamWriter(tmp_path / "a.npy", np.uint8, (900,))
    for start in range(0, 1234, 100):
        w.append(full[start : start + 100])
    w.close()
    buf = io.BytesIO()
    np.save(buf, full)
    assert (tmp_path / "a.npy").read_bytes() == buf.getvalue()
    empty = NpyStreamWriter(tmp_path / "e.npy", np.int32, (3,))
    empty.close()
    assert np.load(tmp_path / "e.npy").shape == (0, 3)


def test_split_writer_matches_write_split(tmp_path):
    meta, arrays = make_split(tmp_path / "ref", [[2, 1], [3]], seq_len=4)
    w = SplitWriter(tmp_path / "stream", 4, meta.vocab_size)
    w.add_puzzles(arrays["inputs"][:3], arrays["labels"][:3], [2, 1], [1, 2])
    w.end_group()
    w.add_puzzle(arrays["inputs"][3:], arrays["labels"][3:], 3)
    w.end_group()
    w.finish(pad_id=0, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=meta.num_puzzle_identifiers)
    for f in sorted(p.name for p in (tmp_path / "ref").iterdir()):
        assert (tmp_path / "ref" / f).read_bytes() == (tmp_path / "stream" / f).read_bytes(), f


def test_atomic_output_dir(tmp_path):
    target = tmp_path / "ds"
    with pytest.raises(RuntimeError):
        with atomic_output_dir(target) as tmp:
            (tmp / "x").write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # nothing left, not even the partial folder
    with atomic_output_dir(target) as tmp:
        (tmp / "x").write_text("v1")
        (tmp / "build.json").write_text('{"format_version": 1, "kind": "test"}')
    assert (target / "x").read_text() == "v1"
    with pytest.raises(UserError, match="already exists; pass --force"):
        with atomic_output_dir(target):
            pass
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(target, force=True) as tmp:
            (tmp / "x").write_text("v2")
            raise KeyboardInterrupt
    assert (target / "x").read_text() == "v1"  # old dataset untouched by the failed forced build
    with atomic_output_dir(target, force=True) as tmp:
        (tmp / "x").write_text("v2")
    assert (target / "x").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    with pytest.raises(UserError, match="replaces only a dataset built by `hrm data`"):
        with atomic_output_dir(target, force=True):  # v2 has no build.json: not ours to delete
            pass
    assert (target / "x").read_text() == "v2"
    mask = os.umask(0)
    os.umask(mask)
    assert Path(target).stat().st_mode & 0o777 == 0o777 & ~mask  # not mkdtemp's private 0700
