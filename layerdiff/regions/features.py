"""Features of regions and of region pairs, the input of the learned region layerer.

Every quantity is scale-free (fractions of the image, of a region's area or outline; colours in Lab
/ 100), so a model trained at one resolution applies at another. The heuristic enclosure tree of
cluster-matting (:func:`layerdiff.regions.graph.layer_tree`) is part of the input: the network
learns when to trust it.
"""

from __future__ import annotations

import numpy as np

from .graph import RegionGraph

__all__ = ["REGION_FEATURES", "PAIR_FEATURES", "region_features", "pair_features", "swap_pairs", "all_pairs",
           "boundary_steps", "shared_boundary", "SWAP_INDEX", "SWAP_SIGN"]

REGION_FEATURES = 20
PAIR_FEATURES = 2 * REGION_FEATURES + 18


def _swap_layout() -> tuple[np.ndarray, np.ndarray]:
    """Column permutation and signs that turn the features of (i, j) into those of (j, i)."""
    r, k = REGION_FEATURES, 2 * REGION_FEATURES
    index = np.arange(PAIR_FEATURES)
    index[:r], index[r:k] = np.arange(r, k), np.arange(r)  # the two regions' blocks
    for a, b in ((3, 4), (6, 7), (9, 10), (13, 14)):  # shared outline, hull containment, box overlap, ancestry
        index[k + a], index[k + b] = k + b, k + a
    sign = np.ones(PAIR_FEATURES, np.float32)
    sign[[k + 2, k + 12, k + 16, k + 17]] = -1.0  # alpha difference, log area ratio, level difference, occlusion
    return index, sign


SWAP_INDEX, SWAP_SIGN = _swap_layout()


def swap_pairs(features: np.ndarray) -> np.ndarray:
    """The features (m, PAIR_FEATURES) of the same pairs in the other order, from those of one order."""
    return features[:, SWAP_INDEX] * SWAP_SIGN


def shared_boundary(graph: RegionGraph) -> np.ndarray:
    """(n, n) symmetric length of the boundary each pair of regions shares (0 where they do not touch)."""
    r = graph.regions
    shared = np.zeros((r.count, r.count))
    shared[r.pairs[:, 0], r.pairs[:, 1]] = r.shared
    shared[r.pairs[:, 1], r.pairs[:, 0]] = r.shared
    return shared


def _outline(graph: RegionGraph) -> np.ndarray:
    r = graph.regions
    outline = r.border.copy()
    np.add.at(outline, r.pairs[:, 0], r.shared)
    np.add.at(outline, r.pairs[:, 1], r.shared)
    return np.maximum(outline, 1.0)  # (n,)


def boundary_steps(graph: RegionGraph) -> np.ndarray:
    """(n, n) mean feature step (Lab + 100 alpha) between 4-neighbour pixels across each shared boundary
    (0 where two regions do not touch); on the diagonal, the mean step between 4-neighbour pixels
    inside each region (its texture: about 0 for a flat fill, larger in a photo)."""
    from .segment import pixel_features

    labels = graph.regions.labels
    n = graph.count
    feat, _ = pixel_features(graph.image)  # (h, w, 4)
    total = np.zeros(n * n)
    count = np.zeros(n * n)
    for a, b, fa, fb in ((labels[:, :-1], labels[:, 1:], feat[:, :-1], feat[:, 1:]),
                         (labels[:-1], labels[1:], feat[:-1], feat[1:])):
        lo, hi = np.minimum(a, b).ravel(), np.maximum(a, b).ravel()  # same region: lo == hi
        step = np.sqrt(((fa - fb) ** 2).sum(-1)).ravel()  # (h * w',)
        code = lo.astype(np.int64) * n + hi
        total += np.bincount(code, step, minlength=n * n)
        count += np.bincount(code, minlength=n * n)
    mean = (total / np.maximum(count, 1)).reshape(n, n)
    return mean + np.triu(mean, 1).T


def _boxes(graph: RegionGraph) -> np.ndarray:
    """(n, 4) bounding boxes x0, y0, x1, y1 in pixels (exclusive ends)."""
    out = np.zeros((graph.count, 4), np.float64)
    for i, sl in enumerate(graph.hulls.slices):
        if sl is not None:
            out[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    return out


def region_features(graph: RegionGraph) -> np.ndarray:
    """(n, REGION_FEATURES) float32 features of every region."""
    r = graph.regions
    h, w = r.labels.shape
    n = r.count
    total = float(h * w)
    outline = _outline(graph)
    box = _boxes(graph)
    box_area = np.maximum((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]), 1.0)
    hull_area = np.array([max(float(graph.hulls.hull(i).sum()), 1.0) for i in range(n)])
    degree = np.zeros(n)
    np.add.at(degree, r.pairs[:, 0], 1.0)
    np.add.at(degree, r.pairs[:, 1], 1.0)
    root = int(np.argmax(r.area))
    with_root = np.zeros(n)
    for (a, b), s in zip(r.pairs, r.shared):
        if a == root:
            with_root[b] += s
        elif b == root:
            with_root[a] += s
    level = graph.tree.level.astype(np.float64)
    f = np.zeros((n, REGION_FEATURES), np.float64)
    f[:, 0] = np.log(np.maximum(r.area, 1.0) / total) / 10.0
    f[:, 1] = r.border / outline
    f[:, 2] = r.border > 0
    f[:, 3] = r.flat
    f[:, 4] = np.minimum(r.spread, 10.0) / 10.0
    f[:, 5:9] = r.colour[:, :4] / 100.0
    f[:, 9] = box[:, 0] / w
    f[:, 10] = box[:, 1] / h
    f[:, 11] = box[:, 2] / w
    f[:, 12] = box[:, 3] / h
    f[:, 13] = r.area / box_area
    f[:, 14] = np.minimum(r.area / hull_area, 1.0)
    f[:, 15] = level / max(float(level.max()), 1.0)
    f[:, 16] = level == 0
    f[:, 17] = np.arange(n) == root
    f[:, 18] = np.log1p(degree) / 3.0
    depth = graph.ancestry.sum(0).astype(np.float64)  # (n,) enclosing regions
    f[:, 19] = np.minimum(depth, 8.0) / 8.0
    return f.astype(np.float32)


def all_pairs(n: int) -> np.ndarray:
    """(n (n - 1) / 2, 2) index pairs (i < j)."""
    i, j = np.triu_indices(n, k=1)
    return np.stack([i, j], -1).astype(np.int64)


def pair_features(graph: RegionGraph, pairs: np.ndarray, regional: np.ndarray | None = None) -> np.ndarray:
    """(m, PAIR_FEATURES) float32 features of the ordered pairs (i, j) in ``pairs`` (m, 2).

    The features of (j, i) are those of (i, j) with the two regions' roles swapped (:func:`swap_pairs`
    derives them), so a model can be made order-consistent by averaging over both orders.
    """
    r = graph.regions
    h, w = r.labels.shape
    n = r.count
    reg = region_features(graph) if regional is None else regional
    m = len(pairs)
    out = np.zeros((m, PAIR_FEATURES), np.float32)
    if m == 0:
        return out
    i, j = pairs[:, 0], pairs[:, 1]
    out[:, :REGION_FEATURES] = reg[i]
    out[:, REGION_FEATURES:2 * REGION_FEATURES] = reg[j]
    k = 2 * REGION_FEATURES
    outline = _outline(graph)
    shared = shared_boundary(graph)  # (n, n)
    col = r.colour
    d = col[i] - col[j]  # (m, 4)
    box = _boxes(graph)
    ix0, iy0 = np.maximum(box[i, 0], box[j, 0]), np.maximum(box[i, 1], box[j, 1])
    ix1, iy1 = np.minimum(box[i, 2], box[j, 2]), np.minimum(box[i, 3], box[j, 3])
    inter = np.maximum(ix1 - ix0, 0) * np.maximum(iy1 - iy0, 0)
    area_box = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    union = area_box[i] + area_box[j] - inter
    # hull containment, only where bounding boxes overlap (else 0)
    in_i = np.zeros(m)
    in_j = np.zeros(m)
    for p in np.nonzero(inter > 0)[0]:
        a, b = int(i[p]), int(j[p])
        in_i[p] = graph.hulls.inside(a, b) / max(r.area[b], 1.0)  # share of b inside a's hull
        in_j[p] = graph.hulls.inside(b, a) / max(r.area[a], 1.0)
    parent = graph.tree.parent
    anc = graph.ancestry  # (n, n) anc[a, b]: a encloses b
    over = np.zeros((n, n), bool)
    for top, low in graph.tree.over:
        over[top, low] = True
    level = graph.tree.level.astype(np.float64)
    cx = (box[:, 0] + box[:, 2]) / (2 * w)
    cy = (box[:, 1] + box[:, 3]) / (2 * h)
    out[:, k + 0] = np.sqrt((d[:, :3] ** 2).sum(1)) / 100.0
    out[:, k + 1] = np.abs(d[:, 0]) / 100.0
    out[:, k + 2] = d[:, 3] / 100.0
    out[:, k + 3] = shared[i, j] / outline[i]
    out[:, k + 4] = shared[i, j] / outline[j]
    out[:, k + 5] = shared[i, j] > 0
    out[:, k + 6] = in_i
    out[:, k + 7] = in_j
    out[:, k + 8] = inter / np.maximum(union, 1.0)
    out[:, k + 9] = inter / np.maximum(area_box[j], 1.0)
    out[:, k + 10] = inter / np.maximum(area_box[i], 1.0)
    out[:, k + 11] = np.sqrt((cx[i] - cx[j]) ** 2 + (cy[i] - cy[j]) ** 2)
    out[:, k + 12] = np.log(np.maximum(r.area[i], 1.0) / np.maximum(r.area[j], 1.0)) / 10.0
    out[:, k + 13] = anc[i, j]
    out[:, k + 14] = anc[j, i]
    out[:, k + 15] = parent[i] == parent[j]
    out[:, k + 16] = (level[i] - level[j]) / max(float(level.max()), 1.0)
    out[:, k + 17] = over[i, j].astype(np.float64) - over[j, i]
    return out
