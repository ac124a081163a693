"""``hrm evaluate`` end to end: dataset, sweep, direct Sudoku file, and one-line errors (exit 2)."""

from __future__ import annotations

import json

import pytest
import torch

import hrm.cli
from hrm.data.format import load_split
from tests.evaluation.helpers import build_sudoku4, save_tiny_checkpoint, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval-cli")
    data = build_sudoku4(base / "s4")
    ckpt = save_tiny_checkpoint(base / "run" / "step-1", tiny_model(), data_root=data)
    return base, data, ckpt


def _main(argv, capsys):
    code = hrm.cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_run_dir_with_recorded_dataset(run, capsys):
    base, _, _ = run
    code, out, err = _main(["evaluate", "--checkpoint", str(base / "run"), "--no-progress"], capsys)
    assert code == 0, err
    assert "exact%" in out and "q_halt%" in out and "valid%" in out
    assert "halting histogram (M=4" in out
    assert "(sudoku, 12 rows" in out


def test_sweep_writes_eval_json_and_plot(run, capsys, tmp_path):
    base, data, ckpt = run
    out_dir = tmp_path / "out"
    code, out, err = _main(
        [
            "evaluate",
            "--checkpoint",
            str(ckpt),
            "--data",
            str(data),
            "--max-segments",
            "1,2,4",
            "--early-exit",
            "--batch-size",
            "5",
            "--out",
            str(out_dir),
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads((out_dir / "eval.json").read_text())
    assert [r["max_segments"] for r in report["results"]] == [1, 2, 4]
    assert all(r["count"] == 12 and r["early_exit"] for r in report["results"])
    assert sum(report["results"][-1]["halting_histogram"]) == 12
    assert (out_dir / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    table = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit() and "s" not in line[-2:]]
    assert [row[0] for row in table[:3]] == ["1", "2", "4"]


def test_direct_sudoku_file_with_and_without_solutions(run, capsys, tmp_path):
    base, data, ckpt = run
    split = load_split(data / "test")
    digits = split.set()["inputs"].astype(int) - 1
    sols = split.set()["labels"].astype(int) - 1
    puzzles = tmp_path / "p.txt"
    puzzles.write_text("\n".join("".join(str(d) if d else "." for d in row) for row in digits[:5]) + "\n")
    (tmp_path / "p.solutions.txt").write_text("\n".join("".join(map(str, row)) for row in sols[:5]) + "\n")
    out_dir = tmp_path / "out"
    code, out, err = _main(
        [
            "evaluate",
            "--checkpoint",
            str(ckpt),
            "--sudoku",
            str(puzzles),
            "--out",
            str(out_dir),
            "--max-segments",
            "2",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    assert "solutions from p.solutions.txt" in out and "5 rows" in out
    preds = (out_dir / "predictions.txt").read_text().splitlines()
    assert len(preds) == 5 and all(len(p) == 16 for p in preds)
    # Same numbers when the labels come from the exact solver instead of the file.
    (tmp_path / "p.solutions.txt").unlink()
    code2, out2, err2 = _main(
        ["evaluate", "--checkpoint", str(ckpt), "--sudoku", str(puzzles), "--max-segments", "2", "--no-progress"],
        capsys,
    )
    assert code2 == 0, err2
    table = [line for line in out.splitlines() if line.lstrip().startswith("2 ") and "|" not in line]
    table2 = [line for line in out2.splitlines() if line.lstrip().startswith("2 ") and "|" not in line]
    assert table == table2 and len(table) == 1


def test_vocab_mismatch_is_one_line_exit_2(run, capsys, tmp_path):
    base, data, _ = run
    ckpt = save_tiny_checkpoint(tmp_path / "step-1", tiny_model(vocab_size=11, seq_len=81), data_root=data)
    code, out, err = _main(["evaluate", "--checkpoint", str(ckpt), "--no-progress"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("hrm: error: ")
    assert "vocab_size 6 and seq_len 16" in err and "vocab_size 11 and seq_len 81" in err
    # Direct file: a 4×4 Sudoku file against a 9×9 model.
    puzzles = tmp_path / "p.txt"
    puzzles.write_text("12.434.22143432.\n")
    code, out, err = _main(["evaluate", "--checkpoint", str(ckpt), "--sudoku", str(puzzles), "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "Sudoku (4×4) puzzles need vocab_size 6 and seq_len 16" in err and "use a checkpoint trained" in err


def test_missing_checkpoint_exit_2(tmp_path, capsys):
    code, out, err = _main(["evaluate", "--checkpoint", str(tmp_path / "nope")], capsys)
    assert code == 2 and err.count("\n") == 1 and "not found" in err


def test_no_dataset_recorded_exit_2(tmp_path, capsys):
    ckpt = save_tiny_checkpoint(tmp_path / "step-1", tiny_model())
    code, out, err = _main(["evaluate", "--checkpoint", str(ckpt)], capsys)
    assert code == 2 and "--data DIR" in err and err.count("\n") == 1


def test_bad_max_segments_exit_2(run, capsys):
    _, _, ckpt = run
    code, out, err = _main(["evaluate", "--checkpoint", str(ckpt), "--max-segments", "0,4"], capsys)
    assert code == 2 and "--max-segments" in err


@pytest.fixture(scope="module")
def arc_run(tmp_path_factory):
    from hrm.data.format import load_identifiers, read_metadata
    from tests.evaluation.helpers import build_arc

    base = tmp_path_factory.mktemp("eval-arc")
    data = build_arc(base / "arc")
    meta = read_metadata(data / "test")
    model = tiny_model(vocab_size=12, seq_len=900, num_ids=meta.num_puzzle_identifiers)
    ckpt = save_tiny_checkpoint(base / "run" / "step-1", model, data_root=data, identifiers=load_identifiers(data))
    return base, data, ckpt


def test_arc_split_and_direct_json_agree(arc_run, capsys):
    from tests.evaluation.helpers import ARC_TASKS

    base, data, ckpt = arc_run
    reports = []
    for extra in ([], ["--arc-json", str(base / "arc-tasks.json")]):
        out_dir = base / f"out{len(reports)}"
        code, out, err = _main(
            [
                "evaluate",
                "--checkpoint",
                str(ckpt),
                "--max-segments",
                "2",
                "--out",
                str(out_dir),
                "--no-progress",
                *extra,
            ],
            capsys,
        )
        assert code == 0, err
        assert "pass@1%" in out and "pass@2%" in out and "pass@10%" in out
        sub = json.loads((out_dir / "submission.json").read_text())
        assert sorted(sub) == sorted(ARC_TASKS)
        assert [len(sub[t]) for t in sorted(sub)] == [2, 1]
        assert all(set(entry) == {"attempt_1", "attempt_2"} for t in sub for entry in sub[t])
        reports.append(json.loads((out_dir / "eval.json").read_text())["results"][0])
    split, direct = reports
    assert split["count"] == direct["count"] == 12  # 3 test inputs × (original + 3 variants)
    for key in ("exact_accuracy", "token_accuracy", "q_halt_accuracy", "mean_segments"):
        assert split[key] == pytest.approx(direct[key])
    assert split["arc"]["pass_at"] == direct["arc"]["pass_at"]
    assert split["arc"]["num_tasks"] == direct["arc"]["num_tasks"] == 2


def test_arc_json_unknown_task_and_missing_output(arc_run, capsys, tmp_path):
    _, _, ckpt = arc_run
    tasks = {"cccc0003": {"train": [], "test": [{"input": [[1, 2]]}]}}
    path = tmp_path / "new.json"
    path.write_text(json.dumps(tasks))
    out_dir = tmp_path / "out"
    code, out, err = _main(
        [
            "evaluate",
            "--checkpoint",
            str(ckpt),
            "--arc-json",
            str(path),
            "--max-segments",
            "1",
            "--out",
            str(out_dir),
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    assert "unknown to the checkpoint" in out and "without an output" in out
    sub = json.loads((out_dir / "submission.json").read_text())
    assert list(sub) == ["cccc0003"] and len(sub["cccc0003"]) == 1


_TO_REFERENCE = (
    ("core.high_level.layers.", "inner.H_level.layers."),
    ("core.low_level.layers.", "inner.L_level.layers."),
    ("core.embed.embed_tokens.weight", "inner.embed_tokens.embedding_weight"),
    ("core.embed.puzzle_emb.weight", "inner.puzzle_emb.weights"),
    ("core.z_H_init", "inner.H_init"),
    ("core.z_L_init", "inner.L_init"),
    ("core.lm_head.", "inner.lm_head."),
    ("core.q_head.", "inner.q_head."),
)


def _write_reference(directory, model, data_path):
    """Save ``model`` as the reference code would: a compiled state_dict ``step_N`` + ``all_config.yaml``."""
    import yaml

    state = {}
    for key, value in model.state_dict().items():
        for ours, theirs in _TO_REFERENCE:
            if key.startswith(ours):
                state["_orig_mod.model." + theirs + key[len(ours) :]] = value.clone()
                break
    cfg = model.config
    arch = {
        "H_cycles": cfg.high_cycles,
        "L_cycles": cfg.low_cycles,
        "H_layers": cfg.high_layers,
        "L_layers": cfg.low_layers,
        "hidden_size": cfg.hidden_size,
        "num_heads": cfg.num_heads,
        "expansion": cfg.expansion,
        "pos_encodings": cfg.pos_encodings,
        "puzzle_emb_ndim": cfg.puzzle_emb_ndim,
        "halt_max_steps": cfg.halt_max_steps,
        "halt_exploration_prob": cfg.halt_exploration_prob,
        "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"},
    }
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(state, directory / "step_7")
    (directory / "all_config.yaml").write_text(yaml.safe_dump({"arch": arch, "data_path": str(data_path)}))
    return directory / "step_7"


def _first_row(out):
    return next(line.split() for line in out.splitlines() if line.strip()[:1].isdigit() and "|" not in line)


def test_reference_checkpoint_file_and_converted(run, capsys, tmp_path):
    base, data, ckpt = run
    code, out, err = _main(["evaluate", "--checkpoint", str(ckpt), "--no-progress"], capsys)
    assert code == 0, err
    expected = _first_row(out)
    model = tiny_model()
    step = _write_reference(tmp_path / "ref", model, data)
    code, out, err = _main(["evaluate", "--checkpoint", str(step), "--no-progress"], capsys)  # data from the yaml
    assert code == 0, err
    assert _first_row(out) == expected
    converted = tmp_path / "converted" / "step-7"
    from hrm.checkpoints import convert_reference_checkpoint

    convert_reference_checkpoint(step, converted)
    code, out, err = _main(["evaluate", "--checkpoint", str(converted), "--no-progress"], capsys)
    assert code == 0, err
    assert _first_row(out) == expected


def test_reference_rope_checkpoint_without_dataset_on_a_puzzle_file(run, capsys, tmp_path):
    base, data, ckpt = run
    split = load_split(data / "test")
    digits = split.set()["inputs"].astype(int) - 1
    sols = split.set()["labels"].astype(int) - 1
    puzzles = tmp_path / "p.txt"
    puzzles.write_text("\n".join("".join(str(d) if d else "." for d in row) for row in digits) + "\n")
    (tmp_path / "p.solutions.txt").write_text("\n".join("".join(map(str, row)) for row in sols) + "\n")
    code, out, err = _main(["evaluate", "--checkpoint", str(ckpt), "--sudoku", str(puzzles), "--no-progress"], capsys)
    assert code == 0, err
    expected = _first_row(out)
    step = _write_reference(tmp_path / "ref", tiny_model(), tmp_path / "not-there")
    code, out, err = _main(["evaluate", "--checkpoint", str(step), "--sudoku", str(puzzles), "--no-progress"], capsys)
    assert code == 0, err
    assert "seq_len 900 -> 16" in out
    assert _first_row(out) == expected


def test_direct_csv_with_limit(run, capsys, tmp_path):
    _, data, ckpt = run
    split = load_split(data / "test")
    digits = split.set()["inputs"].astype(int) - 1
    sols = split.set()["labels"].astype(int) - 1
    rows = ["source,question,answer,rating"] + [
        f"gen,{''.join(str(d) if d else '.' for d in p)},{''.join(map(str, s))},0" for p, s in zip(digits, sols)
    ]
    csv = tmp_path / "test.csv"
    csv.write_text("\n".join(rows) + "\n")
    code, out, err = _main(
        [
            "evaluate",
            "--checkpoint",
            str(ckpt),
            "--csv",
            str(csv),
            "--limit",
            "4",
            "--max-segments",
            "1,2",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    assert "(sudoku, 4 rows" in out
    code, out, err = _main(["evaluate", "--checkpoint", str(ckpt), "--csv", str(csv), "--data", str(data)], capsys)
    assert code == 2 and "exclusive" in err


def test_relative_recorded_dataset_found_from_the_checkpoint(run, capsys, tmp_path, monkeypatch):
    """A run started in BASE records data/... relative to BASE; evaluating from elsewhere still finds it."""
    from hrm.checkpoints import save_checkpoint

    base, data, _ = run
    ckpt = save_checkpoint(
        base / "rel" / "step-2", tiny_model(), dataset={"source": data.name}, train_config={"data": {"path": data.name}}
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = _main(["evaluate", "--checkpoint", str(base / "rel"), "--no-progress"], capsys)
    assert code == 0, err
    assert f"{data}/test" in out
    (tmp_path / "elsewhere").mkdir()
    code, out, err = _main(["evaluate", "--checkpoint", str(tmp_path / "elsewhere")], capsys)
    assert code == 2 and "no checkpoint" in err
    assert ckpt.is_dir()


def test_limit_without_solutions_solves_only_those(run, capsys, tmp_path):
    _, _, ckpt = run
    puzzles = tmp_path / "p.txt"
    # Line 1 has one solution, line 2 is blank, line 3 (the empty board) has many: --limit 1 never solves it.
    puzzles.write_text("12.434.22143432.\n\n................\n")
    code, out, err = _main(
        ["evaluate", "--checkpoint", str(ckpt), "--sudoku", str(puzzles), "--limit", "1", "--no-progress"], capsys
    )
    assert code == 0, err
    assert "(sudoku, 1 rows" in out and "exact solver" in out
    code, out, err = _main(
        ["evaluate", "--checkpoint", str(ckpt), "--sudoku", str(puzzles), "--limit", "2", "--no-progress"], capsys
    )
    assert code == 2 and "p.txt:3: the puzzle has several solutions" in err
