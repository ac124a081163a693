"""The registry of shipped models: every folder under assets/pretrained/ is one, described by its own checkpoint
and model card; the real ones stay small and carded, fake ones (a monkeypatched root) are listed and picked."""

from __future__ import annotations

import json

import pytest

from hrm.checkpoints import find_shipped, list_shipped, locate
from hrm.checkpoints.shipped import CARD_FIELDS, MAX_SHIPPED_BYTES, MODEL_CARD, read_card
from hrm.errors import UserError
from tests.inference import helpers

CARD = """---
family: hrm
recipe: tiny
command: hrm train tiny
parameters: 1
data: generated
data_licence: none needed
validation_exact_accuracy: 0.5
test_exact_accuracy: null
test_exact_by: {givens: {6: null}}
---

# a tiny card
"""


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty shipped-models folder in place of the package's."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    monkeypatch.setattr(locate, "pretrained_root", lambda: folder)
    return folder


def test_the_shipped_6x6_model_is_found_by_kind_and_size():
    model = find_shipped("sudoku", 6)
    assert model.name == "sudoku-6x6" and model.family == "hrm" and model.task == "6×6 Sudoku"
    assert model.checkpoint is not None and model.checkpoint.name.startswith("step-")
    assert model.vocab_size == 8 and model.seq_len == 36 and model.parameters == 263_362
    assert model.test_exact == pytest.approx(0.966) and model.validation_exact is None  # from its card
    assert model.folder == locate.pretrained_dir()  # the default of `hrm info` / `hrm analyze` is a shipped model


def test_every_shipped_model_is_small_and_has_a_full_card():
    models = list_shipped()
    assert models, "the package ships at least the 6×6 Sudoku model"
    for model in models:
        assert model.error is None, f"{model.name}: {model.error}"
        assert model.file_bytes <= MAX_SHIPPED_BYTES, f"{model.name} is {model.file_bytes / 2**20:.1f} MB (max 2 MB)"
        assert not list(model.folder.rglob("train_state.pt")), f"{model.name}: do not ship the optimiser state"
        assert model.card is not None and model.card.name == MODEL_CARD, f"{model.name}: no {MODEL_CARD}"
        assert model.card_error is None, model.card_error
        missing = [key for key in CARD_FIELDS if key not in model.card_fields]
        assert not missing, f"{model.card}: front matter lacks {missing}"
        assert model.card_fields["family"] == model.family
        assert model.card_fields["parameters"] == model.parameters
        assert model.kind in ("sudoku", "maze") and model.size is not None
    # One model per kind, size and family: otherwise which one `hrm solve` picks is a matter of names.
    keys = [(m.kind, m.size, m.family) for m in models]
    assert len(keys) == len(set(keys))


def test_fake_shipped_folders_are_listed_and_picked_by_size(root):
    helpers.sudoku_checkpoint(root / "sudoku-6x6-b" / "step-3")  # a run directory
    helpers.sudoku_checkpoint(root / "sudoku-4x4", n=4)  # a step directory itself
    helpers.maze_checkpoint(root / "maze-8x8" / "step-1")
    (root / ".hidden").mkdir()  # ignored, as is a stray file
    (root / "README").write_text("not a model")
    models = list_shipped()
    assert [(m.name, m.kind, m.size) for m in models] == [
        ("sudoku-4x4", "sudoku", 4),
        ("sudoku-6x6-b", "sudoku", 6),
        ("maze-8x8", "maze", 8),
    ]
    assert find_shipped("sudoku", 4).name == "sudoku-4x4"
    assert find_shipped("sudoku", 6).checkpoint == root / "sudoku-6x6-b" / "step-3"
    assert find_shipped("maze", 8).name == "maze-8x8"
    with pytest.raises(UserError) as info:
        find_shipped("sudoku", 9)
    message = str(info.value)
    assert message.startswith("no shipped model for 9×9 Sudoku (shipped: 4×4 Sudoku (sudoku-4x4), 6×6 Sudoku")
    assert "--checkpoint" in message and "\n" not in message
    with pytest.raises(UserError, match=r"no shipped model for 4×4 Sudoku \(trm family\)"):
        find_shipped("sudoku", 4, family="trm")


def test_kind_from_shape_first_by_name_and_unreadable_folders(root):
    # No kind recorded: vocab 6 and a square seq_len read as a maze (hrm.data.kind.dataset_kind).
    helpers.save(helpers.tiny_model(6, 49), root / "b-maze")
    helpers.save(helpers.tiny_model(6, 49), root / "a-maze")
    (root / "broken" / "step-1").mkdir(parents=True)
    (root / "broken" / "step-1" / "config.json").write_text("{not json")
    models = {m.name: m for m in list_shipped()}
    assert models["a-maze"].kind == "maze" and models["a-maze"].size == 7
    assert find_shipped("maze", 7).name == "a-maze"  # several fit: the first by name
    assert models["broken"].error is not None and models["broken"].kind is None
    with pytest.raises(UserError, match=r"shipped: 7×7 maze \(a-maze\), 7×7 maze \(b-maze\)\);"):
        find_shipped("maze", 8)  # the unreadable folder is listed by `hrm models`, never offered


def test_accuracies_come_from_the_card_else_meta_json(root):
    folder = root / "s6" / "step-2"
    helpers.save(helpers.tiny_model(8, 36), folder, "sudoku", meta={"eval": {"exact_accuracy": 0.25}})
    model = find_shipped("sudoku", 6)
    assert model.card is None and model.validation_exact is None and model.test_exact is None  # split unknown
    config = json.loads((folder / "config.json").read_text())
    config["train"] = {"data": {"eval_split": "val"}}
    (folder / "config.json").write_text(json.dumps(config))
    assert find_shipped("sudoku", 6).validation_exact == pytest.approx(0.25)
    (root / "s6" / MODEL_CARD).write_text(CARD)
    model = find_shipped("sudoku", 6)
    assert model.validation_exact == pytest.approx(0.5) and model.test_exact is None  # the card wins
    assert model.to_dict()["test_exact_by"] == {"givens": {6: None}} and model.to_dict()["recipe"] == "tiny"
    (root / "s6" / MODEL_CARD).write_text("# no front matter\n")
    model = find_shipped("sudoku", 6)
    assert "YAML front matter" in model.card_error and model.validation_exact == pytest.approx(0.25)


@pytest.mark.parametrize(
    "text, match",
    [
        ("no front matter", "must start with YAML front matter"),
        ("---\nfamily: [\n---\n", "malformed YAML"),
        ("---\n- a list\n---\n", "must be a YAML mapping"),
    ],
)
def test_bad_cards_are_one_line_errors(tmp_path, text, match):
    card = tmp_path / MODEL_CARD
    card.write_text(text)
    with pytest.raises(UserError, match=match) as info:
        read_card(card)
    assert "\n" not in str(info.value)
