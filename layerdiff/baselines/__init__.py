"""Non-learned decomposers: the floor ("single-layer") and a strong CPU baseline for flat graphics
("cluster-matting"). Both recompose exactly to their input. Their presets live in
:mod:`layerdiff.registry` with the models."""

from __future__ import annotations

from .cluster import ClusterConfig, ClusterMattingDecomposer
from .single import SingleLayerDecomposer

__all__ = ["ClusterConfig", "ClusterMattingDecomposer", "SingleLayerDecomposer"]
