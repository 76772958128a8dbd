"""layerdiff.morphology: square dilation / erosion / edge band equal SciPy's binary morphology."""

import numpy as np
import pytest
from scipy import ndimage

from layerdiff.morphology import dilate_square, edge_band, erode_square


def _masks():
    rng = np.random.default_rng(3)
    for _ in range(60):
        shape = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        yield rng.random(shape) < rng.random()
    yield np.zeros((7, 5), bool)
    yield np.ones((7, 5), bool)


@pytest.mark.parametrize("radius", [0, 1, 2, 3, (1, 2), (3, 0)])
def test_dilate_and_erode_equal_scipy(radius):
    ry, rx = (radius, radius) if isinstance(radius, int) else radius
    square = np.ones((2 * ry + 1, 2 * rx + 1), bool)
    for mask in _masks():
        assert np.array_equal(dilate_square(mask, radius), ndimage.binary_dilation(mask, square))
        for border in (False, True):
            want = ndimage.binary_erosion(mask, square, border_value=int(border))
            assert np.array_equal(erode_square(mask, radius, outside=border), want)


def test_dilate_outside_sets_pixels_near_the_edge():
    out = dilate_square(np.zeros((6, 6), bool), 1, outside=True)
    assert out[0].all() and out[:, -1].all() and not out[1:5, 1:5].any()


def test_edge_band_equals_dilation_minus_erosion():
    square = np.ones((3, 3), bool)
    for mask in _masks():
        want = ndimage.binary_dilation(mask, square) & ~ndimage.binary_erosion(mask, square, border_value=1)
        assert np.array_equal(edge_band(mask), want)


def test_dilate_keeps_the_input_and_checks_arguments():
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    dilate_square(mask, 2)
    assert mask.sum() == 1
    with pytest.raises(ValueError):
        dilate_square(mask, -1)
    with pytest.raises(ValueError):
        dilate_square(np.zeros((2, 2, 2), bool), 1)
