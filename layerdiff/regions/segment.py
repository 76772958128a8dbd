"""Flat-region segmentation of graphics: colour clustering in CIE Lab, connected components, and the
region adjacency that :mod:`layerdiff.regions.graph` orders into layers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

__all__ = ["rgb_to_lab", "kmeans", "Regions", "pixel_features", "regions_from_labels", "segment_regions"]

_EIGHT = np.ones((3, 3), bool)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (..., 3) -> CIE L*a*b* (D65) (..., 3), float32."""
    c = np.asarray(rgb, dtype=np.float32)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]], np.float32)
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883], np.float32)  # (..., 3) white-normalised
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
    return lab.astype(np.float32)


def kmeans(x: np.ndarray, k: int, iterations: int = 12, seed: int = 0) -> np.ndarray:
    """k-means (Lloyd) with k-means++ seeding on points (N, D); returns the centres (k', D), k' <= k."""
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    k = max(1, min(k, n))
    centres = [x[rng.integers(n)]]
    dist = ((x - centres[0]) ** 2).sum(1)  # (N,)
    for _ in range(1, k):
        total = dist.sum()
        if total <= 1e-12:
            break
        centres.append(x[rng.choice(n, p=dist / total)])
        dist = np.minimum(dist, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)  # (k, D)
    for _ in range(iterations):
        assign = _nearest(x, c)
        sums = np.stack([np.bincount(assign, weights=x[:, j], minlength=len(c)) for j in range(x.shape[1])],
                        1).astype(c.dtype)  # (k, D), summed in float64
        counts = np.bincount(assign, minlength=len(c))
        keep = counts > 0
        c = sums[keep] / counts[keep, None]
    return c


def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (x ** 2).sum(1)[:, None] - 2 * x @ centres.T + (centres ** 2).sum(1)[None]  # (N, k)
    return np.argmin(d, axis=1)


def _merge_close_centres(centres: np.ndarray, weights: np.ndarray, threshold: float) -> np.ndarray:
    """Agglomerate centres closer than ``threshold`` (weighted means), closest pair first."""
    c, w = list(centres), list(weights.astype(np.float64))
    while len(c) > 1:
        arr = np.stack(c)
        d = np.sqrt(((arr[:, None] - arr[None]) ** 2).sum(-1)) + np.eye(len(c)) * 1e9  # (k, k)
        i, j = np.unravel_index(np.argmin(d), d.shape)
        if d[i, j] >= threshold:
            break
        total = max(w[i] + w[j], 1e-12)
        c[i] = (c[i] * w[i] + c[j] * w[j]) / total
        w[i] = total
        del c[j], w[j]
    return np.stack(c)


@dataclass
class Regions:
    """A partition of the image into connected regions.

    ``labels``: (h, w) region index per pixel; ``area``, ``border``: (n,) pixel counts (all pixels / those
    on the image border); ``colour``: (n, D) mean feature (Lab + scaled alpha); ``pairs``: (m, 2)
    adjacent region pairs (a < b) with ``shared``: (m,) boundary lengths; ``flat``: (n,) fraction of
    each region's pixels that are flat (low for photos and textures); ``spread``: (n,) RMS deviation
    of the very flat pixels' features from their mean (0 for a uniform fill, inf when there are none);
    ``flat_px``: (h, w) the flat pixels themselves (None when not known).
    """

    labels: np.ndarray
    area: np.ndarray
    border: np.ndarray
    colour: np.ndarray
    pairs: np.ndarray
    shared: np.ndarray
    flat: np.ndarray
    spread: np.ndarray
    flat_px: np.ndarray | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return int(self.area.shape[0])


def _relabel(labels: np.ndarray) -> np.ndarray:
    _, inv = np.unique(labels, return_inverse=True)
    return inv.reshape(labels.shape).astype(np.int32)


def region_stats(labels: np.ndarray, feat: np.ndarray, flat_px: np.ndarray, calm_px: np.ndarray) -> Regions:
    """Areas, border counts, mean features, flat fractions, colour spreads and the adjacency
    (8-neighbourhood) of a label map; ``flat_px`` (h, w) marks the flat pixels, ``calm_px`` the very
    flat ones (interiors of uniform fills) the spread is measured on."""
    n = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    colour = np.stack([np.bincount(flat, feat[..., d].ravel(), minlength=n)
                       for d in range(feat.shape[-1])], -1)
    colour = colour / np.maximum(area, 1)[:, None]  # (n, D)
    edge = np.zeros(labels.shape, bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    border = np.bincount(labels[edge], minlength=n).astype(np.float64)
    codes = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:]),
                 (labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])):
        diff = a != b
        lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
        codes.append(lo.astype(np.int64) * n + hi)
    codes_all = np.concatenate(codes) if codes else np.zeros(0, np.int64)
    uniq, counts = np.unique(codes_all, return_counts=True)
    pairs = np.stack([uniq // n, uniq % n], -1).astype(np.int64) if len(uniq) else np.zeros((0, 2), np.int64)
    n_flat = np.bincount(flat, flat_px.ravel().astype(np.float64), minlength=n)
    cw = calm_px.ravel().astype(np.float64)
    n_calm = np.bincount(flat, cw, minlength=n)
    calm_mean = np.stack([np.bincount(flat, cw * feat[..., d].ravel(), minlength=n)
                          for d in range(feat.shape[-1])], -1) / np.maximum(n_calm, 1)[:, None]
    sq = sum(np.bincount(flat, cw * (feat[..., d].ravel() - calm_mean[flat, d]) ** 2, minlength=n)
             for d in range(feat.shape[-1]))
    spread = np.where(n_calm > 0, np.sqrt(sq / np.maximum(n_calm, 1)), np.inf)
    return Regions(labels, area, border, colour, pairs, counts.astype(np.float64),
                   n_flat / np.maximum(area, 1), spread, flat_px)


def _union_similar(regions: Regions, threshold: float) -> np.ndarray:
    """Union-find over adjacent regions whose mean colours differ by less than ``threshold``."""
    parent = np.arange(regions.count)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if len(regions.pairs):
        d = np.sqrt(((regions.colour[regions.pairs[:, 0]] - regions.colour[regions.pairs[:, 1]]) ** 2).sum(1))
        for (a, b), dist in zip(regions.pairs, d):
            if dist < threshold:
                ra, rb = find(int(a)), find(int(b))
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(regions.count)])


def pixel_features(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: Lab of the premultiplied colour plus 100 x alpha (h, w, 4), and the largest feature
    step to a 4-neighbour (h, w)."""
    h, w = rgba.shape[:2]
    feat = np.concatenate([rgb_to_lab(rgba[..., :3] * rgba[..., 3:]), 100.0 * rgba[..., 3:]], -1)  # (h, w, 4)
    step = np.zeros((h, w), np.float32)
    dx = np.sqrt(((feat[:, 1:] - feat[:, :-1]) ** 2).sum(-1))  # (h, w-1)
    dy = np.sqrt(((feat[1:] - feat[:-1]) ** 2).sum(-1))  # (h-1, w)
    step[:, 1:] = np.maximum(step[:, 1:], dx)
    step[:, :-1] = np.maximum(step[:, :-1], dx)
    step[1:] = np.maximum(step[1:], dy)
    step[:-1] = np.maximum(step[:-1], dy)
    return feat, step


def regions_from_labels(rgba: np.ndarray, labels: np.ndarray, flat_threshold: float = 6.0) -> Regions:
    """The :class:`Regions` of a given label map (h, w) on ``rgba`` (what :func:`segment_regions` returns
    for the same partition); used to rebuild cached segmentations."""
    feat, step = pixel_features(rgba)
    return region_stats(_relabel(labels.astype(np.int64)), feat, step < flat_threshold,
                        step < 0.25 * flat_threshold)


def segment_regions(rgba: np.ndarray, max_colours: int = 16, merge_delta_e: float = 10.0,
                    similar_delta_e: float = 12.0, flat_threshold: float = 6.0, min_area: int = 16,
                    seed: int = 0) -> Regions:
    """Partition an (h, w, 4) straight-alpha image into flat-colour regions.

    1. features: Lab of the premultiplied colour plus 100 x alpha (transparent pixels form their own
       colour); "flat" pixels: largest feature step to a 4-neighbour below ``flat_threshold``;
    2. k-means (``max_colours``) on a sample of flat pixels, centres closer than ``merge_delta_e`` merged;
    3. connected components (8-neighbourhood) per colour; components under ``min_area`` pixels and
       edge (non-flat) pixels are given to the nearest region within 2 px; what stays unassigned (texture,
       photos) forms its own connected regions;
    4. adjacent regions with mean colours closer than ``similar_delta_e`` are merged (gradients).
    """
    h, w = rgba.shape[:2]
    feat, step = pixel_features(rgba)
    flat = step < flat_threshold
    labels = np.full((h, w), -1, np.int64)
    if flat.any():
        pts = feat[flat]  # (N, 4)
        rng = np.random.default_rng(seed)
        sample = pts[rng.choice(len(pts), size=min(len(pts), 20000), replace=False)]
        centres = kmeans(sample, max_colours, seed=seed)
        counts = np.bincount(_nearest(sample, centres), minlength=len(centres))
        centres = _merge_close_centres(centres, counts, merge_delta_e)
        colour_of = np.full((h, w), -1, np.int64)
        colour_of[flat] = _nearest(pts, centres)
        next_id = 0
        for k in range(len(centres)):
            comp, num = ndimage.label(colour_of == k, structure=_EIGHT)
            if num == 0:
                continue
            sizes = np.bincount(comp.ravel(), minlength=num + 1)
            big = sizes >= min_area
            big[0] = False
            ids = np.where(big, np.cumsum(big) - 1 + next_id, -1)  # component -> region id or -1
            sel = comp > 0
            labels[sel] = ids[comp[sel]]
            next_id += int(big.sum())
    unassigned = labels < 0
    if unassigned.all():
        labels[:] = 0
    elif unassigned.any():
        dist, (iy, ix) = ndimage.distance_transform_edt(unassigned, return_indices=True)
        near = unassigned & (dist <= 2.0)
        labels[near] = labels[iy[near], ix[near]]
        far = labels < 0
        if far.any():
            comp, num = ndimage.label(far, structure=_EIGHT)
            sizes = np.bincount(comp.ravel(), minlength=num + 1)
            small = far & (sizes[comp] < min_area)  # specks: nearest region at any distance
            labels[small] = labels[iy[small], ix[small]]
            big = labels < 0
            labels[big] = labels.max() + comp[big]
    labels = _relabel(labels)
    calm = step < 0.25 * flat_threshold
    regions = region_stats(labels, feat, flat, calm)
    root = _union_similar(regions, similar_delta_e)
    if len(np.unique(root)) < regions.count:
        regions = region_stats(_relabel(root[labels]), feat, flat, calm)
    return regions
