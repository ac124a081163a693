"""ARC: canvas encoding, variants, protocols on the real ARC-AGI-1 data, inversion, determinism, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from hrm.data import arc
from hrm.data.arc import ArcBuildOptions, ArcVariants, build_arc_dataset
from hrm.data.augment import arc_augment
from hrm.data.format import load_dataset_root
from hrm.errors import UserError


def test_encode_grid_layout():
    g = np.array([[1, 2, 3], [4, 5, 6]])
    c = arc.encode_grid(g).reshape(30, 30)
    np.testing.assert_array_equal(c[:2, :3], g + 2)
    assert np.all(c[2, :3] == 1) and np.all(c[:2, 3] == 1)  # EOS below and right
    assert c[2, 3] == 0 and c[0, 4] == 0 and c[3, 0] == 0  # corner and the rest are PAD
    full = arc.encode_grid(np.zeros((30, 30), np.uint8)).reshape(30, 30)
    assert np.all(full == 2)  # no room for EOS
    moved = arc.encode_grid(g, (27, 26)).reshape(30, 30)
    np.testing.assert_array_equal(moved[27:29, 26:29], g + 2)
    assert np.all(moved[29, 26:29] == 1) and np.all(moved[27:29, 29] == 1)


def test_decode_grid_is_the_reference_crop():
    g = np.arange(12).reshape(3, 4) % 10
    np.testing.assert_array_equal(arc.decode_grid(arc.encode_grid(g)), g)
    t = arc.encode_grid(g).reshape(30, 30).copy()
    t[1, 2] = 1  # a non-colour token inside: largest top-left all-colour rectangle wins
    np.testing.assert_array_equal(arc.decode_grid(t), g[:, :2])  # 3×2 = 6 > 1×4 = 4
    t[0, 0] = 0
    assert arc.decode_grid(t).shape == (0, 0)
    noisy = np.full((30, 30), 5, np.uint8)
    assert arc.decode_grid(noisy).shape == (30, 30)


def _task(train, test=None):
    def pair(i, o):
        return {"input": i, "output": o}

    return {"train": [pair(*p) for p in train], "test": [pair(*p) for p in (test or train)]}


def test_variants_are_distinct_and_capped_by_symmetry():
    rng = np.random.default_rng(0)
    t = arc._parse_task("t", _task([([[1, 2], [3, 0]], [[2, 1], [0, 3]])]), "training", "s", "f:1")
    v = arc.choose_variants(t, 30, rng)
    assert len(v) == 31 and v.tids[0] == 0 and np.array_equal(v.colour_maps[0], np.arange(10))
    keys = {
        tuple(tuple(arc_augment(g, tid, m).ravel()) for p in t.pairs for g in p)
        for tid, m in zip(v.tids, v.colour_maps)
    }
    assert len(keys) == 31
    black = arc._parse_task("b", _task([([[0]], [[0]])]), "training", "s", "f:1")
    assert len(arc.choose_variants(black, 50, rng)) == 1  # nothing to vary
    one = arc._parse_task("o", _task([([[1]], [[1]])]), "training", "s", "f:1")
    assert len(arc.choose_variants(one, 50, rng)) == 9  # colour 1 -> any of 1..9; 1×1 is dihedral-invariant


def test_variant_names_round_trip():
    names = arc.variant_names("abc", np.array([0, 3]), np.array([np.arange(10), [0, 3, 7, 1, 9, 4, 5, 8, 2, 6]]))
    assert names == ["abc", "abc_t3_0371945826"]
    task, tid, cmap = arc.parse_variant_name(names[1])
    assert task == "abc" and tid == 3 and cmap.tolist() == [0, 3, 7, 1, 9, 4, 5, 8, 2, 6]
    assert arc.parse_variant_name("abc")[0] == "abc"


@pytest.fixture(scope="module")
def arc1_builds(tmp_path_factory, shared_data):
    base = tmp_path_factory.mktemp("arc")
    sources = arc.preset_sources("arc-agi-1", shared_data)
    out = {}
    for protocol in ("transductive", "strict"):
        out[protocol] = build_arc_dataset(
            ArcBuildOptions(
                out=base / protocol,
                sources=sources,
                protocol=protocol,
                num_aug=2,
                seed=0,
                preset="arc-agi-1",
                # The reference's 960 tasks, training/40853293 (= evaluation/070dd51e) included, so the counts
                # below are the reference's.
                duplicates="keep",
                show_progress=False,
            )
        )
    return out


def _eval_tasks(shared_data):
    return json.loads((shared_data / "arc-agi-1" / "evaluation.json").read_text())


def test_transductive_test_split_holds_all_419_test_pairs(arc1_builds, shared_data):
    root = arc1_builds["transductive"]
    ds = load_dataset_root(root)
    ev = _eval_tasks(shared_data)
    loaded = arc.load_arc_tasks(shared_data / "arc-agi-1" / "evaluation.json", "evaluation")
    assert len(loaded) == len(ev) == 400 and sum(len(t.test) for t in loaded) == 419
    test = ds.test.set()
    assert ds.test.metadata.total_groups == 400 and ds.train.metadata.total_groups == 960
    assert ds.train.metadata.vocab_size == 12 and ds.train.metadata.seq_len == 900
    assert ds.train.metadata.num_puzzle_identifiers == len(ds.identifiers) == 1 + 960 * 3
    names = ds.identifiers
    pidx = test["puzzle_indices"]
    originals = [p for p, pid in enumerate(test["puzzle_identifiers"]) if "_" not in names[pid]]
    assert len(originals) == 400
    found = 0
    for p in originals:
        task = ev[names[test["puzzle_identifiers"][p]]]
        rows = range(pidx[p], pidx[p + 1])
        assert len(rows) == len(task["test"])
        for r, pair in zip(rows, task["test"]):
            np.testing.assert_array_equal(test["inputs"][r], arc.encode_grid(np.array(pair["input"])))
            np.testing.assert_array_equal(test["labels"][r], arc.encode_grid(np.array(pair["output"])))
            found += 1
    assert found == 419
    assert test["inputs"].shape[0] == 419 * 3  # every variant of every eval task carries its test pairs


def test_every_test_row_inverts_to_the_original(arc1_builds, shared_data):
    root = arc1_builds["transductive"]
    ds = load_dataset_root(root)
    variants = ArcVariants.load(root)
    ev = _eval_tasks(shared_data)
    test = ds.test.set()
    pidx = test["puzzle_indices"]
    for p, pid in enumerate(test["puzzle_identifiers"]):
        task = ev[variants.task_id(pid)]
        assert arc.parse_variant_name(ds.identifiers[pid])[0] == variants.task_id(pid)
        tid, cmap = variants.transform(pid)
        _, name_tid, name_cmap = arc.parse_variant_name(ds.identifiers[pid])
        assert tid == name_tid and np.array_equal(cmap, name_cmap)
        for j, r in enumerate(range(pidx[p], pidx[p + 1])):
            np.testing.assert_array_equal(
                variants.invert_tokens(test["labels"][r], pid), np.array(task["test"][j]["output"])
            )
            np.testing.assert_array_equal(
                variants.invert_tokens(test["inputs"][r], pid), np.array(task["test"][j]["input"])
            )


def test_train_rows_invert_through_recorded_offsets(arc1_builds, shared_data):
    root = arc1_builds["transductive"]
    ds = load_dataset_root(root)
    variants = ArcVariants.load(root)
    train = ds.train.set()
    all_tasks = {}
    for path, _ in arc.preset_sources("arc-agi-1", shared_data):
        all_tasks.update(json.loads(path.read_text()))
    pidx = train["puzzle_indices"]
    assert variants.train_offsets.shape == (train["inputs"].shape[0], 2)
    translated = 0
    for p in range(0, len(pidx) - 1, 37):
        pid = train["puzzle_identifiers"][p]
        rec = variants.tasks[variants.puzzle_task[pid]]
        task = all_tasks[rec["id"]]
        pairs = task["train"] + (task["test"] if rec["role"] == "training" else [])
        rows = list(range(pidx[p], pidx[p + 1]))
        assert len(rows) == len(pairs)
        still = 0
        for r, pair in zip(rows, pairs):
            dr, dc = variants.train_offsets[r]
            still += int(dr == 0 and dc == 0)
            translated += int(dr > 0 or dc > 0)
            for key, field in (("inputs", "input"), ("labels", "output")):
                back = arc.shift_canvas(train[key][r], -int(dr), -int(dc))
                np.testing.assert_array_equal(variants.invert_tokens(back, pid), np.array(pair[field]))
        assert still >= 1  # one example per puzzle stays at the top-left
    assert translated > 0


def test_strict_holds_out_evaluation_tasks(arc1_builds, shared_data):
    strict, trans = load_dataset_root(arc1_builds["strict"]), load_dataset_root(arc1_builds["transductive"])
    variants = ArcVariants.load(arc1_builds["strict"])
    eval_ids = set(_eval_tasks(shared_data))
    train_tasks = {variants.task_id(pid) for pid in np.unique(strict.train.set()["puzzle_identifiers"])}
    assert not train_tasks & eval_ids and len(train_tasks) == 560
    assert strict.train.metadata.total_groups == 560
    # the transductive build trains on every evaluation task's demonstrations (and nothing of their tests)
    tv = ArcVariants.load(arc1_builds["transductive"])
    trans_train = {tv.task_id(pid) for pid in np.unique(trans.train.set()["puzzle_identifiers"])}
    assert eval_ids <= trans_train
    demo_rows = sum(r["in_train_split"] * r["variants"] for r in tv.tasks if r["role"] == "evaluation")
    assert demo_rows == 1363 * 3
    # test splits are identical under both protocols (same per-task variants and identifiers)
    for name in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
        np.testing.assert_array_equal(strict.test.set()[name], trans.test.set()[name])
    assert strict.identifiers == trans.identifiers


def _subset(shared_data: Path, tmp: Path, n: int = 12) -> tuple[Path, Path]:
    out = []
    for split in ("training", "evaluation"):
        tasks = json.loads((shared_data / "arc-agi-1" / f"{split}.json").read_text())
        keep = dict(sorted(tasks.items())[:n])
        p = tmp / f"{split}.json"
        p.write_text("{" + ",\n".join(json.dumps(k) + ":" + json.dumps(v) for k, v in keep.items()) + "}")
        out.append(p)
        d = tmp / "upstream" / split
        d.mkdir(parents=True)
        for k, v in keep.items():
            (d / f"{k}.json").write_text(json.dumps(v, indent=1))
    return out[0], out[1]


def _arrays(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.npy"))}


def test_deterministic_and_layout_independent(tmp_path, shared_data):
    training, evaluation = _subset(shared_data, tmp_path)
    opts = dict(num_aug=5, seed=3, show_progress=False)
    a = build_arc_dataset(
        ArcBuildOptions(out=tmp_path / "a", sources=[(training, "training"), (evaluation, "evaluation")], **opts)
    )
    b = build_arc_dataset(
        ArcBuildOptions(out=tmp_path / "b", sources=[(training, "training"), (evaluation, "evaluation")], **opts)
    )
    files = lambda r: {str(p.relative_to(r)): p.read_bytes() for p in sorted(r.rglob("*")) if p.is_file()}  # noqa: E731
    assert files(a) == files(b)
    c = build_arc_dataset(
        ArcBuildOptions(out=tmp_path / "c", sources=arc.dataset_dir_sources(tmp_path / "upstream"), **opts)
    )
    assert _arrays(a) == _arrays(c)
    assert (a / "identifiers.json").read_bytes() == (c / "identifiers.json").read_bytes()
    d = build_arc_dataset(
        ArcBuildOptions(
            out=tmp_path / "d", sources=[(training, "training"), (evaluation, "evaluation")], **dict(opts, seed=4)
        )
    )
    assert _arrays(a)["train/all__inputs.npy"] != _arrays(d)["train/all__inputs.npy"]


@pytest.mark.parametrize(
    "task, msg",
    [
        ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": []}, r"row 2 has 1 cells, row 1 has 2"),
        ({"train": [{"input": [[1] * 31], "output": [[1]]}], "test": []}, r"is 1×31; ARC grids are at most 30×30"),
        ({"train": [{"input": [[1, 10]], "output": [[1]]}], "test": []}, r"row 1 column 2 is 10; colours"),
        ({"train": [{"input": [[1]], "output": [["a"]]}], "test": []}, r"is 'a'; colours"),
        ({"train": [{"input": [[1]]}], "test": []}, r"has no 'output'"),
        ({"test": []}, r"has no 'train' list"),
    ],
)
def test_bad_grids_name_file_and_line(tmp_path, task, msg):
    p = tmp_path / "t.json"
    p.write_text('{"ok": ' + json.dumps(_task([([[1]], [[2]])])) + ',\n"bad": ' + json.dumps(task) + "}")
    with pytest.raises(
        UserError, match=r"t.json:2: task 'bad'.*" + msg if "train' list" not in msg else r"t.json:2: task 'bad' " + msg
    ):
        arc.load_arc_tasks(p, "training")


def test_source_errors(tmp_path):
    p = tmp_path / "t.json"
    p.write_text('{"a": {"train": [],\n "test": [}')
    with pytest.raises(UserError, match=r"t.json:2: not valid JSON"):
        arc.load_arc_tasks(p, "training")
    q = tmp_path / "q.json"
    q.write_text(json.dumps({"a": _task([([[1]], [[2]])])}))
    with pytest.raises(UserError, match="also in"):
        arc.load_sources([(q, "training"), (q, "evaluation")])
    with pytest.raises(UserError, match="no evaluation tasks"):
        build_arc_dataset(ArcBuildOptions(out=tmp_path / "o", sources=[(q, "training")], show_progress=False))
    with pytest.raises(UserError, match="unknown ARC preset"):
        arc.preset_sources("arc-agi-3", tmp_path)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("grid", [[[None, []]], [[True, 1]], [[1.0, 2]], [[1, [2]]]])
def test_parse_grid_rejects_non_integer_cells(grid):
    from hrm.data.arc import parse_grid

    with pytest.raises(UserError, match="colours must be integers 0-9"):
        parse_grid(grid, "task.json", "grid")


# ----------------------------------------------------------------------------------------------------------------
# Duplicates by content


def _sha256_from_json(task: dict) -> str:
    """The documented recipe of task_sha256, from the raw JSON: the hash must be reproducible without hrm."""
    digests = sorted(
        hashlib.sha256(json.dumps([p["input"], p["output"]], separators=(",", ":")).encode()).hexdigest()
        for p in task["train"] + task["test"]
    )
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def test_real_data_has_one_duplicate_and_the_arc_agi_1_preset_refuses_it(tmp_path, shared_data):
    found = {}
    for preset in arc.PRESETS:
        tasks = arc.load_sources(arc.preset_sources(preset, shared_data))
        groups = arc.duplicate_groups([arc.task_sha256(t) for t in tasks])
        found[preset] = [[(tasks[i].task_id, tasks[i].role) for i in g] for g in groups]
    # fchollet/ARC-AGI issue #162: one task is in both ARC-AGI-1 splits under two ids; ARC-AGI-2 has none.
    assert found == {"arc-agi-1": [[("40853293", "training"), ("070dd51e", "evaluation")]], "arc-agi-2": []}
    out = tmp_path / "arc1"
    with pytest.raises(UserError) as err:
        build_arc_dataset(
            ArcBuildOptions(out=out, sources=arc.preset_sources("arc-agi-1", shared_data), show_progress=False)
        )
    msg = str(err.value)
    assert "\n" not in msg and "training.json:" in msg and "evaluation.json:" in msg
    assert "'40853293' (training)" in msg and "'070dd51e' (evaluation" in msg and "--allow-duplicates" in msg
    assert not out.exists() and list(tmp_path.iterdir()) == []
    evaluation = json.loads((shared_data / "arc-agi-1" / "evaluation.json").read_text())
    tasks = arc.load_arc_tasks(shared_data / "arc-agi-1" / "evaluation.json", "evaluation")
    assert arc.task_sha256(tasks[0]) == _sha256_from_json(evaluation[tasks[0].task_id])


def _pair_task(seed: int) -> dict:
    rng = np.random.default_rng(seed)

    def pair():
        return {"input": rng.integers(0, 10, (3, 4)).tolist(), "output": rng.integers(0, 10, (2, 2)).tolist()}

    return {"train": [pair(), pair(), pair()], "test": [pair()]}


def _write(path: Path, tasks: dict, **dump) -> Path:
    path.write_text(json.dumps(tasks, **dump))
    return path


def _dup_sources(tmp_path: Path) -> list[tuple[Path, arc.Role]]:
    """A training file and an evaluation file holding the same task, byte for byte, as 'trn1' and 'evl1'."""
    same = _pair_task(0)
    training = _write(tmp_path / "training.json", {"trn0": _pair_task(1), "trn1": same})
    evaluation = _write(tmp_path / "evaluation.json", {"evl0": _pair_task(2), "evl1": same})
    return [(training, "training"), (evaluation, "evaluation")]


def test_a_task_in_both_splits_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out" / "ds"
    with pytest.raises(UserError) as err:
        build_arc_dataset(ArcBuildOptions(out=out, sources=_dup_sources(tmp_path), num_aug=1, show_progress=False))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{tmp_path / 'training.json'}:1: task 'trn1' (training) has the same pairs as task 'evl1'")
    assert f"(evaluation, {tmp_path / 'evaluation.json'}:1)" in msg
    assert "--drop-duplicates to build without 'trn1'" in msg and "--allow-duplicates" in msg
    assert not (tmp_path / "out").exists()  # not even the parent folder, nor a .partial folder


def test_allowed_duplicates_are_built_and_the_hashes_recorded(tmp_path):
    sources = _dup_sources(tmp_path)
    root = build_arc_dataset(
        ArcBuildOptions(out=tmp_path / "keep", sources=sources, num_aug=1, duplicates="keep", show_progress=False)
    )
    records = {r["id"]: r for r in ArcVariants.load(root).tasks}
    assert set(records) == {"trn0", "trn1", "evl0", "evl1"}
    raw = {**json.loads(sources[0][0].read_text()), **json.loads(sources[1][0].read_text())}
    for task_id, record in records.items():
        assert record["sha256"] == _sha256_from_json(raw[task_id])
    assert records["trn1"]["sha256"] == records["evl1"]["sha256"] != records["trn0"]["sha256"]
    build = json.loads((root / "build.json").read_text())
    assert build["options"]["duplicates"] == "keep"
    assert build["stats"]["duplicate tasks (same pairs)"] == ["trn1 (training) = evl1 (evaluation): kept all"]


def test_dropped_duplicates_keep_the_evaluation_copy(tmp_path):
    root = build_arc_dataset(
        ArcBuildOptions(
            out=tmp_path / "drop", sources=_dup_sources(tmp_path), num_aug=1, duplicates="drop", show_progress=False
        )
    )
    assert [r["id"] for r in ArcVariants.load(root).tasks] == ["trn0", "evl0", "evl1"]
    build = json.loads((root / "build.json").read_text())
    assert [s["tasks"] for s in build["sources"]] == [1, 2]
    assert build["stats"]["duplicate tasks (same pairs)"] == ["trn1 (training) = evl1 (evaluation): left out trn1"]
    assert load_dataset_root(root).test.metadata.total_groups == 2


def test_a_duplicate_within_one_split_is_refused(tmp_path):
    evaluation = _write(tmp_path / "ev.json", {"a": _pair_task(0), "b": _pair_task(1), "c": _pair_task(0)})
    with pytest.raises(
        UserError,
        match=r"ev.json:1: task 'c' \(evaluation\) has the same pairs as task 'a' "
        r"\(evaluation, .*ev.json:1\), so it would count twice",
    ):
        build_arc_dataset(
            ArcBuildOptions(out=tmp_path / "o", sources=[(evaluation, "evaluation")], show_progress=False)
        )
    assert not (tmp_path / "o").exists()
    several = {"a": _pair_task(0), "b": _pair_task(1), "c": _pair_task(0), "d": _pair_task(1), "e": _pair_task(0)}
    evaluation = _write(tmp_path / "ev.json", several)
    with pytest.raises(UserError, match=r"\(and 1 more copy\); 1 more duplicated task, .* keep them all$"):
        build_arc_dataset(
            ArcBuildOptions(out=tmp_path / "o", sources=[(evaluation, "evaluation")], show_progress=False)
        )
    root = build_arc_dataset(
        ArcBuildOptions(
            out=tmp_path / "o", sources=[(evaluation, "evaluation")], num_aug=0, duplicates="drop", show_progress=False
        )
    )
    assert [r["id"] for r in ArcVariants.load(root).tasks] == ["a", "b"]
    assert json.loads((root / "build.json").read_text())["stats"]["duplicate tasks (same pairs)"] == [
        "a (evaluation) = c (evaluation) = e (evaluation): left out c, e",
        "b (evaluation) = d (evaluation): left out d",
    ]


def test_reformatted_reordered_and_resplit_copies_are_detected(tmp_path):
    task = _pair_task(0)
    pairs = task["train"] + task["test"]
    # Whitespace, key order ("output" first), pair order, and a test pair moved among the demonstrations.
    shuffled = {
        "test": [{"output": pairs[0]["output"], "input": pairs[0]["input"]}],
        "name": "ignored",
        "train": [{"output": p["output"], "input": p["input"]} for p in reversed(pairs[1:])],
    }
    training = tmp_path / "upstream" / "training"
    training.mkdir(parents=True)
    (training / "x1.json").write_text(json.dumps(task, indent=4))
    evaluation = _write(tmp_path / "evaluation.json", {"y1": shuffled, "y2": _pair_task(3)}, indent=None)
    tasks = arc.load_sources([(training, "training"), (evaluation, "evaluation")])
    hashes = [arc.task_sha256(t) for t in tasks]
    assert [[tasks[i].task_id for i in g] for g in arc.duplicate_groups(hashes)] == [["x1", "y1"]]
    with pytest.raises(UserError, match=r"x1.json:1: task 'x1' \(training\) has the same pairs as task 'y1'"):
        build_arc_dataset(
            ArcBuildOptions(
                out=tmp_path / "o", sources=[(training, "training"), (evaluation, "evaluation")], show_progress=False
            )
        )


def test_near_misses_are_not_duplicates(tmp_path):
    task = _pair_task(0)
    one_cell = json.loads(json.dumps(task))
    one_cell["test"][0]["output"][0][0] = (one_cell["test"][0]["output"][0][0] + 1) % 10
    other_test = {"train": task["train"], "test": _pair_task(5)["test"]}  # same demonstrations, another test
    transposed = json.loads(json.dumps(task))
    transposed["train"][0]["input"] = np.array(task["train"][0]["input"]).T.tolist()  # same cells, another shape
    swapped = {"train": [{"input": p["output"], "output": p["input"]} for p in task["train"]], "test": task["test"]}
    fewer = {"train": task["train"][:2], "test": task["test"]}  # a subset of the pairs
    variants = {"orig": task, "cell": one_cell, "other": other_test, "tr": transposed, "swap": swapped, "few": fewer}
    tasks = arc.load_arc_tasks(_write(tmp_path / "ev.json", variants), "evaluation")
    assert arc.duplicate_groups([arc.task_sha256(t) for t in tasks]) == []
    root = build_arc_dataset(
        ArcBuildOptions(
            out=tmp_path / "o", sources=[(tmp_path / "ev.json", "evaluation")], show_progress=False, num_aug=0
        )
    )
    assert json.loads((root / "build.json").read_text())["stats"]["duplicate tasks (same pairs)"] == "none"
