"""Text -> RGBA layers (generation): nothing is known; all layer frames and the composite are sampled.

Optional layout boxes, one per layer, enter as the region-hint channel of each layer frame
(in the spirit of ART's anonymous-region layout, Pu et al. 2025, with one box per layer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from layerdiff.frames import region_maps
from layerdiff.registry import default_steps

from .base import (
    LayeredPipelineOutput,
    LayerPipelineBase,
    PipelineError,
    check_output_type,
    format_layers,
    resize_rgba,
    stack_to_layered,
)
from .decompose import drop_empty_layers

Box = tuple[float, float, float, float]


def normalise_box(box: Box | None, width: int, height: int) -> Box | None:
    """A box in pixels of a width x height canvas (any coordinate > 1) as fractions of it; a normalised
    box (or None) is returned as it is."""
    if box is None or len(box) != 4 or max(float(v) for v in box) <= 1.0:
        return box
    x0, y0, x1, y1 = (float(v) for v in box)
    return x0 / width, y0 / height, x1 / width, y1 / height


def box_maps(boxes: Sequence[Box | None], width: int, height: int) -> torch.Tensor:
    """Boxes (x0, y0, x1, y1) in [0, 1] (or pixels of width x height) -> (L, H, W) binary maps (None = 0)."""
    maps = torch.zeros(len(boxes), height, width)
    for i, box in enumerate(boxes):
        if box is None:
            continue
        if len(box) != 4:
            raise PipelineError(f"box {i}: expected (x0, y0, x1, y1), got {box!r}")
        x0, y0, x1, y1 = (float(v) for v in normalise_box(box, width, height))
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise PipelineError(f"box {i}: {box!r} is empty or outside the image")
        maps[i, int(y0 * height) : max(int(y0 * height) + 1, int(round(y1 * height))),
             int(x0 * width) : max(int(x0 * width) + 1, int(round(x1 * width)))] = 1.0
    return maps


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
        auto = num_layers == "auto"
        if not auto and (isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer))
                         or not 1 <= int(num_layers) <= self.max_layers):
            raise PipelineError(f"num_layers must be 'auto' or an int in [1, {self.max_layers}], got {num_layers!r}")
        frames_l = self.max_layers if auto else int(num_layers)
        out_w = int(width or self.native_resolution)
        out_h = int(height or self.native_resolution)
        if min(out_w, out_h) < 8 or out_w * out_h > 16384 * 16384:
            raise PipelineError(f"output size {out_w}x{out_h} is outside [8 px, 16384^2 pixels]")
        gw, gh = self.native_grid(out_w, out_h)
        region = None
        if boxes is not None:
            if len(boxes) != frames_l:
                raise PipelineError(f"got {len(boxes)} boxes for {frames_l} layers")
            boxes = [normalise_box(b, out_w, out_h) for b in boxes]  # pixels of the output size
            maps = torch.cat([box_maps(boxes, gw, gh), torch.zeros(1, gh, gw)])  # (F, H, W)
            h, w = gh // self.vae.spatial_scale, gw // self.vae.spatial_scale
            region = region_maps(maps[None].expand(len(prompts), -1, -1, -1), (h, w))
            region = region.to(self._execution_device, self._dtype)  # (B, F, 1, h, w)
        rows = layer_prompt_rows(layer_prompts, len(prompts), frames_l)
        steps = int(default_steps(self.preset_defaults, "generate") if num_inference_steps is None
                    else num_inference_steps)
        scale = float(self._default("generate_guidance_scale", guidance_scale,
                                    self.preset_defaults.get("guidance_scale", 1.0)))

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
            stacks.append(drop_empty_layers(full, min_layer_coverage) if auto else full)

        # 8. Output: with layer prompts (and a fixed count) each layer is named after its prompt and carries
        #    it as its caption, which later edits read as that layer's phrase.
        images = []
        for stack, row in zip(stacks, rows):
            image = stack_to_layered(stack)
            if not auto:
                for lay, text in zip(image.layers, row):
                    if text:
                        lay.name, lay.metadata["caption"] = text[:40], text
            images.append(image)
        return LayeredPipelineOutput(images=images, layers=format_layers(stacks, output_type))
