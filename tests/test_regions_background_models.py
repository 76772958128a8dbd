"""The background models of the region decomposer beyond the quadratic (issue #28 item 1): a radial
gradient as design tools draw it and a repeating pattern (stripes, dots), each finding the objects on
it; and a translucent banner across a radial gradient coming back as its own layer with its opacity."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

import layerdiff
from layerdiff.regions.background import (
    _radial_cover,
    fit_background,
    missed_pixels,
    pattern_lattice,
    pattern_model,
    translucent_layers,
)
from layerdiff.regions.halos import attach_halos
from layerdiff.text.ocr import ocr_available

N = 192


def _radial(centre=(0.7, 0.25), radius=0.6, inner=(0.93, 0.49, 0.69), outer=(0.42, 0.26, 0.17)) -> np.ndarray:
    """(N, N, 3) radial gradient: ``inner`` at ``centre`` (fractions of the side) to ``outer`` at
    ``radius`` and beyond, in proportion to the distance."""
    ys, xs = np.mgrid[0:N, 0:N]
    t = np.clip(np.hypot((xs + 0.5) / N - centre[0], (ys + 0.5) / N - centre[1]) / radius, 0.0, 1.0)
    return (np.array(inner) + t[..., None] * (np.array(outer) - np.array(inner))).astype(np.float32)


def _banner(rgb: np.ndarray, colour=(0.08, 0.1, 0.32), opacity=0.55) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` with a translucent banner across the canvas (rows 90-115), and its mask (N, N)."""
    mask = np.zeros((N, N), bool)
    mask[90:115] = True
    out = rgb.copy()
    out[mask] = (1.0 - opacity) * out[mask] + opacity * np.array(colour, np.float32)
    return out, mask


def _stripes(period=23.4, duty=0.45, a=(0.5, 0.2, 0.6), b=(0.1, 0.05, 0.1)) -> np.ndarray:
    """(N, N, 3) vertical stripes of colour ``a`` on ``b``, anti-aliased, with a non-integer period."""
    xs = np.arange(N) + 0.5
    phase = np.mod(xs / period, 1.0)
    d = (np.abs(phase - 0.5) - duty / 2) * period  # pixels, < 0 inside a stripe
    t = np.clip(0.5 - d, 0.0, 1.0)[None, :, None]
    return np.broadcast_to(np.array(b) + t * (np.array(a) - np.array(b)), (N, N, 3)).astype(np.float32)


def test_a_radial_gradient_is_fitted_as_one_and_the_banner_on_it_is_missed():
    rgb, banner = _banner(_radial())
    fit = fit_background(rgb, np.ones((N, N), bool))  # the banner's pixels are in the sample too
    assert fit is not None and fit.accepted and fit.radial is not None
    cu, cv, radius = fit.radial
    assert abs(cu - 0.2) < 0.03 and abs(cv + 0.25) < 0.03 and abs(radius - 0.6) < 0.05
    model = fit.render()
    assert np.abs(model[~banner] - rgb[~banner]).mean() < 1.5 / 255.0
    assert missed_pixels(rgb, model)[banner].mean() > 0.9
    quadratic = fit_background(rgb, np.ones((N, N), bool), radial=False)
    assert quadratic.radial is None and quadratic.inlier_share < fit.inlier_share - 0.2


def test_a_radial_gradient_must_span_half_the_canvas():
    # a glow or a shadow round a disc is radial too, but small: it belongs to the disc (attach_halos)
    assert _radial_cover((0.22, -0.14, 0.23), (512, 512)) < 0.5
    assert _radial_cover((0.14, -0.28, 0.63), (512, 512)) >= 0.5  # validation design 1's background


def test_a_linear_gradient_keeps_the_quadratic():
    ys = np.mgrid[0:N, 0:N][0]
    rgb = np.stack([0.2 + 0.5 * ys / N, 0.6 - 0.3 * ys / N, 0.4 + 0.0 * ys], -1).astype(np.float32)
    fit = fit_background(rgb, np.ones((N, N), bool))
    assert fit.accepted and fit.radial is None and fit.pattern is None
    assert np.abs(fit.render() - rgb).max() < 1.0 / 255.0


def test_stripes_are_a_pattern_with_their_period_and_the_object_on_them_is_missed():
    rgb = _stripes().copy()
    disc = np.hypot(*(np.mgrid[0:N, 0:N] - 96.0)) < 30
    rgb[disc] = (0.5, 0.2, 0.6)  # the colour of one stripe: only where it covers the other one it shows
    known = np.ones((N, N), bool)
    lattice = pattern_lattice(rgb, known)
    assert lattice is not None
    across = lattice[:, np.argmax(np.abs(lattice[0]))]  # the vector across the (vertical) stripes
    assert abs(abs(across[0]) - 23.4) < 0.2 and abs(across[1]) < 0.2
    model = pattern_model(rgb, known, lattice)
    clean = _stripes()
    assert np.abs(model - clean).mean() < 2.0 / 255.0  # the stripes continue under the disc
    fit = fit_background(rgb, known)
    assert fit.accepted and fit.pattern is not None and fit.radial is None
    missed = missed_pixels(rgb, fit.render())
    assert missed[disc & (np.abs(clean - rgb).mean(-1) > 0.1)].mean() > 0.9
    step = np.abs(np.diff(clean.mean(-1), axis=1)) > 0.02  # (N, N - 1)
    edge = np.zeros((N, N), bool)
    edge[:, 1:] |= step
    edge[:, :-1] |= step  # anti-aliased stripe edges (a bin of the repeat spans half a pixel)
    assert missed[~disc & ~edge].mean() < 0.002
    assert fit_background(rgb, known, smooth=False).pattern is not None  # textured regions: pattern only


def _dots(period=24.6, radius=5.5, dot=(0.55, 0.32, 0.12), fill=(0.05, 0.05, 0.06), n=N) -> np.ndarray:
    """(n, n, 3) polka dots of colour ``dot`` on ``fill``, anti-aliased, on a square grid of ``period`` px
    (about 16% of the canvas in dots: a smooth fill explains most of it)."""
    ys, xs = np.mgrid[0:n, 0:n] + 0.5
    d = np.hypot(np.mod(xs, period) - period / 2, np.mod(ys, period) - period / 2) - radius
    t = np.clip(0.5 - d, 0.0, 1.0)[..., None]
    return (np.array(fill) + t * (np.array(dot) - np.array(fill))).astype(np.float32)


def test_polka_dots_are_a_pattern_although_a_smooth_fill_explains_most_of_them():
    rgb = _dots()
    known = np.ones((N, N), bool)
    fit = fit_background(rgb, known)
    assert fit.accepted and fit.pattern is not None  # not the flat fill with the dots as misses
    assert np.abs(fit.render() - rgb).mean() < 2.0 / 255.0
    flat = fit_background(rgb, known, pattern=False)
    assert flat.accepted and flat.pattern is None and 0.6 < flat.inlier_share < 0.95
    assert fit.inlier_share > flat.inlier_share + 0.03


def test_a_hole_in_the_known_pixels_still_gives_the_shortest_lattice_vectors():
    known = np.ones((N, N), bool)
    known[50:140, 40:150] = False  # a panel over the dots: a longer vector can peak higher than a period
    lattice = pattern_lattice(_dots(), known)
    assert lattice is not None
    lengths = np.sort(np.hypot(*lattice))
    assert np.abs(lengths - 24.6).max() < 0.5  # both vectors one period long, not a sum of periods


def test_no_pattern_in_a_texture():
    noise = np.random.default_rng(0).uniform(0.0, 1.0, (N, N, 3)).astype(np.float32)
    assert fit_background(noise, np.ones((N, N), bool), smooth=False) is None
    assert not fit_background(noise, np.ones((N, N), bool)).accepted


@pytest.fixture(scope="module")
def decomposer():
    return layerdiff.load("layerdiff-tiny", "decompose")


def test_a_translucent_banner_across_a_radial_gradient_is_a_layer_with_its_opacity(decomposer):
    rgb, banner = _banner(_radial(), opacity=0.55)
    image = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    stack = decomposer.decompose(image, num_layers=2).to_numpy()  # (2, N, N, 4)
    alpha = stack[1, ..., 3]
    assert np.abs(alpha[banner] - 0.55).mean() < 0.05  # the banner's opacity, not an opaque copy
    assert alpha[~banner].max() < 0.1
    assert np.abs(stack[0, banner, :3] - _radial()[banner]).mean() < 3.0 / 255.0  # the gradient goes on


def test_a_translucent_panel_over_polka_dots_is_a_layer_with_its_opacity(decomposer):
    n = 384
    dots = _dots(period=40.3, radius=8.5, n=n)
    panel = np.zeros((n, n), bool)
    panel[100:280, 80:300] = True
    rgb = dots.copy()
    rgb[panel] = 0.45 * rgb[panel] + 0.55 * np.array((0.25, 0.35, 0.85), np.float32)
    image = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    stack = decomposer.decompose(image, num_layers=2).to_numpy()  # (2, n, n, 4)
    inner = ndimage.binary_erosion(panel, iterations=3)
    alpha = stack[1, ..., 3]
    assert np.abs(alpha[inner] - 0.55).mean() < 0.03  # the panel's opacity, not an opaque copy of the dots
    assert np.abs(stack[1, inner, :3] - np.array((0.25, 0.35, 0.85))).mean() < 4.0 / 255.0
    assert alpha[~ndimage.binary_dilation(panel, iterations=3)].max() < 0.1
    assert np.abs(stack[0, inner, :3] - dots[inner]).mean() < 4.0 / 255.0  # the dots go on under it


def test_a_translucent_panel_keeps_its_opacity_under_letters_painted_into_its_layer():
    dots = _dots()
    panel = np.zeros((N, N), bool)
    panel[50:140, 40:150] = True
    letters = np.zeros((N, N), bool)
    for x0 in (60, 85, 110):  # three thick strokes in white, painted into the panel's layer
        letters[70:120, x0:x0 + 8] = True
    rgb = dots.copy()
    rgb[panel] = 0.45 * rgb[panel] + 0.55 * np.array((0.25, 0.35, 0.85), np.float32)
    rgb[letters] = 1.0
    stack = np.zeros((2, N, N, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = dots, 1.0
    stack[1, panel, :3], stack[1, panel, 3] = rgb[panel], 1.0
    own = np.stack([~panel, panel])
    out = translucent_layers(stack, rgb, own, dots)
    inner = ndimage.binary_erosion(panel & ~ndimage.binary_dilation(letters, iterations=3), iterations=3)
    assert np.abs(out[1, inner, 3] - 0.55).mean() < 0.02  # the panel's opacity, found past the letters
    assert np.abs(out[1, inner, :3] - np.array((0.25, 0.35, 0.85))).mean() < 3.0 / 255.0
    assert (out[1, letters, 3] == 1.0).all() and (out[1, letters, :3] == 1.0).all()  # the letters stay opaque
    a = out[1, ..., 3:]
    composite = out[1, ..., :3] * a + out[0, ..., :3] * (1.0 - a)
    assert np.abs(composite - rgb).max() < 1.0 / 255.0


def test_a_drop_shadow_over_polka_dots_goes_with_its_card():
    n = 256
    dots = _dots(period=30.3, radius=6.5, dot=(0.95, 0.8, 0.3), fill=(0.45, 0.65, 0.9), n=n)
    card = np.zeros((n, n), bool)
    card[80:170, 70:180] = True
    shadow = 0.6 * ndimage.gaussian_filter(np.roll(card, (8, 8), axis=(0, 1)).astype(np.float64), 4.0)
    rgb = (dots * (1.0 - shadow[..., None])).astype(np.float32)
    rgb[card] = (0.8, 0.15, 0.2)
    stack = np.zeros((2, n, n, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = rgb, 1.0  # the solver's background holds the shadow
    stack[1, card, :3], stack[1, card, 3] = rgb[card], 1.0
    own = np.stack([~card, card])
    flat = np.zeros((n, n), bool)  # nothing is flat on a pattern's edges: the shadow is told by its dimming
    out = attach_halos(stack, rgb, own, dots, flat)
    halo = ~ndimage.binary_dilation(card, iterations=2) & (shadow > 0.1)
    assert np.abs(out[1, halo, 3] - shadow[halo]).mean() < 0.03  # the shadow is the card's
    assert np.abs(out[0, halo, :3] - dots[halo]).mean() < 2.0 / 255.0  # the dots go on under it
    a = out[1, ..., 3:]
    assert np.abs(out[1, ..., :3] * a + out[0, ..., :3] * (1.0 - a) - rgb).max() < 1.0 / 255.0


def test_the_dots_go_on_under_an_opaque_disc(decomposer):
    n = 384
    dots = _dots(period=40.3, radius=8.5, dot=(0.02, 0.06, 0.03), fill=(1.0, 0.54, 0.06), n=n)
    ys, xs = np.mgrid[0:n, 0:n]
    disc = np.hypot(ys - 190, xs - 200) < 70
    rgb = dots.copy()
    rgb[disc] = (0.35, 0.55, 0.9)
    image = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    stack = decomposer.decompose(image, num_layers=2).to_numpy()  # (2, n, n, 4)
    inner = ndimage.binary_erosion(disc, iterations=3)
    assert (stack[1, inner, 3] > 0.99).all()
    assert np.abs(stack[0, inner, :3] - dots[inner]).mean() < 4.0 / 255.0  # dots under the disc, not a plain fill


def test_complete_stack_leaves_the_layers_it_is_told_to_keep():
    from layerdiff.completion import complete_stack

    stack = np.zeros((2, 32, 32, 4), np.float32)
    stack[0] = (0.9, 0.5, 0.1, 1.0)
    stack[0, 10:20, 10:20, :3] = (0.0, 0.0, 0.0)  # a dot under the top layer: the caller's completion
    stack[1, 8:22, 8:22] = (0.2, 0.3, 0.8, 1.0)
    done, methods = complete_stack(stack, keep=(0,))
    assert methods[0] == "none" and np.array_equal(done[0], stack[0])
    again, _ = complete_stack(stack)
    assert np.abs(again[0, 12:18, 12:18, :3] - (0.9, 0.5, 0.1)).max() < 0.02  # re-painted when not kept


@pytest.mark.skipif(not ocr_available(), reason="needs the text extra (rapidocr-onnxruntime)")
def test_the_dots_around_a_line_of_text_stay_in_the_background(decomposer):
    n = 384
    dots = _dots(period=40.3, radius=8.5, dot=(0.02, 0.06, 0.03), fill=(1.0, 0.54, 0.06), n=n)
    image = Image.fromarray((dots * 255).round().astype(np.uint8))
    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"), 56)
    ImageDraw.Draw(image).text((30, 165), "Winter", font=font, fill=(40, 100, 230))
    ink = np.abs(np.asarray(image, np.float32) / 255.0 - dots).max(-1) > 0.02  # (n, n) the letters' pixels
    core = np.abs(np.asarray(image, np.float32) / 255.0 - np.array((40, 100, 230)) / 255.0).max(-1) < 0.1
    stack = decomposer.decompose(np.asarray(image), num_layers=2).to_numpy()  # (2, n, n, 4)
    assert (stack[1, core, 3] > 0.9).mean() > 0.97
    box = np.zeros((n, n), bool)
    ys, xs = np.nonzero(ink)
    box[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
    dot_px = box & (dots[..., 0] < 0.3) & ~ndimage.binary_dilation(ink, iterations=3)  # dots between letters
    assert dot_px.sum() > 100
    assert (stack[1, dot_px, 3] < 0.5).all()  # not ink of the line
    assert np.abs(stack[0, dot_px, :3] - dots[dot_px]).mean() < 4.0 / 255.0
