"""Translucent shapes on a transparent canvas: overlapping discs and panels, each one colour at one opacity.

Where translucent shapes overlap (a Venn diagram, the psd-tools blend-mode files), every overlap is a flat
region of its own colour, and the region layerer makes the overlaps layers instead of the shapes. Here the
shapes are read from the picture itself:

1. the picture qualifies when its canvas is transparent (at least 5% of the pixels) and its paint is
   translucent (most interior pixels under 0.95 alpha);
2. a *shape* is the colour and opacity of the regions lying along the canvas (at least a fifth of their
   outline on it: where one shape is seen alone), like-coloured ones taken together; its extent is the
   convex hull of those regions and of the regions next to them (the overlaps it takes part in);
3. the shapes are kept only if they explain the picture's alpha: the union ``1 - prod(1 - a_k)`` of their
   opacities over their hulls matches the alpha within 0.04 on average and within 0.1 on 95% of the pixels
   (translucent shapes composite to that alpha in every blend mode);
4. each pair of overlapping shapes is ordered by which of the two "over" composites (normal blending)
   explains the colour seen where only they overlap (within 0.06, summed over sRGB, and clearly better
   than the other); the shapes are stacked by their wins, ties (other blend modes, which normal blending
   does not explain) in reading order: the shape first met from the top-left at the bottom.

Each layer is its shape's colour at its opacity over its hull, its outline anti-aliased by the share of
each edge pixel that explains the picture's alpha; the decomposer's exact recomposition then puts what
other blend modes change into the layers' pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from ..morphology import dilate_square, erode_square

__all__ = ["translucent_shapes"]

_CLEAR = 0.02  # alpha under which a pixel is canvas
_SAME = 0.04  # largest colour (sRGB) or opacity difference of two regions of one shape
_EXPLAINED = 0.06  # largest summed sRGB error of an "over" composite that explains an overlap's colour
_ALONG = 0.2  # least share of a region's outline on the canvas for it to show a shape alone


def _hull(mask: np.ndarray) -> np.ndarray:
    """(h, w) bool: the convex hull of ``mask`` (h, w) rasterised (the mask itself when degenerate)."""
    ys, xs = np.nonzero(mask & ~ndimage.binary_erosion(mask))
    out = mask.copy()
    if len(xs) < 3:
        return out
    points = np.stack([xs, ys], 1).astype(np.float64)
    try:
        verts = points[ConvexHull(points).vertices]
    except QhullError:
        return out
    im = Image.new("1", (mask.shape[1], mask.shape[0]), 0)
    ImageDraw.Draw(im).polygon([(float(x), float(y)) for x, y in verts], fill=1, outline=1)
    return out | np.asarray(im, dtype=bool)


def _over(top: np.ndarray, a_top: float, bottom: np.ndarray, a_bottom: float) -> np.ndarray:
    """Straight colour (3,) of ``top`` at ``a_top`` over ``bottom`` at ``a_bottom`` (normal blending)."""
    alpha = a_top + a_bottom * (1.0 - a_top)
    return (top * a_top + bottom * a_bottom * (1.0 - a_top)) / max(alpha, 1e-6)


def _coverage(hulls: np.ndarray, a: np.ndarray, k: int, alpha: np.ndarray, claim: np.ndarray) -> np.ndarray:
    """(h, w) share of each pixel that shape ``k`` covers: 1 inside its hull ``hulls[k]`` (K, h, w), 0
    outside, and on the 1-px band along its outline the share that explains the picture's ``alpha``
    (h, w) between the other shapes' union alpha without it and with it (alpha composites the same in
    every blend mode): anti-aliased edges, also where another shape's edge crosses. Of the band's pixels
    outside the hull only those in ``claim`` (h, w) count (where two shapes' outer bands meet, the one
    nearest in colour), so that two shapes do not both take one edge pixel."""
    hull = hulls[k]
    out = hull.astype(np.float32)
    band = (dilate_square(hull, 1) & ~erode_square(hull, 1)) & (hull | claim)  # (h, w)
    others = np.delete(np.arange(len(a)), k)
    without = 1.0 - np.prod(1.0 - a[others, None, None] * hulls[others], axis=0)  # (h, w)
    with_k = 1.0 - (1.0 - a[k]) * (1.0 - without)
    share = (alpha - without) / np.maximum(with_k - without, 1e-6)
    out[band] = np.clip(share[band], 0.0, 1.0)
    return out


def translucent_shapes(img: np.ndarray, labels: np.ndarray, wanted: int | None = None,
                       max_layers: int = 8, min_area: float = 0.002) -> np.ndarray | None:
    """Layers (K, h, w, 4) of ``img`` (h, w, 4) straight alpha, bottom first, when it is translucent
    shapes on a transparent canvas that explain its alpha (module docstring); None otherwise, or when
    the shapes are not ``wanted`` in number (or more than ``max_layers``). ``labels`` (h, w): its
    flat-colour regions; regions under ``min_area`` of the canvas do not show a shape."""
    alpha, rgb = img[..., 3], img[..., :3]
    h, w = alpha.shape
    canvas = alpha < _CLEAR
    drawn = ~canvas
    if canvas.mean() < 0.05 or drawn.mean() < 0.05:
        return None
    interior = ndimage.binary_erosion(drawn, iterations=2)
    if not interior.any() or (alpha[interior] >= 0.95).mean() > 0.5:
        return None  # opaque paint: not translucent shapes
    # 2. the regions seen alone (along the canvas) and what they overlap
    n = int(labels.max()) + 1
    area = np.bincount(labels.ravel(), minlength=n)
    paint = np.bincount(labels.ravel(), drawn.ravel(), minlength=n) > 0.5 * area  # (n,) drawn regions
    near_canvas = ndimage.binary_dilation(canvas, np.ones((3, 3), bool))
    border = (labels != ndimage.grey_erosion(labels, size=(3, 3))) | (
        labels != ndimage.grey_dilation(labels, size=(3, 3)))  # (h, w) pixels on a region's outline
    outline = np.bincount(labels[border], minlength=n).astype(np.float64)
    along = np.bincount(labels[border & near_canvas & drawn], minlength=n).astype(np.float64)
    big = paint & (area >= min_area * h * w)
    seen_alone = big & (along >= _ALONG * np.maximum(outline, 1.0))
    if seen_alone.sum() < 2:
        return None
    colour = np.zeros((n, 3))
    opacity = np.zeros(n)
    for r in np.nonzero(big)[0]:
        inner = ndimage.binary_erosion(labels == r)
        pick = inner if inner.sum() >= 8 else labels == r
        colour[r] = np.median(rgb[pick], axis=0)
        opacity[r] = float(np.median(alpha[pick]))
    shapes: list[list[int]] = []
    for r in np.nonzero(seen_alone)[0]:
        for s in shapes:
            if np.abs(colour[s[0]] - colour[r]).max() < _SAME and abs(opacity[s[0]] - opacity[r]) < _SAME:
                s.append(int(r))
                break
        else:
            shapes.append([int(r)])
    count = len(shapes)
    if count < 2 or count > max_layers or (wanted is not None and wanted != count):
        return None
    # regions next to each other (4-neighbours)
    pairs = np.concatenate([np.stack([labels[:, 1:].ravel(), labels[:, :-1].ravel()], 1),
                            np.stack([labels[1:].ravel(), labels[:-1].ravel()], 1)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    touch = np.zeros((n, n), bool)
    touch[pairs[:, 0], pairs[:, 1]] = True
    touch |= touch.T
    hulls = np.zeros((count, h, w), bool)
    for k, members in enumerate(shapes):
        next_to = touch[members].any(0) & big & ~seen_alone  # (n,) the overlaps it takes part in
        hulls[k] = _hull(np.isin(labels, np.concatenate([members, np.nonzero(next_to)[0]])))
    hulls &= drawn[None]  # nothing where the picture is transparent
    a = np.array([opacity[s[0]] for s in shapes])  # (K,)
    c = np.array([colour[s[0]] for s in shapes])  # (K, 3)
    # 3. the shapes must explain the alpha
    union = 1.0 - np.prod(1.0 - a[:, None, None] * hulls, axis=0)  # (h, w)
    err = np.abs(union - alpha)[interior | canvas]
    if err.mean() > 0.04 or (err > 0.1).mean() > 0.05:
        return None
    # 4. order the shapes by the colours where only two overlap
    wins = np.zeros(count)
    cover = hulls.sum(0)  # (h, w)
    core = interior & (cover == 2)
    for j in range(count):
        for k in range(j + 1, count):
            both = core & hulls[j] & hulls[k]
            if both.sum() < 8:
                continue
            seen = np.median(rgb[both], axis=0)
            j_top = np.abs(_over(c[j], a[j], c[k], a[k]) - seen).sum()
            k_top = np.abs(_over(c[k], a[k], c[j], a[j]) - seen).sum()
            if min(j_top, k_top) < _EXPLAINED and abs(j_top - k_top) > 0.5 * _EXPLAINED:
                wins[j if j_top < k_top else k] += 1  # decisive: normal blending explains the overlap
    first = [int(np.flatnonzero(np.isin(labels, s)).min()) for s in shapes]  # (K,) raster index met first
    order = np.lexsort((first, wins))  # fewest wins at the bottom; ties in reading order
    outer = np.stack([dilate_square(m, 1) & ~m for m in hulls]) & drawn[None]  # (K, h, w) just outside
    nearest = np.argmin(np.abs(rgb[None] - c[:, None, None]).sum(-1), axis=0)  # (h, w)
    shared = outer.sum(0) > 1  # (h, w) edge pixels two shapes could take
    stack = np.zeros((count, h, w, 4), np.float32)
    for i, k in enumerate(order):
        stack[i, ..., :3] = c[k]
        stack[i, ..., 3] = a[k] * _coverage(hulls, a, k, alpha, outer[k] & (~shared | (nearest == k)))
    stack[..., :3] *= stack[..., 3:] > 0
    return stack
