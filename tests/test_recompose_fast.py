"""The projection's shortcut for pixels with one opaque visible layer gives the same layers bit for bit."""

import numpy as np
import pytest

from layerdiff import recompose
from layerdiff.blend import visibility_weights


def _case(rng, layers, h, w, opaque):
    stack = rng.random((layers, h, w, 4)).astype(np.float32)
    alpha = stack[..., 3]
    alpha[rng.random(alpha.shape) < opaque] = 1.0
    alpha[rng.random(alpha.shape) < 0.3] = 0.0
    alpha[0][rng.random((h, w)) < 0.5] = 1.0
    target = rng.random((h, w, 3)).astype(np.float32)
    return stack, target


@pytest.mark.parametrize("levels", [255.0, 65535.0])
@pytest.mark.parametrize("opaque", [0.0, 0.5, 0.95, 1.0])
def test_snapped_shortcut_equals_the_full_projection(levels, opaque):
    rng = np.random.default_rng(int(opaque * 100) + int(levels))
    for layers in (1, 2, 4):
        stack, target = _case(rng, layers, 23, 31, opaque)
        target = recompose._snap(target, levels)
        weights = visibility_weights(np.clip(stack[..., 3], 0, 1))  # (L, h, w)
        results = []
        for snapped in (False, True):
            rgb = np.ascontiguousarray(stack[..., :3])  # (L, h, w, 3)
            recompose._project_colours(rgb, weights, target, 8, snapped=snapped)
            results.append(recompose._snap(rgb, levels))
        assert np.array_equal(results[0], results[1])


def test_shortcut_takes_the_target_in_opaque_pixels():
    rng = np.random.default_rng(0)
    stack, target = _case(rng, 3, 16, 16, 1.0)
    stack[..., 3] = 1.0  # the top layer hides everything
    target = recompose._snap(target, 255.0)
    weights = visibility_weights(stack[..., 3])
    rgb = np.ascontiguousarray(stack[..., :3])
    below = rgb[:2].copy()
    recompose._project_colours(rgb, weights, target, 8, snapped=True)
    assert np.array_equal(rgb[2], target) and np.array_equal(rgb[:2], below)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_project_residual_unchanged_by_the_shortcut(bit_depth, monkeypatch):
    rng = np.random.default_rng(bit_depth)
    stack, _ = _case(rng, 4, 40, 37, 0.6)
    target = (rng.random((40, 37, 4)) * 255).astype(np.uint8)
    fast = recompose.project_residual(stack, target, bit_depth=bit_depth)
    full = recompose._project_colours
    monkeypatch.setattr(recompose, "_project_colours",
                        lambda rgb, w, t, it, tol=1e-6, snapped=False: full(rgb, w, t, it, tol, False))
    assert np.array_equal(fast, recompose.project_residual(stack, target, bit_depth=bit_depth))


@pytest.mark.parametrize("reach", [(0, 0), (2, 3), (8, 1), (9, 12)])
def test_refine_dilation_equals_the_running_maximum(reach):
    from scipy import ndimage

    mask = np.random.default_rng(sum(reach)).random((37, 29)) < 0.05
    size = (2 * reach[0] + 1, 2 * reach[1] + 1)
    want = ndimage.maximum_filter(mask.view(np.uint8), size=size, mode="constant", cval=0) > 0
    assert np.array_equal(recompose._dilate(mask, reach), want)
