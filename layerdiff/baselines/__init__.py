"""Non-learned decomposers: the floor ("single-layer") and a strong CPU baseline for flat graphics
("cluster-matting"). Both recompose exactly to their input. ``register_baselines()`` adds their presets
to :mod:`layerdiff.registry`."""

from __future__ import annotations

from .cluster import ClusterConfig, ClusterMattingDecomposer
from .single import SingleLayerDecomposer

__all__ = ["ClusterConfig", "ClusterMattingDecomposer", "SingleLayerDecomposer", "register_baselines"]


def register_baselines(overwrite: bool = False) -> None:
    """Register the "single-layer" and "cluster-matting" decomposer presets (idempotent)."""
    from ..registry import ModelPreset, model_names, register

    presets = [
        ModelPreset(
            name="single-layer",
            kind="decomposer",
            description="Baseline: the input as one layer (no decomposition).",
            pipeline="layerdiff.baselines:SingleLayerDecomposer",
            license="Apache-2.0 (code only; no weights)",
            native_resolution=0,
            max_layers=1,
        ),
        ModelPreset(
            name="cluster-matting",
            kind="decomposer",
            description="Non-learned decomposer for flat graphics: Lab colour regions ordered by enclosure "
                        "and occlusion, colour-line matting, push-pull fill, exact recomposition; CPU, <1 s.",
            pipeline="layerdiff.baselines:ClusterMattingDecomposer",
            license="Apache-2.0 (code only; no weights)",
            native_resolution=512,
            max_layers=8,
        ),
    ]
    known = set(model_names())
    for preset in presets:
        if overwrite or preset.name not in known:
            register(preset, overwrite=overwrite)
