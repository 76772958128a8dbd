"""Image -> RGBA layers by diffusion: the composite frame is known, the layer frames are sampled.

Qwen-Image-Layered's image -> multi-RGBA task (Yin et al. 2025). Beyond the anchor:

- *exact recomposition*: the layers' colours are corrected by projecting the residual onto the
  layers' visibility weights (:func:`layerdiff.recompose.project_residual`), so the composite of the
  returned layers equals the input within 1/255 per channel;
- *any resolution*: the model runs on a ~``native_resolution``^2 grid with the input's aspect ratio;
  alphas are upsampled and refined against the full-resolution input (guided filter, He et al. 2010)
  and visible colours come from the input itself (:func:`layerdiff.recompose.paint_full_resolution`);
- *automatic layer count*: with ``num_layers="auto"`` the model samples ``max_layers`` layer frames;
  it was trained with empty (alpha = 0) padding frames on top of the real layers, so frames it
  leaves empty are dropped. A layer counts as empty when fewer than ``min_layer_coverage`` of its
  pixels have alpha > 0.5 (the bottom layer is always kept).

The region decomposer (:mod:`layerdiff.regions`) is another implementation of the same contract;
:func:`layerdiff.load` chooses between them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from layerdiff.contract import check_num_layers, image_to_array
from layerdiff.layered import LayeredImage
from layerdiff.recompose import paint_full_resolution

from .base import LayerPipelineBase, contract_call
from .common import (
    LayeredPipelineOutput,
    check_images,
    check_output_type,
    drop_empty_layers,
    format_layers,
    one_per_item,
    resize_rgba,
    stack_to_layered,
)


class LayerDecomposePipeline(LayerPipelineBase):
    """Decompose images into stacks of RGBA layers (bottom to top); a :class:`~layerdiff.contract.Decomposer`."""

    task = "decompose"
    options = frozenset({"prompt", "steps", "guidance_scale", "exact_recomposition", "refine",
                         "min_layer_coverage", "read_text"})

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
    ) -> LayeredPipelineOutput:
        """Decompose one image or a list of images.

        Args:
            image: PIL image, (H, W, C) array, (C, H, W) tensor or LayeredImage, or a list of them.
            num_layers: number of layers, or "auto" (see the module docstring).
            max_layers: upper bound for "auto" (default: the model's maximum).
            prompt: optional description of the image (one, or one per image).
            num_inference_steps, guidance_scale: default: the model's settings.
            output_type: "pil", "np", "pt" or "latent".
            exact_recomposition: project the residual so the layers composite to the input exactly.
            refine: refine alpha edges against the full-resolution input (else plain upsampling).
        """
        # 1. Check inputs.
        check_output_type(output_type)
        rgba = check_images(image)
        wanted, cap = check_num_layers(num_layers, max_layers, self.max_layers, self.model_name)
        prompts = one_per_item(prompt, len(rgba), "prompt", str)
        gens = one_per_item(generator, len(rgba), "generator", torch.Generator)
        steps, scale = self.sampling(num_inference_steps, guidance_scale)
        frames_l = cap if wanted is None else wanted

        # 2-6. Per native grid (images of one aspect ratio share a batch): encode, sample.
        latents: list[torch.Tensor | None] = [None] * len(rgba)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, arr in enumerate(rgba):
            groups.setdefault(self.native_grid(arr.shape[1], arr.shape[0]), []).append(i)
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
            gen = [gens[i] for i in idx] if isinstance(generator, list) else generator
            sampled = self.denoise(clean, known, text, steps, scale, gen,
                                   callback_on_step_end=callback_on_step_end)  # (B, F, C, h, w)
            for j, i in enumerate(idx):
                latents[i] = sampled[j]

        if output_type == "latent":
            return LayeredPipelineOutput(images=[], layers=[lat.cpu() for lat in latents])

        # 7. Decode the layer frames, choose the count, and paint at full resolution.
        stacks = []
        for full_rgba, lat in zip(rgba, latents):
            low = self.decode_layers(lat[:-1]).permute(0, 2, 3, 1).cpu().numpy()  # (L, h', w', 4)
            if wanted is None:
                low = drop_empty_layers(low, min_layer_coverage)
            stacks.append(paint_full_resolution(low, full_rgba, exact_recomposition, refine))

        # 8. Output.
        layered = [stack_to_layered(s) for s in stacks]
        return LayeredPipelineOutput(images=layered, layers=format_layers(stacks, output_type))

    def decompose(self, image: Any, num_layers: int | str = "auto", *, max_layers: int | None = None,
                  seed: int | None = 0, callback: Callable[[int, int], None] | None = None,
                  **options: Any) -> LayeredImage:
        """The :class:`~layerdiff.contract.Decomposer` method: one image -> its :class:`LayeredImage`.

        ``seed`` seeds the sampling (None: unseeded); options: ``prompt``, ``steps``, ``guidance_scale``,
        ``exact_recomposition``, ``refine``, ``min_layer_coverage`` (see :meth:`__call__`), ``read_text``
        (default True: with the ``text`` extra, each text layer gets its :class:`~layerdiff.text.TextInfo` and
        is named after its words).
        """
        kwargs, read_text = contract_call(self, options, seed, callback)
        stack = self(image, num_layers=num_layers, max_layers=max_layers, **kwargs).images[0]
        if not read_text:
            return stack
        from layerdiff.text.detect import TEXT_CONFIDENCE, annotate_text_layers

        return annotate_text_layers(stack, image_to_array(image)[0], min_confidence=TEXT_CONFIDENCE,
                                    layers=range(1, len(stack.layers)), name_layers=True)


__all__ = ["LayerDecomposePipeline"]
