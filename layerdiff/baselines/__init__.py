"""Non-learned decomposers and extractors: the floor ("single-layer"), a strong CPU baseline for flat
graphics ("cluster-matting", built from the region engine :mod:`layerdiff.regions`) and a colour
flood-fill extractor ("floodfill"). All recompose exactly to their input. Their presets live in
:mod:`layerdiff.registry` with the models."""

from __future__ import annotations

from .cluster import ClusterMattingDecomposer
from .floodfill import FloodFillExtractor
from .single import SingleLayerDecomposer

__all__ = ["ClusterMattingDecomposer", "FloodFillExtractor", "SingleLayerDecomposer"]
