"""What a layer hides (issue #28 items 2a, 2b, 2f): shadows cast on a flat layer go to the layer that
casts them, a disc partly hidden by a panel is completed as a disc, an anti-aliased edge whose matte
alpha is too low is not pushed back into the layer below as a ghost, and serif tips the matte left in
the layer below join their letter."""

from __future__ import annotations

import numpy as np
from region_scenes import over
from scipy import ndimage

from layerdiff.regions.hidden import (
    _box_distance,
    complete_hidden,
    complete_shapes,
    fit_ellipse,
    fit_rounded_box,
    ink_specks,
    shadows_over_layers,
)

H, W = 120, 160


def _disc(cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.hypot(yy - cy, xx - cx) < r


def _card() -> np.ndarray:
    card = np.zeros((H, W), bool)
    card[70:110, 20:100] = True
    return card


def test_a_shadow_on_a_flat_layer_goes_to_the_layer_that_casts_it():
    yellow, grey = np.array([0.98, 0.83, 0.35], np.float32), np.array([0.4, 0.45, 0.5], np.float32)
    disc, card = _disc(60.0, 100.0, 40.0), _card()
    shadow = ndimage.gaussian_filter(np.roll(card, (4, 4), (0, 1)).astype(np.float32), 3.0) * 0.5  # (H, W)
    truth = np.zeros((4, H, W, 4), np.float32)
    truth[0, ..., :3], truth[0, ..., 3] = grey, 1.0
    truth[1, ..., :3], truth[1, ..., 3] = yellow, disc
    truth[2, ..., 3] = shadow  # black
    truth[3, ..., :3], truth[3, ..., 3] = 1.0, card
    rgb = over(truth)  # (H, W, 3)
    # as the engine paints it: the shadow over the disc is darker disc colour; the card holds no shadow there
    stack = np.zeros((3, H, W, 4), np.float32)
    stack[0] = truth[0]
    stack[1, ..., :3] = np.where(disc[..., None] & ~card[..., None], rgb, yellow)
    stack[1, ..., 3] = disc
    stack[2, ..., :3], stack[2, ..., 3] = 1.0, card
    before_dark = disc & ~card & (shadow > 0.05)
    assert np.abs(stack[1, before_dark, :3] - yellow).max() > 0.1  # the ghost is there to begin with
    out = shadows_over_layers(stack, rgb)
    assert np.abs(out[1, disc, :3] - yellow).max() < 2.0 / 255.0  # the disc is yellow throughout
    assert np.array_equal(out[1, ..., 3], stack[1, ..., 3])
    strong = disc & ~card & (shadow > 0.1)
    assert strong.sum() > 50
    assert np.abs(out[2, strong, 3] - shadow[strong]).max() < 0.03  # the card carries its shadow
    assert out[2, strong, :3].max() < 0.05
    seen = disc & ~card  # the test's stack leaves the shadow on the grey out: compare where the disc shows
    assert np.abs(over(out)[seen] - rgb[seen]).max() < 2.0 / 255.0
    assert np.array_equal(over(out)[~disc], over(stack)[~disc])


def test_shadows_over_layers_leaves_a_flat_layer_without_shadow_alone():
    stack = np.zeros((3, H, W, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = 0.5, 1.0
    disc, card = _disc(60.0, 100.0, 40.0), _card()
    stack[1, ..., :3], stack[1, ..., 3] = (0.2, 0.6, 0.3), disc
    stack[1, disc & (np.arange(W)[None] > 120), :3] = (0.1, 0.3, 0.15)  # a darker half, far from the card
    stack[2, ..., :3], stack[2, ..., 3] = 1.0, card
    out = shadows_over_layers(stack, over(stack))
    assert np.array_equal(out, stack)


def test_fit_ellipse_recovers_an_arc_and_rejects_a_corner():
    t = np.linspace(0.3, 4.0, 80)
    fitted = fit_ellipse(50.0 + 30.0 * np.sin(t), 70.0 + 45.0 * np.cos(t))
    assert fitted is not None and fitted[1] < 0.05
    square = np.concatenate([np.arange(40), np.full(40, 40)]), np.concatenate([np.full(40, 10), np.arange(40)])
    found = fit_ellipse(*square)
    assert found is None or found[1] > 1.0


def test_a_disc_partly_hidden_by_a_panel_is_completed_as_a_disc():
    disc, card = _disc(45.0, 90.0, 35.0), np.zeros((H, W), bool)
    card[60:110, 30:110] = True  # hides the lower-left part of the disc
    stack = np.zeros((3, H, W, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = 0.3, 1.0
    stack[1, ..., :3], stack[1, ..., 3] = (0.95, 0.8, 0.3), 0.9 * (disc & ~card)  # the visible part only
    stack[2, ..., :3], stack[2, ..., 3] = 1.0, card
    out = complete_shapes(stack)
    got = out[1, ..., 3] > 0.5
    assert (got & disc).sum() >= 0.99 * disc.sum()  # the whole disc
    assert (got & ~disc).sum() <= 0.01 * disc.sum()
    inner = ndimage.binary_erosion(disc) & card  # the hidden part, less its 1-px rim
    assert np.allclose(out[1, inner, 3], 0.9) and np.allclose(out[1, inner, :3], (0.95, 0.8, 0.3))
    assert np.array_equal(over(out), over(stack))  # only hidden pixels change


def test_a_rectangle_partly_hidden_by_a_card_is_completed_as_that_rectangle():
    rect = np.zeros((H, W), bool)
    rect[10:70, 60:140] = True
    card = np.zeros((H, W), bool)
    card[50:110, 30:100] = True  # hides the rectangle's lower-left corner
    stack = np.zeros((3, H, W, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = 0.3, 1.0
    stack[1, ..., :3], stack[1, ..., 3] = 0.9, rect & ~card
    stack[2, ..., :3], stack[2, ..., 3] = 1.0, card
    out = complete_shapes(stack)
    np.testing.assert_array_equal(out[1, ..., 3] > 0.5, rect)  # the corner under the card, nothing more
    assert np.allclose(out[1, rect & card, :3], 0.9)
    assert np.array_equal(over(out), over(stack))  # only hidden pixels change


def test_a_rounded_panel_under_an_icon_gets_its_rounded_corner_back():
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    panel = _box_distance(yy, xx, np.array([60.0, 90.0, 30.0, 55.0, 12.0])) < 0.5  # rounded, radius 12
    fitted = fit_rounded_box(*np.nonzero(panel & ~ndimage.binary_erosion(panel)))
    assert fitted is not None and fitted[1] < 0.6 and abs(fitted[0][4] - 12.0) <= 1.0
    icon = _disc(35.0, 40.0, 22.0)  # over the top-left corner
    stack = np.zeros((3, H, W, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = 0.3, 1.0
    stack[1, ..., :3], stack[1, ..., 3] = (0.5, 0.3, 0.8), 0.8 * (panel & ~icon)
    stack[2, ..., :3], stack[2, ..., 3] = 1.0, icon
    got = complete_shapes(stack)[1, ..., 3] > 0.5
    assert (got ^ panel).sum() <= 0.01 * panel.sum()  # the corner is rounded, not square or cut


def test_complete_shapes_leaves_a_cut_triangle_alone():
    yy, xx = np.mgrid[0:H, 0:W]
    tri = (yy >= 10) & (yy < 90) & (xx >= 40) & (xx - 40 <= (yy - 10) * 1.2)  # neither ellipse nor box
    card = np.zeros((H, W), bool)
    card[60:110, 20:80] = True
    stack = np.zeros((3, H, W, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = 0.3, 1.0
    stack[1, ..., :3], stack[1, ..., 3] = 0.9, tri & ~card
    stack[2, ..., :3], stack[2, ..., 3] = 1.0, card
    assert np.array_equal(complete_shapes(stack), stack)


def test_an_edge_with_too_low_an_alpha_leaves_no_ghost_in_the_panel():
    orange = np.array([0.96, 0.55, 0.16], np.float32)
    bar = np.zeros((H, W), bool)
    bar[40:80, 50:110] = True
    edge = bar & ~ndimage.binary_erosion(bar)
    true_alpha = np.where(edge, 0.9, bar.astype(np.float32))  # (H, W)
    rgb = true_alpha[..., None] * 1.0 + (1.0 - true_alpha[..., None]) * orange  # white bar on orange
    stack = np.zeros((2, H, W, 4), np.float32)
    stack[0, ..., 3] = 1.0
    stack[0, ..., :3] = np.where(edge[..., None], rgb, orange)  # the mixed edge colour left in the panel
    stack[1, ..., :3], stack[1, ..., 3] = 1.0, np.where(edge, 0.6, bar.astype(np.float32))  # matte too low
    out = complete_hidden(stack, rgb)
    assert np.abs(out[0, bar, :3] - orange).max() < 1e-3  # the panel continues in its colour
    assert np.abs(over(out) - rgb).max() < 1e-4
    assert np.abs(out[1, edge, 3] - 0.9).max() < 0.01  # the alpha that explains the edge
    plain = complete_hidden(stack, rgb, raise_alpha=False)
    assert np.array_equal(plain[1, ..., 3], stack[1, ..., 3])


def test_an_edge_fringe_left_at_alpha_zero_joins_the_layer_above():
    orange = np.array([0.96, 0.55, 0.16], np.float32)
    bar = np.zeros((H, W), bool)
    bar[50:56, 30:130] = True  # a thin white stroke
    fringe = ndimage.binary_dilation(bar) & ~bar
    true_alpha = np.where(fringe, 0.25, bar.astype(np.float32))  # (H, W)
    rgb = true_alpha[..., None] + (1.0 - true_alpha[..., None]) * orange
    stack = np.zeros((2, H, W, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = rgb, 1.0  # the matte left the fringe's mixed colour in the panel
    stack[1, ..., :3], stack[1, ..., 3] = 1.0, bar
    out = complete_hidden(stack, rgb)
    assert np.abs(out[1, fringe, 3] - 0.25).max() < 0.02
    assert np.abs(out[0, ..., :3] - orange).max() < 1e-3  # hiding the stroke shows a clean panel
    assert np.abs(over(out) - rgb).max() < 1e-4
    plain = complete_hidden(stack, rgb, fringes=False)
    assert np.abs(plain[0, fringe, :3] - orange).max() > 0.1  # without the step the outline stays


def test_showing_through_tells_a_darkened_counter_from_an_outlined_letters_fill():
    from layerdiff.regions.text_lines import showing_through

    panel, ink = np.array([97.0, 0.0, 4.0]), np.array([20.0, 10.0, -40.0])
    colours = np.array([panel + 0.15 * (ink - panel),  # a counter darkened by the letters' edges
                        panel + 0.8 * (ink - panel),  # mostly ink
                        [55.0, 70.0, 50.0]])  # a red fill of outlined letters
    assert showing_through(colours, panel, ink, 10.0).tolist() == [True, False, False]


def test_ink_specks_the_matte_left_under_a_letter_join_it():
    rng = np.random.default_rng(3)
    bricks = np.clip(0.5 + ndimage.gaussian_filter(rng.normal(0.0, 0.25, (H, W)), 1.5), 0.0, 1.0)  # (H, W)
    ground = np.repeat(bricks[..., None], 3, -1).astype(np.float32)  # a grey texture
    ink = np.array([0.03, 0.04, 0.09], np.float32)
    letter = np.zeros((H, W), bool)
    letter[30:90, 40:52] = True  # the stem of an "I"
    letter[30:36, 30:62] = letter[84:90, 30:62] = True  # its serifs
    tips = np.zeros((H, W), bool)
    tips[36, 30] = tips[36, 61] = tips[83, 30] = tips[83, 61] = True  # serif tips the matte left out
    rgb = ground.copy()
    rgb[letter | tips] = ink
    stack = np.zeros((2, H, W, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = rgb, 1.0  # the tips are still in the background
    stack[1, letter, :3], stack[1, letter, 3] = ink, 1.0
    out = complete_hidden(stack, rgb)
    assert (out[1, tips, 3] == 1.0).all()  # the tips are the letter's
    assert np.sqrt(((out[0, tips, :3] - ink) ** 2).mean(-1)).min() > 0.2  # no dark dots left behind
    assert np.abs(out[1, tips, :3] - ink).max() < 1.0 / 255.0  # in the letter's colour: the composite keeps
    near = ndimage.binary_dilation(letter, iterations=2) & ~letter & ~tips
    assert (ink_specks(stack, rgb)[1, near, 3] == 0.0).all()  # the texture around the letter is not taken
