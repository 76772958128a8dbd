"""Image -> RGBA layers (decomposition), the main job of layerdiff.

The composite frame is known, the layer frames are sampled (Qwen-Image-Layered's image ->
multi-RGBA task; Yin et al. 2025). Beyond the anchor:

- *exact recomposition*: the layers' colours are corrected by projecting the residual onto the
  layers' visibility weights (:func:`layerdiff.recompose.project_residual`), so the composite of the
  returned layers equals the input within 1/255 per channel;
- *any resolution*: the model runs on a ~``native_resolution``^2 grid with the input's aspect ratio;
  alphas are upsampled and refined against the full-resolution input (guided filter, He et al. 2010)
  and visible colours come from the input itself (:func:`layerdiff.recompose.upsample_layers`);
- *automatic layer count*: with ``num_layers="auto"`` the model samples ``max_layers`` layer frames;
  it was trained with empty (alpha = 0) padding frames on top of the real layers, so frames it
  leaves empty are dropped. A layer counts as empty when fewer than ``min_layer_coverage`` of its
  pixels have alpha > 0.5 (the bottom layer is always kept).

Two methods. ``method="diffusion"`` is the sampling described above. ``method="regions"`` needs the
pipeline's optional ``layerer`` component (:class:`layerdiff.models.RegionLayerer`): the image is split
into flat-colour regions at up to 512 px and the learned layerer groups and orders them
(:mod:`layerdiff.layering`); deterministic, and on flat graphics far better than this model size's
sampling (MODEL_CARD.md). ``method="auto"`` (default) takes the regions when a layerer is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from layerdiff.layered import LayeredImage

from .base import (
    LayeredPipelineOutput,
    LayerPipelineBase,
    PipelineError,
    as_rgba_array,
    check_output_type,
    format_layers,
    resize_rgba,
    stack_to_layered,
)

MIN_SIDE = 8
MAX_PIXELS = 16384 * 16384


class LayerDecomposePipeline(LayerPipelineBase):
    """Decompose images into stacks of RGBA layers (bottom to top)."""

    @torch.no_grad()
    def __call__(
        self,
        image: Any | Sequence[Any],
        num_layers: int | str = "auto",
        max_layers: int | None = None,
        prompt: str | Sequence[str] = "",
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        exact_recomposition: bool = True,
        refine: bool = True,
        min_layer_coverage: float = 0.002,
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
        method: str = "auto",
    ) -> LayeredPipelineOutput:
        """Decompose one image or a list of images.

        Args:
            image: PIL image, (H, W, C) array, (C, H, W) tensor or LayeredImage, or a list of them.
            num_layers: number of layers, or "auto" (see the module docstring).
            max_layers: upper bound for "auto" (default: the model's maximum).
            prompt: optional description of the image (one, or one per image).
            output_type: "pil", "np", "pt" or "latent".
            exact_recomposition: project the residual so the layers composite to the input exactly.
            refine: refine alpha edges against the full-resolution input (else plain upsampling).
            method: "auto", "regions" or "diffusion" (see the module docstring); sampling options
                (prompt, steps, guidance, generator, callback) apply to "diffusion" only.
        """
        # 1. Check inputs.
        check_output_type(output_type)
        images = list(image) if isinstance(image, (list, tuple)) else [image]
        if not images:
            raise PipelineError("image: got an empty list")
        rgba = [as_rgba_array(im, f"image {i}") for i, im in enumerate(images)]
        regions = self.use_regions(method, output_type)
        for i, arr in enumerate(rgba):
            h, w = arr.shape[:2]
            if min(h, w) < MIN_SIDE and not regions:
                raise PipelineError(f"image {i}: {w}x{h} is too small (each side must be >= {MIN_SIDE} px)")
            if h * w > MAX_PIXELS:
                raise PipelineError(f"image {i}: {w}x{h} exceeds the {MAX_PIXELS} pixel limit")
        cap = self.max_layers if max_layers is None else int(max_layers)
        if not 1 <= cap <= self.max_layers:
            raise PipelineError(f"max_layers must be in [1, {self.max_layers}] for this model, got {max_layers}")
        auto = num_layers == "auto"
        if not auto:
            if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)):
                raise PipelineError(f"num_layers must be an int or 'auto', got {num_layers!r}")
            if not 1 <= int(num_layers) <= cap:
                raise PipelineError(f"num_layers must be in [1, {cap}], got {num_layers}")
        frames_l = cap if auto else int(num_layers)
        prompts = [prompt] * len(images) if isinstance(prompt, str) else list(prompt)
        if len(prompts) != len(images):
            raise PipelineError(f"got {len(prompts)} prompts for {len(images)} images")
        if regions:
            # 2-7. Regions: segment, let the layerer group and order them, paint (layerdiff.layering).
            from layerdiff.layering.decomposer import RegionLayerDecomposer

            decomposer = RegionLayerDecomposer(self.layerer, max_layers=cap)
            wanted = "auto" if auto else int(num_layers)
            stacks = [decomposer.decompose_stack(arr, wanted, cap) for arr in self.progress_bar(rgba)]
            rgba.clear()  # the inputs are no longer needed (memory at large sizes)
            layered = [stack_to_layered(s) for s in stacks]
            return LayeredPipelineOutput(images=layered, layers=format_layers(stacks, output_type))
        steps = int(self._default("num_inference_steps", num_inference_steps, 8))
        scale = float(self._default("guidance_scale", guidance_scale, 1.0))

        # 2-6. Per native grid (images of one aspect ratio share a batch): encode, sample.
        results: list[tuple[np.ndarray, torch.Tensor] | None] = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, arr in enumerate(rgba):
            groups.setdefault(self.native_grid(arr.shape[1], arr.shape[0]), []).append(i)
        gens = generator if isinstance(generator, list) else None
        if gens is not None and len(gens) != len(images):
            raise PipelineError(f"got {len(gens)} generators for {len(images)} images")
        for (gw, gh), idx in groups.items():
            # 2. Encode the prompt.
            text = self.encode_prompt([prompts[i] for i in idx], scale)
            # 3. Encode the composite at the native grid.
            comp = [resize_rgba(torch.from_numpy(rgba[i]).permute(2, 0, 1)[None], (gh, gw)) for i in idx]
            z_comp = self.encode_layers(torch.cat(comp))  # (B, C, h, w)
            # 4. Prepare frames: L unknown layer frames, then the known composite frame.
            b, c, h, w = z_comp.shape
            clean = torch.zeros(b, frames_l + 1, c, h, w, dtype=z_comp.dtype, device=z_comp.device)
            clean[:, -1] = z_comp
            known = torch.zeros(b, frames_l + 1, dtype=torch.bool, device=z_comp.device)
            known[:, -1] = True
            # 5-6. Timesteps and denoising loop.
            gen = [gens[i] for i in idx] if gens is not None else generator
            latents = self.denoise(clean, known, text, steps, scale, gen,
                                   callback_on_step_end=callback_on_step_end)  # (B, F, C, h, w)
            for j, i in enumerate(idx):
                results[i] = (rgba[i], latents[j])

        if output_type == "latent":
            return LayeredPipelineOutput(images=[], layers=[lat.cpu() for _, lat in results])

        # 7. Decode the layer frames, choose the count, and paint at full resolution.
        stacks = []
        for full_rgba, lat in results:
            low = self.decode_layers(lat[:-1]).permute(0, 2, 3, 1).cpu().numpy()  # (L, h', w', 4)
            if auto:
                low = drop_empty_layers(low, min_layer_coverage)
            stacks.append(self.paint_full_resolution(low, full_rgba, exact_recomposition, refine))

        # 8. Output.
        layered = [stack_to_layered(s) for s in stacks]
        return LayeredPipelineOutput(images=layered, layers=format_layers(stacks, output_type))

    def decompose(self, image: Any, num_layers: int | str = "auto", max_layers: int | None = None,
                  seed: int | None = 0, **kwargs: Any) -> LayeredImage:
        """Decompose one image and return its :class:`LayeredImage` (the decomposer interface)."""
        if seed is not None:
            kwargs["generator"] = torch.Generator().manual_seed(int(seed))
        return self(image, num_layers=num_layers, max_layers=max_layers, output_type="np", **kwargs).images[0]

    @staticmethod
    def paint_full_resolution(low: np.ndarray, full: np.ndarray, exact: bool, refine: bool) -> np.ndarray:
        """Native-grid layers (L, h, w, 4) -> full-resolution layers (L, H, W, 4) for the input ``full``."""
        from layerdiff.recompose import project_residual, upsample_layers

        if refine:
            return upsample_layers(low, full, project=exact)
        h, w = full.shape[:2]
        up = resize_rgba(torch.from_numpy(low).permute(0, 3, 1, 2), (h, w)).permute(0, 2, 3, 1).numpy()
        return project_residual(up, full) if exact else up


def drop_empty_layers(layers: np.ndarray, min_coverage: float) -> np.ndarray:
    """Keep the bottom layer and every layer with more than ``min_coverage`` of its pixels at alpha > 0.5."""
    coverage = (layers[..., 3] > 0.5).mean(axis=(1, 2))  # (L,)
    keep = [0] + [i for i in range(1, layers.shape[0]) if coverage[i] > min_coverage]
    return layers[keep]
