"""Drawings inside a transparent canvas (emoji, icons, stickers): what the bottom layer hides is its own
paint, not the canvas.

The region painter makes the bottom layer opaque wherever the drawing is and fills what the layers above
hide from the bottom layer's visible pixels, and on a transparent canvas those include the canvas, whose
stored colour is black in most files. Under a ponytail, a hand or a shoe drawn at the edge of an emoji
the bottom layer then holds an opaque black copy of the part's silhouette that nobody drew: it shows
as soon as the part is hidden or moved, and it is the wrong colour wherever the part's own layer
continues under it. :func:`fill_under_drawing` refills those hidden pixels from the bottom layer's
visible opaque paint only (push-pull, :func:`layerdiff.regions.fill.push_pull_fill`).

Drawings reaching the image border (flags) are left to :mod:`layerdiff.regions.vector_art`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .fill import push_pull_fill

__all__ = ["inside_transparent_canvas", "fill_under_drawing"]


def inside_transparent_canvas(alpha: np.ndarray, clear_alpha: float = 0.05, min_canvas: float = 0.02,
                              min_reach: float = 0.2) -> bool:
    """Whether an image with alpha (h, w) in [0, 1] is a drawing inside a transparent canvas: pixels under
    ``clear_alpha`` connected to the image border cover at least ``min_canvas`` of it, and pixels at or
    above it lie along less than ``min_reach`` of its perimeter (a flag reaches further)."""
    clear = alpha < clear_alpha  # (h, w)
    rim = np.concatenate([clear[0], clear[-1], clear[1:-1, 0], clear[1:-1, -1]])  # the image border
    if clear.sum() < min_canvas * alpha.size or (~rim).sum() >= min_reach * rim.size:
        return False
    parts, _ = ndimage.label(clear)
    edge = np.unique(np.concatenate([parts[0], parts[-1], parts[:, 0], parts[:, -1]]))
    return bool(np.isin(parts, edge[edge > 0]).sum() >= min_canvas * alpha.size)


def fill_under_drawing(stack: np.ndarray, image: np.ndarray, opaque: float = 0.5) -> np.ndarray:
    """``stack`` (L, h, w, 4) of ``image`` (h, w, 4), with the bottom layer's colour refilled where the
    layers above cover it completely, from its visible pixels where ``image``'s alpha is at least
    ``opaque`` (its paint, not the canvas), when the image is a drawing inside a transparent canvas
    (:func:`inside_transparent_canvas`); otherwise ``stack`` itself.

    Only pixels no layer lets through change, so the composite stays the same; the new colours are
    rounded to 8-bit levels, as the rest of the stack is.
    """
    if len(stack) < 2 or not inside_transparent_canvas(image[..., 3]):
        return stack
    clear_above = np.prod(1.0 - stack[1:, ..., 3], axis=0)  # (h, w) transmittance of the layers above
    hidden = (clear_above <= 0.0) & (stack[0, ..., 3] > 0.0)  # (h, w)
    paint = (stack[0, ..., 3] > 0.5) & (clear_above > 0.5) & (image[..., 3] >= opaque)  # (h, w)
    if not hidden.any() or not paint.any():
        return stack
    ys, xs = np.nonzero(hidden | paint)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))  # the drawing's box
    fill = push_pull_fill(stack[0][box][..., :3], paint[box].astype(np.float32))  # (bh, bw, 3)
    out = stack.copy()
    inside = hidden[box]
    out[0][box][inside, :3] = np.round(np.clip(fill[inside], 0.0, 1.0) * 255.0) / 255.0
    return out
