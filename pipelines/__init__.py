"""layerdiff pipelines (installed as ``layerdiff.pipelines``; the folder is the top-level ``pipelines/``).

All pipelines share one set of components (RGBA VAE, layer-aware transformer, text encoder,
flow-matching scheduler, settings, optional layer refiner); they differ in which frames are known (see
``layerdiff.frames``). Shared helpers live in ``common``; no pipeline module imports another.
"""

from .base import LayerPipelineBase
from .common import LayeredPipelineOutput, PipelineError
from .decompose import LayerDecomposePipeline
from .edit import LayerEditPipeline
from .extract import LayerExtractPipeline
from .generate import LayerGeneratePipeline
from .settings import PipelineSettings

__all__ = [
    "LayeredPipelineOutput", "LayerPipelineBase", "PipelineError", "PipelineSettings", "LayerDecomposePipeline",
    "LayerGeneratePipeline", "LayerEditPipeline", "LayerExtractPipeline",
]
