"""Photographs in a design: found by their dense texture and kept whole, one layer (or the background).

The segmentation cuts a photograph into many small colour regions and the pair model scatters them over
several layers. Here, before the solver runs:

1. :func:`find_photos` finds the photos at the pixel level. A pixel is *textured* when at least half of
   its 11 x 11 neighbourhood has a summed absolute Lab Laplacian above ``lap_threshold`` (flat fills,
   gradients, stripes and dots stay below it away from their edges; anti-aliased edges exceed it along
   thin lines only). A morphological opening (a square of ``open_fraction`` of the longer side) removes
   the thin textured bands of text and outlines; the remaining components of at least ``min_area`` of
   the canvas are the photo *cores*. Cores spread over the whole canvas make a photo background. Any
   other core is a placed photo only when a rectangle or an ellipse fitted to its bounding box matches
   its convex hull (soft IoU at least ``min_fit``) and the core fills at least ``min_density`` of that
   outline: a photo is placed in a frame, a cluster of shaded icons or emoji pieces is not.
2. :func:`split_at_outlines` cuts the regions that cross a placed photo's outline along it.
3. :func:`photo_members` names the regions of each photo: for a placed photo the regions with at least
   ``inside`` of their pixels inside its fitted outline, and its frame (regions mostly outside it with
   ``inside`` of their pixels within a band of ``ring`` of the canvas side); for a photo background the
   regions with at
   least ``inside`` of their pixels in its textured core, and those the pair model puts in the
   background. Never a member: a region of one uniform colour
   (at least ``uniform`` of its pixels within ``tolerance`` of its median Lab colour: ink, a flat shape;
   a photo's segments vary with its texture and grain) that stands out from what surrounds it (an
   element laid over the photo), or that lies in a detected text line (a letter).
4. :func:`keep_photos_whole` edits the pair model's relations: the members of one photo are one layer
   (the bottom layer for a photo background); for a placed photo, the elements inside its outline are
   other layers above it and the design's background lies under it. Relations with every other region
   stay as the pair model says (a sliver of the photo the core missed may still join it).
5. :func:`photo_cover`: the layer of a placed photo covers its outline (the hull of its visible part).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .config import RegionConfig
from .graph import RegionGraph

__all__ = ["PhotoArea", "textured_pixels", "fit_outline", "find_photos", "split_at_outlines", "photo_members",
           "keep_photos_whole", "photo_cover"]


@dataclass
class PhotoArea:
    """One photograph found in an image: its ``outline`` (h, w) bool (the whole canvas for a photo
    background), its textured ``core`` (h, w) bool, whether it is the ``background``, the ``shape`` of
    its outline ("rectangle", "ellipse" or "canvas") and the text line boxes (x0, y0, x1, y1) of the
    image, whose letters are never part of a photo."""

    outline: np.ndarray
    core: np.ndarray
    background: bool
    shape: str
    lines: list[tuple[int, int, int, int]] = field(default_factory=list)


def textured_pixels(image: np.ndarray, lap_threshold: float = 3.0, window: int = 11) -> np.ndarray:
    """(h, w) bool: pixels of ``image`` (h, w, 3|4) in [0, 1] where at least half of the ``window`` x
    ``window`` neighbourhood has a summed absolute Lab Laplacian above ``lap_threshold``."""
    from .segment import rgb_to_lab

    lab = rgb_to_lab(np.clip(np.asarray(image, np.float32)[..., :3], 0.0, 1.0))  # (h, w, 3)
    lap = sum(np.abs(ndimage.laplace(lab[..., c], mode="nearest")) for c in range(3))  # (h, w)
    rough = (lap > lap_threshold).astype(np.float32)  # (h, w)
    return ndimage.uniform_filter(rough, window, mode="nearest") > 0.5


def fit_outline(part: np.ndarray) -> tuple[np.ndarray, str, float]:
    """The rectangle or ellipse spanning the bounding box of ``part`` (h, w) bool that best matches its
    convex hull: (outline (h, w) bool, "rectangle" or "ellipse", IoU of the outline with the hull). A
    rounded rectangle matches its rectangle closely."""
    from skimage.morphology import convex_hull_image

    ys, xs = np.nonzero(part)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    hull = np.zeros_like(part)
    hull[y0:y1, x0:x1] = convex_hull_image(part[y0:y1, x0:x1])
    rect = np.zeros_like(part)
    rect[y0:y1, x0:x1] = True
    yy, xx = np.mgrid[y0:y1, x0:x1]
    cy, cx, ry, rx = (y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
    ellipse = np.zeros_like(part)
    ellipse[y0:y1, x0:x1] = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    best = (rect, "rectangle", 0.0)
    for outline, name in ((rect, "rectangle"), (ellipse, "ellipse")):
        iou = float((outline & hull).sum() / max((outline | hull).sum(), 1))
        if iou > best[2]:
            best = (outline, name, iou)
    return best


def find_photos(image: np.ndarray, lines: list[tuple[int, int, int, int]] | None = None, *,
                min_area: float = 0.02, open_fraction: float = 0.04, min_fit: float = 0.85,
                min_density: float = 0.6, background_span: float = 0.9, background_share: float = 0.35,
                lap_threshold: float = 3.0) -> list[PhotoArea]:
    """The photographs of ``image`` (h, w, 3|4) in [0, 1] (module docstring, step 1): a photo background
    alone, or the placed photos (largest first); empty for a flat design. ``lines``: the text line boxes
    kept with each area."""
    lines = list(lines or [])
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    textured = textured_pixels(image, lap_threshold)  # (h, w)
    if textured.sum() < min_area * h * w:  # the opening only removes pixels: no core can reach min_area
        return []
    side = max(2, int(round(open_fraction * max(h, w))))
    core = ndimage.binary_opening(textured, np.ones((side, side), bool))  # (h, w) thin bands removed
    labels, count = ndimage.label(core)
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]  # (count,)
    keep = np.nonzero(sizes >= min_area * h * w)[0] + 1
    if not len(keep):
        return []
    union = np.isin(labels, keep)  # (h, w)
    ys, xs = np.nonzero(union)
    span_y, span_x = (ys.max() - ys.min() + 1) / h, (xs.max() - xs.min() + 1) / w
    if span_y >= background_span and span_x >= background_span and union.mean() >= background_share:
        return [PhotoArea(np.ones((h, w), bool), union, True, "canvas", lines)]
    areas: list[PhotoArea] = []
    for k in keep[np.argsort(-sizes[keep - 1], kind="stable")]:
        part = labels == k  # (h, w)
        outline, shape, fit = fit_outline(part)
        if fit < min_fit or part.sum() < min_density * outline.sum():
            continue
        if any((outline & a.outline).any() for a in areas):
            continue
        areas.append(PhotoArea(outline, part, False, shape, lines))
    return areas


def split_at_outlines(graph: RegionGraph, areas: list[PhotoArea], config: RegionConfig | None = None,
                      min_part: float = 0.1) -> RegionGraph | None:
    """A new graph whose regions crossing a placed photo's outline are cut along it (a dark corner of the
    photo and the shadow beside it segmented as one region), or None when no region has at least
    ``min_part`` of its pixels (and 16 pixels) on each side."""
    labels = graph.regions.labels
    n = graph.count
    area = np.maximum(graph.regions.area, 1.0)  # (n,)
    out = labels.astype(np.int64)
    fresh = n
    for a in areas:
        if a.background:
            continue
        inner = np.bincount(labels.ravel(), a.outline.ravel().astype(np.float64), minlength=n)  # (n,)
        least = np.maximum(min_part * area, 16)
        cut = (inner >= least) & (area - inner >= least)  # (n,)
        if not cut.any():
            continue
        move = a.outline & cut[labels]  # (h, w) the inner parts of the crossing regions
        out[move] = out[move] + fresh
        fresh += n
    if fresh == n:
        return None
    from skimage.measure import label as connected

    from .graph import graph_from_labels

    parts = connected(out, background=-1, connectivity=2)  # (h, w) each piece connected, from 1
    return graph_from_labels(graph.image, parts - 1, config)


def photo_members(graph: RegionGraph, areas: list[PhotoArea], in_background: np.ndarray | None = None, *,
                  inside: float = 0.9, ring: float = 0.03, uniform: float = 0.6, tolerance: float = 3.0,
                  element_step: float = 20.0) -> np.ndarray:
    """(n,) int: the photo (index into ``areas``) each region of ``graph`` belongs to, -1 for none
    (module docstring, step 3). ``in_background``: (n,) bool, the regions the pair model puts in the
    background, members of a photo background too unless they are elements."""
    r = graph.regions
    n = r.count
    member = np.full(n, -1, np.int64)
    if not areas:
        return member
    area = np.maximum(r.area.astype(np.float64), 1.0)  # (n,)
    flat_labels = r.labels.ravel()
    framed = np.zeros(n, bool)  # (n,) frames of placed photos: never elements
    for k, a in enumerate(areas):
        where = a.core if a.background else a.outline  # (h, w)
        share = np.bincount(flat_labels, where.ravel().astype(np.float64), minlength=n) / area  # (n,)
        found = share >= inside
        if a.background and in_background is not None:
            found |= in_background
        member[found & (member < 0)] = k
        if not a.background:  # a frame drawn around the photo: mostly in a band of ``ring`` around it
            band = max(1, int(round(ring * max(r.labels.shape))))
            around = ndimage.binary_dilation(a.outline, np.ones((2 * band + 1,) * 2, bool))  # (h, w)
            near = np.bincount(flat_labels, around.ravel().astype(np.float64), minlength=n) / area  # (n,)
            frame = (near >= inside) & (share < 0.5) & (member < 0)  # (n,)
            member[frame] = k
            framed |= frame
    in_line = np.zeros(n)
    for x0, y0, x1, y1 in areas[0].lines:
        box = np.zeros(r.labels.shape, bool)
        box[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
        in_line = np.maximum(in_line, np.bincount(flat_labels, box.ravel().astype(np.float64), minlength=n) / area)
    candidates = np.nonzero((member >= 0) & ~framed)[0]
    if len(candidates):
        from .segment import rgb_to_lab

        lab = rgb_to_lab(np.asarray(graph.image, np.float32)[..., :3])  # (h, w, 3)
        for i in candidates:
            flat, step = _uniform_and_contrast(r.labels, lab, int(i), tolerance)
            if flat >= uniform and (step >= element_step or in_line[i] >= 0.9):
                member[i] = -1
    return member


def _uniform_and_contrast(labels: np.ndarray, lab: np.ndarray, region: int, tolerance: float, gap: int = 2,
                          width: int = 3) -> tuple[float, float]:
    """The share of the pixels of ``region`` within ``tolerance`` (CIE76) of its median Lab colour, and
    the mean CIE76 distance between that colour and the pixels of a ring ``gap`` to ``gap + width`` px
    outside it: large for an element laid over a photo, small for a flat part of the photo (a sky, a
    clipped highlight) that fades into its surroundings."""
    ys, xs = np.nonzero(labels == region)
    pad = gap + width + 1
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, labels.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, labels.shape[1])
    mine = labels[y0:y1, x0:x1] == region  # (bh, bw)
    box = lab[y0:y1, x0:x1]  # (bh, bw, 3)
    colour = np.median(box[mine], 0)  # (3,)
    flat = float((np.sqrt(((box[mine] - colour) ** 2).sum(-1)) <= tolerance).mean())
    near = ndimage.binary_dilation(mine, iterations=gap)
    ring = ndimage.binary_dilation(mine, iterations=gap + width) & ~near
    if not ring.any():
        return flat, 0.0
    return flat, float(np.sqrt(((box[ring] - colour) ** 2).sum(-1)).mean())


def keep_photos_whole(same: np.ndarray, above: np.ndarray, background: np.ndarray, graph: RegionGraph,
                      areas: list[PhotoArea]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pair model's relations (same (n, n), above (n, n), background (n,)) of ``graph``'s regions with
    each photo of ``areas`` kept whole (module docstring, step 4); copies, the inputs are unchanged."""
    same, above, background = same.copy(), above.copy(), background.copy()
    member = photo_members(graph, areas, background > 0.5)  # (n,)
    area = np.maximum(graph.regions.area.astype(np.float64), 1.0)
    labels = graph.regions.labels.ravel()
    for k, a in enumerate(areas):
        mine = member == k  # (n,)
        if not mine.any():
            continue
        same[np.ix_(mine, mine)] = 1.0
        if a.background:
            background[mine] = 1.0
            continue
        share = np.bincount(labels, a.outline.ravel().astype(np.float64), minlength=len(member)) / area
        over = ~mine & (share >= 0.6)  # (n,) elements laid over the photo
        under = ~mine & ~over & (background > 0.5)  # (n,) the design's background
        background[mine] = 0.0
        same[np.ix_(mine, over | under)] = 0.0
        same[np.ix_(over | under, mine)] = 0.0
        above[np.ix_(over, mine)], above[np.ix_(mine, over)] = 1.0, 0.0
        above[np.ix_(mine, under)], above[np.ix_(under, mine)] = 1.0, 0.0
    return same, above, background


def photo_cover(cover: np.ndarray, own: np.ndarray, areas: list[PhotoArea], min_share: float = 0.5) -> np.ndarray:
    """``cover`` (K, h, w) bool, the pixels each layer covers, with the layer of each placed photo (the
    layer holding at least ``min_share`` of the pixels of its outline) covering the convex hull of its
    visible pixels ``own`` (K, h, w) in the outline (what the elements laid over it hide; a rounded
    corner stays outside). A copy."""
    from skimage.morphology import convex_hull_image

    cover = cover.copy()
    for a in areas:
        if a.background:
            continue
        inside = (own & a.outline).sum((1, 2))  # (K,)
        k = int(np.argmax(inside))
        if inside[k] >= min_share * max(int(a.outline.sum()), 1):
            cover[k] |= convex_hull_image(own[k] & a.outline) & a.outline
    return cover
