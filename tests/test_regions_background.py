"""The parts of the region decomposer that find what the background does not explain (objects,
shadows, glows) and the ink of text lines (issue #28 items 2e, 2f, 2a), on small made-up images."""

from __future__ import annotations

import numpy as np
from region_scenes import SIZE, border_disc, over
from scipy import ndimage

from layerdiff.regions.background import fit_background, missed_pixels, unexplained_regions
from layerdiff.regions.config import RegionConfig
from layerdiff.regions.fragments import absorb_fragments
from layerdiff.regions.graph import graph_from_labels, region_graph
from layerdiff.regions.halos import attach_halos
from layerdiff.regions.ink import carve_line_ink, lift_line_ink, line_ink, part_objects_from_lines
from layerdiff.regions.segment import pixel_features


def test_fit_background_explains_a_gradient_not_the_disc_on_it():
    img, disc = border_disc()
    rgb = np.asarray(img, np.float32) / 255.0
    fit = fit_background(rgb, np.ones(disc.shape, bool))
    assert fit is not None and fit.accepted
    model = fit.render()  # (H, W, 3)
    assert np.abs(model[~disc] - rgb[~disc]).mean() < 1.5 / 255.0  # the disc did not bend it
    assert np.abs(model[disc] - rgb[disc]).mean() > 0.2
    noise = np.random.default_rng(0).uniform(0.0, 1.0, rgb.shape).astype(np.float32)  # a texture
    assert not fit_background(noise, np.ones(disc.shape, bool)).accepted


def test_unexplained_regions_flags_the_disc_and_a_dark_translucent_band_but_not_a_shadow():
    img, disc = border_disc()
    rgba = np.concatenate([np.asarray(img, np.float32) / 255.0, np.ones((SIZE, SIZE, 1), np.float32)], -1)
    band = np.zeros((SIZE, SIZE), bool)
    band[200:260, 40:160] = True
    rgba[band, :3] *= 0.6  # a translucent black band: the gradient darker by one factor, with an edge
    card = np.zeros((SIZE, SIZE), bool)
    card[190:250, 200:280] = True  # a card with a soft drop shadow (offset 8 px, blur 4 px, opacity 0.5)
    shadow = ndimage.gaussian_filter(np.roll(card, (8, 8), (0, 1)).astype(np.float32), 4.0) * 0.5
    rgba[..., :3] *= 1.0 - shadow[..., None]
    rgba[card, :3] = (0.9, 0.9, 0.95)
    rim = (shadow > 0.1) & ~ndimage.binary_dilation(card, iterations=2)  # the visible shadow
    graph = region_graph(rgba, RegionConfig())
    labels = graph.regions.labels
    background = np.ones(graph.count, bool)
    fit = fit_background(rgba[..., :3], ~(band | card | (shadow > 0.01)))
    missed = missed_pixels(rgba[..., :3], fit.render())
    assert missed[disc].mean() > 0.9 and missed[band].mean() > 0.9 and not missed[rim].any()
    flagged = unexplained_regions(graph, background, missed, min_area=100)
    assert int(np.bincount(labels[disc]).argmax()) in flagged
    assert int(np.bincount(labels[band]).argmax()) in flagged
    assert int(np.bincount(labels[rim]).argmax()) not in flagged


def test_attach_halos_unblends_a_glow_over_the_fit():
    h = w = 128  # the glow reaches 8 px: within a tenth of the canvas
    model = np.broadcast_to(np.linspace(0.2, 0.6, h)[:, None, None], (h, w, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(yy - 64, xx - 64)
    core = d < 10
    glow = np.clip(1.0 - (d - 10) / 8.0, 0.0, 1.0) * ~core  # (h, w) a ring fading out
    colour = np.array([1.0, 0.9, 0.2], np.float32)
    rgb = model * (1 - glow[..., None]) + colour * glow[..., None]
    rgb[core] = (0.1, 0.1, 0.9)
    stack = np.zeros((2, h, w, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = rgb, 1.0
    stack[1, core, :3], stack[1, core, 3] = (0.1, 0.1, 0.9), 1.0
    own = np.stack([~core, core])
    out = attach_halos(stack, rgb, own, model)
    ring = glow > 0.2
    assert np.abs(out[1, ring, 3] - glow[ring]).mean() < 0.03  # the glow's alpha, recovered
    assert np.abs(out[1, ring, 3] - glow[ring]).max() < 0.1
    assert np.abs(out[0, ring | core, :3] - model[ring | core]).max() < 1e-5  # background: the fit
    assert np.abs(over(out) - rgb).max() < 0.02


def test_attach_halos_gives_thin_strokes_a_glow_larger_than_their_area():
    h = w = 256
    model = np.broadcast_to(np.linspace(0.2, 0.6, h)[:, None, None], (h, w, 3)).astype(np.float32)
    strokes = np.zeros((h, w), bool)
    for x0 in range(60, 144, 12):  # seven thin bars, like the stems of a line of letters
        strokes[110:150, x0:x0 + 2] = True
    d = ndimage.distance_transform_edt(~strokes)  # (h, w) px from the strokes
    glow = np.clip(1.0 - d / 7.0, 0.0, 1.0) * ~strokes  # reaching 7 px: far more than the strokes' area
    assert (glow > 0.05).sum() > 6 * strokes.sum()
    colour = np.array([1.0, 0.55, 0.1], np.float32)
    rgb = model * (1 - glow[..., None]) + colour * glow[..., None]
    rgb[strokes] = 1.0
    stack = np.zeros((2, h, w, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = rgb, 1.0
    stack[1, strokes, :3], stack[1, strokes, 3] = 1.0, 1.0
    out = attach_halos(stack, rgb, np.stack([~strokes, strokes]), model)
    ring = glow > 0.2
    assert (out[1, ring, 3] > 0.1).all() and np.abs(out[1, ring, 3] - glow[ring]).mean() < 0.12  # joined the strokes
    assert np.abs(out[0, ring, :3] - model[ring]).max() < 1e-5
    assert np.abs(over(out) - rgb).max() < 0.02


def test_attach_halos_leaves_a_flat_shape_beside_a_shadow_in_the_background():
    # a purple box the solver left in the background touches a card and its shadow: the missed pixels
    # make one piece whose mean is not darker than the fit, yet only the shadow belongs to the card
    h = w = 160
    model = np.broadcast_to(np.array([0.2, 0.37, 0.87], np.float32), (h, w, 3)).copy()
    card = np.zeros((h, w), bool)
    card[60:100, 40:120] = True
    shadow = ndimage.gaussian_filter(np.roll(card, (6, 6), (0, 1)).astype(np.float32), 3.0) * 0.6
    rgb = model * (1.0 - shadow[..., None])
    box = np.zeros((h, w), bool)
    box[50:62, 90:128] = True  # overlaps the shadow's corner and touches the card
    rgb[box] = (0.5, 0.26, 0.75)
    rgb[card] = (0.95, 0.95, 0.95)
    stack = np.zeros((2, h, w, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = rgb, 1.0
    stack[1, card, :3], stack[1, card, 3] = (0.95, 0.95, 0.95), 1.0
    out = attach_halos(stack, rgb, np.stack([~card, card]), model)
    inner = ndimage.binary_erosion(box & ~card, iterations=2)
    assert out[1, inner, 3].max() == 0.0  # the box is not a glow of the card (before: alpha 0.2-0.5)
    assert np.abs(out[0, inner, :3] - (0.5, 0.26, 0.75)).max() < 1e-6  # it stays in the background
    rim = (shadow > 0.1) & ~card & ~ndimage.binary_dilation(box, iterations=2)
    assert (out[1, rim, 3] > 0.05).all()  # the shadow went with its card
    assert np.abs(out[1, rim, 3] - shadow[rim]).max() < 0.05
    assert np.abs(over(out) - rgb).max() < 0.02


def test_attach_halos_takes_a_dark_shadow_whose_ramp_is_steep_but_smooth():
    h = w = 160
    card = np.zeros((h, w), bool)
    card[50:100, 50:110] = True
    shadow = ndimage.gaussian_filter(np.roll(card, (8, 8), (0, 1)).astype(np.float32), 4.0) * 0.9
    model = (np.linspace(0.3, 0.8, w)[None, :, None] * np.array([1.0, 0.9, 0.7])).astype(np.float32)
    model = np.broadcast_to(model, (h, w, 3)).copy()
    rgb = model * (1.0 - shadow[..., None])
    rgb[card] = (0.9, 0.2, 0.2)
    flat = pixel_features(np.concatenate([rgb, np.ones((h, w, 1), np.float32)], -1))[1] < RegionConfig().flat_threshold
    rim = (shadow > 0.1) & ~card
    assert flat[rim].mean() < 0.9  # its steep ramp is not flat, yet it has no texture
    stack = np.zeros((2, h, w, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = rgb, 1.0
    stack[1, card, :3], stack[1, card, 3] = (0.9, 0.2, 0.2), 1.0
    out = attach_halos(stack, rgb, np.stack([~card, card]), model, flat)
    assert (out[1, rim, 3] > 0.05).all()  # the shadow went with its card
    assert np.abs(out[0, rim, :3] - model[rim]).max() < 1e-5  # the background under it is clean
    assert np.abs(over(out) - rgb).max() < 0.02


def test_carve_line_ink_gives_thin_strokes_their_own_region():
    img = np.ones((60, 200, 4), np.float32)
    img[..., :3] = (0.95, 0.93, 0.9)  # a light panel
    strokes = np.zeros((60, 200), bool)
    for x in range(40, 160, 8):
        strokes[22:38, x] = True  # 1-px strokes: edge pixels all, the segmentation gives them away
    img[strokes, :3] = (0.8, 0.3, 0.2)
    graph = region_graph(img, RegionConfig())
    assert len(np.unique(graph.regions.labels[strokes])) == 1  # swallowed by the panel
    carved = carve_line_ink(graph, [(30, 15, 170, 45)], RegionConfig())
    labels = carved.regions.labels
    assert not np.isin(labels[strokes], labels[5, 5]).any()
    assert line_ink(carved, [(30, 15, 170, 45)])[labels[strokes]].all()
    layer = np.zeros(carved.count, np.int64)
    lifted = lift_line_ink(carved, layer, [(30, 15, 170, 45)])
    assert (lifted[labels[strokes]] == 1).all() and lifted[labels[5, 5]] == 0
    assert lift_line_ink(carved, layer, [(30, 15, 170, 45)], max_count=1).max() == 0  # no room


def test_carve_line_ink_splits_a_letter_joined_to_like_coloured_pixels_outside_the_box():
    img = np.ones((70, 200, 4), np.float32)
    img[..., :3] = (0.95, 0.93, 0.9)  # a light panel
    ink = (0.05, 0.07, 0.1)
    for x in (40, 70, 100):
        img[22:38, x:x + 10, :3] = ink  # three letters
    img[38:60, 100:110, :3] = ink  # dark hair under the last letter, running out of the line's box
    box = (30, 15, 170, 45)
    graph = region_graph(img, RegionConfig())
    letter, outside = graph.regions.labels[30, 105], graph.regions.labels[55, 105]
    assert letter == outside and not line_ink(graph, [box])[letter]  # one region, under 90% inside the box
    carved = carve_line_ink(graph, [box], RegionConfig())
    labels = carved.regions.labels
    assert labels[30, 105] != labels[55, 105]  # the letter is cut from what lies outside the box
    assert line_ink(carved, [box])[labels[30, 105]] and not line_ink(carved, [box])[labels[55, 105]]


def test_carve_line_ink_frees_letters_merged_into_a_photo_but_not_the_photos_own_dark_lines():
    rng = np.random.default_rng(0)
    img = np.ones((70, 200, 4), np.float32)
    img[..., :3] = rng.uniform(0.45, 0.7, (70, 200, 1))  # a grainy grey photo: no uniform frame
    ink = (0.05, 0.05, 0.06)
    labels = np.zeros((70, 200), np.int32)  # one region: the photo
    for k, x in enumerate((40, 70, 100)):
        img[22:38, x:x + 10, :3] = ink  # three letters
        if k < 2:
            labels[22:38, x:x + 10] = k + 1  # two found as regions; the third merged into the photo
    img[:, 150:152, :3] = ink  # a dark crack in the photo, crossing the line's box
    box = (30, 15, 170, 45)
    graph = graph_from_labels(img, labels, RegionConfig())
    carved = carve_line_ink(graph, [box], RegionConfig()).regions.labels
    assert len(np.unique(carved[22:38, 100:110])) == 1 and carved[30, 105] not in (0, 1, 2)  # its own region
    assert (carved[:, 150:152] == 0).all()  # the crack reaches the box's edge: the photo's


def test_a_line_merged_whole_into_a_photo_of_small_regions_is_carved_and_lifted():
    rng = np.random.default_rng(1)
    img = np.ones((70, 200, 4), np.float32)
    img[..., :3] = rng.uniform(0.45, 0.7, (70, 200, 1))  # a grainy grey photo
    yy, xx = np.mgrid[0:70, 0:200]
    labels = ((yy // 5) * 40 + xx // 5).astype(np.int32)  # cut into small regions: no main surroundings
    letters = np.zeros((70, 200), bool)
    for x in (40, 70, 100):
        letters[22:38, x:x + 10] = True  # three letters, none a region of its own
    img[letters, :3] = (0.05, 0.05, 0.06)
    img[:, 150:152, :3] = (0.05, 0.05, 0.06)  # a dark crack in the photo, crossing the line's box
    box = (30, 15, 170, 45)
    graph = graph_from_labels(img, labels, RegionConfig())
    carved = carve_line_ink(graph, [box], RegionConfig())
    new = carved.regions.labels
    assert len(np.unique(new[letters])) == 1  # one region, the line's (before: the letters stayed in the grain)
    assert new[20, 42] != new[22, 42] and (new == new[30, 45]).sum() == letters.sum()  # nothing else in it
    assert not np.isin(new[:, 150:152], new[30, 45]).any()  # the crack reaches the box's edge: the photo's
    layer = lift_line_ink(carved, np.zeros(carved.count, np.int64), [box])
    assert layer[new[30, 45]] == 1 and layer.max() == 1  # a layer of its own over the photo (before: none)


def test_absorb_fragments_keeps_text_ink_layers():
    img = np.ones((80, 120, 4), np.float32)
    img[..., :3] = (0.2, 0.4, 0.8)
    img[20:60, 20:100, :3] = (0.9, 0.9, 0.9)
    img[35:45, 30:90, :3] = (0.1, 0.1, 0.1)
    graph = region_graph(img, RegionConfig())
    labels = graph.regions.labels
    layer = np.zeros(graph.count, np.int64)
    layer[labels[25, 25]] = 1
    layer[labels[40, 50]] = 2
    same = np.eye(graph.count)
    bg = (np.arange(graph.count) == labels[0, 0]).astype(float)
    always = absorb_fragments(graph, same, bg, layer, lambda f: np.ones(len(f)))
    assert always.max() == 1
    keep = np.zeros(graph.count, bool)
    keep[labels[40, 50]] = True
    kept = absorb_fragments(graph, same, bg, layer, lambda f: np.ones(len(f)), keep=keep)
    assert kept[labels[40, 50]] != kept[labels[25, 25]]


def _letters_in(background: np.ndarray, top: int = 22) -> tuple[np.ndarray, np.ndarray]:
    """``background`` (70, 200, 3) with three dark letters on it, and labels where the first two are
    regions and the third (rows ``top``-37) is merged into the picture (label 0)."""
    img = np.ones((70, 200, 4), np.float32)
    img[..., :3] = background
    labels = np.zeros((70, 200), np.int32)
    for k, x in enumerate((40, 70, 100)):
        img[(top if k == 2 else 22):38, x:x + 10, :3] = (0.05, 0.05, 0.06)
        if k < 2:
            labels[22:38, x:x + 10] = k + 1
    return img, labels


def test_carve_line_ink_frees_letters_merged_into_a_smooth_photo_but_not_into_a_gradient():
    yy, xx = np.mgrid[0:70, 0:200] / 70.0
    clouds = 0.6 + 0.2 * np.sin(6 * xx) * np.cos(5 * yy)  # smooth: a small step per pixel, no plane
    ramp = 0.45 + 0.1 * xx  # a gradient: a plane fits it
    box = (30, 15, 170, 45)
    for background, freed in ((clouds, True), (ramp, False)):
        img, labels = _letters_in(np.repeat(background[..., None], 3, axis=-1))
        carved = carve_line_ink(graph_from_labels(img, labels, RegionConfig()), [box], RegionConfig())
        letter = carved.regions.labels[22:38, 100:110]
        assert (len(np.unique(letter)) == 1 and letter[0, 0] not in (0, 1, 2)) == freed


def test_carve_line_ink_frees_a_letter_sticking_out_of_the_box_and_leaves_near_colours():
    rng = np.random.default_rng(0)
    grain = rng.uniform(0.45, 0.7, (70, 200, 1)).repeat(3, axis=-1)  # a grainy grey photo
    img, labels = _letters_in(grain, top=12)  # the third letter rises 3 px above the line's box
    img[22:38, 130:140, :3] = 0.12  # a dark patch near, but not at, the letters' fill colour
    box = (30, 15, 170, 45)
    carved = carve_line_ink(graph_from_labels(img, labels, RegionConfig()), [box], RegionConfig()).regions.labels
    assert len(np.unique(carved[12:38, 100:110])) == 1 and carved[30, 105] not in (0, 1, 2)  # whole, serif too
    assert (carved[22:38, 130:140] == 0).all()  # the patch is the photo's


def test_part_objects_from_lines_gives_an_object_beside_a_line_its_own_layer_below_it():
    img = np.ones((80, 240, 4), np.float32)
    img[..., :3] = (0.9, 0.5, 0.2)  # an orange background
    labels = np.zeros((80, 240), np.int32)
    for k, x in enumerate((40, 60, 80)):
        img[30:50, x:x + 8, :3] = (0.1, 0.5, 0.1)  # three green letters
        labels[30:50, x:x + 8] = 1 + k
    img[28:52, 38:40, :3] = 0.3  # a dark outline touching the first letter
    labels[28:52, 38:40] = 4
    img[20:60, 160:200, :3] = (0.4, 0.7, 0.3)  # a pepper, well apart from the line
    labels[20:60, 160:200] = 5
    img[30:50, 110:130, :3] = (0.1, 0.5, 0.1)  # letters in the line's colour the detector's box missed
    labels[30:50, 110:130] = 6
    graph = graph_from_labels(img, labels, RegionConfig())
    box = (35, 25, 95, 55)
    layer = np.array([0, 1, 1, 1, 1, 1, 1])  # the solver put the line, the pepper and the rest in one layer
    parted = part_objects_from_lines(graph, layer, [box])
    assert parted[5] == 1 and (parted[[1, 2, 3, 4, 6]] == 2).all() and parted[0] == 0  # the pepper below
    assert (part_objects_from_lines(graph, layer, [box], max_count=2) == layer).all()  # no room
    assert (part_objects_from_lines(graph, layer, []) == layer).all()  # no line, no change



def test_a_frame_of_flat_fields_is_not_a_photo_though_no_plane_fits_it():
    from layerdiff.regions.ink import _textured
    from layerdiff.regions.segment import rgb_to_lab

    rgb = np.zeros((40, 120, 3), np.float32)
    rgb[:20] = (0.8, 0.1, 0.1)  # a flag's red field over its black one
    rgb[20:] = (0.1, 0.1, 0.1)
    frame = np.ones((40, 120), bool)
    frame[3:-3, 3:-3] = False
    lab = rgb_to_lab(rgb)  # (40, 120, 3)
    flat = np.zeros(int(frame.sum()))  # the spread of each frame pixel's region: uniform fills
    assert not _textured(lab, frame, flat)
    assert _textured(lab, frame, flat + 5.0)  # the same colours in regions that vary: a smooth photo
