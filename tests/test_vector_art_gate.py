"""The vector-art rules (solve.canvas_background, vector_art.cut_under_layers) fire on flat opaque art on a
transparent canvas only: photographic or gradient content on a transparent canvas is left to the pair model,
and translucent shapes blended over each other (the psd-tools blend-mode files) are read as shapes by
regions/translucent_art.py (issue 28 item 1, PSD)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from layerdiff.regions.decomposer import RegionLayerDecomposer
from layerdiff.regions.graph import region_graph
from layerdiff.regions.solve import canvas_background
from layerdiff.regions.vector_art import cut_under_layers, flat_opaque_art, transparent_canvas

PX = 96
PSD = Path(__file__).parent / "data" / "psd" / "blend-modes__color-burn.psd"


def _circles(alpha: float) -> np.ndarray:
    """(PX, PX, 4): three overlapping discs (red, green, blue) of opacity ``alpha`` over a transparent
    canvas, reaching its border (as the psd-tools blend-mode files draw them), composited bottom to top."""
    yy, xx = np.mgrid[:PX, :PX] + 0.5
    out = np.zeros((PX, PX, 4), np.float32)
    for (cx, cy), rgb in (((30, 30), (0.2, 0.3, 0.9)), ((66, 30), (0.3, 0.9, 0.3)), ((48, 62), (0.9, 0.2, 0.2))):
        a = alpha * np.clip(34.5 - np.hypot(xx - cx, yy - cy), 0.0, 1.0)[..., None]  # (PX, PX, 1)
        new_a = a + out[..., 3:] * (1.0 - a)
        out[..., :3] = np.where(new_a > 0, (np.array(rgb) * a + out[..., :3] * out[..., 3:] * (1.0 - a))
                                / np.maximum(new_a, 1e-6), 0.0)
        out[..., 3:] = new_a
    return out


def _same_bg(rgba: np.ndarray) -> tuple[object, np.ndarray, np.ndarray]:
    r = region_graph(rgba).regions
    return r, np.full((r.count, r.count), 0.5), np.zeros(r.count)


def test_translucent_shapes_are_not_vector_art_opaque_ones_are() -> None:
    solid, glass = _circles(1.0), _circles(0.65)
    assert transparent_canvas(solid[..., 3]) and flat_opaque_art(solid)
    assert not transparent_canvas(glass[..., 3]) and not flat_opaque_art(glass)
    # the same test without the opacity condition: the translucent discs would count as vector art
    assert transparent_canvas(glass[..., 3], min_solid=0.0)
    r, same, bg = _same_bg(glass)
    assert canvas_background(r, same, bg) == (same, bg)  # left to the pair model
    changed = canvas_background(r, same, bg, min_solid=0.0)
    assert changed[1] is not bg and changed[1].any()  # what it did before the opacity condition
    r, same, bg = _same_bg(solid)
    out_same, out_bg = canvas_background(r, same, bg)
    assert out_bg is not bg and out_bg.max() == 1.0 and out_bg.min() == 0.0  # step 0 applies


def test_cut_under_layers_leaves_translucent_and_unflat_art_alone() -> None:
    solid = _circles(1.0)
    bottom = solid.copy()
    bottom[..., 3] = (solid[..., 3] > 0).astype(np.float32)  # the bottom layer opaque under all the drawing
    top = np.zeros_like(solid)
    top[50:90, 20:76] = (0.9, 0.2, 0.2, 1.0)
    image = solid.copy()
    image[50:90, 20:76] = np.where(solid[50:90, 20:76, 3:] > 0, top[50:90, 20:76], solid[50:90, 20:76])
    top[..., 3] *= solid[..., 3] > 0
    stack = np.stack([bottom, top])  # (2, PX, PX, 4)
    assert cut_under_layers(stack, image) is not stack  # flat opaque art: cut
    glass = image.copy()
    glass[..., 3] *= 0.65
    assert cut_under_layers(stack, glass) is stack  # translucent: unchanged
    grain = image.copy()
    rng = np.random.default_rng(0)
    grain[..., :3] = rng.random((PX, PX, 3)).astype(np.float32)  # a photograph's grain, opaque
    assert transparent_canvas(grain[..., 3]) and not flat_opaque_art(grain)
    assert cut_under_layers(stack, grain) is stack


def test_flat_opaque_art_measures_large_images_on_a_subsample() -> None:
    big = np.repeat(np.repeat(_circles(1.0), 8, 0), 8, 1)  # (768, 768, 4): every 2nd pixel measured
    assert flat_opaque_art(big)
    assert flat_opaque_art(big, size=big.shape[0]) == flat_opaque_art(big)


def test_blend_mode_psd_discs_come_back_as_discs() -> None:
    from layerdiff.io import load

    psd = load(PSD)
    truth = psd.to_numpy()  # three discs at 50% opacity, the top one colour-burned
    image = psd.composite()  # (64, 64, 4): translucent discs on a transparent canvas
    flat = Image.fromarray(np.round(image * 255).astype(np.uint8), "RGBA")
    dec = RegionLayerDecomposer.from_pretrained("layerdiff-tiny")
    out = dec.decompose(flat, 3).to_numpy()  # read by regions/translucent_art.py, not cut as opaque art
    masks = out[..., 3] > 0.25  # (3, 64, 64)
    for disc in truth[..., 3] > 0.25:  # each disc is one layer, whole under the others (in some order:
        iou = (masks & disc).sum((1, 2)) / (masks | disc).sum((1, 2))  # colour burn looks like normal
        assert iou.max() > 0.93  # blending in the other order)
    dec.vector_art = False
    pieces = dec.decompose(flat, 3).to_numpy()[..., 3] > 0.25  # the pair model: overlaps as layers
    assert min(((pieces & disc).sum((1, 2)) / (pieces | disc).sum((1, 2))).max() for disc in truth[..., 3] > 0.25) < 0.9
