"""layerdiff pipelines (installed as ``layerdiff.pipelines``; the folder is the top-level ``pipelines/``).

All pipelines share one set of components (RGBA VAE, layer-aware transformer, text encoder,
flow-matching scheduler); they differ in which frames are known (see ``layerdiff.frames``).
"""

from .base import LayeredPipelineOutput, LayerPipelineBase, PipelineError
from .decompose import LayerDecomposePipeline
from .edit import LayerEditPipeline
from .extract import LayerExtractPipeline
from .generate import LayerGeneratePipeline

__all__ = [
    "LayeredPipelineOutput", "LayerPipelineBase", "PipelineError", "LayerDecomposePipeline",
    "LayerGeneratePipeline", "LayerEditPipeline", "LayerExtractPipeline",
]
