"""Translucent panels over a fitted pattern (issue #28 item 2f): found by the blend they show the
pattern through, a layer each with their opacity, the pattern going on under them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import layerdiff
from layerdiff.regions.background import fit_background
from layerdiff.regions.overlays import blend_consensus, find_panels, insert_panels

N = 256
PANEL = (0.1, 0.04, 0.04)  # near black, as a designer's dark overlay


def _stripes(n: int = N, period: float = 31.7, duty: float = 0.5, a=(0.49, 0.21, 0.7), b=(0.08, 0.05, 0.05)):
    """(n, n, 3) vertical stripes of colour ``a`` on ``b``, anti-aliased, with a non-integer period."""
    xs = np.arange(n) + 0.5
    d = (np.abs(np.mod(xs / period, 1.0) - 0.5) - duty / 2) * period  # px, < 0 inside a stripe
    t = np.clip(0.5 - d, 0.0, 1.0)[None, :, None]
    return np.broadcast_to(np.array(b) + t * (np.array(a) - np.array(b)), (n, n, 3)).astype(np.float32)


def _scene(n: int = N, opacity: float = 0.5):
    """Stripes, a dark translucent panel (its box: both sides over purple, where it shows) and an opaque
    orange disc near the panel's right edge."""
    clean = _stripes(n)
    box = np.zeros((n, n), bool)
    box[60:180, 45:210] = True
    ys, xs = np.mgrid[0:n, 0:n]
    disc = np.hypot(ys - 120, xs - 195) < 30
    rgb = clean.copy()
    rgb[box] = (1.0 - opacity) * rgb[box] + opacity * np.array(PANEL, np.float32)
    rgb[disc] = (0.95, 0.55, 0.1)
    return rgb, clean, box, disc


def test_a_dark_panel_over_stripes_is_found_with_its_opacity_colour_and_box():
    rgb, clean, box, disc = _scene()
    panels = find_panels(rgb, clean)
    assert len(panels) == 1
    panel = panels[0]
    assert abs(panel.alpha - 0.5) < 0.02
    assert np.abs(panel.colour - PANEL).max() < 4.0 / 255.0
    assert (panel.mask & box).sum() / (panel.mask | box).sum() > 0.97  # the box, under the disc too
    assert not panel.on[disc].any()  # the disc is off the blend line


def test_no_panel_where_nothing_is_translucent():
    clean = _stripes()
    rgb = clean.copy()
    rgb[60:180, 40:200] = (0.2, 0.6, 0.3)  # an opaque card: any flat colour is a line of slope 0
    assert find_panels(rgb, clean) == []
    flat = np.full((N, N, 3), 0.4, np.float32)
    tinted = flat.copy()
    tinted[60:180, 40:200] = 0.5 * flat[60:180, 40:200] + 0.5 * np.array(PANEL, np.float32)
    assert find_panels(tinted, flat) == []  # over a flat fill opacity cannot be told from colour


def test_blend_consensus_finds_the_line_most_pixels_follow():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.0, 1.0, (3000, 3))
    seen = 0.4 * base + 0.6 * np.array([0.2, 0.5, 0.9])
    seen[:1300] = rng.uniform(0.0, 1.0, (1300, 3))  # 43% of the pixels are something else
    slope, offset = blend_consensus(base, seen, 6.0 / 255.0)
    assert abs(slope - 0.4) < 0.01 and np.abs(offset - 0.6 * np.array([0.2, 0.5, 0.9])).max() < 0.01
    assert blend_consensus(np.full((50, 3), 0.3), np.full((50, 3), 0.6), 6.0 / 255.0) is None  # no contrast


def test_insert_panels_puts_the_panel_above_the_background_and_keeps_the_composite():
    rgb, clean, box, disc = _scene()
    panel = find_panels(rgb, clean)[0]
    stack = np.zeros((2, N, N, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = rgb, 1.0
    stack[1, disc, :3], stack[1, disc, 3] = rgb[disc], 1.0
    out = insert_panels(stack, rgb, clean, [panel])  # (3, N, N, 4)
    assert out.shape == (3, N, N, 4)
    inner = ndimage.binary_erosion(box & ~disc, iterations=2)
    assert np.abs(out[1, inner, 3] - 0.5).max() < 0.03
    assert np.abs(out[1, box & disc, 3] - 0.5).max() < 0.03  # the panel goes on under the disc
    assert np.abs(out[1, inner, :3] - PANEL).max() < 1.0 / 255.0  # uniform: the pattern stays below it
    assert np.abs(out[0, box, :3] - clean[box]).mean() < 2.0 / 255.0  # the stripes go on under the panel
    composite = out[0, ..., :3]
    for k in (1, 2):
        a = out[k, ..., 3:]
        composite = out[k, ..., :3] * a + composite * (1.0 - a)
    assert np.abs(composite - rgb).max() < 0.5 / 255.0


def _dots_over(n: int) -> np.ndarray:
    """(n, n, 3) dark dots on teal, anti-aliased, on a square grid of 37.3 px."""
    ys, xs = np.mgrid[0:n, 0:n] + 0.5
    d = np.hypot(np.mod(xs, 37.3) - 18.65, np.mod(ys, 37.3) - 18.65) - 7.0
    t = np.clip(0.5 - d, 0.0, 1.0)[..., None]
    fill, dot = np.array((0.1, 0.55, 0.6)), np.array((0.05, 0.05, 0.06))
    return (fill + t * (dot - fill)).astype(np.float32)


def test_a_pattern_half_hidden_by_banners_is_still_the_background():
    dots = _dots_over(N)
    rgb = dots.copy()
    for rows, colour in ((slice(30, 85), (0.05, 0.03, 0.02)), (slice(130, 180), (0.15, 0.37, 0.89))):
        rgb[rows] = 0.55 * rgb[rows] + 0.45 * np.array(colour, np.float32)  # 41% of the canvas under banners
    fit = fit_background(rgb, np.ones((N, N), bool))
    assert fit is not None and fit.accepted and fit.pattern is not None  # before: rejected (share 0.49)
    assert np.abs(fit.render()[100:125] - dots[100:125]).mean() < 2.0 / 255.0


def test_a_pattern_seen_on_too_little_of_the_canvas_is_not_refitted_into_one():
    dots = _dots_over(N)
    rgb = dots.copy()
    rows = np.zeros((N, N), bool)
    rows[50:168] = True  # 46% of the rows under a banner the repeat does not explain
    rgb[rows] = 0.55 * rgb[rows] + 0.45 * np.array((0.05, 0.03, 0.02), np.float32)
    known = np.zeros((N, N), bool)
    known[:, :150] = True  # the background regions: 59% of the canvas, 32% of it left once the banner is out
    fit = fit_background(rgb, known)
    assert fit is None or not fit.accepted or fit.pattern is None  # (gradient-styles.psd: a grid of tiles)
    assert fit_background(rgb, np.ones((N, N), bool)).pattern is not None  # seen on the whole canvas: refitted


def test_a_flat_canvas_around_a_textured_object_is_not_a_pattern():
    # an emoji on its canvas: the repeat found in the object, refitted away from the object, would
    # explain the flat canvas perfectly; a flat fill explains it as well, so it is not a pattern
    rgb = np.full((N, N, 3), 0.9, np.float32)
    ys, xs = np.mgrid[0:N, 0:N]
    key = (np.abs(ys - 128) < 85) & (np.abs(xs - 128) < 85)  # 44% of the canvas
    ripple = 0.5 + 0.2 * np.sin(2 * np.pi * xs / 17.0) * np.sin(2 * np.pi * ys / 17.0)
    rgb[key] = ripple[key, None] * np.array((0.4, 0.6, 0.9), np.float32)
    fit = fit_background(rgb, np.ones((N, N), bool))
    assert fit is None or not fit.accepted or fit.pattern is None  # (before: taken for a pattern)


@pytest.fixture(scope="module")
def decomposer():
    return layerdiff.load("layerdiff-tiny", "decompose")


def test_a_dark_panel_over_stripes_comes_back_whole_with_its_opacity(decomposer):
    n = 384
    rgb, clean, box, disc = _scene(n)
    image = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    stack = decomposer.decompose(image, num_layers=3).to_numpy()  # (3, n, n, 4)
    inner = ndimage.binary_erosion(box & ~disc, iterations=3)
    off = np.abs(stack[1, inner, 3] - 0.5)  # one layer with its opacity, not stripes in pieces
    assert off.mean() < 0.01 and (off < 0.03).mean() > 0.97  # (stripe edges the fit blurs may differ)
    assert np.abs(stack[1, inner, :3] - np.array(PANEL)).mean() < 4.0 / 255.0
    assert np.abs(stack[0, inner, :3] - clean[inner]).mean() < 4.0 / 255.0  # the stripes go on under it
    assert stack[2, ndimage.binary_erosion(disc, iterations=3), 3].min() == 1.0  # the disc on top
