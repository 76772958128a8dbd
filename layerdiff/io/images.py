"""Flat raster images (PNG, JPEG, WebP, TIFF) read as a one-layer :class:`LayeredImage`.

Pillow decodes; the declared size is checked against :class:`~layerdiff.io.limits.Limits` before
any pixel is decoded (Pillow's lazy ``open`` reads only the header), which stops decompression
bombs, and the decoded size is added to the file's :class:`~layerdiff.io.limits.DecodeBudget`.
EXIF orientation is applied (``PIL.ImageOps.exif_transpose``).

16-bit data keeps its precision (``bit_depth = 16``): grayscale through Pillow's ``I;16`` modes,
16-bit RGB(A) PNG and TIFF by decoding twice - Pillow's unpackers for ``RGBA;16B`` and
``RGBA;16L`` each keep one byte of every sample, after the same unfiltering - and joining the
high and low bytes. Other modes are converted to 8-bit RGBA. Float (``F``) TIFFs are scaled by
their maximum; NaN and infinite samples are replaced (with a warning). Animated PNG/WebP/TIFF
files warn that only the first frame is read.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import LayeredFileError
from ..layered import Layer, LayeredImage, pil_to_rgba, to_float
from .limits import DecodeBudget, Limits, resolve, too_large

__all__ = ["read_image_rgba", "read_flat", "decode_image_bytes", "FLAT_FORMATS"]

FLAT_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "TIFF": "tiff"}
"""Pillow format name -> our format name, for the flat formats we accept."""


def _open_checked(path: str | os.PathLike, limits: Limits, fp: BinaryIO | None = None,
                  budget: DecodeBudget | None = None) -> tuple[Image.Image, str, np.ndarray | None]:
    """Open with Pillow, check format, declared size and the decode budget, decode, apply EXIF orientation.

    Returns the decoded image, our name of its format, and the uint16 (h, w, C) samples of a 16-bit
    RGB(A) image (else None). ``fp``: read from this file object instead; ``path`` then only names
    it in errors.
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
    (budget or limits.budget(path)).add(im.width, im.height, what="image")
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        warnings.warn(f"{path}: {im.format} has {frames} frames (animated or multi-page); only the first "
                      "is read", stacklevel=4)
    deep = None
    try:
        Image.MAX_IMAGE_PIXELS = None
        if _wide_rawmode(im) is not None:
            deep = _decode_16bit(im, path, fp)
        im.load()
        out = ImageOps.exif_transpose(im)
        if deep is not None and out is not im:  # the orientation turned the 8-bit image: turn the samples too
            deep = _orient(deep, im)
    except MemoryError:
        raise too_large(path, "image") from None
    except Image.DecompressionBombError as err:
        raise LayeredFileError(path, f"image too large to decode: {err}", "too-large") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as err:
        msg = str(err)
        reason = "truncated" if "truncated" in msg.lower() or isinstance(err, EOFError) else "corrupt"
        raise LayeredFileError(path, f"cannot decode {im.format} pixels: {msg}", reason) from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
    return out, FLAT_FORMATS[im.format], deep


_WIDE = {"RGBA;16B": "RGBA;16L", "RGBA;16L": "RGBA;16B", "RGB;16B": "RGB;16L", "RGB;16L": "RGB;16B"}


def _tile_rawmode(tile: ImageFile._Tile) -> str | None:
    args = tile.args
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _wide_rawmode(im: Image.Image) -> str | None:
    """The 16-bit RGB(A) raw mode Pillow will shrink to 8 bits, or None."""
    modes = {_tile_rawmode(t) for t in getattr(im, "tile", None) or []}
    if len(modes) == 1:
        mode = modes.pop()
        if mode in _WIDE and im.mode in ("RGB", "RGBA"):
            return mode
    return None


def _swap_rawmode(tile: ImageFile._Tile) -> ImageFile._Tile:
    args = tile.args
    if isinstance(args, str):
        return tile._replace(args=_WIDE[args])
    return tile._replace(args=(_WIDE[args[0]], *args[1:]))


def _decode_16bit(im: Image.Image, path: str | os.PathLike, fp: BinaryIO | None) -> np.ndarray:
    """The 16-bit samples of ``im`` (h, w, C) uint16: its normal 8-bit decode holds the high bytes; a
    second decode with the byte-swapped raw mode (the same unfiltering, the other byte kept) the low."""
    im.load()
    if fp is not None:
        fp.seek(0)
        source: BinaryIO | str | os.PathLike = io.BytesIO(fp.read())
    else:
        source = path
    with Image.open(source) as twin:
        twin.tile = [_swap_rawmode(t) for t in twin.tile]
        other = np.asarray(twin)  # (h, w, C) uint8
    high = np.asarray(im)  # (h, w, C) uint8: Pillow's 8-bit decode keeps the high byte (either byte order)
    out = high.astype(np.uint16) << 8  # (h, w, C)
    out |= other
    return out


def _orient(samples: np.ndarray, im: Image.Image) -> np.ndarray:
    """Apply the EXIF orientation of ``im`` to an (h, w, C) array, as ``exif_transpose`` does."""
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
              7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}.get(im.getexif().get(0x0112, 1))
    if method is None:
        return samples
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(samples[..., c])).transpose(method))
              for c in range(samples.shape[-1])]
    return np.stack(planes, axis=-1)


def _finite_float(path: str | os.PathLike, a: np.ndarray) -> np.ndarray:
    """A float image with NaN set to 0 and infinities to the finite extremes, with a warning naming the count."""
    bad = ~np.isfinite(a)
    count = int(bad.sum())
    if count:
        finite = a[~bad]
        hi = float(finite.max()) if finite.size else 1.0
        lo = float(finite.min()) if finite.size else 0.0
        a = np.nan_to_num(a, nan=0.0, posinf=hi, neginf=min(lo, 0.0))
        warnings.warn(f"{path}: {count:,} float sample(s) are NaN or infinite; NaN read as 0, infinities as "
                      "the largest and smallest finite values", stacklevel=4)
    return a


def _to_array(im: Image.Image, path: str | os.PathLike, deep: np.ndarray | None) -> np.ndarray:
    """Any Pillow mode -> RGBA samples (H, W, 4): uint8, uint16 (16-bit sources) or float32 in [0, 1].

    Integer samples come back read-only and unshared, so a :class:`Layer` keeps them as they are.
    """
    if deep is not None:
        if deep.shape[-1] == 3:
            deep = np.concatenate([deep, np.full_like(deep[..., :1], 65535)], axis=-1)  # (H, W, 4)
        return _frozen(deep)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return _frozen(np.asarray(pil_to_rgba(im)))
    if im.mode == "F":
        a = _finite_float(path, np.asarray(im, np.float32))
        return to_float(np.clip(a / max(float(a.max()), 1.0), 0, 1))
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return _frozen(_rgba8(im))


_BAND_PIXELS = 1 << 20
"""Pixels :func:`_rgba8` converts at once."""


def _rgba8(im: Image.Image) -> np.ndarray:
    """``np.asarray(im.convert("RGBA"))`` (H, W, 4) uint8, converted in bands of rows straight into one
    array (the conversions are per pixel, so the values are the same), so that neither a whole RGBA
    copy in Pillow nor its bytes are held beside the result."""
    w, h = im.size
    out = np.empty((h, w, 4), np.uint8)  # (H, W, 4)
    band = max(1, _BAND_PIXELS // max(w, 1))
    for top in range(0, h, band):
        bottom = min(top + band, h)
        piece = im.crop((0, top, w, bottom))
        out[top:bottom] = np.asarray(piece if piece.mode == "RGBA" else piece.convert("RGBA"))
    return out


def _frozen(samples: np.ndarray) -> np.ndarray:
    """``samples`` (owned by the caller alone) marked read-only."""
    samples.flags.writeable = False
    return samples


def _to_rgba(im: Image.Image, path: str | os.PathLike = "image", deep: np.ndarray | None = None) -> np.ndarray:
    """Any Pillow mode -> float32 RGBA (H, W, 4) in [0, 1]."""
    return to_float(_to_array(im, path, deep))


def read_image_rgba(path: str | os.PathLike, *, limits: Limits | None = None) -> np.ndarray:
    """A flat image as float32 RGBA (H, W, 4) in [0, 1], straight alpha, EXIF orientation applied.

    Raises :class:`LayeredFileError` (reasons "not-an-image", "unsupported", "too-large",
    "truncated", "corrupt", "empty") for files that cannot be read.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise LayeredFileError(path, "file is empty", "empty")
    im, _, deep = _open_checked(path, resolve(limits))
    return _to_rgba(im, path, deep)


def read_flat(path: str | os.PathLike, *, limits: Limits | None = None) -> LayeredImage:
    """A flat image as a one-layer :class:`LayeredImage` named after the file."""
    path = Path(path)
    im, fmt, deep = _open_checked(path, resolve(limits))
    samples = _to_array(im, path, deep)  # uint8 / uint16 / float32 (H, W, 4)
    im.close()
    layer = Layer(samples, name=path.stem or "Background", metadata={"source_format": fmt})
    del samples
    depth = 16 if samples_are_deep(im, deep) else 8
    return LayeredImage((layer.width, layer.height), [layer], bit_depth=depth, metadata={"format": fmt})


def samples_are_deep(im: Image.Image, deep: np.ndarray | None) -> bool:
    """Whether the decoded samples had 16 bits (16-bit grayscale or 16-bit RGB(A))."""
    return deep is not None or im.mode in ("I;16", "I;16B", "I;16L", "I")


def decode_image_bytes(data: bytes, label: str, limits: Limits, budget: DecodeBudget | None = None,
                       ) -> np.ndarray:
    """An image held in memory (a layer inside an ORA or ZIP) as RGBA samples (H, W, 4): uint8, or
    uint16 for 16-bit PNGs (a :class:`Layer` converts either to float).

    ``label`` names it in errors (e.g. ``"file.ora:data/001.png"``); ``budget`` (default: a fresh
    one) counts its decoded size.
    """
    if not data:
        raise LayeredFileError(label, "image member is empty", "empty")
    im, _, deep = _open_checked(label, limits, fp=io.BytesIO(data), budget=budget)
    return _to_array(im, label, deep)


def declared_size(data: bytes, label: str) -> tuple[int, int]:
    """The (width, height) an image in memory declares in its header, without decoding its pixels."""
    old = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except UnidentifiedImageError:
        raise LayeredFileError(label, "not an image Pillow can identify", "not-an-image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise LayeredFileError(label, f"cannot read image header: {err}", "corrupt") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
