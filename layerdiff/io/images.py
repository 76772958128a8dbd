"""Flat raster images (PNG, JPEG, WebP, TIFF) read as a one-layer :class:`LayeredImage`.

Pillow decodes; the declared size is checked against :class:`~layerdiff.io.limits.Limits` before
any pixel is decoded (Pillow's lazy ``open`` reads only the header), which stops decompression
bombs. EXIF orientation is applied (``PIL.ImageOps.exif_transpose``). 16-bit grayscale keeps its
precision (``bit_depth = 16``); other modes are converted to 8-bit RGBA.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import LayeredFileError
from ..layered import Layer, LayeredImage, pil_to_rgba, to_float
from .limits import Limits, resolve

__all__ = ["read_image_rgba", "read_flat", "decode_image_bytes", "FLAT_FORMATS"]

FLAT_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "TIFF": "tiff"}
"""Pillow format name -> our format name, for the flat formats we accept."""


def _open_checked(path: str | os.PathLike, limits: Limits, fp: BinaryIO | None = None,
                  ) -> tuple[Image.Image, str]:
    """Open with Pillow, check format and declared size, decode, apply EXIF orientation.

    Returns the decoded image and our name of its format. ``fp``: read from this file object
    instead; ``path`` then only names it in errors.
    """
    old = Image.MAX_IMAGE_PIXELS
    try:
        # Pillow's bomb guard is replaced by our own budget, checked below before decoding.
        Image.MAX_IMAGE_PIXELS = None
        im = Image.open(fp if fp is not None else path)
    except UnidentifiedImageError:
        raise LayeredFileError(path, "not an image Pillow can identify", "not-an-image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise LayeredFileError(path, f"cannot read image header: {err}", "corrupt") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
    if im.format not in FLAT_FORMATS:
        im.close()
        raise LayeredFileError(path, f"{im.format} images are not supported (PNG, JPEG, WebP, TIFF are)",
                               "unsupported")
    limits.check_size(path, im.width, im.height, what="image")
    try:
        Image.MAX_IMAGE_PIXELS = None
        im.load()
        out = ImageOps.exif_transpose(im)
    except (MemoryError, Image.DecompressionBombError) as err:
        raise LayeredFileError(path, f"image too large to decode: {err}", "too-large") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as err:
        msg = str(err)
        reason = "truncated" if "truncated" in msg.lower() or isinstance(err, EOFError) else "corrupt"
        raise LayeredFileError(path, f"cannot decode {im.format} pixels: {msg}", reason) from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
    return out, FLAT_FORMATS[im.format]


def _to_rgba(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> float32 RGBA (H, W, 4) in [0, 1]."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return to_float(np.asarray(pil_to_rgba(im)))
    if im.mode == "F":
        a = np.asarray(im, np.float32)
        return to_float(np.clip(a / max(float(a.max()), 1.0), 0, 1))
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return to_float(np.asarray(im.convert("RGBA")))


def read_image_rgba(path: str | os.PathLike, *, limits: Limits | None = None) -> np.ndarray:
    """A flat image as float32 RGBA (H, W, 4) in [0, 1], straight alpha, EXIF orientation applied.

    Raises :class:`LayeredFileError` (reasons "not-an-image", "unsupported", "too-large",
    "truncated", "corrupt", "empty") for files that cannot be read.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise LayeredFileError(path, "file is empty", "empty")
    im, _ = _open_checked(path, resolve(limits))
    return _to_rgba(im)


def read_flat(path: str | os.PathLike, *, limits: Limits | None = None) -> LayeredImage:
    """A flat image as a one-layer :class:`LayeredImage` named after the file."""
    path = Path(path)
    im, fmt = _open_checked(path, resolve(limits))
    deep = im.mode in ("I;16", "I;16B", "I;16L", "I")
    rgba = _to_rgba(im)
    layer = Layer(rgba, name=path.stem or "Background", metadata={"source_format": fmt})
    return LayeredImage((rgba.shape[1], rgba.shape[0]), [layer], bit_depth=16 if deep else 8,
                        metadata={"format": fmt})


def decode_image_bytes(data: bytes, label: str, limits: Limits) -> np.ndarray:
    """An image held in memory (a layer inside an ORA or ZIP) as float32 RGBA (H, W, 4).

    ``label`` names it in errors (e.g. ``"file.ora:data/001.png"``).
    """
    if not data:
        raise LayeredFileError(label, "image member is empty", "empty")
    return _to_rgba(_open_checked(label, limits, fp=io.BytesIO(data))[0])
