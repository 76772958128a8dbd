"""A non-learned decomposer for flat graphics: colour regions -> enclosure tree -> matted layers.

What a user can run on a CPU today, in well under a second at the working size, built from the region
engine (:mod:`layerdiff.regions`) with a hand-written layer assignment instead of the learned one:

1. segment the image (at most ``work_size`` px on its longest side) into flat-colour regions
   (k-means in CIE Lab, connected components; :mod:`layerdiff.regions.segment`);
2. order them by enclosure, as LayerD peels top layers (:func:`layerdiff.regions.graph.layer_tree`):
   the largest region is the background; every other region lies on the larger neighbour it shares
   the most boundary with; a region coloured like its grandparent and not much smaller than its parent
   is a hole (the counter of an "O") and belongs to the grandparent; depth in this tree is the layer
   (siblings share a layer: they never overlap);
3. each layer's alpha covers its regions and everything they enclose (completed under the layers on
   top), with soft edges from a colour-line matte in a 1-px band (Levin et al. 2008);
4. each layer's hidden colours are filled by pyramid push-pull from its visible ones (Gortler et al.
   1996); :func:`layerdiff.recompose.project_residual` then makes the composite equal the input, and
   inputs larger than the working size are lifted with :func:`layerdiff.recompose.upsample_layers`
   (steps 3-4: :mod:`layerdiff.regions.paint`).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from ..contract import Progress, check_num_layers, check_options, image_to_array
from ..layered import LayeredImage
from ..regions.config import RegionConfig
from ..regions.graph import region_graph
from ..regions.paint import at_work_size, layer_masks, named_stack, paint_layers
from ..regions.segment import Regions

__all__ = ["ClusterMattingDecomposer"]


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


class ClusterMattingDecomposer:
    """Non-learned decomposer for flat graphics (see the module docstring). Exact recomposition;
    deterministic (``seed`` is accepted and unused); no options."""

    options: frozenset[str] = frozenset()

    def __init__(self, config: RegionConfig | None = None, name: str = "cluster-matting",
                 max_layers: int = 8) -> None:
        self.config = config or RegionConfig()
        self.name = name
        self.max_layers = int(max_layers)
        if self.config.work_size < 16:
            raise ValueError(f"work_size must be >= 16, got {self.config.work_size}")

    @classmethod
    def from_pretrained(cls, name: str = "cluster-matting", **kwargs: Any) -> ClusterMattingDecomposer:
        """Registry hook: keyword arguments are :class:`~layerdiff.regions.RegionConfig` fields; the layer limit is the
        preset's."""
        from ..registry import get_preset

        known = {f.name for f in fields(RegionConfig)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"{name}: unknown options {unknown}; known: {sorted(known)}")
        return cls(RegionConfig(**kwargs), name=name, max_layers=get_preset(name).max_layers)

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
        if wanted == 1:
            return img[None].copy()
        graph = region_graph(img, cfg)
        layer = _assign_layers(graph.regions, graph.tree.level, wanted, max_layers, cfg.similar_delta_e)
        cover, own = layer_masks(graph, layer, int(layer.max()) + 1)
        return paint_layers(img[..., :3], cover, own, cfg.matte_radius, wanted)
