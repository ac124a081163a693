"""Bring-your-own JSONL tasks: token lists and strings, padding, puzzle/group structure, identifiers, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrm.data.custom import CustomBuildOptions, build_custom_dataset, load_codec
from hrm.data.format import load_dataset_root
from hrm.data.sampling import TrainSampler
from hrm.errors import UserError


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_strings_with_alphabet(tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", [{"input": "12+3=", "output": "15"}, {"input": "2+2=", "output": "4"}])
    test = _jsonl(tmp_path / "test.jsonl", [{"input": "1+1=", "output": "2"}])
    root = build_custom_dataset(
        CustomBuildOptions(
            out=tmp_path / "d", train=train, test=test, seq_len=6, alphabet="0123456789+=", show_progress=False
        )
    )
    ds = load_dataset_root(root)
    meta = ds.train.metadata
    assert (meta.seq_len, meta.vocab_size, meta.num_puzzle_identifiers, meta.pad_id, meta.ignore_label_id) == (
        6,
        13,
        1,
        0,
        0,
    )
    codec = load_codec(root)
    np.testing.assert_array_equal(ds.train.set()["inputs"][0], codec.encode("12+3=", 6))
    assert codec.decode(ds.train.set()["labels"][0]) == "15"
    assert list(ds.train.set()["labels"][0]) == [2, 6, 0, 0, 0, 0]  # '1' -> 2, '5' -> 6, PAD -> not supervised
    assert codec.decode(ds.test.set()["inputs"][0]) == "1+1="
    batch = next(TrainSampler(ds.train, 2, seed=0))
    assert (batch["labels"] == -100).sum() == 4 + 5


def test_token_lists_and_structure(tmp_path):
    recs = [
        {"input": [0, 1], "output": [1, 0], "puzzle": "p1", "group": "g1"},
        {"input": [2, 2], "output": [2, 2], "puzzle": "p2", "group": "g2"},
        {"input": [1, 1], "output": [0, 0], "puzzle": "p1", "group": "g1"},
        {"input": [3], "output": [3], "puzzle": "p3", "group": "g1"},
    ]
    train = _jsonl(tmp_path / "train.jsonl", recs)
    test = _jsonl(tmp_path / "test.jsonl", [{"input": [1], "output": [2], "puzzle": "p2"}])
    root = build_custom_dataset(
        CustomBuildOptions(out=tmp_path / "d", train=train, test=test, puzzle_ids="per-puzzle", show_progress=False)
    )
    ds = load_dataset_root(root)
    a = ds.train.set()
    assert ds.train.metadata.seq_len == 2 and ds.train.metadata.vocab_size == 5  # tokens 0..3 -> 1..4, PAD 0
    np.testing.assert_array_equal(a["puzzle_indices"], [0, 2, 3, 4])  # p1 (2 examples), p3, then p2
    np.testing.assert_array_equal(a["group_indices"], [0, 2, 3])  # g1 = {p1, p3}, g2 = {p2}
    np.testing.assert_array_equal(a["inputs"][:2], [[1, 2], [2, 2]])
    assert ds.identifiers == ["<blank>", "p1", "p3", "p2"]
    np.testing.assert_array_equal(a["puzzle_identifiers"], [1, 2, 3])
    np.testing.assert_array_equal(ds.test.set()["puzzle_identifiers"], [3])  # shared with train's p2
    assert ds.train.metadata.num_puzzle_identifiers == 4
    assert ds.train.metadata.mean_puzzle_examples == pytest.approx(4 / 3)


@pytest.mark.parametrize(
    "line, opts, msg",
    [
        ("not json", {}, r"train.jsonl:2: not valid JSON"),
        ('{"input": [1]}', {}, r"train.jsonl:2: missing 'output'"),
        ('{"input": "ab", "output": "c"}', {}, r"train.jsonl:2: 'input' is a string; declare"),
        ('{"input": "ax", "output": "a"}', {"alphabet": "ab"}, r"train.jsonl:2: 'input' character 'x' at position 2"),
        ('{"input": [1, -1], "output": [1]}', {}, r"train.jsonl:2: 'input' must be a list of non-negative"),
        ('{"input": [1, 2, 3], "output": [1]}', {"seq_len": 2}, r"train.jsonl:2: 'input' has length 3"),
        ('{"input": [9], "output": [1]}', {"vocab_size": 5}, r"train.jsonl:2: 'input' has token 9"),
        ('{"input": [1], "output": [1], "puzzle": "p", "group": "h"}', {}, r"train.jsonl:2: puzzle 'p' appears in two"),
    ],
)
def test_errors_name_file_and_line(tmp_path, line, opts, msg):
    first = (
        {"input": "a", "output": "b"}
        if opts.get("alphabet")
        else {"input": [1], "output": [1], "puzzle": "p", "group": "g"}
    )
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps(first) + "\n" + line + "\n")
    test = _jsonl(tmp_path / "test.jsonl", [first])
    with pytest.raises(UserError, match=msg):
        build_custom_dataset(
            CustomBuildOptions(out=tmp_path / "d", train=train, test=test, show_progress=False, **opts)
        )
    assert not (tmp_path / "d").exists()


def test_per_puzzle_ids_need_keys(tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", [{"input": [1], "output": [1]}])
    with pytest.raises(UserError, match="needs a 'puzzle' key"):
        build_custom_dataset(
            CustomBuildOptions(
                out=tmp_path / "d", train=train, test=train, puzzle_ids="per-puzzle", show_progress=False
            )
        )
