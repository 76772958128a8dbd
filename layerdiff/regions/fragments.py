"""The fragment test: is a proposed layer really a layer, or a piece cut out of another one?

The region layerer judges pairs of regions. Some mistakes only show at the level of a whole proposed
layer: a clipped highlight, a posterised band or a threshold blob inside an edited photo is a flat
patch the pair model separates from the rest of the picture, and the decomposition then carries a
"layer" that no designer made, over a background inpainted where the picture was. The fragment
test looks at each proposed layer together with the layer it is most linked with (how strongly the
pair model ties them, areas, flatness, colour difference, how much of its outline they share and how
sharp the step across it is) and gives the probability that both show the same ground-truth layer.
Layers judged fragments join that layer, most certain first, as step 6 of the solver with an
automatic count (:func:`absorb_fragments`); with an exact count a fragment's slot goes to one of two
separate objects that the solver put in one layer (:func:`spend_count_on_objects`). This is a
learned version of LayerD's iterative "is there still a top layer"
decision (Suzuki et al. 2025, "LayerD: Decomposing Raster Graphic Designs into Layers"), made on
proposed layers instead of pixels.

Trained by ``training/train_fragment_test.py`` on designs the region layerer never saw (plain
synthetic designs and designs over adjusted photos); its targets come from :func:`fragment_targets`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ..morphology import dilate_square
from .features import boundary_steps, shared_boundary
from .graph import RegionGraph
from .solve import group_links

__all__ = ["LAYER_FEATURES", "layer_features", "fragment_targets", "absorb_fragments", "layer_pieces",
           "spend_count_on_objects"]

LAYER_FEATURES = 16


def _groups(layer: np.ndarray) -> list[np.ndarray]:
    return [np.nonzero(layer == k)[0] for k in range(int(layer.max()) + 1)]


def layer_features(graph: RegionGraph, same: np.ndarray, background: np.ndarray, layer: np.ndarray,
                   steps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features (K, LAYER_FEATURES) float32 of every proposed layer and its partner (K,): the layer it is
    most linked with. Row 0 (the background) is zeros with partner 0.

    Args:
        graph: the regions.
        same: (n, n) P(same layer) of region pairs; background: (n,) P(region in the bottom layer).
        layer: (n,) layer index of every region (0 = background), at least two layers.
        steps: (n, n) mean step across shared boundaries, texture on the diagonal
            (:func:`~layerdiff.regions.features.boundary_steps`; computed when not given).
    """
    r = graph.regions
    n, total = r.count, float(r.labels.size)
    groups = _groups(layer)
    count = len(groups)
    if count < 2:
        raise ValueError("the fragment test needs at least two layers")
    area = r.area.astype(np.float64)  # (n,)
    link = group_links(same, area, groups)  # (K, K), -inf on the diagonal
    shared = shared_boundary(graph)  # (n, n) boundary length between regions
    steps = boundary_steps(graph) if steps is None else steps  # (n, n)
    member = np.zeros((count, n))
    for k, g in enumerate(groups):
        member[k, g] = 1.0
    between = member @ shared @ member.T  # (K, K) boundary length between layers (diagonal: inside)
    step_sum = member @ (shared * steps) @ member.T  # (K, K)
    outline = np.maximum(between.sum(1) - np.diag(between) + member @ r.border, 1.0)  # (K,)
    layer_area = member @ area  # (K,)
    colour = (member @ (r.colour[:, :3] * area[:, None])) / layer_area[:, None]  # (K, 3) mean Lab
    flat = (member @ (r.flat * area)) / layer_area  # (K,)
    bg = (member @ (background * area)) / layer_area  # (K,)

    feats = np.zeros((count, LAYER_FEATURES))
    partner = np.zeros(count, np.int64)
    for k in range(1, count):
        order = np.argsort(-link[k], kind="stable")
        j = int(order[0])
        second = link[k, order[1]] if count > 2 else 0.0
        gap = float(np.sqrt(((colour[k] - colour[j]) ** 2).sum()))  # Lab distance of the mean colours
        step = step_sum[k, j] / max(between[k, j], 1.0)
        feats[k] = [
            link[k, j], second, link[k, 0],
            np.log(layer_area[k] / total) / 10.0, np.log(layer_area[j] / total) / 10.0, j == 0,
            bg[k], np.log(len(groups[k])) / 3.0, flat[k], flat[j], gap / 100.0,
            between[k, j] / outline[k], step / 100.0, min(step / max(gap, 1.0), 10.0) / 10.0,
            count / 6.0, between[k, k] / outline[k],
        ]
        partner[k] = j
    return feats.astype(np.float32), partner


def fragment_targets(layer: np.ndarray, partner: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Training targets (K,) bool: layer k mostly shows the same ground-truth layer as its partner.

    ``counts``: (n, L) pixels of each ground-truth layer visible in each region
    (:func:`~layerdiff.regions.graph.visible_layer_counts`). Row 0 is False.
    """
    groups = _groups(layer)
    shown = [int(np.argmax(counts[g].sum(0))) for g in groups]
    out = np.array([shown[k] == shown[partner[k]] for k in range(len(groups))])
    out[0] = False
    return out


def absorb_fragments(graph: RegionGraph, same: np.ndarray, background: np.ndarray, layer: np.ndarray,
                     probability: Callable[[np.ndarray], np.ndarray], threshold: float = 0.5,
                     keep: np.ndarray | None = None) -> np.ndarray:
    """Step 6: while some layer's fragment probability exceeds ``threshold``, the most certain one joins
    its partner (features recomputed after each merge); two layers always remain.

    ``probability``: features (m, LAYER_FEATURES) -> (m,) P(fragment), e.g. a layerer's
    ``fragment_probabilities``. ``keep``: (n,) bool, regions that make a layer a layer of its own (the
    ink of a detected text line, :func:`layerdiff.regions.ink.line_ink`): a layer with at least half
    its area in them neither joins its partner nor takes in a layer whose partner it is. Returns the
    new (n,) layer indices.
    """
    layer = layer.copy()
    steps = boundary_steps(graph)  # (n, n) once; it depends on the regions only
    area = graph.regions.area
    while layer.max() >= 2:
        feats, partner = layer_features(graph, same, background, layer, steps)
        prob = np.asarray(probability(feats[1:]), np.float64)  # (K - 1,)
        if keep is not None:
            count = int(layer.max()) + 1
            kept = np.bincount(layer, area * keep, minlength=count) >= 0.5 * np.bincount(layer, area, minlength=count)
            prob[kept[1:] | kept[partner[1:]]] = 0.0  # neither absorbed nor absorbing
        k = int(np.argmax(prob))
        if prob[k] <= threshold:
            break
        k += 1
        layer[layer == k] = partner[k]
        layer[layer > k] -= 1
    return layer


def layer_pieces(labels: np.ndarray, layer: np.ndarray, k: int, gap: int, first: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """(the regions of layer ``k`` (m,), the piece of each (m,), the number of pieces): the pieces of the
    layer's pixels (``labels`` (h, w) region map, ``layer`` (n,) layer of each region) that lie more than
    ``gap`` px apart; ``first``: (n,) a pixel (flat index) of each region."""
    members = np.nonzero(layer == k)[0]
    pieces, num = ndimage.label(dilate_square(layer[labels] == k, gap // 2))  # (h, w)
    return members, pieces.ravel()[first[members]], num


def spend_count_on_objects(graph: RegionGraph, same: np.ndarray, background: np.ndarray, layer: np.ndarray,
                           probability: Callable[[np.ndarray], np.ndarray], threshold: float = 0.5,
                           keep: np.ndarray | None = None, min_object: float = 0.003, gap: int = 6,
                           max_fragment: float = 0.01, min_shared: float = 0.25) -> np.ndarray:
    """Step 6 with an exact count: the count is spent on objects, not fragments. While some layer is a
    fragment (fragment probability above ``threshold``, at most ``max_fragment`` of the canvas, at least
    ``min_shared`` of its outline along its partner: a piece cut from the layer it clings to) and some
    other layer above the background is two or more separate objects (pieces of its pixels more than
    ``gap`` px apart, each at least ``min_object`` of the canvas), the object of that layer least tied to
    the rest of it (mean P(same) of their regions) becomes a layer of its own just above it and the most
    certain fragment joins its partner among the new layers; the count stays the same. ``keep``: (n,)
    bool, regions (the ink of detected text lines) whose layers are neither absorbed nor split (a line's
    words are separate pieces of one layer). Returns the new (n,) layers."""
    layer = layer.copy()
    r = graph.regions
    labels, area = r.labels, r.area
    total = float(labels.size)
    steps = None  # (n, n) boundary steps, computed when first needed
    first = np.unique(labels.ravel(), return_index=True)[1]  # (n,) a pixel (flat index) of each region
    for _ in range(int(layer.max())):
        count = int(layer.max()) + 1
        if count < 3:
            break
        kept = np.zeros(count, bool)
        if keep is not None:
            kept = np.bincount(layer, area * keep, minlength=count) >= 0.5 * np.bincount(layer, area, minlength=count)
        split = None
        for k in range(1, count):
            if kept[k]:
                continue
            members, of, num = layer_pieces(labels, layer, k, gap, first)
            if num < 2:
                continue
            sizes = np.bincount(of, weights=area[members], minlength=num + 1)  # (num + 1,)
            big = [p for p in range(1, num + 1) if sizes[p] >= min_object * total]
            if len(big) < 2:
                continue
            ties = [same[np.ix_(members[of == p], members[of != p])].mean() for p in big]
            p = big[int(np.argmin(ties))]
            split = (k, members[of == p])
            break
        if split is None:
            break
        k, moved = split
        sizes = np.bincount(layer, area, minlength=count)  # (K,)
        small = sizes <= max_fragment * total
        small[[0, k]] = False
        if not small.any():
            break  # no layer small enough to be a fragment
        steps = boundary_steps(graph) if steps is None else steps
        feats, partner = layer_features(graph, same, background, layer, steps)
        prob = np.asarray(probability(feats[1:]), np.float64)  # (K - 1,) on the layers as they are
        small = np.exp(feats[1:, 3] * 10.0) <= max_fragment  # feature 3: log(area share) / 10
        clings = feats[1:, 11] >= min_shared  # feature 11: share of its outline along its partner
        ok = (prob > threshold) & small & clings & ~kept[1:] & ~kept[partner[1:]]
        ok[k - 1] = False  # the layer to split is not the fragment
        if not ok.any():
            break
        f = int(np.argmax(np.where(ok, prob, -1.0))) + 1
        trial = layer.copy()
        trial[trial > k] += 1  # room just above k
        trial[moved] = k + 1
        f += int(f > k)
        _, partner = layer_features(graph, same, background, trial, steps)  # its partner after the split
        trial[trial == f] = partner[f]  # the fragment joins it
        trial[trial > f] -= 1
        layer = trial
    return layer
