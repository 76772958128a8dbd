"""Referring extraction: pull the object named by a point, a box, a mask or a phrase out of an image.

The model runs the ``refer`` task it was trained on (``training/tasks.py``): frames
``[background, object, composite]`` with the composite known; the prompt map
(:meth:`layerdiff.referring.ReferringPrompt.raster`) is the region channel of the object frame and the
phrase is the text prompt. It samples the object layer *amodally* (parts hidden behind other content
completed where the model can; the object's own shadow or glow belongs to its layer) and the rest of
the image with the hole filled. The pair is then painted at the input's resolution and projected so
that it recomposes to the input within 1/255 (:func:`layerdiff.recompose.paint_full_resolution`).

Because the object sits on top of the rest, exact recomposition makes its colour equal what is
visible wherever something of the rest lies over it: its alpha stays amodal, its occluded colours do
not. ``exact_recomposition=False`` keeps the model's completed colours (the composite is then not
exact).

Several prompts: objects are extracted one after the other, each from the previous background, so the
image is peeled layer by layer. With ``order="auto"`` (default) the extraction order follows the
model's predicted occlusion: every object is first sampled from the input (one batch); where two
predicted objects overlap, the one whose colours match the input there is in front; front objects
are extracted first. The first extracted object is the top layer: the result is
``[background, last extracted, ..., first extracted]``. ``order="given"`` keeps the prompts' order.
Negative points remove from the extracted object the connected parts (alpha > 0.5) they fall on.

The region referrer (:mod:`layerdiff.regions`) is another implementation of the same extractor contract;
:func:`layerdiff.load` chooses between them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from layerdiff.contract import image_to_array
from layerdiff.frames import region_maps
from layerdiff.layered import Layer, LayeredImage
from layerdiff.recompose import paint_full_resolution, project_residual
from layerdiff.referring import ReferringPrompt, as_prompts

from .base import LayerPipelineBase, contract_call
from .common import (
    LayeredPipelineOutput,
    PipelineError,
    check_images,
    check_output_type,
    format_layers,
    resize_rgba,
)

__all__ = ["LayerExtractPipeline", "occlusion_order", "remove_negative_parts", "peel", "bottom_pixels",
           "MAX_PROMPTS"]

MAX_PROMPTS = 32
ORDERS = ("auto", "given")


class LayerExtractPipeline(LayerPipelineBase):
    """Extract prompted objects as RGBA layers: ``[background (filled), objects...]``, bottom to top; an
    :class:`~layerdiff.contract.Extractor`."""

    task = "extract"
    options = frozenset({"steps", "guidance_scale", "exact_recomposition", "refine", "order", "read_text"})

    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        prompts: ReferringPrompt | str | Sequence[ReferringPrompt | str],
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        exact_recomposition: bool = True,
        refine: bool = True,
        order: str = "auto",
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
    ) -> LayeredPipelineOutput:
        """Extract one object per prompt.

        Args:
            image: PIL image, (H, W, C) array, (C, H, W) tensor or LayeredImage (flattened).
            prompts: a :class:`ReferringPrompt`, a phrase, or a list of them.
            output_type: "pil", "np", "pt", or "latent" (the (P, 3, C, h, w) frame latents of every prompt
                sampled from the input, before any peeling).
            exact_recomposition: project so that the layers composite to the input within 1/255.
            refine: refine alpha edges against the full-resolution input.
            order: "auto" (by predicted occlusion) or "given" (see the module docstring).

        Returns:
            :class:`LayeredPipelineOutput` whose ``images[0]`` is the :class:`LayeredImage`
            ``[background, objects...]`` and ``layers[0]`` the same stack as ``output_type`` asks.
        """
        # 1. Check inputs.
        check_output_type(output_type)
        if order not in ORDERS:
            raise PipelineError(f"order must be one of {ORDERS}, got {order!r}")
        if isinstance(generator, list):
            if len(generator) != 1:
                raise PipelineError(f"extraction takes one generator, got a list of {len(generator)}")
            generator = generator[0]
        rgba = check_images(image, batch=False)[0]  # (H, W, 4)
        h, w = rgba.shape[:2]
        items = [p.in_pixels((w, h)) for p in as_prompts(prompts)]
        if len(items) > MAX_PROMPTS:
            raise PipelineError(f"at most {MAX_PROMPTS} prompts per call, got {len(items)}")
        steps, scale = self.sampling(num_inference_steps, guidance_scale)
        sample = dict(steps=steps, scale=scale, generator=generator, callback=callback_on_step_end)

        # 2-6. First pass: every prompt on the input (one batch); it fixes the order.
        first: dict[int, torch.Tensor] = {}
        if output_type == "latent" or (order == "auto" and len(items) > 1):
            latents = self._sample_latents(rgba, items, **sample)  # (P, 3, C, h, w)
            if output_type == "latent":
                return LayeredPipelineOutput(images=[], layers=[latents.cpu()])
            first = {i: latents[i] for i in range(len(items))}
        sequence = list(range(len(items)))
        if first:
            low = self.decode_layers(latents[:, 1]).permute(0, 2, 3, 1).cpu().numpy()  # (P, h', w', 4)
            full = torch.from_numpy(rgba).permute(2, 0, 1)[None]  # (1, 4, H, W)
            small = resize_rgba(full, low.shape[1:3])  # (1, 4, h', w')
            sequence = occlusion_order(low, small[0].permute(1, 2, 0).numpy())

        # 7. Peel: extract each object from the previous background, decode and paint at full size.
        current = rgba
        objects: list[tuple[int, np.ndarray]] = []
        for step, i in enumerate(sequence):
            if step == 0 and i in first:
                lat = first[i]  # (3, C, h, w) the front object was sampled from the input already
            else:
                lat = self._sample_latents(current, [items[i]], **sample)[0]
            pair = self._paint(lat, current, items[i], exact_recomposition, refine)  # (2, H, W, 4)
            objects.append((i, pair[1]))
            current = pair[0]

        # 8. Stack (first extracted on top), make exact over the whole stack, output.
        stack = np.stack([current] + [obj for _, obj in objects[::-1]])  # (P + 1, H, W, 4)
        if exact_recomposition and len(objects) > 1:
            stack = project_residual(stack, rgba)
        names = ["Background"] + [items[i].describe() for i, _ in objects[::-1]]
        layers = [Layer(stack[0], name=names[0])]
        for k, (i, _) in enumerate(objects[::-1]):
            layers.append(Layer(stack[k + 1], name=names[k + 1],
                                metadata={"prompt": items[i].describe(), "prompt_index": i}))
        result = LayeredImage((w, h), layers, metadata={"extraction_order": [i for i, _ in objects]})
        return LayeredPipelineOutput(images=[result], layers=format_layers([stack], output_type))

    # ------------------------------------------------------------------ steps
    def _sample_latents(self, rgba: np.ndarray, prompts: list[ReferringPrompt], steps: int, scale: float,
                        generator: torch.Generator | None, callback: Callable[..., dict[str, Any]] | None,
                        ) -> torch.Tensor:
        """Sample [background, object, composite] frames for each prompt on ``rgba`` (H, W, 4):
        (P, 3, C, h, w) latents, the composite frame known."""
        h_full, w_full = rgba.shape[:2]
        gw, gh = self.native_grid(w_full, h_full)
        p = len(prompts)
        # 2. Encode the phrases (empty when the prompt has none).
        text = self.encode_prompt([q.text for q in prompts], scale)
        # 3. Encode the composite at the native grid.
        comp = resize_rgba(torch.from_numpy(rgba).permute(2, 0, 1)[None], (gh, gw))  # (1, 4, gh, gw)
        z_comp = self.encode_layers(comp)  # (1, C, h, w)
        _, c, h, w = z_comp.shape
        # 4. Frames [background, object, composite]; the prompt map is the object frame's region hint.
        clean = torch.zeros(p, 3, c, h, w, dtype=z_comp.dtype, device=z_comp.device)
        clean[:, -1] = z_comp[0]
        known = torch.zeros(p, 3, dtype=torch.bool, device=z_comp.device)
        known[:, -1] = True
        maps = torch.zeros(p, 3, gh, gw)
        for j, q in enumerate(prompts):
            maps[j, 1] = torch.from_numpy(q.raster((w_full, h_full), (gw, gh)))  # (gh, gw)
        region = region_maps(maps, (h, w)).to(self._execution_device, self._dtype)  # (P, 3, 1, h, w)
        # 5-6. Timesteps and denoising loop.
        return self.denoise(clean, known, text, steps, scale, generator, region=region,
                            callback_on_step_end=callback)  # (P, 3, C, h, w)

    def _paint(self, latents: torch.Tensor, full: np.ndarray, prompt: ReferringPrompt, exact: bool,
               refine: bool) -> np.ndarray:
        """Frame latents (3, C, h, w) -> the full-resolution pair [background, object] (2, H, W, 4)."""
        low = self.decode_layers(latents[:2]).permute(0, 2, 3, 1).cpu().numpy()  # (2, h', w', 4)
        pair = paint_full_resolution(low, full, exact, refine)  # (2, H, W, 4)
        if remove_negative_parts(pair, prompt.negative_points) and exact:
            pair = project_residual(pair, full)
        return pair

    # ------------------------------------------------------------ conveniences
    def extract(self, image: Any, prompt: ReferringPrompt | str | Sequence[ReferringPrompt | str], *,
                seed: int | None = 0, callback: Callable[[int, int], None] | None = None,
                **options: Any) -> LayeredImage:
        """The :class:`~layerdiff.contract.Extractor` method: the :class:`LayeredImage`
        ``[background, objects...]``. ``seed`` seeds the sampling (None: unseeded); ``callback(step, total)``
        follows each sampling run; options: ``steps``, ``guidance_scale``, ``exact_recomposition``,
        ``refine``, ``order`` (see :meth:`__call__`), ``read_text`` (default True: with the ``text`` extra, an
        object whose pixels are text gets its :class:`~layerdiff.text.TextInfo` and is named after its words)."""
        kwargs, read_text = contract_call(self, options, seed, callback)
        stack = self(image, prompt, **kwargs).images[0]
        if not read_text:
            return stack
        from layerdiff.text.detect import read_object_text

        return read_object_text(stack, image_to_array(image)[0])

    def peel(self, layered: LayeredImage, prompt: ReferringPrompt | str, seed: int | None = 0,
             **kwargs: Any) -> LayeredImage:
        """Extract one more object from the bottom layer of ``layered`` (see :func:`peel`)."""
        return peel(self, layered, prompt, seed=seed, **kwargs)


# ---------------------------------------------------------------------- helpers
def occlusion_order(objects: np.ndarray, image: np.ndarray, min_overlap: float = 0.002) -> list[int]:
    """Front-to-back order of predicted objects.

    Args:
        objects: (P, h, w, 4) object layers, each predicted from the same input.
        image: (h, w, 3|4) that input at the same size.
        min_overlap: two objects are compared where both have alpha > 0.5, if that overlap covers at least
            this fraction of the image (and 4 pixels).

    Returns:
        Indices, front first: in each overlap the object whose colour is closer to the input is in front;
        objects are sorted by (wins - losses), ties in the given order.
    """
    p = objects.shape[0]
    hard = objects[..., 3] > 0.5  # (P, h, w)
    need = max(4, min_overlap * hard.shape[1] * hard.shape[2])
    score = np.zeros(p)
    for i in range(p):
        for j in range(i + 1, p):
            both = hard[i] & hard[j]  # (h, w)
            if both.sum() < need:
                continue
            err_i = np.abs(objects[i, both, :3] - image[both, :3]).mean()
            err_j = np.abs(objects[j, both, :3] - image[both, :3]).mean()
            if err_i != err_j:
                front, back = (i, j) if err_i < err_j else (j, i)
                score[front] += 1
                score[back] -= 1
    return sorted(range(p), key=lambda k: (-score[k], k))


def remove_negative_parts(pair: np.ndarray, negative_points: Sequence[tuple[float, float]]) -> bool:
    """In place on ``pair`` (2, H, W, 4) = [background, object]: clear the object's alpha on each connected
    part (alpha > 0.5, 8-neighbourhood, with its soft rim of 2 pixels) that a negative point falls on.
    Returns whether anything changed."""
    if not negative_points:
        return False
    alpha = pair[1, ..., 3]  # (H, W) view
    h, w = alpha.shape
    labels, _ = ndimage.label(alpha > 0.5, structure=np.ones((3, 3), bool))
    hit = {int(labels[min(h - 1, int(round(y))), min(w - 1, int(round(x)))]) for x, y in negative_points}
    hit.discard(0)
    if not hit:
        return False
    parts = np.isin(labels, sorted(hit))
    rim = ndimage.binary_dilation(parts, iterations=2) & (labels == 0)
    alpha[parts | rim] = 0.0
    return True


def bottom_pixels(layered: LayeredImage) -> np.ndarray:
    """The bottom layer of ``layered`` on its canvas with its opacity folded in (H, W, 4): what
    :func:`peel` extracts from."""
    bottom = layered.layers[0]
    pixels = bottom.on_canvas(layered.size)  # (H, W, 4)
    pixels[..., 3] *= bottom.opacity
    return pixels


def peel(extractor: Any, layered: LayeredImage, prompt: ReferringPrompt | str, seed: int | None = 0,
         **kwargs: Any) -> LayeredImage:
    """Repeated extraction: extract one object from the bottom layer of ``layered`` (the background of an
    earlier extraction) and insert it just above the new background.

    ``extractor``: anything with ``extract(image, prompts, seed=..., **kwargs) -> LayeredImage`` (the
    pipeline, the flood-fill baseline). The other layers are kept as they are; the new pair recomposes to
    the old bottom layer, so the whole stack still recomposes to the same image.
    """
    if not isinstance(layered, LayeredImage) or len(layered) == 0:
        raise PipelineError("peel needs a LayeredImage with at least one layer (its bottom one is peeled)")
    bottom = layered.layers[0]
    pair = extractor.extract(bottom_pixels(layered), prompt, seed=seed, **kwargs)  # [background, object]
    out = layered.copy()
    out.layers[0] = pair.layers[0]
    out.layers[0].name = bottom.name
    out.add_layer(pair.layers[1], 1)
    return out
