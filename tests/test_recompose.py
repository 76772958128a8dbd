"""Exact recomposition (project_residual) and the full-resolution lift (refine_alpha, upsample_layers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from layerdiff.blend import visibility_weights
from layerdiff.layered import LayeredImage, from_float
from layerdiff.recompose import (
    colour_line_matte,
    guided_filter,
    match_alpha,
    project_residual,
    refine_alpha,
    resize_plane,
    upsample_layers,
)


def _max_error_255(layers: np.ndarray, target_u8: np.ndarray) -> float:
    """Largest |composite of the 8-bit-quantised layers - 8-bit target| in 1/255 units (colour where
    the target is not fully transparent)."""
    comp = LayeredImage.from_numpy(from_float(layers, 8)).composite()
    tgt = target_u8.astype(np.float32) / 255.0
    if tgt.shape[-1] == 3:
        tgt = np.concatenate([tgt, np.ones_like(tgt[..., :1])], -1)
    err_a = np.abs(comp[..., 3] - tgt[..., 3]).max()
    err_c = (np.abs(comp[..., :3] - tgt[..., :3]) * (tgt[..., 3:] > 0)).max()
    return float(max(err_a, err_c) * 255.0)


@pytest.mark.parametrize("channels", [3, 4])
def test_random_stacks_recompose_within_one_step_after_8bit_rounding(channels):
    rng = np.random.default_rng(channels)
    for _ in range(12):
        n, h, w = int(rng.integers(1, 6)), int(rng.integers(1, 23)), int(rng.integers(1, 23))
        layers = rng.random((n, h, w, 4)).astype(np.float32)
        a = layers[..., 3]
        a[a < 0.25] = 0.0
        a[a > 0.75] = 1.0
        target = rng.integers(0, 256, (h, w, channels)).astype(np.uint8)
        out = project_residual(layers, target)
        assert out.shape == layers.shape and out.dtype == np.float32
        assert _max_error_255(out, target) <= 1.0
        # the returned values already sit on the 8-bit grid: writing them changes nothing
        np.testing.assert_array_equal(from_float(out, 8).astype(np.float32) / 255.0, out)


def test_hidden_colours_are_left_alone():
    rng = np.random.default_rng(0)
    layers = rng.random((3, 9, 7, 4)).astype(np.float32)
    layers[2, ..., 3] = 1.0  # opaque top layer hides everything below
    layers[0, ..., 3] = 1.0
    target = rng.integers(0, 256, (9, 7, 3)).astype(np.uint8)
    out = project_residual(layers, target)
    for i in (0, 1):
        np.testing.assert_allclose(out[i, ..., :3], np.round(layers[i, ..., :3] * 255) / 255, atol=1e-6)
    np.testing.assert_allclose(out[2, ..., :3], target / 255.0, atol=1e-6)


def test_minimum_norm_update_splits_the_residual_by_visibility():
    # Two layers, top alpha 0.5 -> w = (0.5, 0.5); composite 0.5 * 0.2 + 0.5 * 0.6 = 0.4; target 0.5.
    # Update c_i += w_i r / sum w^2 = 0.5 * 0.1 / 0.5 = 0.1 -> colours 0.3 and 0.7; composite 0.5.
    layers = np.zeros((2, 1, 1, 4), np.float32)
    layers[0, 0, 0] = (0.2, 0.2, 0.2, 1.0)
    layers[1, 0, 0] = (0.6, 0.6, 0.6, 0.5)
    out = project_residual(layers, np.full((1, 1, 3), 0.5, np.float32), bit_depth=None)
    np.testing.assert_allclose(out[0, 0, 0, :3], 0.3, atol=1e-6)
    np.testing.assert_allclose(out[1, 0, 0, :3], 0.7, atol=1e-6)


def test_clipping_leftover_is_still_solved_exactly_in_float():
    # Target white over a stack whose top layer is already white: only the bottom can move; the
    # projection would push it above 1 and clip; the exact final step must still reach the target.
    layers = np.zeros((2, 1, 1, 4), np.float32)
    layers[0, 0, 0] = (0.0, 0.0, 0.0, 1.0)
    layers[1, 0, 0] = (1.0, 1.0, 1.0, 0.9)
    out = project_residual(layers, np.ones((1, 1, 3), np.float32), bit_depth=None)
    w = visibility_weights(out[..., 3])
    comp = (w[..., None] * out[..., :3]).sum(0)
    np.testing.assert_allclose(comp, 1.0, atol=1e-6)


def test_transparent_bottom_becomes_opaque_for_an_opaque_target():
    layers = np.zeros((2, 4, 4, 4), np.float32)
    layers[1, 1:3, 1:3] = (1.0, 0.0, 0.0, 1.0)
    out = project_residual(layers, np.full((4, 4, 3), 0.5, np.float32))
    np.testing.assert_allclose(1 - np.prod(1 - out[..., 3], axis=0), 1.0)


def test_match_alpha_thins_upper_layers_when_they_cover_too_much():
    alphas = np.array([[[0.0]], [[0.8]], [[0.8]]], np.float32)  # composite 0.96
    out = match_alpha(alphas.copy(), np.array([[0.5]], np.float32))
    assert 1 - np.prod(1 - out[:, 0, 0]) == pytest.approx(0.5, abs=1e-5)


def test_already_exact_stack_is_unchanged():
    rng = np.random.default_rng(3)
    layers = (np.round(rng.random((3, 5, 6, 4)) * 255) / 255).astype(np.float32)
    layers[0, ..., 3] = 1.0
    target = LayeredImage.from_numpy(layers).composite()
    out = project_residual(layers, target, bit_depth=None)
    np.testing.assert_allclose(out, layers, atol=1e-5)


def test_input_validation():
    with pytest.raises(ValueError, match="differs"):
        project_residual(np.zeros((1, 4, 4, 4), np.float32), np.zeros((5, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="RGBA stack"):
        project_residual(np.zeros((4, 4, 4), np.float32), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="bit_depth"):
        project_residual(np.zeros((1, 4, 4, 4), np.float32), np.zeros((4, 4, 3), np.uint8), bit_depth=12)


def _disc_scene(size: int = 192):
    """Background gradient + an anti-aliased disc; returns the (2, H, W, 4) gt stack and its composite."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    bg = np.ones((size, size, 4), np.float32)
    bg[..., 0], bg[..., 1], bg[..., 2] = 0.9, 0.3 + 0.4 * xx / size, 0.2
    disc = np.zeros((size, size, 4), np.float32)
    disc[..., :3] = (0.1, 0.2, 0.8)
    disc[..., 3] = np.clip(size * 0.3 - np.hypot(xx - size * 0.47, yy - size * 0.53) + 0.5, 0, 1)
    gt = np.stack([bg, disc])
    return gt, LayeredImage.from_numpy(gt).composite()


def test_refine_alpha_beats_bilinear_upsampling():
    gt, image = _disc_scene()
    low = np.stack([resize_plane(gt[i, ..., 3], (24, 24)) for i in range(2)])  # 8x smaller
    bilinear = resize_plane(low[1], (192, 192))
    refined = refine_alpha(low, image)
    assert refined.shape == (2, 192, 192)
    err_bilinear = np.abs(bilinear - gt[1, ..., 3]).mean()
    err_refined = np.abs(refined[1] - gt[1, ..., 3]).mean()
    assert err_refined < err_bilinear / 4
    np.testing.assert_allclose(refined[0], 1.0)  # opaque guide -> opaque bottom


def test_upsample_layers_recomposes_exactly_at_full_resolution():
    gt, image = _disc_scene(160)
    low = np.stack([np.stack([resize_plane(gt[i, ..., c], (40, 40)) for c in range(4)], -1)
                    for i in range(2)])
    target = from_float(image, 8)
    out = upsample_layers(low, target)
    assert out.shape == (2, 160, 160, 4)
    assert _max_error_255(out, target) <= 1.0
    inner = ndimage.binary_erosion(gt[1, ..., 3] > 0.99, iterations=3)  # inside the disc: input colour
    np.testing.assert_allclose(out[1][inner][:, :3], gt[1][inner][:, :3], atol=1 / 255)


def test_guided_filter_keeps_constants_and_follows_the_guide():
    rng = np.random.default_rng(0)
    guide = rng.random((20, 20, 3)).astype(np.float32)
    np.testing.assert_allclose(guided_filter(guide, np.full((20, 20), 0.3, np.float32), 2), 0.3, atol=1e-5)
    # with a tiny eps, filtering a channel of the guide reproduces it (it is locally linear in the guide)
    np.testing.assert_allclose(guided_filter(guide, guide[..., 1], 2, eps=1e-8), guide[..., 1], atol=1e-3)
    with pytest.raises(ValueError, match="radius"):
        guided_filter(guide, guide[..., 0], 0)


def test_colour_line_matte_recovers_a_mixed_pixel():
    # F red, B blue; the middle pixel is 0.25 F + 0.75 B -> alpha 0.25 with high confidence.
    img = np.zeros((1, 5, 3), np.float32)
    img[0, :2] = (1, 0, 0)
    img[0, 3:] = (0, 0, 1)
    img[0, 2] = 0.25 * np.array([1, 0, 0]) + 0.75 * np.array([0, 0, 1])
    fg = np.array([[1, 1, 0, 0, 0]], bool)
    bg = np.array([[0, 0, 0, 1, 1]], bool)
    alpha, conf = colour_line_matte(img, fg, bg, radius=2)
    assert alpha[0, 2] == pytest.approx(0.25, abs=1e-5) and conf[0, 2] > 0.9
