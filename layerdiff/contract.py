"""The decomposer and extractor contract: what every implementation behind :func:`layerdiff.load` offers.

A *decomposer* splits an image into a :class:`~layerdiff.layered.LayeredImage` (bottom to top); an
*extractor* pulls the objects named by referring prompts out of an image. The CLI, the demo, batch and
eval talk only to these two interfaces, so a new implementation plugs in by registering a preset
(:mod:`layerdiff.registry`) whose task table names its class.

Shared rules:

- ``num_layers`` is an integer count or ``"auto"`` (the decomposer chooses, at most ``max_layers``);
  :func:`check_num_layers` is the one check of both, with the one message for the model's limit;
- ``seed`` makes a sampling implementation reproducible; deterministic ones accept and ignore it;
- ``callback(step, total)`` is called as work progresses (sampling steps; deterministic
  implementations call it once when done);
- any other keyword is an *option* from the implementation's ``options``; :func:`check_options`
  refuses the rest with one line naming the model and the option, so nothing is dropped silently;
- implementations recompose to the input on the 8-bit grid; :func:`keep_bit_depth` lifts a result to
  the 16-bit grid of a 16-bit input (the CLI and the demo call it), so 16-bit data stays 16-bit.

This module imports NumPy and Pillow only (no torch), so that the region path stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from .errors import LayerdiffError
from .layered import LayeredImage, pil_to_rgba, to_float

if TYPE_CHECKING:
    from .referring import ReferringPrompt

__all__ = ["Decomposer", "Extractor", "ImageLike", "LayerLimitError", "OptionError", "Progress",
           "check_options", "check_num_layers", "image_bit_depth", "image_to_array", "keep_bit_depth",
           "layer_limit_message"]

ImageLike = Image.Image | np.ndarray | LayeredImage
"""What decomposers and extractors take: a PIL image, an (H, W, 3|4) array or a LayeredImage
(flattened). Diffusion pipelines also take (C, H, W) tensors."""

Progress = Callable[[int, int], None]
"""``callback(step, total)``: progress of one call."""


class OptionError(LayerdiffError, ValueError):
    """An option the chosen implementation cannot honour (one line naming the model and the option)."""


class LayerLimitError(LayerdiffError, ValueError):
    """A layer count outside what the model makes (one line naming the model and its limit)."""


@runtime_checkable
class Decomposer(Protocol):
    """Image -> layers. ``max_layers`` is the preset's one layer limit."""

    name: str
    max_layers: int
    options: frozenset[str]

    def decompose(self, image: ImageLike, num_layers: int | Literal["auto"] = "auto", *,
                  max_layers: int | None = None, seed: int | None = None,
                  callback: Progress | None = None, **options: Any) -> LayeredImage:
        """Layers of ``image``, bottom to top, compositing to the input."""
        ...


@runtime_checkable
class Extractor(Protocol):
    """Image + referring prompt(s) -> ``[background (filled), objects...]``."""

    name: str
    options: frozenset[str]

    def extract(self, image: ImageLike, prompt: ReferringPrompt | str | list[Any], *, seed: int | None = None,
                **options: Any) -> LayeredImage:
        """The referred object(s) as layers over the rest of the image, its holes filled."""
        ...


def check_options(impl: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a call that ``impl`` honours (``None`` values count as not given).

    Raises :class:`OptionError` naming the model and each option it does not take, and what it takes.
    """
    given = {k: v for k, v in options.items() if v is not None}
    known = frozenset(getattr(impl, "options", frozenset()))
    unknown = sorted(set(given) - known)
    if unknown:
        name = getattr(impl, "name", type(impl).__name__)
        takes = ", ".join(sorted(known)) if known else "none"
        plural = "s" if len(unknown) > 1 else ""
        raise OptionError(f"model {name!r} ({type(impl).__name__}) does not take the option{plural} "
                          f"{', '.join(unknown)} (it takes: {takes})")
    return given


def layer_limit_message(model: str, limit: int, what: str, value: object) -> str:
    """The one message for a layer count beyond a model's limit."""
    return f"model {model!r} makes at most {limit} layer{'' if limit == 1 else 's'}; got {what}={value}"


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def check_num_layers(num_layers: int | str, max_layers: int | None, limit: int, model: str,
                     ) -> tuple[int | None, int]:
    """Validate a request against the model's layer ``limit``; returns ``(wanted, cap)``.

    ``wanted`` is the exact count, or None for ``"auto"``; ``cap`` is the bound of an automatic count
    (``max_layers``, default ``limit``). Counts beyond ``limit`` raise :class:`LayerLimitError` with
    :func:`layer_limit_message`; malformed values raise a one-line :class:`LayerLimitError` too.
    """
    limit = int(limit)
    if max_layers is None:
        cap = limit
    elif not _is_int(max_layers) or max_layers < 1:
        raise LayerLimitError(f"model {model!r}: max_layers must be a positive integer, got {max_layers!r}")
    elif max_layers > limit:
        raise LayerLimitError(layer_limit_message(model, limit, "max_layers", max_layers))
    else:
        cap = int(max_layers)
    if isinstance(num_layers, str):
        if num_layers != "auto":
            raise LayerLimitError(f"model {model!r}: num_layers must be 'auto' or an integer, got {num_layers!r}")
        return None, cap
    if not _is_int(num_layers):
        raise LayerLimitError(f"model {model!r}: num_layers must be 'auto' or an integer, got {num_layers!r}")
    if not 1 <= num_layers <= limit:
        raise LayerLimitError(layer_limit_message(model, limit, "num_layers", num_layers))
    if num_layers > cap:
        raise LayerLimitError(f"model {model!r}: num_layers={num_layers} is more than max_layers={cap}")
    return int(num_layers), cap


def image_to_array(image: Any) -> tuple[np.ndarray, bool]:
    """A PIL image, (H, W, 3|4) array or :class:`LayeredImage` -> (float32 (H, W, 4), had_alpha)."""
    if isinstance(image, LayeredImage):
        return image.composite(), True
    if isinstance(image, Image.Image):
        had_alpha = "A" in image.getbands() or "transparency" in image.info
        return to_float(np.asarray(pil_to_rgba(image))), had_alpha
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"image: expected an (H, W, 3) or (H, W, 4) array, got shape {image.shape}")
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError(f"image: empty array of shape {image.shape}")
        if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
            raise ValueError("image: array contains NaN or infinite values")
        return to_float(image), image.shape[-1] == 4
    raise ValueError(f"image: expected a PIL image, numpy array or LayeredImage, got {type(image).__name__}")


def image_bit_depth(image: Any) -> int:
    """The precision an input holds: 16 for a 16-bit :class:`LayeredImage`, a uint16 array or a 16-bit
    grayscale PIL image (modes ``I;16*``, ``I``), else 8 (float arrays included: they carry no depth)."""
    if isinstance(image, LayeredImage):
        return image.bit_depth
    if isinstance(image, Image.Image):
        return 16 if image.mode in ("I;16", "I;16B", "I;16L", "I") else 8
    if isinstance(image, np.ndarray):
        return 16 if image.dtype == np.uint16 else 8
    return 8


def keep_bit_depth(result: LayeredImage, target: Any, bit_depth: int | None = None) -> LayeredImage:
    """``result`` (a decomposition or extraction of ``target``) on the grid of ``target``'s bit depth.

    ``bit_depth``: the precision of ``target`` (default :func:`image_bit_depth`; give it for float
    images read from 16-bit files). At 8 bits ``result`` is returned untouched. At 16 bits its layers
    (full-canvas, "normal", opaque as decomposers and extractors make them) are projected onto the
    16-bit grid with :func:`layerdiff.recompose.project_residual`, in place: the smallest change that
    makes their composite equal ``target`` within half a 16-bit step (alphas first, then colours where
    they are visible), and ``result.bit_depth`` becomes 16, so writers keep 16 bits. A stack of any
    other shape keeps 8 bits, with a warning.
    """
    import warnings

    depth = image_bit_depth(target) if bit_depth is None else int(bit_depth)
    if depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    if depth == 8 or len(result) == 0 or result.bit_depth == 16:  # 16: already projected (by the decomposer)
        return result
    plain = all(layer.offset == (0, 0) and (layer.width, layer.height) == result.size and layer.visible
                and layer.opacity == 1.0 and layer.blend_mode == "normal" for layer in result.layers)
    if not plain:
        warnings.warn("16-bit input: the result's layers are not full-canvas normal layers; they keep "
                      "8-bit precision", stacklevel=2)
        return result
    from .recompose import project_residual

    rgba, _ = image_to_array(target)  # (H, W, 4) float32
    if rgba.shape[:2] != (result.height, result.width):
        raise ValueError(f"target size {rgba.shape[1]}x{rgba.shape[0]} differs from the result's "
                         f"{result.width}x{result.height}")
    stack = np.stack([layer.pixels for layer in result.layers])  # (L, H, W, 4)
    stack = project_residual(stack, rgba, bit_depth=16, copy=False)  # (L, H, W, 4) on the 16-bit grid
    for layer, pixels in zip(result.layers, stack):
        layer.pixels = pixels
    result.bit_depth = 16
    return result
