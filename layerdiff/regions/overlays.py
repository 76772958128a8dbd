"""Translucent panels over a fitted background: one layer each, read from the picture.

A semi-transparent panel or banner over stripes or dots shows the pattern through one colour at one
opacity, ``c = (1 - a) fit + a C``. Its inside is cut into as many regions as the pattern has stripes,
and the solver, which groups regions by how they look, splits it into pieces. Where the background
model is known under the panel (a repeating pattern: the decomposer calls this module only then; over
a gradient a panel is one region, which :func:`~layerdiff.regions.background.translucent_layers`
handles), the blend itself finds the panel:

1. :func:`find_panels`: the pixels the fit misses (not the thin lines along a pattern's edges), joined
   across the gaps a pattern leaves between them (closing, then opening by a square: thin text and
   specks drop out), in pieces of at least ``min_area`` of the canvas. In a piece, the blend line
   ``c = s fit + b`` (one slope for the three channels) that most of its pixels follow, by random
   sample consensus (:func:`blend_consensus`: objects on the panel are off it), with opacity
   ``a = 1 - s`` in [0.05, 0.95], colour ``C = b / a`` in the sRGB cube and the fit varying under it
   (over a flat fill opacity cannot be told from colour). The pixels on the line are the panel's when
   they cover ``min_area`` and most of their extent, and the rest of their bounding box is objects
   over the panel (a panel is a box, perhaps with rounded corners: the box is its extent).
2. :func:`insert_panels`: each panel becomes a layer just above the background: alpha ``a`` over its
   box, colour ``C``; the background under it becomes the fit. Panel pixels off the line that no layer
   covers (something the solver left in the background) stay in the background, the panel open there,
   unless they are thin lines or specks (a stripe's edge, a dot's rim the fit blurs). Where the panel is
   on top, the background under it is unblended (the pattern as it is, the panel uniform); elsewhere,
   or where that leaves the sRGB cube, the topmost layer is unblended again, so the stack still
   recomposes to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..morphology import dilate_square, erode_square
from .background import blend_error, robust_blend
from .hidden import composite_below, least_alpha

__all__ = ["Panel", "find_panels", "blend_consensus", "insert_panels"]

_JOIN = 15  # px: gaps between missed stripes under one panel that the closing bridges (work size)
_THIN = 2  # px: half-side of the square whose opening drops the thin misses along a pattern's edges
_OUTSIDE_BOX = 0.1  # most share of a panel's bounding box the fit explains (its rounded corners)
_SPECK = 64  # px: pieces of a panel off its blend line this small (a dot's rim the fit blurs) stay in it
_CORE = 7  # px: half-side of the square whose opening keeps a panel's thick part


@dataclass
class Panel:
    """A translucent panel: ``mask`` (h, w) its extent, ``on`` (h, w) its pixels on the blend line,
    ``alpha`` its opacity and ``colour`` (3,) its sRGB colour."""

    mask: np.ndarray
    on: np.ndarray
    alpha: float
    colour: np.ndarray


def find_panels(rgb: np.ndarray, model: np.ndarray, min_area: float = 0.02, miss: float = 0.04,
                tolerance: float = 6.0 / 255.0, min_share: float = 0.6, seed: int = 0) -> list[Panel]:
    """The translucent panels (step 1 of the module docstring) over the accepted background fit
    ``model`` (h, w, 3) of the image ``rgb`` (h, w, 3): in pieces of pixels missed by more than ``miss``
    (mean absolute sRGB error), the pixels within ``tolerance`` (RMS) of one blend line (found by
    :func:`blend_consensus`, objects on the panel off it) covering at least ``min_area`` of the canvas
    and ``min_share`` of their extent (the line's pixels joined across the gaps between them, holes
    filled)."""
    h, w = model.shape[:2]
    missed = np.abs(rgb - model).mean(-1) > miss  # (h, w)
    missed = dilate_square(erode_square(missed, _THIN, outside=True), _THIN)  # (h, w) not the blurred edges
    joined = erode_square(dilate_square(missed, _JOIN), _JOIN, outside=True)  # (h, w) stripes under a panel
    core = dilate_square(erode_square(joined, _CORE, outside=True), _CORE)  # (h, w) thick parts only
    pieces, num = ndimage.label(core)
    sizes = np.bincount(pieces.ravel(), minlength=num + 1)
    panels = []
    for p in np.nonzero(sizes[1:] >= min_area * h * w)[0] + 1:
        piece = ndimage.binary_fill_holes(pieces == p)  # (h, w)
        base, seen = model[piece].astype(np.float64), rgb[piece].astype(np.float64)  # (m, 3)
        if base.std(0).max() < 0.03:
            continue  # the fit does not vary under it: opacity cannot be told from colour
        line = blend_consensus(base, seen, tolerance, seed)
        if line is None:
            continue
        slope, offset = line
        alpha, colour = 1.0 - slope, offset / max(1.0 - slope, 1e-6)
        if not 0.05 <= alpha <= 0.95 or (colour < -0.02).any() or (colour > 1.02).any():
            continue
        err = blend_error(model, rgb, slope, offset)  # (h, w)
        on = dilate_square(erode_square(piece & (err < tolerance), _THIN, outside=True), _THIN)  # (h, w)
        extent = erode_square(dilate_square(on, _JOIN), _JOIN, outside=True)  # (h, w) across objects on it
        extent = ndimage.binary_fill_holes(extent) & piece
        if on.sum() < min_area * h * w or on.sum() < min_share * extent.sum():
            continue
        ys, xs = np.nonzero(extent)
        box = np.zeros_like(extent)
        box[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True  # a panel is a box: it goes on under objects
        if (box & ~extent & ~missed).sum() <= _OUTSIDE_BOX * box.sum():  # the rest of the box: objects on it
            panels.append(Panel(box, on, float(alpha), np.clip(colour, 0.0, 1.0)))
    return panels


def blend_consensus(base: np.ndarray, seen: np.ndarray, tolerance: float, seed: int = 0, tries: int = 200,
                    sample: int = 20000) -> tuple[float, np.ndarray] | None:
    """The translucent blend line ``seen = slope base + offset`` (one slope in [0.05, 0.95], an offset (3,))
    that the most colours (m, 3) follow within ``tolerance`` (RMS over the channels), by random sample
    consensus (Fischler and Bolles, "Random Sample Consensus", CACM 1981): each try a line through two
    pixels whose fitted colours differ, the best refined by
    :func:`~layerdiff.regions.background.robust_blend` on its inliers; None when no two pixels differ
    enough or no such line holds more than them."""
    rng = np.random.default_rng(seed)
    if len(base) > sample:
        pick = rng.choice(len(base), sample, replace=False)
        base, seen = base[pick], seen[pick]
    i, j = rng.integers(len(base), size=(2, tries * 4))
    apart = np.abs(base[i] - base[j]).max(1) > 0.1  # pairs the fit tells apart
    i, j = i[apart][:tries], j[apart][:tries]
    if len(i) == 0:
        return None
    db, ds = base[i] - base[j], seen[i] - seen[j]  # (t, 3) each
    slopes = (db * ds).sum(1) / (db ** 2).sum(1)  # (t,)
    offsets = 0.5 * (seen[i] + seen[j] - slopes[:, None] * (base[i] + base[j]))  # (t, 3)
    counts = [int((blend_error(base, seen, s, b) < tolerance).sum()) if 0.05 <= s <= 0.95 else -1
              for s, b in zip(slopes, offsets)]  # translucent lines only: a flat object follows any slope 0
    best = int(np.argmax(counts))
    if counts[best] < 2:
        return None
    inliers = blend_error(base, seen, slopes[best], offsets[best]) < tolerance  # (m,)
    slope, offset, _ = robust_blend(base[inliers], seen[inliers], tolerance)
    return slope, offset


def insert_panels(stack: np.ndarray, rgb: np.ndarray, model: np.ndarray, panels: list[Panel]) -> np.ndarray:
    """``stack`` (K, h, w, 4), completed, with each panel (step 2 of the module docstring) a layer above the
    background, in the order given: (K + len(panels), h, w, 4). ``rgb`` (h, w, 3) is the image and
    ``model`` (h, w, 3) the background fit under the panels. Where a panel is on top the background's
    colours are unblended under it; elsewhere over the panels the topmost layer's colours are (alpha
    raised where no colour in the sRGB cube would do), so the stack still recomposes to the image."""
    if not panels:
        return stack
    covered = (stack[1:, ..., 3] > 0).any(0) if len(stack) > 1 else np.zeros(model.shape[:2], bool)  # (h, w)
    background = stack[0].copy()  # (h, w, 4)
    layers = []
    for panel in panels:
        layer = np.zeros_like(background)  # (h, w, 4)
        body = panel.mask & (panel.on | covered)  # open where something off the line shows
        off = panel.mask & ~body  # (h, w)
        thick = dilate_square(erode_square(off, _THIN, outside=True), _THIN) & off
        holes, num = ndimage.label(thick)
        small = np.bincount(holes.ravel(), minlength=num + 1) <= _SPECK  # (num + 1,)
        small[0] = False
        body |= (off & ~thick) | small[holes]  # thin lines and specks: edges and rims the fit blurs
        layer[body, :3] = panel.colour
        layer[body, 3] = panel.alpha
        background[body, :3] = model[body]
        layers.append(layer)
    out = np.concatenate([background[None], np.stack(layers), stack[1:]], 0)  # (K + P, h, w, 4)
    ys, xs = np.nonzero((out[1:1 + len(panels), ..., 3] > 0).any(0))
    top = len(out) - 1 - np.argmax(out[::-1, ys, xs, 3] > 0, axis=0)  # (m,) topmost layer with any alpha
    alone = (out[1:1 + len(panels), ys, xs, 3] > 0).sum(0) == 1  # (m,) one panel there
    shown = (top <= len(panels)) & alone  # (m,) it is on top: the background under it unblended
    if shown.any():
        sy, sx, k = ys[shown], xs[shown], top[shown]
        a = out[k, sy, sx, 3:]  # (s, 1)
        over = out[k, sy, sx, :3] * a  # (s, 3) what the panel adds
        under = composite_below(out, k, sy, sx)  # (s, 3) what lies under it, the background first
        base = out[0, sy, sx, :3] + (rgb[sy, sx] - over - under * (1.0 - a)) / np.maximum(1.0 - a, 1e-6)
        fits = ((base >= -0.5 / 255.0) & (base <= 1.0 + 0.5 / 255.0)).all(-1)  # (s,)
        out[0, sy[fits], sx[fits], :3] = np.clip(base[fits], 0.0, 1.0)
        keep = np.ones(len(ys), bool)
        keep[np.nonzero(shown)[0][fits]] = False
        ys, xs, top = ys[keep], xs[keep], top[keep]
    seen, below = rgb[ys, xs], composite_below(out, top, ys, xs)  # (m, 3) each
    alpha = np.maximum(out[top, ys, xs, 3:], least_alpha(seen, below))  # (m, 1)
    out[top, ys, xs, 3] = alpha[:, 0]
    out[top, ys, xs, :3] = np.clip((seen - below * (1.0 - alpha)) / alpha, 0.0, 1.0)
    return out
