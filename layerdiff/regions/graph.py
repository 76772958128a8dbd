"""The region graph of an image: flat-colour regions, their convex hulls and the enclosure tree.

Shared by the non-learned ``cluster-matting`` decomposer and the learned region layerer: both start
from the same partition (:func:`layerdiff.baselines.segment.segment_regions`) and differ only in how
regions are assigned to layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..baselines.cluster import ClusterConfig, LayerTree, _Hulls, layer_tree
from ..baselines.segment import Regions, regions_from_labels, segment_regions

__all__ = ["RegionGraph", "region_graph", "graph_from_labels", "visible_layer_counts", "relation_targets"]


@dataclass
class RegionGraph:
    """Regions of one (h, w, 4) image with the hulls and the heuristic enclosure tree of cluster-matting."""

    image: np.ndarray
    regions: Regions
    hulls: _Hulls
    tree: LayerTree

    @property
    def count(self) -> int:
        return self.regions.count


def region_graph(image: np.ndarray, config: ClusterConfig | None = None) -> RegionGraph:
    """Segment ``image`` (h, w, 4 straight alpha in [0, 1]) and build its enclosure tree."""
    cfg = config or ClusterConfig()
    h, w = image.shape[:2]
    regions = segment_regions(image, cfg.max_colours, cfg.merge_delta_e, cfg.similar_delta_e,
                              cfg.flat_threshold, max(4, int(cfg.min_area_fraction * h * w)), cfg.seed)
    return _graph(image, regions, cfg)


def _graph(image: np.ndarray, regions: Regions, cfg: ClusterConfig) -> RegionGraph:
    hulls = _Hulls(regions.labels)
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


def graph_from_labels(image: np.ndarray, labels: np.ndarray, config: ClusterConfig | None = None) -> RegionGraph:
    """The :class:`RegionGraph` of a cached segmentation ``labels`` (h, w) of ``image`` (h, w, 4)."""
    cfg = config or ClusterConfig()
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
