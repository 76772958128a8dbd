"""layerdiff: flat images to editable stacks of RGBA layers; layered generation and editing.

``layerdiff.load(name, task)`` returns the decomposer, extractor or pipeline of a model
(:mod:`layerdiff.loader`); ``layerdiff.save`` writes a layered file, ``layerdiff.io.load`` reads one.
Light names are imported eagerly; the loader, the pipelines (``layerdiff.pipelines``, which setuptools maps
from the top-level ``pipelines/`` folder) and model classes load on first attribute access so
that ``import layerdiff`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import LayerdiffError, LayeredFileError, UnknownModelError
from .layered import Layer, LayeredImage
from .registry import DEFAULT_MODEL, get_preset, list_presets, model_names

__version__ = "0.1.0"

_LAZY = {
    "load": "layerdiff.loader",
    "save": "layerdiff.io",
    "LayerDecomposePipeline": "layerdiff.pipelines",
    "LayerGeneratePipeline": "layerdiff.pipelines",
    "LayerEditPipeline": "layerdiff.pipelines",
    "LayerExtractPipeline": "layerdiff.pipelines",
    "RGBAAutoencoder": "layerdiff.models",
}

__all__ = [
    "Layer", "LayeredImage", "LayerdiffError", "LayeredFileError", "UnknownModelError",
    "DEFAULT_MODEL", "get_preset", "list_presets", "model_names", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "pipelines":
        return importlib.import_module("layerdiff.pipelines")
    raise AttributeError(f"module 'layerdiff' has no attribute {name!r}")
