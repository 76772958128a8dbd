"""The settings of a layerdiff model's pipelines: a config-only component.

Every layerdiff pipeline holds a :class:`PipelineSettings` next to its VAE, transformer, text encoder and
scheduler. It is registered like them, so ``Pipe(**other.components)`` carries it, ``save_pretrained``
writes it to ``settings/config.json`` and lists it in ``model_index.json``, and
``from_pretrained`` reads it back: a pipeline built from another one's components behaves exactly like
the one loaded from the folder.

It is saved through diffusers' config-only component protocol (the one schedulers use: ``save_pretrained``
writes the config, ``from_pretrained`` reads it), which is why it derives from ``SchedulerMixin``; it holds
no state beyond its config.
"""

from __future__ import annotations

import inspect
from typing import Any

from diffusers import ConfigMixin, SchedulerMixin
from diffusers.configuration_utils import register_to_config

from .common import PipelineError

__all__ = ["PipelineSettings", "TASKS"]

TASKS = ("decompose", "extract", "generate", "edit")
DEFAULT_STEPS = 8
"""Sampling steps when a model names none."""


class PipelineSettings(SchedulerMixin, ConfigMixin):
    """What a layerdiff model's pipelines need besides the weights.

    Args:
        native_resolution: side in pixels of the square grid area the model samples at (the input's
            aspect ratio is kept).
        max_layers: the most layers the model makes (the preset's one layer limit).
        num_inference_steps: Euler steps of every task that names no steps of its own.
        guidance_scale: classifier-free guidance of every task that names none of its own (1 = none).
        generate_num_inference_steps, generate_guidance_scale: the same for generation (None: the
            shared value).
        refine_passes: passes of the layer refiner (generation and generative edits).
    """

    config_name = "config.json"
    _compatibles: list[str] = []

    @register_to_config
    def __init__(self, native_resolution: int = 128, max_layers: int = 8,
                 num_inference_steps: int = DEFAULT_STEPS, guidance_scale: float = 1.0,
                 generate_num_inference_steps: int | None = None, generate_guidance_scale: float | None = None,
                 refine_passes: int = 1) -> None:
        for name, value, low in (("native_resolution", native_resolution, 16), ("max_layers", max_layers, 1),
                                 ("num_inference_steps", num_inference_steps, 1),
                                 ("generate_num_inference_steps", generate_num_inference_steps, 1),
                                 ("refine_passes", refine_passes, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise PipelineError(f"pipeline settings: {name} must be an integer >= {low}, got {value!r}")
        for name, value in (("guidance_scale", guidance_scale), ("generate_guidance_scale", generate_guidance_scale)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise PipelineError(f"pipeline settings: {name} must be a number >= 0, got {value!r}")

    @classmethod
    def from_preset(cls, native_resolution: int, max_layers: int, defaults: dict[str, Any]) -> PipelineSettings:
        """Settings of a registry preset (its ``native_resolution``, ``max_layers`` and ``defaults``)."""
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(defaults) - known)
        if unknown:
            raise PipelineError(f"pipeline settings: unknown defaults {unknown} (known: {sorted(known)})")
        return cls(native_resolution=int(native_resolution), max_layers=int(max_layers), **defaults)

    def replace(self, **changes: Any) -> PipelineSettings:
        """A copy with some fields changed (e.g. ``settings.replace(native_resolution=64)``)."""
        current = {k: v for k, v in self.config.items() if not k.startswith("_")}
        return type(self)(**{**current, **changes})

    def steps(self, task: str) -> int:
        """Default sampling steps of ``task`` (one of :data:`TASKS`)."""
        own = self.config.generate_num_inference_steps if task == "generate" else None
        return int(self.config.num_inference_steps if own is None else own)

    def guidance(self, task: str) -> float:
        """Default classifier-free guidance scale of ``task``."""
        own = self.config.generate_guidance_scale if task == "generate" else None
        return float(self.config.guidance_scale if own is None else own)
