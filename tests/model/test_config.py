import pytest

from hrm.model import HRM, HRMConfig


@pytest.mark.parametrize(
    "vocab, expected",
    [(11, 27_275_266), (6, 27_270_146), (12, 27_276_290)],  # Sudoku, Maze, ARC (reference §1.8)
)
def test_default_parameter_count_matches_reference(vocab, expected):
    model = HRM(HRMConfig(vocab_size=vocab, seq_len=81, num_puzzle_identifiers=1))
    counts = model.num_parameters()
    assert counts["trunk"] == expected
    assert counts["puzzle_embedding"] == 512  # one ID × 512, a buffer outside parameters()
    assert all(p is not model.core.embed.puzzle_emb.weight for p in model.parameters())


def test_learned_positions_add_table():
    rope = HRM(HRMConfig(vocab_size=11, seq_len=81)).num_parameters()["trunk"]
    learned = HRM(HRMConfig(vocab_size=11, seq_len=81, pos_encodings="learned")).num_parameters()["trunk"]
    assert learned - rope == 82 * 512


def test_puzzle_emb_ndim_defaults_to_hidden_and_sets_prefix_length():
    assert HRMConfig(vocab_size=5, seq_len=4, hidden_size=64, num_heads=2).puzzle_emb_ndim == 64
    cfg = HRMConfig(vocab_size=5, seq_len=4, hidden_size=64, num_heads=2, puzzle_emb_ndim=65)
    assert cfg.puzzle_emb_len == 2 and cfg.total_len == 6
    assert HRMConfig(vocab_size=5, seq_len=4, puzzle_emb_ndim=0).puzzle_emb_len == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(hidden_size=100, num_heads=8), "divisible by num_heads"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(high_cycles=0), "high_cycles"),
        (dict(halt_exploration_prob=1.5), "halt_exploration_prob"),
        (dict(pos_encodings="alibi"), "pos_encodings"),
        (dict(loss_type="mse"), "loss_type"),
        (dict(puzzle_emb_ndim=-1), "puzzle_emb_ndim"),
        (dict(expansion=0), "expansion"),
        (dict(seq_len=2.5), "seq_len"),
    ],
)
def test_bad_configs_raise_clear_errors(overrides, message):
    base = dict(vocab_size=11, seq_len=81)
    base.update(overrides)
    with pytest.raises(ValueError, match=message):
        HRMConfig(**base)


def test_config_dict_round_trip_and_unknown_keys():
    cfg = HRMConfig(vocab_size=11, seq_len=81, hidden_size=64, num_heads=4, pos_encodings="learned")
    assert HRMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown HRMConfig keys"):
        HRMConfig.from_dict({**cfg.to_dict(), "H_cycles": 2})
