"""Every augmentation composed with its inverse is the identity; transforms match the reference's definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hrm.data import sudoku
from hrm.data.arc import decode_grid, encode_grid, shift_canvas
from hrm.data.augment import (
    DIHEDRAL_INVERSE,
    arc_augment,
    arc_invert,
    colour_map_name,
    dihedral_shape,
    dihedral_transform,
    invert_colour_map,
    parse_colour_map,
    random_colour_maps,
    sample_sudoku_transforms,
)

grids = hnp.arrays(
    np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=7), elements=st.integers(0, 9)
)


def test_dihedral_ids_match_reference_definitions():
    a = np.arange(12).reshape(3, 4)
    expected = [
        a,
        np.rot90(a, 1),
        np.rot90(a, 2),
        np.rot90(a, 3),
        np.fliplr(a),
        np.flipud(a),
        a.T,
        np.fliplr(np.rot90(a, 1)),
    ]
    for tid, e in enumerate(expected):
        np.testing.assert_array_equal(dihedral_transform(a, tid), e)
        assert dihedral_shape(a.shape, tid) == e.shape
    assert DIHEDRAL_INVERSE == (0, 3, 2, 1, 4, 5, 6, 7)
    with pytest.raises(ValueError):
        dihedral_transform(a, 8)


@given(grid=grids)
def test_dihedral_then_inverse_is_identity(grid):
    for tid in range(8):
        out = dihedral_transform(dihedral_transform(grid, tid), DIHEDRAL_INVERSE[tid])
        np.testing.assert_array_equal(out, grid)


def test_dihedral_on_batches_equals_per_item():
    batch = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    for tid in range(8):
        np.testing.assert_array_equal(dihedral_transform(batch, tid)[1], dihedral_transform(batch[1], tid))


def test_colour_maps_fix_black_and_invert():
    maps = random_colour_maps(np.random.default_rng(0), 200)
    assert maps.shape == (200, 10) and np.all(maps[:, 0] == 0)
    assert all(sorted(m.tolist()) == list(range(10)) for m in maps)
    assert len({m.tobytes() for m in maps}) > 190
    for m in maps[:20]:
        inv = invert_colour_map(m)
        np.testing.assert_array_equal(inv[m], np.arange(10))
        np.testing.assert_array_equal(parse_colour_map(colour_map_name(m)), m)


@settings(max_examples=50)
@given(grid=grids, seed=st.integers(0, 2**32 - 1))
def test_arc_augment_then_invert_is_identity(grid, seed):
    rng = np.random.default_rng(seed)
    cmap = random_colour_maps(rng, 1)[0]
    for tid in range(8):
        aug = arc_augment(grid, tid, cmap)
        assert np.count_nonzero(aug == 0) == np.count_nonzero(grid == 0)  # black stays black
        np.testing.assert_array_equal(arc_invert(aug, tid, cmap), grid)


@settings(max_examples=40)
@given(grid=grids, dr=st.integers(0, 23), dc=st.integers(0, 23))
def test_arc_canvas_translation_is_undone_by_shift_and_crop(grid, dr, dc):
    np.testing.assert_array_equal(decode_grid(encode_grid(grid)), grid)
    h, w = grid.shape
    dr, dc = min(dr, 30 - h), min(dc, 30 - w)
    moved = encode_grid(grid, (dr, dc))
    np.testing.assert_array_equal(decode_grid(shift_canvas(moved, -dr, -dc)), grid)


@pytest.mark.parametrize("n", [4, 6, 8, 9])
def test_sudoku_shuffles_preserve_validity_and_invert(n):
    rng = np.random.default_rng(n)
    box = sudoku.box_shape(n)
    solution = sudoku.random_solution(n, rng).reshape(-1)
    tf = sample_sudoku_transforms(rng, 64, box)
    if box[0] != box[1]:
        assert not tf.transpose.any()  # a transpose would turn 2×3 boxes into 3×2
    else:
        assert 0 < tf.transpose.sum() < 64
    out = tf.apply(np.repeat(solution[None], 64, axis=0))
    assert sudoku.solutions_valid(out, n).all()
    for k in range(64):
        single = tf[k]
        np.testing.assert_array_equal(single.apply(solution).reshape(-1), out[k])
        np.testing.assert_array_equal(single.inverse().apply(out[k]).reshape(-1), solution)
        np.testing.assert_array_equal(single.apply(single.inverse().apply(solution)).reshape(-1), solution)


def test_sudoku_shuffle_matches_reference_order():
    """transpose, then new[r, c] = old[row_perm[r], col_perm[c]], then digit map (blank fixed)."""
    rng = np.random.default_rng(5)
    tf = sample_sudoku_transforms(rng, 16, (3, 3))
    board = rng.integers(0, 10, size=81).astype(np.uint8)
    applied = tf.apply(np.repeat(board[None], 16, axis=0))
    for k in range(16):
        x = board.reshape(9, 9)
        if tf.transpose[k]:
            x = x.T
        mapping = np.array([tf.row_perm[k][i // 9] * 9 + tf.col_perm[k][i % 9] for i in range(81)])
        expected = tf.digit_maps[k][x.reshape(-1)[mapping]]
        np.testing.assert_array_equal(applied[k], expected)
        assert tf.digit_maps[k][0] == 0
        # band/stack structure: rows of one band stay together
        bands = tf.row_perm[k].reshape(3, 3) // 3
        assert np.all(bands == bands[:, :1])
