"""Edit one layer of a layered image while the others stay fixed.

Property and geometry edits (move, scale, recolour, opacity, hide, show, delete, reorder) are exact
operations on the stack (:mod:`layerdiff.edit_ops`). Generative edits run the model with every
other layer as a known frame: ``regenerate`` resamples layer k from a prompt, ``insert`` samples a
new layer at a stack position, optionally inside a box. The other layers are returned as they
came in, bit for bit: they are never passed through the VAE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from layerdiff import edit_ops
from layerdiff.frames import region_maps
from layerdiff.layered import Layer, LayeredImage

from .base import LayerPipelineBase
from .common import (
    Box,
    LayeredPipelineOutput,
    PipelineError,
    box_maps,
    check_output_type,
    format_layers,
    normalise_box,
    resize_rgba,
)

GENERATIVE = ("regenerate", "insert")


class LayerEditPipeline(LayerPipelineBase):
    """Edit a chosen layer by text (generative) or by an operation (exact)."""

    task = "edit"

    @torch.no_grad()
    def __call__(
        self,
        image: LayeredImage,
        layer: int | str = -1,
        operation: str = "regenerate",
        prompt: str = "",
        box: Box | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        confine_to_box: bool = True,
        refine: bool = True,
        refine_passes: int | None = None,
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
        **op_kwargs: Any,
    ) -> LayeredPipelineOutput:
        """Apply one edit.

        Args:
            image: the layered image to edit (not modified).
            layer: target layer (index or name). For ``insert``: the stack index the new layer gets.
            operation: "regenerate", "insert", or one of :data:`layerdiff.edit_ops.OPERATIONS`
                (their arguments as keywords: ``dx``/``dy``, ``factor``, ``color``, ``value``, ``index``).
            prompt: text for generative edits.
            box: for ``insert`` (and optionally ``regenerate``): where the new content goes.
            confine_to_box: with a box, clear the new layer's alpha outside it, so nothing spills over
                (ART's layer-wise region crop keeps each layer inside its box by construction, Pu et
                al. 2025); False keeps whatever the model drew.
            refine: with a ``refiner`` component and a prompt, redraw the new layer's outline at the
                canvas size from its coarse sample and the prompt (:mod:`layerdiff.refine`); the other
                layers are never touched either way.
            refine_passes: how many times the refiner redraws the outline, each pass from the last
                (default: the model's ``refine_passes``, else 1).
        """
        # 1. Check inputs; exact operations are done here.
        check_output_type(output_type)
        if not isinstance(image, LayeredImage):
            raise PipelineError(f"image must be a LayeredImage, got {type(image).__name__}")
        if len(image) == 0:
            raise PipelineError("image has no layers")
        if operation not in GENERATIVE:
            return self._output(_exact_edit(image, layer, operation, op_kwargs), None, output_type)
        if op_kwargs:
            raise PipelineError(f"unexpected arguments for {operation!r}: {sorted(op_kwargs)}")
        n, target = len(image), self.target_index(image, layer, operation)
        steps, scale = self.sampling(num_inference_steps, guidance_scale)
        box = normalise_box(box, image.width, image.height)  # pixels of the canvas -> fractions

        # 2. Encode the prompt; it is also the target frame's layer phrase, and the fixed layers keep the
        #    captions they carry (metadata "caption" or "prompt"), if any.
        text = self.encode_prompt([prompt], scale)
        frames_l = n + 1 if operation == "insert" else n
        fixed = [lay for i, lay in enumerate(image.layers) if operation == "insert" or i != target]
        row = [_caption(lay) for lay in fixed]
        row.insert(target, prompt)
        phrases = self.encode_layer_phrases([row + [""]])  # (1, F, P) or None

        # 3. Encode the known layers at the native grid.
        gw, gh = self.native_grid(image.width, image.height)
        stack = torch.from_numpy(image.to_numpy(include_hidden=True)).permute(0, 3, 1, 2)  # (n, 4, H, W)
        if operation == "regenerate":
            stack = stack[[i for i in range(n) if i != target]]  # (n - 1, 4, H, W): the fixed layers
        z_known = self.encode_layers(resize_rgba(stack, (gh, gw)))  # (n or n - 1, C, h, w)
        c, h, w = z_known.shape[1:]

        # 4. Prepare frames: [layers with the target unknown] + [unknown composite].
        clean = torch.zeros(1, frames_l + 1, c, h, w, dtype=z_known.dtype, device=z_known.device)
        known = torch.ones(1, frames_l + 1, dtype=torch.bool, device=z_known.device)
        others = [i for i in range(frames_l) if i != target]
        clean[0, others] = z_known
        known[0, target] = False
        known[0, -1] = False
        region = None
        if box is not None:
            maps = torch.zeros(frames_l + 1, gh, gw)
            maps[target] = box_maps([box], gw, gh)[0]
            region = region_maps(maps[None], (h, w)).to(self._execution_device, self._dtype)

        # 5-6. Timesteps and denoising loop.
        latents = self.denoise(clean, known, text, steps, scale, generator, region=region,
                               callback_on_step_end=callback_on_step_end, phrases=phrases)  # (1, F, C, h, w)
        if output_type == "latent":
            return LayeredPipelineOutput(images=[], layers=[latents[0].cpu()])

        # 7. Decode the new layer at the canvas size and put it in place; others untouched.
        new = resize_rgba(self.decode_layers(latents[0, target : target + 1]), (image.height, image.width))
        refine_text = self.refiner_phrases([[prompt]]) if refine and prompt else None  # (1, 1, P) or None
        if refine_text is not None:
            new = self.refine(new, refine_text[0], passes=refine_passes)  # (1, 4, H, W)
        pixels = new[0].permute(1, 2, 0).cpu().numpy()  # (H, W, 4)
        if box is not None and confine_to_box:
            inside = box_maps([box], image.width, image.height)[0].numpy()  # (H, W) 1 inside the box
            pixels[..., 3] *= inside
        edited = image.copy()
        new_layer = Layer(pixels, name=prompt[:40] or f"Layer {target + 1}", metadata={"prompt": prompt})
        if operation == "insert":
            edited.add_layer(new_layer, target)
        else:
            old = edited.layers[target]
            new_layer.name, new_layer.visible, new_layer.opacity = old.name, old.visible, old.opacity
            edited.layers[target] = new_layer

        # 8. Output.
        return self._output(edited, target, output_type)

    def target_index(self, image: LayeredImage, layer: int | str, operation: str) -> int:
        """The stack index a generative edit samples: the new layer's position (``insert``; -1 = on top) or
        the layer to regenerate; the edited stack must fit the model's layer limit."""
        n = len(image)
        if operation == "insert":
            try:
                target = n if layer == -1 else int(layer)
            except (TypeError, ValueError):
                raise PipelineError(f"insert position must be an integer, got {layer!r}") from None
            if not 0 <= target <= n:
                raise PipelineError(f"insert position must be in [0, {n}], got {layer}")
        else:
            try:
                target = image.index_of(layer)
            except (KeyError, IndexError) as err:
                raise PipelineError(_message(err)) from None
        total = n + 1 if operation == "insert" else n
        if total > self.max_layers:
            raise PipelineError(f"model {self.model_name!r} makes at most {self.max_layers} layers; the edited image "
                                f"would have {total}")
        return target

    @staticmethod
    def _output(edited: LayeredImage, target: int | None, output_type: str) -> LayeredPipelineOutput:
        stack = edited.to_numpy(include_hidden=True)
        if output_type == "latent":
            raise PipelineError("output_type='latent' is only available for generative edits")
        return LayeredPipelineOutput(images=[edited], layers=format_layers([np.asarray(stack)], output_type))


def _exact_edit(image: LayeredImage, layer: int | str, operation: str, arguments: dict[str, Any]) -> LayeredImage:
    """An exact operation of :mod:`layerdiff.edit_ops`, its errors as :class:`PipelineError`."""
    try:
        return edit_ops.apply(image, layer, operation, **arguments)
    except (KeyError, IndexError, ValueError) as err:
        raise PipelineError(_message(err)) from None


def _caption(layer: Layer) -> str:
    """The caption a layer carries in its metadata ("" if none)."""
    meta = layer.metadata or {}
    text = meta.get("caption") or meta.get("prompt") or ""
    return text if isinstance(text, str) else ""


def _message(err: Exception) -> str:
    """The text of an exception (KeyError's str() adds quotes)."""
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
