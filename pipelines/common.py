"""Helpers shared by the layerdiff pipelines: input checks, image conversions, layout boxes, outputs.

The pipelines import these from here and never from each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers.utils import BaseOutput

from layerdiff.errors import LayerdiffError
from layerdiff.frames import resize_rgba
from layerdiff.layered import Layer, LayeredImage

__all__ = [
    "Box", "LayeredPipelineOutput", "MAX_PIXELS", "MIN_SIDE", "OUTPUT_TYPES", "PipelineError", "as_rgba_array",
    "box_maps", "check_images", "check_output_type", "drop_empty_layers", "format_layers", "normalise_box",
    "one_per_item", "resize_rgba", "stack_to_layered",
]

OUTPUT_TYPES = ("pil", "np", "pt", "latent")
MIN_SIDE = 8
"""Smallest side in pixels of an input image."""
MAX_PIXELS = 16384 * 16384
"""Largest input image in pixels."""

Box = tuple[float, float, float, float]


class PipelineError(LayerdiffError, ValueError):
    """Bad arguments to a pipeline call."""


@dataclass
class LayeredPipelineOutput(BaseOutput):
    """Result of a layerdiff pipeline.

    images: one :class:`LayeredImage` per input (empty for ``output_type="latent"``).
    layers: per input, the layers bottom to top as ``output_type`` asks: a list of RGBA PIL images
        ("pil"), an (L, H, W, 4) float array ("np"), an (L, 4, H, W) tensor ("pt") or the final
        (F, C, h, w) frame latents ("latent", composite frame last).
    """

    images: list[LayeredImage] = field(default_factory=list)
    layers: list[Any] = field(default_factory=list)


# ---------------------------------------------------------------------- input checks
def check_output_type(output_type: str) -> None:
    if output_type not in OUTPUT_TYPES:
        raise PipelineError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")


def check_images(image: Any, batch: bool = True) -> list[np.ndarray]:
    """One image, or (``batch``) a list of them -> (H, W, 4) float32 arrays, each side >= :data:`MIN_SIDE`
    and at most :data:`MAX_PIXELS` pixels."""
    many = batch and isinstance(image, (list, tuple))
    images = list(image) if many else [image]
    if not images:
        raise PipelineError("image: got an empty list")
    arrays = []
    for i, im in enumerate(images):
        what = f"image {i}" if many else "image"
        arr = as_rgba_array(im, what)  # (H, W, 4)
        h, w = arr.shape[:2]
        if min(h, w) < MIN_SIDE:
            raise PipelineError(f"{what}: {w}x{h} is too small (each side must be >= {MIN_SIDE} px)")
        if h * w > MAX_PIXELS:
            raise PipelineError(f"{what}: {w}x{h} exceeds the {MAX_PIXELS} pixel limit")
        arrays.append(arr)
    return arrays


def one_per_item(value: Any, count: int, what: str, single: type | tuple[type, ...]) -> list[Any]:
    """``value`` for each of ``count`` items: one value of type ``single`` is repeated, a list must have
    ``count`` entries."""
    if isinstance(value, single) or value is None:
        return [value] * count
    values = list(value)
    if len(values) != count:
        raise PipelineError(f"got {len(values)} {what}s for {count} images")
    return values


# ---------------------------------------------------------------------- conversions
def as_rgba_array(image: Any, what: str = "image") -> np.ndarray:
    """PIL / numpy / torch / LayeredImage -> (H, W, 4) float32 straight RGBA in [0, 1]."""
    from PIL import Image

    from layerdiff.layered import pil_to_rgba, to_float

    if isinstance(image, LayeredImage):
        return image.composite()
    if isinstance(image, Image.Image):
        return to_float(np.asarray(pil_to_rgba(image)))
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu().float()
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            raise PipelineError(f"{what}: expected a (C, H, W) tensor with 1, 3 or 4 channels, got {tuple(t.shape)}")
        return to_float(t.permute(1, 2, 0).numpy())
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 2, 3, 4)):
            raise PipelineError(f"{what}: expected an (H, W[, C]) array with 1-4 channels, got {image.shape}")
        return to_float(image)
    raise PipelineError(f"{what}: unsupported type {type(image).__name__} (use a PIL image, array, tensor or "
                        f"LayeredImage)")


def format_layers(stacks: list[np.ndarray], output_type: str) -> list[Any]:
    """Per-image (L, H, W, 4) float stacks -> the requested output type."""
    from PIL import Image

    from layerdiff.layered import from_float

    if output_type == "np":
        return stacks
    if output_type == "pt":
        return [torch.from_numpy(s).permute(0, 3, 1, 2).contiguous() for s in stacks]
    return [[Image.fromarray(from_float(layer, 8), "RGBA") for layer in s] for s in stacks]


def stack_to_layered(stack: np.ndarray, names: Sequence[str] | None = None) -> LayeredImage:
    """(L, H, W, 4) float -> LayeredImage with default names 'Background', 'Layer 1', ..."""
    n = stack.shape[0]
    names = list(names) if names is not None else ["Background"] + [f"Layer {i}" for i in range(1, n)]
    return LayeredImage((stack.shape[2], stack.shape[1]), [Layer(stack[i], name=names[i]) for i in range(n)])


def drop_empty_layers(layers: np.ndarray, min_coverage: float) -> np.ndarray:
    """Keep the bottom layer and every layer with more than ``min_coverage`` of its pixels at alpha > 0.5."""
    coverage = (layers[..., 3] > 0.5).mean(axis=(1, 2))  # (L,)
    keep = [0] + [i for i in range(1, layers.shape[0]) if coverage[i] > min_coverage]
    return layers[keep]


# ---------------------------------------------------------------------- layout boxes
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
