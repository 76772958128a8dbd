"""A non-learned decomposer for flat graphics: colour regions -> enclosure tree -> matted layers.

What a user can run on a CPU today, in well under a second at the working size:

1. segment the image (at most ``work_size`` px on its longest side) into flat-colour regions
   (k-means in CIE Lab, connected components; :mod:`layerdiff.baselines.segment`);
2. order them by enclosure, as LayerD peels top layers: the largest region is the background; every
   other region lies on the larger neighbour it shares the most boundary with; a region coloured like
   its grandparent and not much smaller than its parent is a hole (the counter of an "O") and belongs to
   the grandparent; depth in this tree is the layer (siblings share a layer: they never overlap);
3. each layer's alpha covers its regions and everything they enclose (completed under the layers on
   top), with soft edges from a colour-line matte in a 1-px band (Levin et al. 2008);
4. each layer's hidden colours are filled by pyramid push-pull from its visible ones (Gortler et al.
   1996); :func:`layerdiff.recompose.project_residual` then makes the composite equal the input, and
   inputs larger than the working size are lifted with :func:`layerdiff.recompose.upsample_layers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from ..contract import Progress, check_num_layers, check_options, image_to_array
from ..layered import LayeredImage
from ..recompose import colour_line_matte, project_residual, resize_plane, upsample_layers
from .inpaint import push_pull_fill
from .segment import Regions, segment_regions

__all__ = ["ClusterConfig", "ClusterMattingDecomposer", "LayerTree", "ancestors", "layer_tree", "layer_masks",
           "matte_cover", "paint_layers", "at_work_size", "shrink_to", "named_stack"]


@dataclass
class ClusterConfig:
    """Settings of :class:`ClusterMattingDecomposer` (CIE76 colour distances in Lab units)."""

    work_size: int = 512
    max_colours: int = 16
    merge_delta_e: float = 10.0
    similar_delta_e: float = 12.0
    flat_threshold: float = 6.0
    min_area_fraction: float = 0.0003
    matte_radius: int = 3
    seed: int = 0


class _Hulls:
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


def layer_tree(regions: Regions, similar_delta_e: float, hulls: _Hulls | None = None) -> LayerTree:
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
    hulls = hulls or _Hulls(regions.labels)
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


def _assign_layers(regions: Regions, level: np.ndarray, wanted: int | None, max_layers: int,
                   similar_delta_e: float) -> np.ndarray:
    """Layer index of every region: its level, with the top levels merged or levels split to reach
    ``wanted`` layers (or at most ``max_layers`` when automatic)."""
    target = wanted if wanted is not None else min(int(level.max()) + 1, max_layers)
    layer = np.minimum(level, target - 1)
    while int(layer.max()) + 1 < target:
        counts = np.bincount(layer)
        lvl = int(np.argmax(counts))
        members = np.nonzero(layer == lvl)[0]
        if len(members) < 2:
            break
        # split the busiest level: members coloured unlike its largest region move up one level
        big = members[np.argmax(regions.area[members])]
        dist = np.sqrt(((regions.colour[members] - regions.colour[big]) ** 2).sum(1))
        moved = members[dist >= similar_delta_e]
        if len(moved) == 0:  # all one colour: the largest region stays alone
            moved = members[members != big]
        layer[layer > lvl] += 1  # everything above (descendants included) stays above
        layer[moved] = lvl + 1
    return layer


def layer_masks(regions: Regions, tree: LayerTree, layer: np.ndarray, count: int, hulls: _Hulls,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per layer: the pixels it covers (its regions, everything they enclose, and the parts of their
    convex hulls hidden by siblings over them) and its own visible pixels. (K, h, w) bool each."""
    n = regions.count
    labels = regions.labels
    below = ancestors(tree.parent) | np.eye(n, dtype=bool)  # below[a, r]: r is a or lies inside a
    covers = np.zeros((count, n), bool)
    for a in range(n):
        covers[layer[a]] |= below[a] & (layer >= layer[a])  # a hole showing a lower layer stays open
    cover_px = covers[:, labels]  # (K, h, w)
    for top, low in tree.over:  # complete the hidden part of ``low`` under ``top``
        if layer[top] <= layer[low]:
            continue
        sl = hulls.slices[low]
        hidden = hulls.hull(low) & np.isin(labels[sl], np.nonzero(below[top])[0])
        cover_px[layer[low]][sl] |= hidden
    own_px = layer[labels][None] == np.arange(count)[:, None, None]  # (K, h, w)
    return cover_px, own_px


class ClusterMattingDecomposer:
    """Non-learned decomposer for flat graphics (see the module docstring). Exact recomposition;
    deterministic (``seed`` is accepted and unused); no options."""

    options: frozenset[str] = frozenset()

    def __init__(self, config: ClusterConfig | None = None, name: str = "cluster-matting",
                 max_layers: int = 8) -> None:
        self.config = config or ClusterConfig()
        self.name = name
        self.max_layers = int(max_layers)
        if self.config.work_size < 16:
            raise ValueError(f"work_size must be >= 16, got {self.config.work_size}")

    @classmethod
    def from_pretrained(cls, name: str = "cluster-matting", **kwargs: Any) -> ClusterMattingDecomposer:
        """Registry hook: keyword arguments are :class:`ClusterConfig` fields; the layer limit is the
        preset's."""
        from ..registry import get_preset

        known = {f.name for f in fields(ClusterConfig)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"{name}: unknown options {unknown}; known: {sorted(known)}")
        return cls(ClusterConfig(**kwargs), name=name, max_layers=get_preset(name).max_layers)

    def decompose(self, image: Any, num_layers: int | str = "auto", *, max_layers: int | None = None,
                  seed: int | None = None, callback: Progress | None = None, **options: Any) -> LayeredImage:
        """Split ``image`` (PIL image, (H, W, 3|4) array or LayeredImage) into layers, bottom to top.

        ``num_layers``: "auto" (the enclosure depth, at most ``max_layers``) or an exact count (levels
        are merged from the top or split by colour; a design too simple to split is padded with empty
        layers on top). The composite of the result equals the input within half an 8-bit step.
        """
        check_options(self, options)
        wanted, cap = check_num_layers(num_layers, max_layers, self.max_layers, self.name)
        full, _ = image_to_array(image)  # (H, W, 4)
        stack = at_work_size(full, self.config.work_size, lambda small: self._decompose_small(small, wanted, cap))
        if callback is not None:
            callback(1, 1)
        return named_stack(stack, self.name)

    # ---------------------------------------------------------------------------------- steps
    def _decompose_small(self, img: np.ndarray, wanted: int | None, max_layers: int) -> np.ndarray:
        cfg = self.config
        h, w = img.shape[:2]
        if wanted == 1:
            return img[None].copy()
        regions = segment_regions(img, cfg.max_colours, cfg.merge_delta_e, cfg.similar_delta_e,
                                  cfg.flat_threshold, max(4, int(cfg.min_area_fraction * h * w)), cfg.seed)
        hulls = _Hulls(regions.labels)
        tree = layer_tree(regions, cfg.similar_delta_e, hulls)
        layer = _assign_layers(regions, tree.level, wanted, max_layers, cfg.similar_delta_e)
        count = int(layer.max()) + 1
        cover, own = layer_masks(regions, tree, layer, count, hulls)
        return paint_layers(img[..., :3], cover, own, cfg.matte_radius, wanted)


def at_work_size(full: np.ndarray, work_size: int, decompose_small: Callable[[np.ndarray], np.ndarray],
                 ) -> np.ndarray:
    """Run ``decompose_small`` on ``full`` (H, W, 4) shrunk to at most ``work_size`` px on its longest
    side, and lift its layers (K, h, w, 4) back to full resolution with exact recomposition."""
    small = shrink_to(full, work_size)
    low = decompose_small(small)  # (K, h, w, 4)
    return upsample_layers(low, full) if small.shape != full.shape else project_residual(low, full)


def shrink_to(full: np.ndarray, work_size: int) -> np.ndarray:
    """``full`` (H, W, 4) resized (premultiplied) to at most ``work_size`` px on its longest side, in [0, 1]."""
    height, width = full.shape[:2]
    scale = min(1.0, work_size / max(height, width))
    if scale >= 1.0:
        return np.clip(full, 0.0, 1.0)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    premult = np.concatenate([full[..., :3] * full[..., 3:], full[..., 3:]], -1)
    small_p = np.clip(resize_plane(premult, size), 0.0, 1.0)  # (h, w, 4)
    a = small_p[..., 3:]
    small = np.concatenate([np.divide(small_p[..., :3], a, out=np.zeros_like(small_p[..., :3]),
                                      where=a > 1e-6), a], -1)
    return np.clip(small, 0.0, 1.0)


def named_stack(stack: np.ndarray, decomposer: str) -> LayeredImage:
    """A decomposer's result: layers named Background, Layer 1, ... with the decomposer in the metadata."""
    names = ["Background"] + [f"Layer {i}" for i in range(1, len(stack))]
    out = LayeredImage.from_numpy(stack, names=names)
    out.metadata["decomposer"] = decomposer
    return out


def paint_layers(rgb: np.ndarray, cover: np.ndarray, own: np.ndarray, matte_radius: int,
                 wanted: int | None = None) -> np.ndarray:
    """Layers (K, h, w, 4) from per-layer boolean masks (K, h, w): ``cover`` (what each layer covers,
    hidden parts included) and ``own`` (its visible pixels). Layer 0 is opaque; the others get a matted
    alpha; hidden colours are filled by push-pull from the visible ones. Padded with empty layers on
    top up to ``wanted``."""
    count = cover.shape[0]
    h, w = rgb.shape[:2]
    stack = np.zeros((count, h, w, 4), np.float32)
    for k in range(count):
        stack[k, ..., 3] = 1.0 if k == 0 else matte_cover(rgb, cover[k], matte_radius)
        visible = own[k] & ~_edge_band(own[k])
        if not visible.any():
            visible = own[k]
        fill = push_pull_fill(rgb, visible.astype(np.float32))  # (h, w, 3)
        # fully transparent pixels carry the input's colour (invisible; keeps edges fringe-free when
        # the alpha is later refined at full resolution)
        stack[k, ..., :3] = np.where(stack[k, ..., 3:] > 0, fill, rgb)
    if wanted is not None and count < wanted:
        pad = np.zeros((wanted - count, h, w, 4), np.float32)
        stack = np.concatenate([stack, pad])
    return stack


def matte_cover(rgb: np.ndarray, cover: np.ndarray, radius: int) -> np.ndarray:
    """Soft alpha (h, w) of a layer covering the boolean region ``cover``: colour-line matte in the
    1-px band around its boundary, the hard mask elsewhere."""
    band = _edge_band(cover)
    hard = cover.astype(np.float32)
    if not band.any():
        return hard
    alpha, conf = colour_line_matte(rgb, cover & ~band, ~cover & ~band, radius)
    soft = hard + conf * (alpha - hard)
    return np.where(band, soft, hard).astype(np.float32)


def _edge_band(mask: np.ndarray) -> np.ndarray:
    """Pixels within one pixel of the boundary of a boolean mask (both sides)."""
    grown = ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool))
    shrunk = ndimage.binary_erosion(mask, structure=np.ones((3, 3), bool), border_value=1)
    return grown & ~shrunk
