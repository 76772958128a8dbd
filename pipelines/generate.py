"""Text -> RGBA layers (generation): nothing is known; all layer frames and the composite are sampled.

Optional layout boxes, one per layer, enter as the region-hint channel of each layer frame
(in the spirit of ART's anonymous-region layout, Pu et al. 2025, with one box per layer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from layerdiff.contract import check_num_layers
from layerdiff.frames import region_maps

from .base import LayerPipelineBase
from .common import (
    Box,
    LayeredPipelineOutput,
    PipelineError,
    box_maps,
    check_output_type,
    drop_empty_layers,
    format_layers,
    normalise_box,
    resize_rgba,
    stack_to_layered,
)


def layer_prompt_rows(layer_prompts: Sequence[str] | Sequence[Sequence[str]] | None, batch: int, layers: int
                      ) -> list[list[str]]:
    """Per-prompt rows of frame phrases (``layers`` layer frames + the composite's empty one)."""
    if layer_prompts is None:
        return [[""] * (layers + 1) for _ in range(batch)]
    items = list(layer_prompts)
    nested = [list(r) for r in items] if items and not isinstance(items[0], str) else [items] * batch
    if len(nested) != batch:
        raise PipelineError(f"layer_prompts: got {len(nested)} lists for {batch} prompts")
    rows = []
    for row in nested:
        if not all(isinstance(p, str) for p in row):
            raise PipelineError("layer_prompts: every layer prompt must be a string")
        if len(row) > layers:
            raise PipelineError(f"layer_prompts: got {len(row)} layer prompts for {layers} layers")
        rows.append(row + [""] * (layers + 1 - len(row)))
    return rows


class LayerGeneratePipeline(LayerPipelineBase):
    """Generate layered images from text."""

    task = "generate"

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | Sequence[str],
        num_layers: int | str = 3,
        layer_prompts: Sequence[str] | Sequence[Sequence[str]] | None = None,
        boxes: Sequence[Box | None] | None = None,
        width: int | None = None,
        height: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        min_layer_coverage: float = 0.002,
        refine: bool = True,
        refine_passes: int | None = None,
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
    ) -> LayeredPipelineOutput:
        """Generate one layered image per prompt.

        Args:
            prompt: a description, or a list (one layered image each).
            num_layers: layer count (bottom layer = background), or "auto" (up to the model's maximum).
            layer_prompts: optional caption of each layer, bottom to top ("" = none): a list of strings
                (one prompt) or one such list per prompt. Each becomes its layer frame's phrase, which binds
                that description to that layer (see :mod:`layerdiff.frames`).
            boxes: optional layout, one (x0, y0, x1, y1) box or None per layer (normalised or pixels).
            width, height: output size (default: the native resolution); the model samples on its
                native grid with this aspect ratio and layers are resized premultiplied.
            num_inference_steps: Euler steps; default: the model's ``generate_num_inference_steps`` (else
                its ``num_inference_steps``).
            guidance_scale: classifier-free guidance (Ho and Salimans 2022) over the prompt and the layer
                prompts together; default: the model's ``generate_guidance_scale`` (else its
                ``guidance_scale``; 1 = none).
            refine: with a ``refiner`` component, redraw the outline of each foreground layer that has a
                layer prompt at the output size from its coarse sample and that prompt
                (:mod:`layerdiff.refine`, the cascade's last stage); layers without one, the background
                and everything with False come back as the transformer's layers decoded.
            refine_passes: how many times the refiner redraws each outline, each pass from the last
                (default: the model's ``refine_passes``, else 1).
        """
        # 1. Check inputs.
        check_output_type(output_type)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise PipelineError("prompt: got an empty list")
        wanted, _ = check_num_layers(num_layers, None, self.max_layers, self.model_name)
        frames_l = self.max_layers if wanted is None else wanted
        out_w, out_h = check_size(self.native_resolution if width is None else width,
                                  self.native_resolution if height is None else height)
        gw, gh = self.native_grid(out_w, out_h)
        region = self.layout(boxes, frames_l, len(prompts), (out_w, out_h), (gw, gh))  # (B, F, 1, h, w) or None
        rows = layer_prompt_rows(layer_prompts, len(prompts), frames_l)
        steps, scale = self.sampling(num_inference_steps, guidance_scale)

        # 2. Encode the prompts and the layer phrases.
        text = self.encode_prompt(prompts, scale)
        phrases = self.encode_layer_phrases(rows)  # (B, F, P) or None

        # 3-4. Prepare frames: every frame unknown.
        b, c = len(prompts), self.vae.latent_channels
        h, w = gh // self.vae.spatial_scale, gw // self.vae.spatial_scale
        clean = torch.zeros(b, frames_l + 1, c, h, w, device=self._execution_device, dtype=self._dtype)
        known = torch.zeros(b, frames_l + 1, dtype=torch.bool, device=self._execution_device)

        # 5-6. Timesteps and denoising loop.
        latents = self.denoise(clean, known, text, steps, scale, generator, region=region,
                               callback_on_step_end=callback_on_step_end, phrases=phrases)  # (B, F, C, h, w)
        if output_type == "latent":
            return LayeredPipelineOutput(images=[], layers=[lat.cpu() for lat in latents])

        # 7. Decode the layer frames at the requested size; the refiner redraws the foreground outlines.
        refine_text = self.refiner_phrases(rows) if refine else None  # (B, F, P) or None
        stacks = []
        for i, lat in enumerate(latents):
            full = resize_rgba(self.decode_layers(lat[:-1]), (out_h, out_w))  # (L, 4, H, W)
            if refine_text is not None:
                # (L,) foreground layers with a layer prompt: without one there is no outline to draw
                select = torch.tensor([k > 0 and bool(rows[i][k]) for k in range(frames_l)])
                full = self.refine(full, refine_text[i, :frames_l], select, refine_passes)
            full = full.permute(0, 2, 3, 1).cpu().numpy()  # (L, H, W, 4)
            stacks.append(drop_empty_layers(full, min_layer_coverage) if wanted is None else full)

        # 8. Output: with layer prompts (and a fixed count) each layer is named after its prompt and carries
        #    it as its caption, which later edits read as that layer's phrase.
        images = []
        for stack, row in zip(stacks, rows):
            image = stack_to_layered(stack)
            if wanted is not None:
                for lay, text in zip(image.layers, row):
                    if text:
                        lay.name, lay.metadata["caption"] = text[:40], text
            images.append(image)
        return LayeredPipelineOutput(images=images, layers=format_layers(stacks, output_type))

    def layout(self, boxes: Sequence[Box | None] | None, layers: int, batch: int, size: tuple[int, int],
               grid: tuple[int, int]) -> torch.Tensor | None:
        """Layout boxes (one per layer, in pixels of ``size`` = (w, h) or normalised) -> the region hints
        (B, F, 1, h, w) of the frames on the native ``grid`` (composite frame empty), or None."""
        if boxes is None:
            return None
        if len(boxes) != layers:
            raise PipelineError(f"got {len(boxes)} boxes for {layers} layers")
        gw, gh = grid
        boxes = [normalise_box(b, *size) for b in boxes]  # pixels of the output size -> fractions
        maps = torch.cat([box_maps(boxes, gw, gh), torch.zeros(1, gh, gw)])  # (F, H, W)
        h, w = gh // self.vae.spatial_scale, gw // self.vae.spatial_scale
        region = region_maps(maps[None].expand(batch, -1, -1, -1), (h, w))  # (B, F, 1, h, w)
        return region.to(self._execution_device, self._dtype)


def check_size(width: Any, height: Any) -> tuple[int, int]:
    """The output size (width, height): integers of at least 8 px and at most 16384^2 pixels."""
    for what, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise PipelineError(f"{what} must be an integer number of pixels, got {value!r}")
    if min(width, height) < 8 or width * height > 16384 * 16384:
        raise PipelineError(f"output size {width}x{height} is outside [8 px, 16384^2 pixels]")
    return int(width), int(height)
