"""PatchMatch inpainting: texture continues under a hole, known and outside pixels stay, nothing is
copied from outside the layer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from layerdiff.completion.patchmatch import patchmatch_inpaint
from layerdiff.regions.fill import push_pull_fill


def _stripes(n: int = 128, period: int = 12) -> np.ndarray:
    xs = np.arange(n)[None, :].repeat(n, 0)
    on = (xs % period) < period // 2  # (n, n)
    return np.where(on[..., None], np.float32([0.9, 0.2, 0.2]), np.float32([0.1, 0.6, 0.2])).astype(np.float32)


def _disc(n: int = 128, r: int = 22) -> np.ndarray:
    ys, xs = np.mgrid[0:n, 0:n]
    return (ys - n // 2) ** 2 + (xs - n // 2) ** 2 < r * r


def test_stripes_continue_under_the_hole() -> None:
    img = _stripes()
    hole = _disc()
    damaged = img.copy()
    damaged[hole] = 0.0
    out = patchmatch_inpaint(damaged, ~hole, hole, base_sigma=0.0)
    smooth = push_pull_fill(damaged, (~hole).astype(np.float32))
    err = np.abs(out[hole] - img[hole]).mean()
    assert err < 0.05
    assert err < 0.3 * np.abs(smooth[hole] - img[hole]).mean()
    np.testing.assert_array_equal(out[~hole], damaged[~hole])


def test_nothing_is_copied_from_outside_the_layer() -> None:
    img = _stripes()
    outside = np.zeros((128, 128), bool)
    outside[:, :40] = True  # another layer's pixels: magenta
    img[outside] = (1.0, 0.0, 1.0)
    hole = _disc() & ~outside
    known = ~outside & ~hole
    out = patchmatch_inpaint(img, known, hole)
    magenta = (out[..., 0] > 0.8) & (out[..., 2] > 0.8)
    assert not (magenta & hole).any()
    np.testing.assert_array_equal(out[outside], img[outside])


def test_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(1)
    img = rng.random((64, 64, 3)).astype(np.float32)
    hole = _disc(64, 10)
    a = patchmatch_inpaint(img, ~hole, hole, seed=3)
    b = patchmatch_inpaint(img, ~hole, hole, seed=3)
    np.testing.assert_array_equal(a, b)


def test_base_carries_a_gradient_under_texture() -> None:
    n = 128
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:n, 0:n] / n
    # every colour of the gradient occurs once: no patch elsewhere has the hole's levels
    img = np.stack([0.2 + 0.6 * xs, 0.2 + 0.6 * ys, 0.5 + 0.3 * xs * ys], -1)
    img = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1).astype(np.float32)  # fine texture
    hole = np.zeros((n, n), bool)
    hole[40:90, 40:90] = True
    plain = patchmatch_inpaint(img, ~hole, hole, base_sigma=0.0)
    based = patchmatch_inpaint(img, ~hole, hole)

    def err(x: np.ndarray) -> float:  # local means against the gradient's
        low = ndimage.uniform_filter(x, (9, 9, 1))[45:85, 45:85]
        return float(np.abs(low - ndimage.uniform_filter(img, (9, 9, 1))[45:85, 45:85]).mean())

    assert err(based) < 0.02
    assert err(based) < 0.5 * err(plain)


def test_empty_hole_and_no_known_pixels() -> None:
    img = np.full((16, 16, 3), 0.3, np.float32)
    none = np.zeros((16, 16), bool)
    np.testing.assert_array_equal(patchmatch_inpaint(img, ~none, none), img)
    out = patchmatch_inpaint(img, none, ~none)
    np.testing.assert_allclose(out, 0.5)


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="hole"):
        patchmatch_inpaint(np.zeros((8, 8, 3)), np.ones((8, 8), bool), np.ones((8, 7), bool))


def test_a_thin_layer_is_filled_from_its_own_pixels() -> None:
    n = 128
    known = np.zeros((n, n), bool)
    known[::4] = True  # one-pixel lines: no coarse pixel is wholly known
    hole = np.zeros((n, n), bool)
    hole[1::4, 20:100] = True
    img = np.zeros((n, n, 3), np.float32)
    img[known] = (0.3, 0.7, 0.2)
    img[~known] = (1.0, 0.0, 1.0)
    out = patchmatch_inpaint(img, known, hole)
    np.testing.assert_allclose(out[hole], np.broadcast_to((0.3, 0.7, 0.2), (hole.sum(), 3)), atol=1e-5)
