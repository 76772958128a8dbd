"""The region graph of an image: flat-colour regions, their convex hulls, the enclosure tree and its
ancestry.

Shared by the non-learned ``cluster-matting`` decomposer and the learned region layerer: both start
from the same partition (:func:`layerdiff.regions.segment.segment_regions`) and the same heuristic
enclosure tree (:func:`layer_tree`), and differ only in how regions are assigned to layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from .config import RegionConfig
from .segment import Regions, regions_from_labels, segment_regions

__all__ = ["Hulls", "LayerTree", "RegionGraph", "ancestors", "layer_tree", "region_graph", "graph_from_labels",
           "visible_layer_counts", "relation_targets"]


class Hulls:
    """Convex hulls of regions, rasterised inside each region's bounding box, computed on demand."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels
        self.slices = ndimage.find_objects(labels + 1)
        self._cache: dict[int, np.ndarray] = {}

    def hull(self, r: int) -> np.ndarray:
        """Boolean hull of region ``r`` over its bounding box ``self.slices[r]``."""
        if r not in self._cache:
            sl = self.slices[r]
            mask = self.labels[sl] == r  # (bh, bw)
            ys, xs = np.nonzero(mask & ~ndimage.binary_erosion(mask))
            filled = mask.copy()
            if len(xs) >= 3 and len(np.unique(xs)) > 1 and len(np.unique(ys)) > 1:
                centres = np.stack([xs, ys], 1)
                try:
                    verts = centres[ConvexHull(centres).vertices]
                    im = Image.new("1", (mask.shape[1], mask.shape[0]), 0)
                    ImageDraw.Draw(im).polygon([(float(x), float(y)) for x, y in verts], fill=1)
                    filled |= np.asarray(im, dtype=bool)
                except QhullError:
                    filled[:] = True  # degenerate (a line): its bounding box
            self._cache[r] = filled
        return self._cache[r]

    def inside(self, r: int, pixels_of: np.ndarray | int) -> int:
        """How many pixels of region(s) ``pixels_of`` lie inside the hull of region ``r``."""
        sl = self.slices[r]
        sub = self.labels[sl]
        sel = np.isin(sub, pixels_of) if isinstance(pixels_of, np.ndarray) else sub == pixels_of
        return int((self.hull(r) & sel).sum())


@dataclass
class LayerTree:
    """Region ordering: ``parent`` (n,) enclosing region (-1: root), ``level`` (n,) layer level, and
    ``over`` pairs (b, a): region b lies over its sibling a and hides part of a's convex hull."""

    parent: np.ndarray
    level: np.ndarray
    over: list[tuple[int, int]]


def ancestors(parent: np.ndarray) -> np.ndarray:
    """(n, n) bool: ``[a, b]`` is True when region a encloses region b (a is on b's parent chain)."""
    n = len(parent)
    anc = np.zeros((n, n), bool)
    for b in range(n):
        node, steps = parent[b], 0
        while node >= 0 and steps < n:
            anc[node, b] = True
            node, steps = parent[node], steps + 1
    return anc


def _background_like(regions: Regions, similar_delta_e: float) -> np.ndarray:
    """Regions that belong to the background layer whatever their neighbours: textured (mostly non-flat
    pixels: photos, noise); touching the image border along >= 25% of their outline, or repeating
    (>= 3 border-touching regions of one colour: stripes, patterns), or non-uniform (colour spread >
    0.75 Lab units: gradients, photo parts); non-uniform and bordered mostly by background-like regions."""
    outline = regions.border.copy()
    np.add.at(outline, regions.pairs[:, 0], regions.shared)
    np.add.at(outline, regions.pairs[:, 1], regions.shared)
    touching = regions.border > 0
    col = regions.colour
    dist = np.sqrt(((col[:, None] - col[None]) ** 2).sum(-1))  # (n, n)
    repeats = ((dist < similar_delta_e) & touching[None]).sum(1)  # (n,) similar border-touching regions
    uneven = regions.spread > 0.75  # not a uniform fill: photo parts, gradients
    background = (regions.flat < 0.5) | (touching & ((regions.border >= 0.25 * outline) | (repeats >= 3)
                                                     | uneven))
    # parts of a photo: non-uniform regions bordered mostly by the background spread it
    for _ in range(4):
        bg_shared = np.zeros(regions.count)
        a, b = regions.pairs[:, 0], regions.pairs[:, 1]
        np.add.at(bg_shared, a, regions.shared * background[b])
        np.add.at(bg_shared, b, regions.shared * background[a])
        grow = ~background & uneven & (bg_shared >= 0.5 * outline)
        if not grow.any():
            break
        background |= grow
    return background


def layer_tree(regions: Regions, similar_delta_e: float, hulls: Hulls | None = None) -> LayerTree:
    """Order the regions of a graphic into layers (root: the largest region, level 0).

    - background: the root and the background-like regions (textured, on the border, repeating);
    - enclosure: a region's parent is the larger neighbour sharing the most boundary with it whose
      convex hull holds >= 80% of it (text on a panel); otherwise it lies on the background (and is part
      of it when it has no larger neighbour and touches the image border);
    - holes: a region coloured like its grandparent, touching no border, whose parent is < 8x its area,
      belongs with the grandparent (the counter of an "O");
    - occlusion between adjacent siblings: b lies over a when clearly more of b falls inside a's convex
      hull than of a inside b's (a disc notched by a box has part of the box in its hull);
    - level: longest chain of "on" / "over" relations (cycles are cut after n rounds).
    """
    n = regions.count
    area = regions.area
    hulls = hulls or Hulls(regions.labels)
    order = np.argsort(-area, kind="stable")
    root = int(order[0])
    candidates: list[list[tuple[float, int]]] = [[] for _ in range(n)]
    for (a, b), s in zip(regions.pairs, regions.shared):
        for child, other in ((a, b), (b, a)):
            if area[other] > area[child] or (area[other] == area[child] and other < child):
                candidates[child].append((s, int(other)))
    parent = np.full(n, -1, np.int64)
    on_background = _background_like(regions, similar_delta_e)
    for c in range(n):
        if c == root or on_background[c]:
            parent[c] = -1 if c == root else root
            continue
        for _, p in sorted(candidates[c], reverse=True):
            if p == root or hulls.inside(p, c) >= 0.8 * area[c]:
                parent[c] = p
                break
        if parent[c] < 0:
            parent[c] = root
            on_background[c] = not candidates[c] and regions.border[c] > 0
    on_background[root] = False
    for c in order[1:]:  # holes; parents come before children (larger area first)
        p = parent[c]
        g = parent[p]
        if g < 0 or on_background[c] or regions.border[c] > 0 or area[p] >= 8 * area[c]:
            continue
        if np.sqrt(((regions.colour[c] - regions.colour[g]) ** 2).sum()) < similar_delta_e:
            parent[c] = parent[g]
            on_background[c] = on_background[g] or parent[g] < 0
    over: list[tuple[int, int]] = []
    for a, b in regions.pairs:
        a, b = int(a), int(b)
        if parent[a] != parent[b] or root in (a, b) or on_background[a] or on_background[b]:
            continue
        b_in_a, a_in_b = hulls.inside(a, b), hulls.inside(b, a)
        if b_in_a > 2 * a_in_b and b_in_a >= max(4.0, 0.005 * area[a]):
            over.append((b, a))
        elif a_in_b > 2 * b_in_a and a_in_b >= max(4.0, 0.005 * area[b]):
            over.append((a, b))
    under: list[list[int]] = [[] for _ in range(n)]
    for top, low in over:
        under[top].append(low)
    level = np.zeros(n, np.int64)
    for _ in range(n + 1):
        changed = False
        for c in order:
            base = 0 if (c == root or on_background[c]) else level[parent[c]] + 1
            for low in under[c]:
                base = max(base, level[low] + 1)
            if base != level[c]:
                level[c], changed = base, True
        if not changed:
            break
    level = np.unique(level, return_inverse=True)[1].astype(np.int64)  # no empty levels
    return LayerTree(parent, level, over)


@dataclass
class RegionGraph:
    """Regions of one (h, w, 4) image with their hulls and the heuristic enclosure tree."""

    image: np.ndarray
    regions: Regions
    hulls: Hulls
    tree: LayerTree
    _ancestry: np.ndarray | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return self.regions.count

    @property
    def ancestry(self) -> np.ndarray:
        """(n, n) bool, computed once: ``[a, b]`` is True when region a encloses region b in the tree."""
        if self._ancestry is None:
            self._ancestry = ancestors(self.tree.parent)
        return self._ancestry


def region_graph(image: np.ndarray, config: RegionConfig | None = None) -> RegionGraph:
    """Segment ``image`` (h, w, 4 straight alpha in [0, 1]) and build its enclosure tree."""
    cfg = config or RegionConfig()
    h, w = image.shape[:2]
    regions = segment_regions(image, cfg.max_colours, cfg.merge_delta_e, cfg.similar_delta_e,
                              cfg.flat_threshold, max(4, int(cfg.min_area_fraction * h * w)), cfg.seed)
    return _graph(image, regions, cfg)


def _graph(image: np.ndarray, regions: Regions, cfg: RegionConfig) -> RegionGraph:
    hulls = Hulls(regions.labels)
    return RegionGraph(image, regions, hulls, layer_tree(regions, cfg.similar_delta_e, hulls))


def visible_layer_counts(labels: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """Per region, how many of its pixels show each ground-truth layer: (n, L) counts.

    A pixel shows the top-most layer whose alpha exceeds 0.5 there (the bottom layer otherwise).
    ``labels`` (h, w) region ids; ``stack`` (L, h, w, 4) ground-truth layers, bottom to top.
    """
    n_layers = stack.shape[0]
    shown = np.zeros(labels.shape, np.int64)  # (h, w)
    for k in range(1, n_layers):
        shown[stack[k, ..., 3] > 0.5] = k
    n = int(labels.max()) + 1
    codes = labels.ravel().astype(np.int64) * n_layers + shown.ravel()
    return np.bincount(codes, minlength=n * n_layers).reshape(n, n_layers)


def graph_from_labels(image: np.ndarray, labels: np.ndarray, config: RegionConfig | None = None) -> RegionGraph:
    """The :class:`RegionGraph` of a cached segmentation ``labels`` (h, w) of ``image`` (h, w, 4)."""
    cfg = config or RegionConfig()
    return _graph(image, regions_from_labels(image, labels, cfg.flat_threshold), cfg)


def relation_targets(counts: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training targets from :func:`visible_layer_counts` ``counts`` (n, L).

    Returns the relation class (m,) of each ordered pair (0 same layer, 1 first above, 2 second above),
    a weight (m,) (the product of the two regions' purities: the share of their pixels showing their
    majority layer) and the background target (n,) (majority layer is the bottom one).
    """
    major = counts.argmax(1)  # (n,)
    purity = counts.max(1) / np.maximum(counts.sum(1), 1)  # (n,)
    i, j = pairs[:, 0], pairs[:, 1]
    rel = np.where(major[i] == major[j], 0, np.where(major[i] > major[j], 1, 2))
    return rel.astype(np.int64), (purity[i] * purity[j]).astype(np.float32), (major == 0).astype(np.float32)
