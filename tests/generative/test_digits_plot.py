"""Tests of book/generative/digits_plot.py against an independent construction with np.block."""

import numpy as np
import pytest

from book.generative import digits_plot


def test_mosaic_is_the_block_matrix_with_nan_gaps():
    rows = np.random.default_rng(0).random((2, 3, 64))
    img = digits_plot.mosaic(rows)
    gap_col = np.full((8, 1), np.nan)
    strips = []
    for i in range(2):
        parts = []
        for j in range(3):
            parts += [rows[i, j].reshape(8, 8), gap_col]
        strips += [np.hstack(parts[:-1]), np.full((1, 26), np.nan)]
    reference = np.vstack(strips[:-1])
    assert img.shape == (17, 26)
    np.testing.assert_array_equal(np.isnan(img), np.isnan(reference))
    np.testing.assert_array_equal(img[~np.isnan(img)], reference[~np.isnan(reference)])


def test_mosaic_without_gap_and_other_sizes():
    rows = np.arange(2 * 2 * 4, dtype=float).reshape(2, 2, 4)
    img = digits_plot.mosaic(rows, side=2, gap=0)
    expected = np.block([[rows[0, 0].reshape(2, 2), rows[0, 1].reshape(2, 2)],
                         [rows[1, 0].reshape(2, 2), rows[1, 1].reshape(2, 2)]])
    np.testing.assert_array_equal(img, expected)


def test_mosaic_rejects_bad_shapes():
    with pytest.raises(ValueError, match="rows must be"):
        digits_plot.mosaic(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="rows must be"):
        digits_plot.mosaic(np.zeros((1, 2, 63)))
    with pytest.raises(ValueError, match="gap"):
        digits_plot.mosaic(np.zeros((1, 1, 64)), gap=-1)


def test_cmap_draws_nan_light_blue():
    assert digits_plot.DIGIT_CMAP(np.nan)[:3] == pytest.approx((0xc8 / 255, 0xd4 / 255,
                                                                 0xe3 / 255))
    assert digits_plot.DIGIT_CMAP(0.0)[:3] == pytest.approx((1, 1, 1))
    assert digits_plot.DIGIT_CMAP(1.0)[:3] == pytest.approx((0, 0, 0))
