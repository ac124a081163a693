"""``hrm view``'s page data: what is embedded for each kind of input, grids, bounds, escaping, errors, serving."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from hrm import view
from hrm.data.arc import ArcVariants, decode_grid, shift_canvas
from hrm.data.format import load_split
from hrm.errors import UserError
from hrm.evaluation.segment_trace import SEGMENTS_FILE, load_segment_predictions
from hrm.evaluation.segment_trace import _q_values as view_q_values
from hrm.view.run import MAX_TRAIN_POINTS
from tests.evaluation.helpers import build_arc
from tests.view import helpers

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("view")
    data = helpers.sudoku_dataset(base / "s4")
    return {
        "base": base,
        "dataset": data,
        "evaluation": helpers.evaluation_dir(base, data),
        "run": helpers.run_dir(base),
        "comparison": helpers.comparison_dir(base),
    }


def cells(grid: dict) -> np.ndarray:
    v = grid["v"]
    flat = [ord(c) - 48 for c in v] if isinstance(v, str) else v
    return np.asarray(flat, dtype=np.int64).reshape(grid["h"], grid["w"])


def embedded_data(html: str) -> dict:
    match = re.search(r'<script id="hrm-data" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


@pytest.mark.parametrize("kind", ["dataset", "evaluation", "run", "comparison"])
def test_each_kind_is_recognised(inputs, kind):
    assert view.detect_kind(inputs[kind]) == kind
    assert view.build_page(inputs[kind])["kind"] == kind


def test_split_folder_and_npz_file_are_recognised(inputs):
    assert view.detect_kind(inputs["dataset"] / "test") == "dataset"
    assert view.detect_kind(inputs["evaluation"] / SEGMENTS_FILE) == "evaluation"
    page = view.build_page(inputs["dataset"] / "test")
    assert [s["name"] for s in page["splits"]] == ["test"]


def test_dataset_grids_are_the_stored_puzzles(inputs):
    page = view.build_page(inputs["dataset"])
    assert page["data_kind"] == "sudoku" and page["grid"] == {"style": "sudoku", "n": 4, "box": [2, 2]}
    train = next(s for s in page["splits"] if s["name"] == "train")
    arrays = load_split(inputs["dataset"] / "train").set()
    assert train["total"] == 18 and len(train["items"]) == 18
    for item in train["items"]:
        i = item["i"]
        assert np.array_equal(cells(item["in"]).reshape(-1), arrays["inputs"][i].astype(int) - 1)
        assert np.array_equal(cells(item["out"]).reshape(-1), arrays["labels"][i].astype(int) - 1)
        # 6 groups of 1 original + 2 shuffles, in group order.
        assert (item["g"], item["k"], item["aug"]) == (i // 3, i % 3, i % 3 > 0)


def test_dataset_embeds_a_bounded_window_and_says_so(inputs):
    page = view.build_page(inputs["dataset"], limit=7, start=20)
    test = next(s for s in page["splits"] if s["name"] == "test")
    assert test["total"] == 30 and [it["i"] for it in test["items"]] == list(range(20, 27))
    train = next(s for s in page["splits"] if s["name"] == "train")
    assert train["items"] == [] and any("past its 18 examples" in n for n in page["notes"])


def test_arc_dataset_crops_translated_grids(tmp_path):
    root = build_arc(tmp_path / "arc", num_aug=2)
    page = view.build_page(root)
    assert page["data_kind"] == "arc" and page["grid"]["style"] == "arc" and len(page["grid"]["palette"]) == 10
    train = next(s for s in page["splits"] if s["name"] == "train")
    arrays = load_split(root / "train").set()
    offsets = ArcVariants.load(root).train_offsets
    for item in train["items"]:
        r, c = (int(x) for x in offsets[item["i"]])
        expected = decode_grid(shift_canvas(arrays["inputs"][item["i"]], -r, -c))
        assert np.array_equal(cells(item["in"]), expected)
        assert item["aug"] == ("_t" in item["name"]) and item["task"] in ("aaaa0001", "bbbb0002")
    assert {it["aug"] for it in train["items"]} == {True, False}


def test_match_and_originals_select_over_the_whole_dataset(tmp_path):
    root = build_arc(tmp_path / "arc", num_aug=3)
    everything = view.build_page(root, limit=10_000)
    for split in ("train", "test"):
        all_items = next(s for s in everything["splits"] if s["name"] == split)["items"]
        # --match: every view of one task, found by identifier name (any case), windowed by --start/--limit.
        page = view.build_page(root, match="BBBB0002", start=1, limit=3)
        got = next(s for s in page["splits"] if s["name"] == split)
        expected = [it["i"] for it in all_items if "bbbb0002" in it["name"]]
        assert got["total"] == len(expected) and [it["i"] for it in got["items"]] == expected[1:4]
        # --originals: no augmented views; with --match both apply.
        page = view.build_page(root, originals=True, match="aaaa")
        got = next(s for s in page["splits"] if s["name"] == split)
        expected = [it["i"] for it in all_items if not it["aug"] and it["task"] == "aaaa0001"]
        assert [it["i"] for it in got["items"]] == expected and expected
    assert view.build_page(root, match="nothing-like-this")["notes"]


def test_originals_of_a_sudoku_dataset_are_the_first_puzzle_of_each_group(inputs):
    page = view.build_page(inputs["dataset"], originals=True)
    train = next(s for s in page["splits"] if s["name"] == "train")
    assert [it["i"] for it in train["items"]] == [0, 3, 6, 9, 12, 15] and train["examples"] == 18
    assert page["selection"] == {"match": None, "originals": True}


def test_selection_is_for_datasets_only(inputs):
    with pytest.raises(UserError, match="select dataset examples"):
        view.build_page(inputs["run"], match="x")


def test_custom_dataset_shows_tokens_with_its_alphabet(tmp_path):
    page = view.build_page(helpers.custom_dataset(tmp_path))
    assert page["grid"] == {"style": "tokens", "width": 6, "alphabet": "0123456789+="}
    item = page["splits"][0]["items"][0]
    alphabet = page["grid"]["alphabet"]
    text = "".join(alphabet[v - 1] for v in cells(item["in"]).reshape(-1) if v)
    assert text == "12+3=" and cells(item["out"]).reshape(-1).tolist() == [2, 6, 0, 0, 0, 0]


def test_maze_and_token_grids():
    maze = {"style": "maze", "n": 3}
    assert view.display_grid(maze, np.arange(9) % 6).tolist() == [[0, 1, 2], [3, 4, 5], [0, 1, 2]]
    tokens = {"style": "tokens", "width": 4, "alphabet": None}
    assert view.display_grid(tokens, np.array([1, 2, 3, 4, 5, -100])).tolist() == [[1, 2, 3, 4], [5, 0, 0, 0]]
    big = view.encode_cells(np.array([[0, 300]]))
    assert big == {"h": 1, "w": 2, "v": [0, 300]}


def test_segment_predictions_match_the_evaluation_engine(inputs):
    meta, arrays = load_segment_predictions(inputs["evaluation"] / SEGMENTS_FILE)
    assert meta["num_segments"] == 4 and meta["kind"] == "sudoku" and not meta["early_exit"]
    assert arrays["predictions"].shape == (20, 4, 16) and arrays["index"].tolist() == list(range(20))
    split = load_split(inputs["dataset"] / "test").set()
    assert np.array_equal(arrays["inputs"], split["inputs"][:20].astype(np.int32))
    from hrm.checkpoints import load_checkpoint

    model = load_checkpoint(inputs["base"] / "run" / "step-1").model
    x, pids = torch.as_tensor(arrays["inputs"]).long(), torch.as_tensor(arrays["puzzle_identifiers"]).long()
    for m in (1, 2, 4):  # the segment-m prediction is what evaluation at cap m (no early exit) scores
        out = model.predict(x, pids, max_segments=m, early_exit=False)
        assert torch.equal(out["logits"].argmax(-1), torch.as_tensor(arrays["predictions"][:, m - 1]).long())
        assert torch.allclose(
            out["q_halt_logits"].float(), torch.as_tensor(arrays["q_halt_logits"][:, m - 1]), atol=1e-5
        )


def test_a_model_without_halting_head_records_nan_and_the_page_shows_none():
    assert torch.isnan(view_q_values(None, 3)).all()
    assert '"qh":null' in view.render_html({"title": "t", "qh": float("nan")})  # JavaScript's JSON has no NaN


def test_evaluation_page_marks_wrong_cells_and_halting(inputs):
    page = view.build_page(inputs["evaluation"], limit=12)
    meta, arrays = load_segment_predictions(inputs["evaluation"] / SEGMENTS_FILE)
    puzzles = page["puzzles"]
    assert puzzles["total"] == 20 and len(puzzles["items"]) == 12 and puzzles["num_segments"] == 4
    assert [r["M"] for r in page["report"]["rows"]] == [1, 2, 4]
    halts_seen = set()
    for r, item in enumerate(puzzles["items"]):
        labels = arrays["labels"][r]
        for s, seg in enumerate(item["segs"]):
            pred = arrays["predictions"][r, s].astype(int)
            assert np.array_equal(cells(seg["g"]).reshape(-1), np.clip(pred - 1, 0, 4))
            assert seg["x"] == np.flatnonzero(pred != labels).tolist()
            assert seg["ok"] == (not seg["x"])
        qh, qc = arrays["q_halt_logits"][r], arrays["q_continue_logits"][r]
        first = next((s + 1 for s in range(4) if qh[s] > qc[s]), None)
        assert item["halt"] == first and item["used"] == 4  # no early exit: every row's answer is segment 4
        assert item["ok"] == item["segs"][3]["ok"]
        halts_seen.add(first)
    assert len(halts_seen) > 1  # the fixture's random Q head halts rows at different segments


def test_evaluation_without_predictions_says_how_to_get_them(inputs, tmp_path):
    (tmp_path / "eval.json").write_text((inputs["evaluation"] / "eval.json").read_text())
    page = view.build_page(tmp_path)
    assert page["puzzles"] is None and page["report"]["rows"]
    assert any("--save-predictions N" in n for n in page["notes"])


def test_arc_evaluation_has_votes_per_task(arc_eval_dir):
    out = arc_eval_dir
    page = view.build_page(out)
    arc = page["arc"]
    details = json.loads((out / "arc_candidates.json").read_text())
    assert arc["total"] == 2 and [t["task"] for t in arc["tasks"]] == list(details)
    assert arc["ks"] == [1, 2, 10] and set(arc["pass_at"]) == {"1", "2", "10"}
    first = arc["tasks"][0]["tests"][0]
    assert np.array_equal(cells(first["sol"]), np.asarray(details[arc["tasks"][0]["task"]][0]["solution"]))
    assert page["grid"]["style"] == "arc" and len(page["puzzles"]["items"]) == 6


def test_run_page_has_curves_checkpoints_and_config(inputs):
    page = view.build_page(inputs["run"])
    assert page["series"]["train"]["step"] == list(range(1, 61))
    assert page["series"]["eval"]["step"] == [30, 60] and page["series"]["eval"]["exact_accuracy"] == [0.3, 0.6]
    assert [c["step"] for c in page["checkpoints"]] == [60] and page["checkpoints"][0]["best"]
    assert page["config"]["recipe"] == "tiny"


def test_run_page_thins_long_training_logs(tmp_path):
    run = helpers.run_dir(tmp_path, num_train=4000)
    steps = view.build_page(run)["series"]["train"]["step"]
    assert len(steps) <= MAX_TRAIN_POINTS + 1 and steps[0] == 1 and steps[-1] == 4000


def test_comparison_page(inputs):
    page = view.build_page(inputs["comparison"])
    assert page["columns"] == ["family", "seed", "config.hidden_size", "result.exact_accuracy"]
    assert page["total"] == 4 and page["summary"]["header"][0] == "family" and len(page["summary"]["rows"]) == 2
    assert [p["name"] for p in page["plots"]] == ["plots/accuracy.png"]
    assert page["plots"][0]["src"].startswith("data:image/png;base64,")


def test_nan_in_an_eval_json_is_shown_as_missing(inputs, tmp_path):
    report = json.loads((inputs["evaluation"] / "eval.json").read_text())
    report["results"][0]["q_halt_accuracy"] = float("nan")
    (tmp_path / "eval.json").write_text(json.dumps(report))  # json writes NaN literally
    data = embedded_data(view.render_html(view.build_page(tmp_path)))
    assert data["report"]["rows"][0]["q_halt"] is None


def test_html_is_self_contained_and_escapes_the_data(inputs):
    page = view.build_page(inputs["dataset"])
    page["title"] = "</script><script>alert(1)</script>"
    page["splits"][0]["items"][0]["name"] = "</script><b>x"
    text = view.render_html(page)
    assert "<script>alert(1)" not in text and "</script><b>" not in text
    assert embedded_data(text)["splits"][0]["items"][0]["name"] == "</script><b>x"
    assert not re.search(r"(src|href)=\"(https?:)?//", text)  # nothing fetched from the network


def _put(folder, name: str, content: str | bytes):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing", "no such file or folder"),
        (lambda p: p, "not a dataset"),
        (lambda p: _put(p, "train/dataset.json", "{bad"), "not valid JSON"),
        (lambda p: _put(p, "eval.json", "[1, 2"), "not valid JSON"),
        (lambda p: _put(p, "eval.json", '{"results": 3}'), "no 'results' list"),
        (lambda p: _put(p, SEGMENTS_FILE, b"PK\x03\x04 truncated"), "segment-predictions"),
        (lambda p: _put(p, "train_config.json", "{"), "not valid JSON"),
        (lambda p: _put(p, "records.jsonl", '{"a": 1}\n{oops\n{"a": 2}\n'), "records.jsonl:2"),
        (
            lambda p: _put(_put(p, "eval.json", '{"results": []}'), "arc_candidates.json", '{"t": 3}'),
            "unexpected content",
        ),
    ],
)
def test_bad_input_is_a_user_error(tmp_path, make, message):
    with pytest.raises(UserError, match=re.escape(message)):
        view.build_page(make(tmp_path))


def test_dataset_with_a_missing_array_is_a_user_error(inputs, tmp_path):
    import shutil

    broken = tmp_path / "s4"
    shutil.copytree(inputs["dataset"], broken)
    (broken / "test" / "all__labels.npy").unlink()
    with pytest.raises(UserError, match="all__labels.npy: missing"):
        view.build_page(broken)


def test_write_html_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "page.html"
    out.write_text("old")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(view.os, "replace", fail)
    with pytest.raises(UserError, match="cannot write there"):  # one line at the CLI, the old page kept
        view.write_html("new", out)
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["page.html"]
    monkeypatch.undo()
    assert view.write_html("new", out).read_text() == "new"


def test_page_server_serves_only_the_page_on_localhost():
    with view.page_server("<html>hello</html>", port=0) as server:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.read() == b"<html>hello</html>"
            assert resp.headers["Content-Type"].startswith("text/html")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/secret", timeout=10)
        assert err.value.code == 404
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_unclear_inputs_get_clear_messages(tmp_path):
    """A checkpoint folder, a run of checkpoints without train_config.json, `sets: "all"`, --out under a file."""
    from pathlib import Path

    from hrm.data.format import DatasetMetadata
    from hrm.view import detect_kind, write_html

    shipped = Path(__file__).resolve().parents[2] / "src" / "hrm" / "assets" / "pretrained" / "sudoku-6x6"
    (step,) = [p for p in shipped.iterdir() if p.name.startswith("step-")]
    with pytest.raises(UserError, match="a checkpoint, not something to view"):
        detect_kind(step)
    with pytest.raises(UserError, match="not a dataset"):  # its step folder's dataset.json is not a split
        detect_kind(shipped)
    full = {
        "pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": 6, "seq_len": 16,
        "num_puzzle_identifiers": 1, "total_groups": 1, "mean_puzzle_examples": 1.0, "sets": "all",
    }  # fmt: skip
    with pytest.raises(UserError, match=r"'sets' must be a list of names"):
        DatasetMetadata.from_dict(full, source="dataset.json")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        write_html("<html></html>", tmp_path / "file" / "x.html")
