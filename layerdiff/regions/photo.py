"""Photographs in a design: found by their texture and kept whole, one layer (or the background).

The segmentation cuts a photograph into many small colour regions, and the pair model then scatters
them over several layers (a cap in one, a window in another, the rest in the background). A designer
places a photo as one layer. Here:

1. :func:`photo_areas` finds the photos at the pixel level: a pixel is *textured* when the summed
   absolute Laplacian of its Lab colour exceeds ``lap_threshold`` (flat fills and gradients, even
   quantised to 8 bits, stay below it; anti-aliased edges of flat shapes exceed it along thin lines
   only); an area is textured where at least half the pixels of an 11 x 11 window are. A morphological
   opening (a square of ``open_fraction`` of the longer side) removes the thin textured bands that text
   lines and outlines leave; each remaining component of at least ``min_area`` of the canvas whose
   pixels fill at least ``min_solidity`` of their convex hull is a placed photo, outlined by that hull
   (rectangles, rounded rectangles and discs are convex). Textured components spread over the whole
   canvas (their union spans ``background_span`` of its width and height and the textured pixels make
   up ``background_share`` of it), outlines that cover ``background_cover`` of the canvas and touch
   three of its sides, and placed outlines whose surroundings have a photo's grain
   (:func:`smooth_residual`) make a photo background, outlined by the canvas.
   Before the pair model runs, regions crossing a placed photo's outline are cut along it
   (:func:`split_at_outlines`);
2. :func:`photo_members` gives each region of a region graph its photo: most of its pixels inside the
   outline (for a photo background: the regions with a photo's grain, :func:`region_grain` above
   ``max_grain``, and the rough ones inside its textured body; the others keep the pair model's
   relations); for a placed photo also the grainy
   regions reached from those (the photo's smooth parts; the outline then grows to their hull) and the
   regions inside its bounding box or a band of ``ring`` of the longer side around it (a frame).
   Not a piece of a detected text line (inside its box, at least half flat or of one uniform colour),
   nor an element laid over the photo: a flat region (``flat`` share at least ``element_flat``) of one
   uniform colour or gradient (grain at most ``max_grain``) that stands out from what surrounds
   it (mean Lab distance to a ring outside it at least ``element_step``) and covers less than
   ``element_share`` of a placed photo (``element_share_background`` of a photo background). A region
   of a placed photo that touches the edge of its bounding box is the photo's own (a dark corner the
   textured outline missed, its frame);
3. :func:`keep_photos_whole` edits the pair model's relations before the solver: the regions of one
   photo are one layer (P(same) 1 among them, 0 with the rest), in the bottom layer for a photo
   background and out of it otherwise, under the elements laid over it and over the background;
4. :func:`photo_layers` names the layers that show a photo: the layer of a placed photo covers its
   whole outline (:func:`photo_cover`), and the decomposer completes their hidden parts by exemplar
   inpainting (:func:`layerdiff.completion.complete_stack`, PatchMatch) rather than a smooth fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .config import RegionConfig
from .graph import RegionGraph

__all__ = ["PhotoArea", "textured_pixels", "smooth_residual", "region_grain", "photo_areas", "split_at_outlines",
           "photo_members", "keep_photos_whole", "photo_layers", "photo_cover"]


@dataclass
class PhotoArea:
    """One photograph found in an image: its outline ``mask`` (h, w) bool and whether it is the
    ``background`` (the outline is then the whole canvas); ``lines``: the detected text line boxes
    (x0, y0, x1, y1) of the image, whose letters are never part of a photo; ``core``: (h, w) bool, the
    densely textured pixels found (a photo background's body), or None."""

    mask: np.ndarray
    background: bool
    lines: list[tuple[int, int, int, int]] = field(default_factory=list)
    core: np.ndarray | None = None


def textured_pixels(image: np.ndarray, lap_threshold: float = 3.0, window: int = 11) -> np.ndarray:
    """(h, w) bool: pixels of ``image`` (h, w, 3|4) in [0, 1] where at least half of the ``window`` x
    ``window`` neighbourhood has a summed absolute Lab Laplacian above ``lap_threshold``."""
    from .segment import rgb_to_lab

    lab = rgb_to_lab(np.clip(np.asarray(image, np.float32)[..., :3], 0.0, 1.0))  # (h, w, 3)
    lap = sum(np.abs(ndimage.laplace(lab[..., c], mode="nearest")) for c in range(3))  # (h, w)
    rough = (lap > lap_threshold).astype(np.float32)
    return ndimage.uniform_filter(rough, window, mode="nearest") > 0.5


def _hull(mask: np.ndarray) -> np.ndarray:
    from skimage.morphology import convex_hull_image

    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = convex_hull_image(mask[y0:y1, x0:x1])
    return out


def photo_areas(image: np.ndarray, *, min_area: float = 0.015, open_fraction: float = 0.04,
                min_solidity: float = 0.4, background_span: float = 0.9, background_share: float = 0.25,
                background_cover: float = 0.35, max_residual: float = 0.33 / 255.0, lap_threshold: float = 3.0,
                lines: list[tuple[int, int, int, int]] | None = None,
                ) -> list[PhotoArea]:
    """The photographs of ``image`` (h, w, 3|4) in [0, 1] (module docstring, step 1): a photo background
    alone, or the placed photos (largest first); empty for a flat design. Photos whose outlines together
    cover ``background_cover`` of the canvas and touch three of its sides, or whose surroundings are
    grainy (:func:`smooth_residual` above ``max_residual``: the smooth parts of one photograph, not a
    flat or gradient fill), are one photo background.
    ``lines``: text line boxes (x0, y0, x1, y1) kept with each area (:attr:`PhotoArea.lines`)."""
    lines = list(lines or [])
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    textured = textured_pixels(image, lap_threshold)  # (h, w)
    side = max(2, int(round(open_fraction * max(h, w))))
    core = ndimage.binary_opening(textured, np.ones((side, side), bool))  # thin bands (text, edges) go
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
    if span_y >= background_span and span_x >= background_span and textured.mean() >= background_share:
        return [PhotoArea(np.ones((h, w), bool), True, lines, core)]
    areas: list[PhotoArea] = []
    for k in keep[np.argsort(-sizes[keep - 1], kind="stable")]:
        part = labels == k
        hull = _hull(part)  # (h, w)
        if part.sum() < min_solidity * hull.sum() or any((hull & a.mask).any() for a in areas):
            continue
        areas.append(PhotoArea(hull, False, lines))
    if areas:
        outline = np.logical_or.reduce([a.mask for a in areas])  # (h, w)
        m = side  # the opening may leave a thin margin at the canvas border
        sides = sum(int(edge.any()) for edge in (outline[:m], outline[-m:], outline[:, :m], outline[:, -m:]))
        around = ~ndimage.binary_dilation(outline, iterations=8)  # (h, w) the design around the photos
        if (sides >= 3 and outline.mean() >= background_cover) or smooth_residual(image, around) > max_residual:
            return [PhotoArea(np.ones((h, w), bool), True, lines, core)]
    return areas


def _residual(rgb: np.ndarray, sigma: float = 1.5, edge_step: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of ``rgb`` (h, w, 3): mean absolute difference to its Gaussian blur (``sigma`` px) and
    whether it lies at least 3 px from any colour step above ``edge_step`` (Lab)."""
    from .segment import pixel_features

    _, step = pixel_features(np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), np.float32)], -1))  # (h, w)
    calm = ~ndimage.binary_dilation(step >= edge_step, iterations=3)  # (h, w)
    blur = ndimage.gaussian_filter(rgb, (sigma, sigma, 0))  # (h, w, 3)
    return np.abs(rgb - blur).mean(-1), calm


def region_grain(graph: RegionGraph) -> np.ndarray:
    """(n,) the grain of each region of ``graph``: its mean :func:`smooth_residual` over its pixels away
    from colour steps (RGB, [0, 1]); NaN for a region with none (thin strokes)."""
    residual, calm = _residual(np.asarray(graph.image, np.float32)[..., :3])
    labels = graph.regions.labels.ravel()
    count = np.bincount(labels, calm.ravel().astype(np.float64), minlength=graph.count)
    total = np.bincount(labels, (residual * calm).ravel().astype(np.float64), minlength=graph.count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def smooth_residual(image: np.ndarray, where: np.ndarray, sigma: float = 1.5, edge_step: float = 6.0) -> float:
    """Mean absolute difference (RGB, [0, 1]) between ``image`` (h, w, 3|4) and its Gaussian blur
    (``sigma`` px) over the pixels of ``where`` (h, w) at least 3 px from any colour step above
    ``edge_step`` (Lab): about the quantisation noise (under 0.3/255) on flat fills and gradients, above
    it on the smooth parts of a photograph (sensor grain). 0 when fewer than 5% of the pixels qualify."""
    residual, calm = _residual(np.asarray(image, np.float32)[..., :3], sigma, edge_step)  # (h, w) each
    calm &= where
    if calm.mean() < 0.05:
        return 0.0
    return float(residual[calm].mean())


def split_at_outlines(graph: RegionGraph, areas: list[PhotoArea], config: RegionConfig | None = None,
                      min_part: float = 0.1) -> RegionGraph | None:
    """A new graph whose regions crossing a placed photo's outline are cut along it (a dark corner of
    the photo and the shadow beside it segmented as one region), or None when no region has at least
    ``min_part`` of its pixels (and 16 pixels) on each side."""
    labels = graph.regions.labels
    n = graph.count
    area = np.maximum(graph.regions.area, 1.0)
    out = labels.astype(np.int64)
    fresh = n
    for a in areas:
        if a.background:
            continue
        inner = np.bincount(labels.ravel(), a.mask.ravel().astype(np.float64), minlength=n)  # (n,)
        cut = (inner >= np.maximum(min_part * area, 16)) & (area - inner >= np.maximum(min_part * area, 16))
        if not cut.any():
            continue
        move = a.mask & cut[labels]  # (h, w) the inner parts of the crossing regions
        out[move] = out[move] + fresh  # a new label per crossing region
        fresh += n
    if fresh == n:
        return None
    from skimage.measure import label as connected

    from .graph import graph_from_labels

    parts = connected(out, background=-1, connectivity=2)  # (h, w) each piece connected, numbered from 1
    return graph_from_labels(graph.image, parts - 1, config)


def photo_members(graph: RegionGraph, areas: list[PhotoArea], *, inside: float = 0.6, ring: float = 0.03,
                  element_flat: float = 0.7, element_step: float = 20.0, element_share: float = 0.5,
                  element_share_background: float = 0.15, max_grain: float = 0.33 / 255.0) -> np.ndarray:
    """(n,) int: the photo (index into ``areas``) each region of ``graph`` belongs to, -1 for none (module
    docstring, step 2). A placed photo's :attr:`PhotoArea.mask` grows in place to the hull of its
    members."""
    r = graph.regions
    n = r.count
    member = np.full(n, -1, np.int64)
    if not areas:
        return member
    area = r.area.astype(np.float64)  # (n,)
    flat_labels = r.labels.ravel()
    h, w = r.labels.shape
    grain = region_grain(graph)  # (n,)
    band = max(1, int(round(ring * max(h, w))))
    framed = np.zeros(n, bool)  # regions of a placed photo's edge or frame (never elements laid over it)
    for k, a in enumerate(areas):
        share = np.bincount(flat_labels, a.mask.ravel().astype(np.float64), minlength=n) / np.maximum(area, 1.0)
        if a.background:  # only the photo's own: icons and shapes over it keep the pair model's say
            textured = grain > max_grain  # (n,) smooth parts with a photo's grain
            if a.core is not None:  # rough parts (no calm pixel to measure grain on) in its textured body
                body = np.bincount(flat_labels, a.core.ravel().astype(np.float64), minlength=n)  # (n,)
                textured |= np.isnan(grain) & (body >= inside * area)
            member[(share >= inside) & (member < 0) & textured] = k
            continue
        member[(share >= inside) & (member < 0)] = k
        if not a.background:
            grown = _grow(graph, member, k, grain > max_grain, 0.5 * a.mask.sum())  # smooth parts at its edges
            if grown.any():
                member[grown] = k
                a.mask |= _hull(a.mask | np.isin(r.labels, np.nonzero(member == k)[0]))
            # a flat part of the photo cut by its box's edge (a dark corner) is the photo's
            ys, xs = np.nonzero(a.mask)
            box = np.zeros((h, w), bool)
            box[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
            share = np.bincount(flat_labels, box.ravel().astype(np.float64), minlength=n) / np.maximum(area, 1.0)
            member[(share >= inside) & (member < 0)] = k
            edge = box & ~ndimage.binary_erosion(box, iterations=3)  # (h, w)
            touching = np.bincount(flat_labels, edge.ravel().astype(np.float64), minlength=n) > 0
            framed |= touching & (member == k)
            # a frame or border drawn around the photo
            around = ndimage.binary_dilation(a.mask, np.ones((2 * band + 1,) * 2, bool))  # (h, w)
            share = np.bincount(flat_labels, around.ravel().astype(np.float64), minlength=n) / np.maximum(area, 1.0)
            framed |= (share >= inside) & (member < 0)
            member[(share >= inside) & (member < 0)] = k
    lines = areas[0].lines
    if lines:
        in_line = np.zeros(n)
        for x0, y0, x1, y1 in lines:
            box = np.zeros(r.labels.shape, bool)
            box[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
            inside_box = np.bincount(flat_labels, box.ravel().astype(np.float64), minlength=n)  # (n,)
            in_line = np.maximum(in_line, inside_box / np.maximum(area, 1.0))
        letters = (r.flat >= 0.5) | (grain <= max_grain)  # (n,) flat or without grain: ink, not the photo
        member[(in_line >= 0.9) & letters] = -1
    sizes = np.array([a.mask.sum() * (element_share_background if a.background else element_share)
                      for a in areas])  # (A,) largest element laid over each photo
    candidates = (member >= 0) & ~framed & (r.flat >= element_flat) & (grain <= max_grain) \
        & (area < sizes[np.maximum(member, 0)])  # (n,) flat, uniform (no grain), smaller than the photo
    if candidates.any():
        from .segment import rgb_to_lab

        lab = rgb_to_lab(np.asarray(graph.image, np.float32)[..., :3])  # (h, w, 3)
        for i in np.nonzero(candidates)[0]:
            if _contrast(r.labels, lab, int(i)) >= element_step:
                member[i] = -1
    return member


def _grow(graph: RegionGraph, member: np.ndarray, k: int, grainy: np.ndarray, max_area: float,
          rounds: int = 8) -> np.ndarray:
    """(n,) bool: regions outside every photo reached from photo ``k``'s members through neighbours with
    a photo's grain (``grainy`` (n,) bool; a flat fill or gradient has none), each smaller than
    ``max_area`` pixels: the smooth parts of the photo its textured outline missed."""
    r = graph.regions
    grainy = grainy & (r.area < max_area) & (member < 0)  # (n,)
    mine = member == k
    found = np.zeros(r.count, bool)
    a, b = r.pairs[:, 0], r.pairs[:, 1]
    for _ in range(rounds):
        reach = mine | found
        new = np.zeros(r.count, bool)
        new[b[reach[a]]] = True
        new[a[reach[b]]] = True
        new &= grainy & ~found
        if not new.any():
            break
        found |= new
    return found


def _contrast(labels: np.ndarray, lab: np.ndarray, region: int, gap: int = 2, width: int = 3) -> float:
    """Mean CIE76 distance between the mean Lab colour of ``region`` and the pixels of a ring ``gap`` to
    ``gap + width`` px outside it (past any anti-aliased edge): large for an element laid over a photo,
    small for a flat part of the photo (a sky, a clipped highlight) that fades into its surroundings."""
    ys, xs = np.nonzero(labels == region)
    pad = gap + width + 1
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, labels.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, labels.shape[1])
    mine = labels[y0:y1, x0:x1] == region  # (bh, bw)
    near = ndimage.binary_dilation(mine, iterations=gap)
    ring = ndimage.binary_dilation(mine, iterations=gap + width) & ~near
    if not ring.any():
        return 0.0
    box = lab[y0:y1, x0:x1]  # (bh, bw, 3)
    colour = box[mine].mean(0)  # (3,)
    return float(np.sqrt(((box[ring] - colour) ** 2).sum(-1)).mean())


def keep_photos_whole(same: np.ndarray, above: np.ndarray, background: np.ndarray, member: np.ndarray,
                      areas: list[PhotoArea], graph: RegionGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pair model's relations (same (n, n), above (n, n), background (n,)) with each photo kept whole
    (module docstring, step 3); copies, the inputs are unchanged. ``member``: :func:`photo_members`."""
    same, above, background = same.copy(), above.copy(), background.copy()
    labels = graph.regions.labels
    for k, a in enumerate(areas):
        mine = member == k  # (n,)
        if not mine.any():
            continue
        rest = ~mine
        same[np.ix_(mine, mine)] = 1.0
        same[np.ix_(mine, rest)] = 0.0
        same[np.ix_(rest, mine)] = 0.0
        if a.background:
            background[mine] = 1.0
            continue
        background[mine] = 0.0
        share = np.bincount(labels.ravel(), a.mask.ravel().astype(np.float64), minlength=len(member))
        over = rest & (share >= 0.6 * graph.regions.area)  # elements laid over the photo
        under = rest & (background > 0.5)  # the design's background
        above[np.ix_(over, mine)], above[np.ix_(mine, over)] = 1.0, 0.0
        above[np.ix_(mine, under)], above[np.ix_(under, mine)] = 1.0, 0.0
    return same, above, background


def photo_layers(own: np.ndarray, areas: list[PhotoArea], textured: np.ndarray | None = None,
                 image: np.ndarray | None = None, min_share: float = 0.5) -> np.ndarray:
    """(K,) bool: the layers, given by their own visible pixels ``own`` (K, h, w), that show a photo: at
    least ``min_share`` of their pixels inside a photo's outline and at least a quarter of them
    textured (:func:`textured_pixels` of ``image``, or ``textured`` (h, w) when given)."""
    count = own.shape[0]
    out = np.zeros(count, bool)
    if not areas:
        return out
    if textured is None:
        if image is None:
            raise ValueError("photo_layers needs the textured pixels or the image")
        textured = textured_pixels(image)
    outline = np.logical_or.reduce([a.mask for a in areas])  # (h, w)
    pixels = np.maximum(own.sum((1, 2)), 1)  # (K,)
    out = ((own & outline).sum((1, 2)) >= min_share * pixels) & ((own & textured).sum((1, 2)) >= 0.25 * pixels)
    return out


def photo_cover(cover: np.ndarray, layers: np.ndarray, areas: list[PhotoArea]) -> np.ndarray:
    """``cover`` (K, h, w) bool, the pixels each layer covers, with each placed photo's layer covering
    its whole outline (what the elements laid over it hide, whether or not its regions enclose them);
    ``layers``: (K,) bool, the layers that show a photo (:func:`photo_layers`). A copy."""
    cover = cover.copy()
    for k in np.nonzero(layers)[0]:
        for a in areas:
            if not a.background and (cover[k] & a.mask).sum() >= 0.5 * a.mask.sum():
                cover[k] |= a.mask
    return cover
