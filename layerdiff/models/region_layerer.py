"""The region layerer: a small network that decides which flat-colour regions share a layer and
which lies above which.

Decomposing a flat graphic needs two kinds of knowledge: *where* the layer boundaries are (colour
edges, found at full resolution by segmentation and matting) and *which* regions form one layer in
what order (grouping and stacking, a judgement about the design). The non-learned cluster-matting
decomposer answers the second with hand-written rules (enclosure, occlusion, "background-like"
regions). This model learns it instead from synthetic layered designs: for every pair of regions it
predicts "same layer", "first above second" or "second above first", and for every region whether it
belongs to the background. It follows LayerD's split between a learned top-layer decision and
non-learned refinement (Suzuki et al. 2025, "LayerD: Decomposing Raster Graphic Designs into
Layers"), with the decision made on a region graph rather than on pixels, which is what a 2-core CPU
can train.

Inputs are the scale-free features of :mod:`layerdiff.regions.features`; predictions are made
order-consistent by averaging the pair's two orders. An optional third head, the fragment test
(:mod:`layerdiff.regions.fragments`), judges whole proposed layers: is this layer a piece of the
layer it is most linked with?
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import ModelMixin
from diffusers.configuration_utils import ConfigMixin, register_to_config
from torch import nn

from .weights import SafetensorsOnly

__all__ = ["RegionLayerer", "SAME", "FIRST_ABOVE", "SECOND_ABOVE"]

SAME, FIRST_ABOVE, SECOND_ABOVE = 0, 1, 2


def _mlp(dim_in: int, width: int, depth: int, dim_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = dim_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.LayerNorm(width), nn.GELU()]
        d = width
    layers.append(nn.Linear(d, dim_out))
    return nn.Sequential(*layers)


class RegionLayerer(SafetensorsOnly, ModelMixin, ConfigMixin):
    """Pair relation and background classifier over region features.

    Args:
        region_features: width of a region's feature vector.
        pair_features: width of an ordered pair's feature vector (two regions' features + relations).
        width, depth: hidden width and number of hidden layers of both MLPs.
        layer_features: width of a proposed layer's feature vector for the fragment test (0: no
            fragment test); layer_width, layer_depth: its MLP.
    """

    @register_to_config
    def __init__(self, region_features: int = 20, pair_features: int = 58, width: int = 128,
                 depth: int = 3, layer_features: int = 0, layer_width: int = 32, layer_depth: int = 2) -> None:
        super().__init__()
        self.pair_net = _mlp(pair_features, width, depth, 3)
        self.region_net = _mlp(region_features, width, depth, 1)
        self.layer_net = _mlp(layer_features, layer_width, layer_depth, 1) if layer_features else None

    def forward(self, pair_feats: torch.Tensor, swapped_feats: torch.Tensor | None = None) -> torch.Tensor:
        """Relation logits (m, 3) of ordered pairs: [same, first above, second above].

        With ``swapped_feats`` (the same pairs in the other order), the logits of both orders are
        averaged (the swapped pair's "above" classes exchanged), so predictions do not depend on order.
        """
        logits = self.pair_net(pair_feats)  # (m, 3)
        if swapped_feats is not None:
            other = self.pair_net(swapped_feats)[:, [SAME, SECOND_ABOVE, FIRST_ABOVE]]  # (m, 3)
            logits = 0.5 * (logits + other)
        return logits

    def background_logits(self, region_feats: torch.Tensor) -> torch.Tensor:
        """Logit (n,) that each region belongs to the bottom (background) layer."""
        return self.region_net(region_feats)[:, 0]  # (n,)

    def fragment_logits(self, layer_feats: torch.Tensor) -> torch.Tensor:
        """Logit (K,) that each proposed layer is a fragment of its partner (needs ``layer_features``)."""
        if self.layer_net is None:
            raise ValueError("this layerer has no fragment test (layer_features=0)")
        return self.layer_net(layer_feats)[:, 0]  # (K,)

    @torch.no_grad()
    def relations(self, pair_feats: torch.Tensor, swapped_feats: torch.Tensor) -> torch.Tensor:
        """Order-consistent relation probabilities (m, 3)."""
        return self.forward(pair_feats.to(self.dtype), swapped_feats.to(self.dtype)).float().softmax(-1)

    # NumPy-facing inference interface (shared with layerdiff.regions.runtime.NumpyRegionLayerer)
    def pair_probabilities(self, fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
        """:meth:`relations` of NumPy feature arrays (m, P) -> (m, 3) float64."""
        return self.relations(torch.from_numpy(fwd), torch.from_numpy(bwd)).double().numpy()

    @torch.no_grad()
    def background_probabilities(self, regional: np.ndarray) -> np.ndarray:
        """P(region in the bottom layer) (n,) of NumPy region features (n, R)."""
        logits = self.background_logits(torch.from_numpy(regional).to(self.dtype))  # (n,)
        return torch.sigmoid(logits.float()).double().numpy()

    @property
    def has_fragment_test(self) -> bool:
        return self.layer_net is not None

    @torch.no_grad()
    def fragment_probabilities(self, layer_feats: np.ndarray) -> np.ndarray:
        """P(fragment) (K,) of NumPy layer features (K, LAYER_FEATURES)."""
        logits = self.fragment_logits(torch.from_numpy(layer_feats).to(self.dtype))  # (K,)
        return torch.sigmoid(logits.float()).double().numpy()
