"""Seeds of referring prompts on an image: the colour-model cut-out of a box and the colour a phrase names.

Used by the region referrer (:mod:`layerdiff.regions.referrer`) to find the regions a box or a phrase
refers to, and by the non-learned flood-fill extractor (:mod:`layerdiff.baselines.floodfill`).
"""

from __future__ import annotations

import re

import numpy as np
from scipy import ndimage

from .segment import kmeans

__all__ = ["box_region", "phrase_colour", "drop_specks"]

_EIGHT = np.ones((3, 3), bool)


def _nearest_distance(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Distance (N,) of each point (N, 3) to its nearest centre (k, 3)."""
    d = (x ** 2).sum(1)[:, None] - 2 * x @ centres.T + (centres ** 2).sum(1)[None]  # (N, k)
    return np.sqrt(np.maximum(d.min(1), 0.0))


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[rng.choice(len(x), n, replace=False)]


def box_region(lab: np.ndarray, box: tuple[float, float, float, float], tolerance: float, iterations: int = 4,
               seed: int = 0) -> np.ndarray:
    """GrabCut-like object mask (H, W) bool inside a pixel ``box`` (x0, y0, x1, y1) of an image in Lab
    (H, W, 3): k-means colour models of the box (object) and of a ring around it (background); box
    pixels go to the nearer model, the models are refitted on the assignment, ``iterations`` times
    (Rother, Kolmogorov & Blake, "GrabCut", SIGGRAPH 2004, without the graph cut); components under 2%
    of the largest are dropped. Object colours within ``tolerance`` of the background model are left
    out of the first object model."""
    h, w = lab.shape[:2]
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    x1, y1 = max(x0 + 1, int(np.ceil(box[2]))), max(y0 + 1, int(np.ceil(box[3])))
    inside = np.zeros((h, w), bool)
    inside[y0:y1, x0:x1] = True
    margin = max(2, int(0.1 * max(x1 - x0, y1 - y0)))
    outer = np.zeros((h, w), bool)
    outer[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = True
    ring = outer & ~inside
    if ring.sum() < 8:  # the box covers (nearly) the whole image: its own border is the background sample
        ring = inside & ~ndimage.binary_erosion(inside, iterations=max(1, margin // 2), border_value=0)
    rng = np.random.default_rng(seed)
    box_px = lab[inside]  # (N, 3)
    ring_px = _subsample(lab[ring], 4000, rng)  # (M, 3)
    bg_c = kmeans(ring_px, 3, seed=seed)  # (kb, 3)
    fg_c = kmeans(_subsample(box_px, 4000, rng), 5, seed=seed)  # (kf, 3)
    away = _nearest_distance(fg_c, bg_c) >= tolerance
    fg_c = fg_c[away] if away.any() else fg_c[[int(np.argmax(_nearest_distance(fg_c, bg_c)))]]
    fg = np.zeros(len(box_px), bool)
    for _ in range(iterations):
        fg = _nearest_distance(box_px, fg_c) < _nearest_distance(box_px, bg_c)  # (N,)
        if not fg.any():
            break
        fg_c = kmeans(_subsample(box_px[fg], 4000, rng), 5, seed=seed)
        bg_pool = np.concatenate([ring_px, _subsample(box_px[~fg], 4000, rng)])
        bg_c = kmeans(bg_pool, 4, seed=seed)
    mask = np.zeros((h, w), bool)
    mask[inside] = fg
    return drop_specks(mask, 0.02)


def drop_specks(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Keep the 8-connected components of ``mask`` with at least ``fraction`` of the largest one's area."""
    labels, n = ndimage.label(mask, structure=_EIGHT)
    if n <= 1:
        return mask
    area = np.bincount(labels.ravel(), minlength=n + 1)
    area[0] = 0
    keep = area >= max(2, fraction * area.max())
    keep[0] = False
    return keep[labels]


def phrase_colour(text: str) -> tuple[str, np.ndarray] | None:
    """The first colour word of the synthetic vocabulary in ``text`` and its sRGB in [0, 1], or None."""
    from ..data.synth_vocab import COLORS

    words = re.findall(r"[a-z]+", text.lower())
    for word in words:
        name = "gray" if word == "grey" else word
        if name in COLORS:
            return name, np.asarray(COLORS[name], np.float32) / 255.0
    return None
