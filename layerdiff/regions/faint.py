"""Objects close in colour to a smooth background: a tone-on-tone shape a few 8-bit steps off the fill.

Colour segmentation merges a shape whose colour lies within the merge distance of the background's into
the background region, and :func:`~layerdiff.regions.background.missed_pixels` does not see it either
(its threshold keeps the fit's own small errors out). What still tells such a shape from the fill is the
residual ``rgb - fit`` over it: the shape is one colour, the fit explains everything around it, and the
residual steps at its outline. :func:`faint_objects` keeps the connected pieces of pixels the fit misses
by a little that have all three:

1. at least ``min_area`` pixels, all flat (no texture), missed by more than ``_FAINT`` and not shaded
   (:func:`~layerdiff.regions.background.shaded`: a shadow's core is left to the halo step);
2. one colour: every channel's spread (standard deviation) over the piece at most ``_SPREAD`` (a part of a
   gradient the fit follows badly changes colour across it);
3. a step at the outline: the pixels 2 to 4 px outside it are explained, their median miss at most
   ``_STEP`` of the piece's (a soft shadow's tail fades instead).

The decomposer adds them to the fit's missed pixels, so the region steps that follow
(:func:`~layerdiff.regions.background.split_unexplained`,
:func:`~layerdiff.regions.background.unexplained_regions`) make them regions and layers of their own.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .background import shaded

__all__ = ["faint_objects"]

_FAINT = 0.015  # least mean absolute miss (sRGB) of a faint object's pixels
_SPREAD = 0.01  # largest per-channel standard deviation of a faint object's colours
_STEP = 0.3  # largest median miss just outside a faint object, as a share of its own
_RING = (2, 4)  # the ring outside a piece, in px from its outline


def faint_objects(rgb: np.ndarray, model: np.ndarray, missed: np.ndarray, flat: np.ndarray,
                  min_area: float) -> np.ndarray:
    """(h, w) bool: the faint objects (module docstring) in ``rgb`` (h, w, 3) over the smooth background fit
    ``model`` (h, w, 3); ``missed`` (h, w) the pixels already missed by more (left out), ``flat`` (h, w) the
    pixels without texture, ``min_area`` the least piece in pixels."""
    miss = np.abs(rgb - model).mean(-1)  # (h, w)
    pieces, num = ndimage.label((miss > _FAINT) & ~missed & flat & ~shaded(rgb, model))  # (h, w)
    out = np.zeros(miss.shape, bool)
    if num == 0:
        return out
    sizes = np.bincount(pieces.ravel(), minlength=num + 1)  # (num + 1,)
    h, w = miss.shape
    pad = _RING[1] + 1
    for p, box in enumerate(ndimage.find_objects(pieces), start=1):
        if box is None or sizes[p] < max(min_area, 1.0):
            continue
        box = tuple(slice(max(b.start - pad, 0), min(b.stop + pad, n)) for b, n in zip(box, (h, w)))
        piece = pieces[box] == p  # (bh, bw)
        if rgb[box][piece].std(0).max() > _SPREAD:
            continue
        near = ndimage.binary_dilation(piece, iterations=_RING[1])  # (bh, bw)
        ring = near & ~ndimage.binary_dilation(piece, iterations=_RING[0] - 1)  # (bh, bw)
        if ring.any() and np.median(miss[box][ring]) <= _STEP * np.median(miss[box][piece]):
            out[box] |= piece
    return out
