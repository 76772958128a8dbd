"""Flat vector art on a transparent canvas: the bottom layer holds its own paint, not the whole drawing.

The region painter makes the bottom layer opaque everywhere and fills what the layers above hide from
its visible pixels. On an opaque design that is the background continuing under everything. On a
transparent canvas (a flag, an icon, an emoji, a sticker) the bottom layer is one paint of the drawing
(:func:`layerdiff.regions.solve.canvas_background`), and filling under every other paint invents a
copy of it (and of the canvas's black) under stripes and shapes it never lay under: an element of a
drawing is the shape its outline draws, and what it hides is what it encloses (the face under the
eyes), not the rest of the picture.

Both rules are for opaque flat art: a transparent file of translucent shapes (circles blended over
each other) or of photographic content has no "paint" to split by, and the pair model does better on
it (:func:`flat_opaque_art`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .segment import pixel_features

__all__ = ["transparent_canvas", "flat_opaque_art", "cut_under_layers"]


def transparent_canvas(alpha: np.ndarray, clear_alpha: float = 0.05, min_canvas: float = 0.02,
                       min_reach: float = 0.2, solid_alpha: float = 0.95, min_solid: float = 0.8) -> bool:
    """Whether an image with alpha (h, w) in [0, 1] is an opaque drawing reaching the border of a
    transparent canvas, as :func:`layerdiff.regions.solve.canvas_background` requires: pixels under
    ``clear_alpha`` connected to the image border cover at least ``min_canvas`` of it, pixels at or above
    it lie along at least ``min_reach`` of its perimeter, and at least ``min_solid`` of them have an
    alpha of ``solid_alpha`` or more (opaque paints with anti-aliased edges, not translucent shapes)."""
    clear = alpha < clear_alpha  # (h, w)
    rim = np.concatenate([clear[0], clear[-1], clear[1:-1, 0], clear[1:-1, -1]])  # the image border
    if clear.sum() < min_canvas * alpha.size or (~rim).sum() < min_reach * rim.size:
        return False
    if (alpha >= solid_alpha).sum() < min_solid * (~clear).sum():
        return False
    parts, _ = ndimage.label(clear)
    edge = np.unique(np.concatenate([parts[0], parts[-1], parts[:, 0], parts[:, -1]]))
    return bool(np.isin(parts, edge[edge > 0]).sum() >= min_canvas * alpha.size)


def flat_opaque_art(image: np.ndarray, flat_step: float = 6.0, min_flat: float = 0.5, size: int = 512) -> bool:
    """Whether ``image`` (h, w, 4) is flat opaque art on a transparent canvas, the drawings both rules of
    this module and :func:`layerdiff.regions.solve.canvas_background` are for: a drawing reaching the
    border of a transparent canvas with opaque paints (:func:`transparent_canvas`) whose drawn pixels
    are at least ``min_flat`` flat, as the segmenter counts them (largest Lab + 100 alpha step to a
    4-neighbour under ``flat_step``; measured on every k-th pixel, k the least that brings the longer
    side to ``size`` or less). A photograph or a wide gradient on a transparent canvas is not."""
    if not transparent_canvas(image[..., 3]):
        return False
    k = max(1, -(-max(image.shape[:2]) // size))
    small = np.ascontiguousarray(image[::k, ::k], dtype=np.float32)  # (h', w', 4)
    drawn = small[..., 3] >= 0.05  # (h', w')
    _, step = pixel_features(small)  # (h', w')
    return bool((step[drawn] < flat_step).sum() >= min_flat * drawn.sum())


def cut_under_layers(stack: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``stack`` (L, h, w, 4) of ``image`` (h, w, 4) with the bottom layer's alpha set to 0 where the layers
    above are fully opaque and the bottom layer's visible pixels do not enclose the pixel, when the image
    is flat opaque art on a transparent canvas (:func:`flat_opaque_art`); otherwise ``stack`` itself.

    Only pixels the layers above cover completely change, so the composite stays the same.
    """
    if len(stack) < 2 or not flat_opaque_art(image):
        return stack
    clear_above = np.prod(1.0 - stack[1:, ..., 3], axis=0)  # (h, w) transmittance of the layers above
    shown = (stack[0, ..., 3] > 0.5) & (clear_above > 0.5)  # (h, w) the bottom layer's visible pixels
    cut = (clear_above <= 1e-6) & ~ndimage.binary_fill_holes(shown)  # (h, w)
    if not cut.any():
        return stack
    out = stack.copy()
    out[0, ..., 3][cut] = 0.0
    return out
