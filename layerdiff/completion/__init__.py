"""Completion of what a layer hides: parametric fits for flat and gradient fills, PatchMatch exemplar
inpainting for texture and photos (:func:`complete_layer`, :func:`complete_stack`)."""

from __future__ import annotations

from .parametric import ParametricFit, fit_parametric, parametric_fill

__all__ = ["ParametricFit", "fit_parametric", "parametric_fill"]
