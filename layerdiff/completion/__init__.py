"""Completion of what a layer hides: parametric fits for flat and gradient fills, PatchMatch exemplar
inpainting for texture and photos, chosen per layer (:func:`complete_layer`, :func:`complete_stack`)."""

from __future__ import annotations

from .complete import METHODS, Completion, complete_layer, complete_layer_info, complete_stack
from .parametric import ParametricFit, fit_parametric, parametric_fill
from .patchmatch import patchmatch_inpaint

__all__ = [
    "METHODS", "Completion", "complete_layer", "complete_layer_info", "complete_stack",
    "ParametricFit", "fit_parametric", "parametric_fill", "patchmatch_inpaint",
]
