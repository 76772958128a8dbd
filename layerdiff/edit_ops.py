"""Property and geometry edits of one layer of a :class:`LayeredImage`.

Geometry is resampled in premultiplied space, so colours of invisible pixels never bleed into
edges (no dark or coloured halos after moving or scaling a layer); the other layers are never
touched. Every function returns a new LayeredImage and leaves its input unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from PIL import Image

from .layered import Layer, LayeredImage

OPERATIONS = ("move", "scale", "recolor", "opacity", "hide", "show", "delete", "reorder")


def _resample_premultiplied(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize straight-alpha (h, w, 4) pixels to size=(W, H) via premultiplied bicubic/area resampling."""
    a = pixels[..., 3:4]
    pre = np.concatenate([pixels[..., :3] * a, a], axis=-1)  # (h, w, 4)
    shrink = size[0] * size[1] < pixels.shape[0] * pixels.shape[1]
    method = Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC
    planes = [np.asarray(Image.fromarray(pre[..., c].astype(np.float32), "F").resize(size, method))
              for c in range(4)]
    out = np.clip(np.stack(planes, axis=-1), 0.0, 1.0)  # (H, W, 4)
    alpha = out[..., 3:4]
    rgb = np.divide(out[..., :3], alpha, out=np.zeros_like(out[..., :3]), where=alpha > 1e-6)
    return np.concatenate([np.clip(rgb, 0, 1), alpha], axis=-1).astype(np.float32)


def move(image: LayeredImage, layer: int | str, dx: int, dy: int) -> LayeredImage:
    """Translate a layer by whole pixels (the layer keeps all its pixels, even off-canvas)."""
    out = image.copy()
    lay = out.layers[out.index_of(layer)]
    lay.offset = (lay.offset[0] + int(dx), lay.offset[1] + int(dy))
    if lay.text is not None:  # the words' place moves with the pixels
        lay.text = lay.text.transformed(dx=int(dx), dy=int(dy))
    return out


def scale(image: LayeredImage, layer: int | str, factor: float, center: Sequence[float] | None = None,
          ) -> LayeredImage:
    """Scale a layer's content by ``factor`` about ``center`` (canvas px; default: its content centre)."""
    if not 0 < factor <= 64:
        raise ValueError(f"scale factor must be in (0, 64], got {factor}")
    out = image.copy()
    i = out.index_of(layer)
    lay = out.layers[i]
    box = lay.content_bbox()
    if box is None:
        return out
    out.layers[i] = lay = _cropped(lay, box)
    cx, cy = center if center is not None else ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    new_w = max(1, int(round(lay.width * factor)))
    new_h = max(1, int(round(lay.height * factor)))
    lay.pixels = _resample_premultiplied(lay.pixels, (new_w, new_h))
    lay.offset = (int(round(cx + (box[0] - cx) * factor)), int(round(cy + (box[1] - cy) * factor)))
    if lay.text is not None:  # the words' place and size follow the pixels
        lay.text = lay.text.transformed(factor, (cx, cy))
    return out


def _cropped(lay: Layer, box: tuple[int, int, int, int]) -> Layer:
    x0, y0, x1, y1 = box
    ox, oy = lay.offset
    new = lay.copy()
    new.pixels = np.ascontiguousarray(lay.pixels[y0 - oy : y1 - oy, x0 - ox : x1 - ox])
    new.offset = (x0, y0)
    return new


def recolor(image: LayeredImage, layer: int | str, color: Sequence[float] | str, strength: float = 1.0,
            ) -> LayeredImage:
    """Tint a layer towards ``color`` (RGB in [0, 1], 0-255 ints or '#rrggbb'), keeping its shading.

    The layer's luminance modulates the target colour, so gradients and anti-aliased edges keep
    their structure; alpha is untouched, so no halo can appear.
    """
    rgb = parse_color(color)
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    out = image.copy()
    lay = out.layers[out.index_of(layer)]
    px = lay.pixels
    lum = px[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)  # (h, w)
    visible = px[..., 3] > 0
    mean_lum = float(lum[visible].mean()) if visible.any() else 0.5
    shade = np.clip(lum / max(mean_lum, 1e-3), 0, 2)[..., None]  # (h, w, 1) relative shading
    tinted = np.clip(rgb[None, None] * shade, 0, 1)
    lay.pixels = np.concatenate([px[..., :3] * (1 - strength) + tinted * strength, px[..., 3:]], axis=-1)
    if lay.text is not None:  # the words' fill follows the tint
        old = np.asarray(lay.text.color, np.float32) / 255.0
        lay.text = replace(lay.text, color=tuple(255.0 * (old * (1 - strength) + rgb * strength)))
    return out


def parse_color(color: Sequence[float] | str) -> np.ndarray:
    """'#rrggbb' / (r, g, b) in 0-255 or [0, 1] -> float32 RGB in [0, 1]."""
    if isinstance(color, str):
        s = color.strip().lstrip("#")
        if len(s) != 6:
            raise ValueError(f"colour {color!r} is not '#rrggbb'")
        try:
            return np.array([int(s[i : i + 2], 16) / 255.0 for i in (0, 2, 4)], np.float32)
        except ValueError:
            raise ValueError(f"colour {color!r} is not '#rrggbb'") from None
    vals = np.asarray(list(color), np.float32)
    if vals.shape != (3,):
        raise ValueError(f"colour must have 3 components, got {color!r}")
    return vals / 255.0 if vals.max() > 1.0 else vals


def set_opacity(image: LayeredImage, layer: int | str, opacity: float) -> LayeredImage:
    if not 0 <= opacity <= 1:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    out = image.copy()
    out.layers[out.index_of(layer)].opacity = float(opacity)
    return out


def set_visible(image: LayeredImage, layer: int | str, visible: bool) -> LayeredImage:
    out = image.copy()
    out.layers[out.index_of(layer)].visible = bool(visible)
    return out


def delete(image: LayeredImage, layer: int | str) -> LayeredImage:
    if len(image) <= 1:
        raise ValueError("cannot delete the only layer")
    out = image.copy()
    out.remove_layer(layer)
    return out


def reorder(image: LayeredImage, layer: int | str, new_index: int) -> LayeredImage:
    out = image.copy()
    out.move_layer(layer, new_index)
    return out


def apply(image: LayeredImage, layer: int | str, operation: str, **kwargs: object) -> LayeredImage:
    """Dispatch a named operation: move(dx, dy), scale(factor), recolor(color), opacity(value),
    hide, show, delete, reorder(index)."""
    image.index_of(layer)  # a bad layer raises its own KeyError / IndexError, not "needs the argument"
    try:
        if operation == "move":
            return move(image, layer, int(kwargs.get("dx", 0)), int(kwargs.get("dy", 0)))
        if operation == "scale":
            return scale(image, layer, float(kwargs["factor"]))
        if operation == "recolor":
            return recolor(image, layer, kwargs["color"], float(kwargs.get("strength", 1.0)))
        if operation == "opacity":
            return set_opacity(image, layer, float(kwargs["value"]))
        if operation in ("hide", "show"):
            return set_visible(image, layer, operation == "show")
        if operation == "delete":
            return delete(image, layer)
        if operation == "reorder":
            return reorder(image, layer, int(kwargs["index"]))
    except KeyError as err:
        raise ValueError(f"operation {operation!r} needs the argument {err.args[0]!r}") from None
    raise ValueError(f"unknown operation {operation!r}; known: {', '.join(OPERATIONS)}")
