"""A LayerD-style decomposer (Suzuki et al. 2025): a small network predicts the alpha of the top,
unoccluded layers, their colours are unblended, what they hid is completed, and the rest is peeled
again until only the background is left (:mod:`layerdiff.layerd.decomposer`; the network is
:class:`layerdiff.models.top_layer.TopLayerNet`, trained by ``training/train_top_layer.py``)."""

from __future__ import annotations

from .decomposer import LayerDDecomposer, peel_once, split_parts

__all__ = ["LayerDDecomposer", "peel_once", "split_parts"]
