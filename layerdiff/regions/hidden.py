"""What each layer hides, completed: no layer keeps a copy of what lies above it.

Painting fills a layer's hidden pixels by push-pull from its visible ones, and the exact-recomposition
step leaves mixed colours where a layer above is partly transparent (anti-aliased letter edges), so
hiding the top layer shows faint outlines of it. Here, in order:

1. :func:`shadows_over_layers`: a drop shadow that falls on a flat layer (not only on the background)
   is darker than that layer's colour by one factor in every channel; such a piece next to a layer
   above joins that layer as black with the alpha that unblends it, and the flat layer under it takes
   its own colour back (no darker copy of the shadow stays in it);
2. :func:`complete_shapes`: a layer part whose visible outline is an ellipse (a disc partly hidden by
   a panel over it) or an axis-aligned rectangle with or without rounded corners (a panel, card or
   button with an icon over its corner) is completed as that shape under the layers that cover it, with
   the part's own opacity and colours (amodal completion, limited to pixels the layers above hide);
3. :func:`edge_fringes`: the faint outer fringe of anti-aliased edges (thin text) that the matte left
   at alpha 0 keeps a mix of the layer's colour and the one under it in the layer under it (hiding the
   text shows its outline); where that colour is such a mix, the fringe joins the layer above with the
   alpha of the mix;
   :func:`ink_specks`: pixels of a flat layer's own colour within 2 px of it that the matte left in the
   layer under it (the tips of serifs, the dot of an "i" cut off by the segmentation), on surroundings of
   another colour, join it (hiding the text left dark dots where they were);
4. :func:`layerdiff.completion.complete_stack` re-paints every pixel of a layer that the layers above
   cover at least ``reveal`` (not only the fully hidden ones), from the layer's own fully visible pixels
   (parametric fits for flat and gradient fills; otherwise PatchMatch, or push-pull without ``exemplar``);
5. where that changed a pixel, the topmost layer there is unblended against the new composite of the
   layers below it (LayerD's colour unblending, Suzuki et al. 2025): its colour becomes
   ``(C - B (1 - a)) / a`` for the input colour C, the composite B below and its alpha a. Where that
   colour would leave [0, 1] (an anti-aliased edge whose matte alpha is too low), the alpha rises to
   the least value that keeps it inside, so the mixed colour is not pushed back into the layer below
   by the exact-recomposition step. Pixels where the alpha is under ``min_alpha`` keep a small residual
   that the decomposer's exact-recomposition projection removes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..completion import complete_stack
from ..morphology import dilate_square, erode_square
from .fill import push_pull_fill

__all__ = ["complete_hidden", "shadows_over_layers", "complete_shapes", "edge_fringes", "ink_specks", "fit_ellipse",
           "composite_below", "least_alpha",
           "fit_rounded_box"]

_SHADE_SPREAD = 0.12  # largest spread of the per-channel ratios colour / layer colour of a shadowed pixel
_SHADE_MIN = 6.0 / 255.0  # a shadow holds pixels darker than its layer's colour by at least this (mean)
_SHADE_TAIL = 1.5 / 255.0  # its faint tail: darker by this much, connected to darker pixels
_FLAT_SPREAD = 6.0 / 255.0  # largest median absolute deviation (per channel) of a flat layer's colours
_MIN_PART = 200  # pixels of a layer part for its outline to be fitted
_OUTLINE_FIT = 1.0  # largest RMS distance (px) of the visible outline from the fitted ellipse or box
_MIN_ARC = 0.35  # share of the fitted ellipse's or box's perimeter the visible outline must cover


def complete_hidden(stack: np.ndarray, rgb: np.ndarray, reveal: float = 0.05, min_alpha: float = 0.05,
                    exemplar: bool = True, shadows: bool = True, shapes: bool = True,
                    raise_alpha: bool = True, fringes: bool = True, keep_background: bool = False) -> np.ndarray:
    """``stack`` (L, H, W, 4) straight alpha with what each layer hides re-painted and the top layer's
    colours unblended where that changed the layers below (module docstring); ``rgb`` (H, W, 3) is the
    image the stack recomposes to. ``exemplar``: textured layers no parametric model fits are inpainted
    with PatchMatch (:func:`layerdiff.completion.complete_layer_info`) instead of push-pull.
    ``shadows``, ``shapes``, ``fringes``, ``raise_alpha``: steps 1, 2, 3 and the alpha rise of step 5
    (alphas change only through them); ``keep_background``: step 4 leaves the bottom layer's colours as
    they are (already completed from a background fit: a pattern's dots continue under the layers)."""
    arr = np.asarray(stack, np.float32)
    if shadows:
        arr = shadows_over_layers(arr, rgb)
    if shapes:
        arr = complete_shapes(arr)
    if fringes:
        arr = ink_specks(edge_fringes(arr, rgb), rgb)
    done, _ = complete_stack(arr, hidden_above=reveal, exemplar=exemplar, keep=(0,) if keep_background else ())
    changed = _colour_changed(done, arr)  # (L, H, W)
    if shadows or shapes or fringes:
        changed |= _colour_changed(done, np.asarray(stack, np.float32))
    alpha = done[..., 3]  # (L, H, W)
    count = len(done)
    opaque = alpha > 0
    top = count - 1 - np.argmax(opaque[::-1], axis=0)  # (H, W) topmost layer with any alpha
    fix = changed.any(0)  # (H, W) pixels where some layer's colour changed
    ys, xs = np.nonzero(fix)
    t = top[ys, xs]
    a = alpha[t, ys, xs][:, None]  # (m, 1)
    ok = (a[:, 0] >= min_alpha) & (t > 0)
    ys, xs, t, a = ys[ok], xs[ok], t[ok], a[ok]
    c, b = rgb[ys, xs], composite_below(done, t, ys, xs)  # (m, 3) each: the image, the layers under ``t``
    if raise_alpha:
        a = np.maximum(a, least_alpha(c, b))  # (m, 1)
        done[t, ys, xs, 3] = a[:, 0]
    colour = (c - b * (1.0 - a)) / a  # (m, 3)
    done[t, ys, xs, :3] = np.clip(colour, 0.0, 1.0)
    return done


def _colour_changed(new: np.ndarray, old: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """(L, H, W) bool: some colour channel of ``new`` differs from ``old`` (L, H, W, 4) by more than ``tol``
    (``abs(new - old)[..., :3].max(-1) > tol``, one channel at a time: no reduction over a 3-wide axis)."""
    out = np.abs(new[..., 0] - old[..., 0]) > tol
    for c in (1, 2):
        out |= np.abs(new[..., c] - old[..., c]) > tol
    return out


def composite_below(stack: np.ndarray, top: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(m, 3) composite of the layers of ``stack`` (L, H, W, 4) under the layer ``top`` (m,) at the pixels
    ``ys``, ``xs`` (m,) each (only where it is used: no full-image composites)."""
    below = np.zeros((len(ys), 3), np.float32)
    for k in range(int(top.max(initial=0))):
        under = (top > k)[:, None]  # (m, 1)
        a = stack[k, ys, xs, 3:]  # (m, 1)
        below = np.where(under, stack[k, ys, xs, :3] * a + below * (1.0 - a), below)
    return below


def least_alpha(c: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(m, 1): the least alpha at which a layer over ``b`` (m, 3) can show ``c`` (m, 3) with a colour in
    [0, 1] (per channel: reaching 1 where ``c > b``, 0 where ``c < b``)."""
    up = np.where(c > b, (c - b) / np.maximum(1.0 - b, 1e-6), 0.0)
    down = np.where(c < b, (b - c) / np.maximum(b, 1e-6), 0.0)
    return np.clip(np.maximum(up, down).max(-1, keepdims=True), 0.0, 1.0).astype(np.float32)


def shadows_over_layers(stack: np.ndarray, rgb: np.ndarray, reach: float = 0.1) -> np.ndarray:
    """``stack`` (L, H, W, 4) with the shadows that layers cast on flat layers under them moved into the
    casting layer (step 1 of the module docstring); ``rgb`` (H, W, 3) the image. A flat layer (its
    visible colours within a few 8-bit steps of their median) keeps its alpha; its visible pixels darker
    than its colour by one factor in every channel (by 1.5/255 or more, the piece holding some darker by
    6/255), in a connected piece that touches a layer above and lies within ``reach`` (a fraction of
    the longer side) of it, take the layer's colour, and the nearest layer above gets them as black
    with the alpha that gives the image over the new composite."""
    out = np.array(stack, np.float32, copy=True)
    count = len(out)
    if count < 3:
        return out
    alpha = out[..., 3]  # (L, H, W) view
    top = np.zeros(alpha.shape[1:], np.int64)  # (H, W) topmost layer with alpha > 0.5
    for k in range(1, count):
        top[alpha[k] > 0.5] = k
    limit = reach * max(alpha.shape[1:])
    for j in range(1, count - 1):
        own = top == j
        interior = erode_square(own, 2)
        if interior.sum() < _MIN_PART:
            continue
        colours = out[j, interior, :3]  # (m, 3)
        ref = np.median(colours, 0)  # (3,)
        if np.median(np.abs(colours - ref), 0).max() > _FLAT_SPREAD or ref.min() < 0.05:
            continue
        ratio = out[j, ..., :3] / np.maximum(ref, 1e-3)  # (H, W, 3)
        dark = (ref - out[j, ..., :3]).mean(-1)  # (H, W)
        shaded = own & (ratio.max(-1) < 1.0) & (ratio.max(-1) - ratio.min(-1) < _SHADE_SPREAD) & (
            dark > _SHADE_TAIL)
        if not (shaded & (dark > _SHADE_MIN)).any():
            continue
        upper = top > j  # (H, W)
        dist, (iy, ix) = ndimage.distance_transform_edt(~upper, return_indices=True)
        touching = dilate_square(upper, 2)
        pieces, num = ndimage.label(shaded, np.ones((3, 3), bool))
        for p in range(1, num + 1):
            px = pieces == p
            if (px.sum() < 16 or not (px & touching).any() or (dist[px] > limit).mean() > 0.1
                    or not (dark[px] > _SHADE_MIN).any()):
                continue
            ys, xs = np.nonzero(px)
            k = int(np.bincount(top[iy[px], ix[px]]).argmax())  # the nearest layer above
            out[j, ys, xs, :3] = ref
            under = out[:j + 1, ys, xs]  # (j + 1, m, 4)
            b = np.zeros((len(ys), 3), np.float32)
            for layer in under:
                la = layer[:, 3:]
                b = layer[:, :3] * la + b * (1.0 - la)
            s = np.clip(1.0 - rgb[ys, xs].sum(1) / np.maximum(b.sum(1), 1e-6), 0.0, 1.0)[:, None]  # (m, 1)
            keep = s[:, 0] > 1.0 / 255.0
            colour = np.clip((rgb[ys, xs] - b * (1.0 - s)) / np.maximum(s, 1e-6), 0.0, 1.0)
            out[k, ys[keep], xs[keep], :3] = colour[keep]
            out[k, ys[keep], xs[keep], 3] = np.maximum(out[k, ys[keep], xs[keep], 3], s[keep, 0])
    return out


def fit_ellipse(ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Conic ``A x² + B xy + C y² + D x + E y = 1`` (coefficients (5,), in coordinates centred on the
    points' mean) fitted by least squares to the points (``ys``, ``xs``) (m,), and the RMS distance (px)
    of the points from it (first-order, algebraic error over gradient length); None when fewer than 12
    points or the conic is not an ellipse."""
    if len(ys) < 12:
        return None
    cy, cx = float(np.mean(ys)), float(np.mean(xs))
    y, x = np.asarray(ys, np.float64) - cy, np.asarray(xs, np.float64) - cx
    design = np.stack([x * x, x * y, y * y, x, y], 1)  # (m, 5)
    coef = np.linalg.lstsq(design, np.ones(len(x)), rcond=None)[0]
    a, b, c, d, e = coef
    if b * b - 4.0 * a * c >= 0.0:
        return None
    value = design @ coef - 1.0  # (m,)
    grad = np.hypot(2 * a * x + b * y + d, b * x + 2 * c * y + e)  # (m,)
    rms = float(np.sqrt(np.mean((value / np.maximum(grad, 1e-9)) ** 2)))
    return np.array([a, b, c, d, e, cy, cx]), rms


def _box_distance(y: np.ndarray, x: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Signed distance (px, negative inside) of points (``y``, ``x``) from the outline of ``box`` =
    (cy, cx, half height, half width, corner radius): a rectangle with rounded corners."""
    cy, cx, hy, hx, r = box
    qy, qx = np.abs(y - cy) - (hy - r), np.abs(x - cx) - (hx - r)
    return np.hypot(np.maximum(qy, 0.0), np.maximum(qx, 0.0)) + np.minimum(np.maximum(qy, qx), 0.0) - r


def fit_rounded_box(ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The axis-aligned rectangle spanned by the outline points (``ys``, ``xs``) (m,), with the corner
    radius (0 to half the shorter side, half-pixel steps) that brings them nearest its outline:
    ((cy, cx, half height, half width, radius), RMS distance in px), or None when fewer than 12 points
    or the box is under 4 px on a side."""
    if len(ys) < 12:
        return None
    y, x = np.asarray(ys, np.float64), np.asarray(xs, np.float64)
    y0, y1, x0, x1 = y.min(), y.max(), x.min(), x.max()
    hy, hx = (y1 - y0) / 2.0, (x1 - x0) / 2.0
    if min(hy, hx) < 2.0:
        return None
    best = None
    for r in np.arange(0.0, min(hy, hx) + 0.25, 0.5):
        box = np.array([(y0 + y1) / 2.0, (x0 + x1) / 2.0, hy, hx, r])
        rms = float(np.sqrt(np.mean(_box_distance(y, x, box) ** 2)))
        if best is None or rms < best[1]:
            best = (box, rms)
    return best


def _inside_box(box: np.ndarray, shape: tuple[int, int], grow: float = 0.5) -> np.ndarray:
    """(H, W) bool: pixel centres inside ``box`` of :func:`fit_rounded_box` grown by ``grow`` px."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return _box_distance(yy.astype(np.float64), xx.astype(np.float64), box) < grow


def _inside(coef: np.ndarray, shape: tuple[int, int], grow: float = 0.5) -> np.ndarray:
    """(H, W) bool: pixel centres inside the ellipse ``coef`` of :func:`fit_ellipse` grown by ``grow`` px
    (first-order distance; the outline pixels it was fitted to lie half a pixel inside the shape's edge)."""
    a, b, c, d, e, cy, cx = coef
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    x, y = xx - cx, yy - cy
    value = a * x * x + b * x * y + c * y * y + d * x + e * y - 1.0
    grad = np.hypot(2 * a * x + b * y + d, b * x + 2 * c * y + e)
    return value < grow * grad


def complete_shapes(stack: np.ndarray, cover: float = 0.5) -> np.ndarray:
    """``stack`` (L, H, W, 4) with every elliptic or box-shaped layer part completed under the layers over it
    (step 2 of the module docstring). A part (a connected piece of a layer's alpha > 0.5, at least 200
    pixels) qualifies when its outline away from the canvas border and from pixels the layers above cover
    by ``cover`` or more lies within 1 px (RMS) of one ellipse, or else of one axis-aligned rectangle with
    rounded corners (:func:`fit_rounded_box`), covering at least 35% of that shape's perimeter, and the
    shape agrees with the part wherever nothing covers it. The shape's pixels the
    layers above cover then join the part, with its median alpha and colours filled from its
    interior."""
    out = np.array(stack, np.float32, copy=True)
    count, h, w = out.shape[:3]
    through = np.ones((h, w), np.float32)  # what the layers above let through
    for k in range(count - 1, 0, -1):
        hidden = (1.0 - through) >= cover  # (H, W)
        if hidden.any():
            _complete_layer_shapes(out[k], hidden)
        through = through * (1.0 - out[k, ..., 3])
    return out


def _complete_layer_shapes(layer: np.ndarray, hidden: np.ndarray) -> None:
    """:func:`complete_shapes` for one layer (H, W, 4), in place; ``hidden`` (H, W): covered above."""
    h, w = hidden.shape
    mask = layer[..., 3] > 0.5
    parts, num = ndimage.label(mask, np.ones((3, 3), bool))
    if num == 0:
        return
    sizes = np.bincount(parts.ravel(), minlength=num + 1)
    near_hidden = dilate_square(hidden, 2)
    frame = np.zeros((h, w), bool)
    frame[:2], frame[-2:], frame[:, :2], frame[:, -2:] = True, True, True, True
    for p in np.nonzero(sizes >= _MIN_PART)[0]:
        if p == 0:
            continue
        part = parts == p
        if not (part & near_hidden).any():
            continue
        edge = part & ~ndimage.binary_erosion(part, np.ones((3, 3), bool))
        outline = edge & ~near_hidden & ~frame
        ys, xs = np.nonzero(outline)
        fitted = fit_ellipse(ys, xs)
        if fitted is not None and fitted[1] <= _OUTLINE_FIT:
            shape = _inside(fitted[0], (h, w))  # (H, W)
        else:
            fitted = fit_rounded_box(ys, xs)
            if fitted is None or fitted[1] > _OUTLINE_FIT:
                continue
            shape = _inside_box(fitted[0], (h, w))  # (H, W)
        rim = shape & ~ndimage.binary_erosion(shape, np.ones((3, 3), bool))
        if len(ys) < _MIN_ARC * rim.sum():
            continue
        seen = ~hidden  # where the part's true extent can be seen
        disagree = (shape ^ part) & seen & ~ndimage.binary_dilation(rim, np.ones((5, 5), bool))
        if disagree.sum() > 0.02 * part.sum():
            continue
        add = shape & hidden & ~mask
        if not add.any():
            continue
        interior = ndimage.binary_erosion(part, np.ones((5, 5), bool)) & ~hidden
        if interior.sum() < 16:
            continue
        fill = push_pull_fill(layer[..., :3], interior.astype(np.float32))  # (H, W, 3)
        layer[add, :3] = fill[add]
        layer[add, 3] = float(np.median(layer[interior, 3]))


def edge_fringes(stack: np.ndarray, rgb: np.ndarray, tolerance: float = 3.0 / 255.0) -> np.ndarray:
    """``stack`` (L, H, W, 4) with the fringe of every layer above the background given its alpha (step 3
    of the module docstring); ``rgb`` (H, W, 3) the image. A fringe pixel has alpha 0 in layer k, touches
    its pixels of alpha > 0.5 and shows an opaque layer j under k; its colour C, j's colour F there
    (push-pull from j's visible pixels away from k) and k's nearest colour K give the alpha
    ``a = (C - F).(K - F) / |K - F|²``; it is kept when in (1/255, 1) with C within ``tolerance`` (RMS)
    of ``a K + (1 - a) F`` and C more than ``tolerance`` from F. Layer k gets alpha a and colour K there."""
    out = np.array(stack, np.float32, copy=True)
    count = len(out)
    alpha = out[..., 3]  # (L, H, W) view
    for k in range(count - 1, 0, -1):
        solid = alpha[k] > 0.5
        if not solid.any():
            continue
        through = np.prod(1.0 - alpha[k + 1:], axis=0) if k + 1 < count else np.ones(alpha.shape[1:], np.float32)
        fringe = dilate_square(solid, 1) & (alpha[k] <= 0) & (through >= 0.99)
        if not fringe.any():
            continue
        opaque = alpha[:k] >= 0.99  # (k, H, W)
        under = k - 1 - np.argmax(opaque[::-1], axis=0)  # (H, W) topmost opaque layer under k
        above_under = np.zeros(fringe.shape, bool)  # a translucent layer between it and k
        for j in range(1, k):
            above_under |= (j > under) & (alpha[j] > 0)
        fringe &= opaque.any(0) & ~above_under
        if not fringe.any():
            continue
        _, (iy, ix) = ndimage.distance_transform_edt(~solid, return_indices=True)
        near = dilate_square(solid, 2)
        for j in np.unique(under[fringe]):
            px = fringe & (under == j)
            seen = (under == j) & ~near & (through >= 0.99)
            for m in range(j + 1, k):
                seen &= alpha[m] <= 0
            if seen.sum() < 16:
                continue
            fill = push_pull_fill(out[j, ..., :3], seen.astype(np.float32))  # (H, W, 3)
            ys, xs = np.nonzero(px)
            c, f = rgb[ys, xs], fill[ys, xs]  # (m, 3)
            ink = out[k, iy[ys, xs], ix[ys, xs], :3]  # (m, 3) the layer's nearest colour
            span = ink - f
            a = ((c - f) * span).sum(1) / np.maximum((span ** 2).sum(1), 1e-6)  # (m,)
            fit = np.sqrt(((c - f - a[:, None] * span) ** 2).mean(1))
            moved = np.sqrt(((c - f) ** 2).mean(1))
            ok = (a > 1.0 / 255.0) & (a < 1.0) & (fit < tolerance) & (moved > tolerance)
            out[k, ys[ok], xs[ok], :3] = ink[ok]
            out[k, ys[ok], xs[ok], 3] = a[ok]
    return out


def ink_specks(stack: np.ndarray, rgb: np.ndarray, reach: int = 2, tolerance: float = 8.0 / 255.0,
               min_share: float = 0.8, max_speck: int = 12) -> np.ndarray:
    """``stack`` (L, H, W, 4) with the specks of every flat layer above the background given to it (step 3
    of the module docstring); ``rgb`` (H, W, 3) the image. A layer is flat when at least ``min_share`` of its
    pixels of alpha > 0.5 lie within twice ``tolerance`` (RMS) of their median colour K (text, a flat
    shape; its anti-aliased edge aside). A speck pixel lies within ``reach`` px of those pixels, has alpha
    <= 0.5 in the layer, nothing over it and an opaque layer under it (not a transparent canvas); its
    colour is within ``tolerance`` (RMS) of K, in a piece of such pixels (outside the layer) of at most
    ``max_speck`` pixels (a longer one is a stroke of another layer in the same colour), and the
    surroundings there (push-pull of the other pixels of a wider band) are more than four times
    ``tolerance`` from K. The layer gets alpha 1 and the image's colour there, so the composite does not
    change."""
    out = np.array(stack, np.float32, copy=True)
    alpha = out[..., 3]  # (L, H, W) view
    for k in range(len(out) - 1, 0, -1):
        solid = alpha[k] > 0.5
        if solid.sum() < 16:
            continue
        colours = out[k][solid][:, :3]  # (m, 3)
        ink = np.median(colours, axis=0)  # (3,)
        if (np.sqrt(((colours - ink) ** 2).mean(-1)) < 2.0 * tolerance).mean() < min_share:
            continue  # not one flat colour (its anti-aliased edge aside)
        through = np.prod(1.0 - alpha[k + 1:], axis=0) if k + 1 < len(out) else np.ones(solid.shape, np.float32)
        band = dilate_square(solid, reach) & ~solid & (through >= 0.99) & (alpha[:k] >= 0.99).any(0)  # (H, W)
        close = np.sqrt(((rgb - ink) ** 2).mean(-1)) < tolerance  # (H, W)
        specks = band & close
        if not specks.any():
            continue
        around = dilate_square(solid, reach + 3) & ~solid & ~close  # (H, W) the surroundings
        if around.sum() < 16:
            continue
        pieces, _ = ndimage.label(close & ~solid, np.ones((3, 3), bool))  # (H, W)
        sizes = np.bincount(pieces.ravel())
        specks &= sizes[pieces] <= max_speck  # small pieces: not a stroke of another layer in the ink colour
        fill = push_pull_fill(rgb, around.astype(np.float32))  # (H, W, 3)
        specks &= np.sqrt(((fill - ink) ** 2).mean(-1)) > 4.0 * tolerance
        out[k, specks, :3] = rgb[specks]
        out[k, specks, 3] = 1.0
    return out
