"""Exact recomposition (project_residual) and the full-resolution lift (refine_alpha, upsample_layers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from layerdiff import recompose
from layerdiff.blend import visibility_weights
from layerdiff.layered import LayeredImage, from_float
from layerdiff.recompose import (
    _refine_into,
    _refine_regions,
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


# ------------------------------------------------------------- band-limited, tiled refinement and projection
def _random_soft_scene(seed: int, n: int = 3, low_size: int = 12, scale: int = 6):
    """Low-res alphas mixing exact 0/1, near-threshold and soft values, and a random full-res guide."""
    rng = np.random.default_rng(seed)
    levels = np.array([0.0, 0.0, 0.01, 0.019, 0.021, 0.3, 0.7, 0.979, 0.981, 0.99, 1.0, 1.0], np.float32)
    low = levels[rng.integers(0, levels.size, (n, low_size, low_size))]  # (L, h, w)
    size = low_size * scale
    guide = rng.random((size, size, 3)).astype(np.float32)
    guide[: size // 2] = np.where(low[0].repeat(scale, 0).repeat(scale, 1)[: size // 2, :, None] > 0.5, 0.9, 0.1)
    return low, guide


def _upsampled(low: np.ndarray, size: int) -> np.ndarray:
    return np.stack([np.clip(resize_plane(a, (size, size)), 0.0, 1.0) for a in low])  # (L, H, W)


@pytest.mark.parametrize("method", ["colour", "guided", "both"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_band_limited_refinement_equals_full_refinement(method, seed):
    low, guide = _random_soft_scene(seed)
    full_res = _upsampled(low, guide.shape[0])
    limited, everywhere = full_res.copy(), full_res.copy()
    _refine_into(limited, guide, 6, 1e-4, 0.02, method, alpha_low=low)  # rectangles from the low-res alphas
    _refine_into(everywhere, guide, 6, 1e-4, 0.02, method)  # whole image
    assert np.abs(everywhere - full_res).max() > 0.05  # the refinement does change this scene
    np.testing.assert_allclose(limited, everywhere, atol=1e-5)


def test_refinement_regions_cover_every_changed_pixel_and_skip_flat_layers():
    gt, image = _disc_scene(192)
    low = np.stack([resize_plane(gt[i, ..., 3], (24, 24)) for i in range(2)])  # (2, 24, 24)
    regions = _refine_regions(low, (192, 192), 8, 0.02, colour_only=True)
    assert regions[0] == []  # opaque background: nothing uncertain
    full_res = _upsampled(low, 192)
    refined = full_res.copy()
    _refine_into(refined, image, 8, 1e-4, 0.02, "colour")
    changed = np.abs(refined[1] - full_res[1]) > 0
    covered = np.zeros_like(changed)
    for y0, y1, x0, x1 in regions[1]:
        covered[y0:y1, x0:x1] = True
    assert changed.any() and not (changed & ~covered).any()
    assert covered.mean() < 0.8  # the rectangles leave out the flat parts


def test_refinement_in_small_crops_equals_one_crop(monkeypatch):
    low, guide = _random_soft_scene(5)
    full_res = _upsampled(low, guide.shape[0])
    one, many = full_res.copy(), full_res.copy()
    _refine_into(one, guide, 6, 1e-4, 0.02, "both")
    monkeypatch.setattr(recompose, "_REFINE_CROP_PX", 500)  # crops of a few rows
    _refine_into(many, guide, 6, 1e-4, 0.02, "both")
    np.testing.assert_allclose(many, one, atol=1e-5)


def test_refine_alpha_reads_uint8_and_float_guides_alike():
    gt, image = _disc_scene(96)
    low = np.stack([resize_plane(gt[i, ..., 3], (12, 12)) for i in range(2)])
    from_u8 = refine_alpha(low, from_float(image, 8))
    from_f = refine_alpha(low, from_float(image, 8).astype(np.float32) / 255.0)
    np.testing.assert_allclose(from_u8, from_f, atol=1e-6)


def _clipping_stack(seed: int, size: int = 40):
    """Random stacks whose colours are far from a random target: many clipped projection steps."""
    rng = np.random.default_rng(seed)
    layers = rng.random((4, size, size, 4)).astype(np.float32)
    layers[..., :3] = np.round(layers[..., :3])  # colours at the bounds
    layers[0, ..., 3] = 1.0
    target = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
    return layers, target


def test_projection_in_bands_equals_one_band(monkeypatch):
    layers, target = _clipping_stack(0)
    whole = project_residual(layers, target, bit_depth=None)
    monkeypatch.setattr(recompose, "_PROJECT_BAND_PX", 4 * 40 * 3)  # three rows per band
    banded = project_residual(layers, target, bit_depth=None)
    np.testing.assert_allclose(banded, whole, atol=1e-5)


def test_dense_and_element_wise_projection_steps_agree(monkeypatch):
    layers, target = _clipping_stack(1)
    monkeypatch.setattr(recompose, "_DENSE_FRACTION", 0.0)  # every step on whole bands
    dense = project_residual(layers, target, bit_depth=None)
    monkeypatch.setattr(recompose, "_DENSE_FRACTION", 2.0)  # every step after the first on elements only
    sparse = project_residual(layers, target, bit_depth=None)
    np.testing.assert_allclose(sparse, dense, atol=1e-4)
    w = visibility_weights(sparse[..., 3])
    comp = (w[..., None] * sparse[..., :3]).sum(0)  # (H, W, 3) exact in float
    np.testing.assert_allclose(comp, target / 255.0, atol=1e-5)


@pytest.mark.parametrize("top_alpha", [1.0, 0.7])
def test_layers_under_an_opaque_layer_are_skipped_and_only_there(top_alpha):
    gt, image = _disc_scene(192)
    low = np.stack([resize_plane(gt[i, ..., 3], (24, 24)) for i in range(2)] + [np.full((24, 24), top_alpha)])
    regions = _refine_regions(low.astype(np.float32), (192, 192), 8, 0.02, colour_only=True)
    assert (regions[1] == []) == (top_alpha == 1.0)  # the disc is hidden only under an opaque layer
    full_res = _upsampled(low, 192)
    limited, everywhere = full_res.copy(), full_res.copy()
    _refine_into(limited, image, 8, 1e-4, 0.02, "colour", alpha_low=low)
    _refine_into(everywhere, image, 8, 1e-4, 0.02, "colour")
    np.testing.assert_allclose(limited, everywhere, atol=1e-5)
    assert (np.abs(everywhere[1] - full_res[1]).max() > 0.05) == (top_alpha < 1.0)


def test_paint_full_resolution_refines_or_resizes_and_recomposes_exactly():
    import torch

    from layerdiff.frames import resize_rgba
    from layerdiff.recompose import paint_full_resolution

    rng = np.random.default_rng(3)
    low = rng.random((3, 8, 10, 4)).astype(np.float32)  # (L, h, w, 4) a model's layers on its grid
    low[0, ..., 3] = 1.0
    full = rng.random((32, 40, 3)).astype(np.float32)  # (H, W, 3) the input
    np.testing.assert_array_equal(paint_full_resolution(low, full, exact=True, refine=True),
                                  upsample_layers(low, full, project=True))
    plain = paint_full_resolution(low, full, exact=False, refine=False)  # (L, H, W, 4)
    expected = resize_rgba(torch.from_numpy(low).permute(0, 3, 1, 2), (32, 40)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(plain, expected)
    exact = paint_full_resolution(low, full, exact=True, refine=False)
    comp = LayeredImage.from_numpy(exact).composite()
    assert np.abs(comp[..., :3] - full).max() <= 1.5 / 255  # within 8-bit snapping
