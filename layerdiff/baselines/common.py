"""Input checks shared by the non-learned decomposers."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from ..layered import LayeredImage, pil_to_rgba, to_float

__all__ = ["image_to_array", "check_num_layers"]


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


DEFAULT_MAX_LAYERS = 8


def check_num_layers(num_layers: int | str, max_layers: int | None) -> int | None:
    """Validate ``num_layers`` ("auto" or 1..max_layers) and ``max_layers`` (None: 8); None means automatic."""
    if max_layers is None:
        max_layers = DEFAULT_MAX_LAYERS
    if isinstance(max_layers, bool) or not isinstance(max_layers, (int, np.integer)) or max_layers < 1:
        raise ValueError(f"max_layers must be a positive integer, got {max_layers!r}")
    if isinstance(num_layers, str):
        if num_layers != "auto":
            raise ValueError(f"num_layers must be 'auto' or an integer, got {num_layers!r}")
        return None
    if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)):
        raise ValueError(f"num_layers must be 'auto' or an integer, got {num_layers!r}")
    if not 1 <= num_layers <= max_layers:
        raise ValueError(f"num_layers must be between 1 and max_layers={max_layers}, got {num_layers}")
    return int(num_layers)
