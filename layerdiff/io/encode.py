"""What the writers of one image share: 8/16-bit layer arrays, PNG bytes and the composite, made once.

Writing one result as PSD, PNG folder, ORA and ZIP encodes the same layers several times over
(each PNG-based format holds the same PNG per layer; PSD and ORA both store the merged image).
:class:`EncodedStack` computes each of these once per image, and encodes the layer PNGs on a
small thread pool (zlib releases the GIL).

PNGs are 8-bit RGBA, or 16-bit RGBA when the image's ``bit_depth`` is 16 (Pillow cannot write
16-bit colour PNGs, so :func:`encode_png16` writes them with zlib).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..layered import LayeredImage, from_float

__all__ = ["EncodedStack", "encode_png", "encode_png16", "PNG_COMPRESS_LEVEL"]

PNG_COMPRESS_LEVEL = 6
"""zlib level of the layer PNGs (Pillow's default)."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png16(rgba: np.ndarray, level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """A (h, w, 4) uint16 RGBA array as a 16-bit RGBA PNG (colour type 6, no interlace, filter 0)."""
    if rgba.dtype != np.uint16 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"encode_png16 needs an (h, w, 4) uint16 array, got {rgba.dtype} {rgba.shape}")
    h, w, _ = rgba.shape
    rows = np.empty((h, 1 + w * 8), np.uint8)  # (h, 1 + w * 4 channels * 2 bytes)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:] = rgba.astype(">u2").view(np.uint8).reshape(h, w * 8)
    header = struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _chunk(b"IEND", b""))


def encode_png(rgba: np.ndarray, level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """A (h, w, 4) uint8 or uint16 RGBA array as PNG bytes (8- or 16-bit)."""
    if rgba.dtype == np.uint16:
        return encode_png16(rgba, level)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=level)
    return buf.getvalue()


class EncodedStack:
    """Lazily computed, cached encodings of one :class:`LayeredImage` (do not edit the image meanwhile)."""

    def __init__(self, image: LayeredImage, workers: int | None = None) -> None:
        self.image = image
        self.png_depth = 16 if image.bit_depth == 16 else 8
        self.workers = workers or min(4, os.cpu_count() or 1)
        self._arrays: dict[tuple[int, int], np.ndarray] = {}
        self._pngs: dict[int, bytes] = {}
        self._composite: np.ndarray | None = None

    def layer_array(self, index: int, depth: int = 8) -> np.ndarray:
        """Layer ``index``'s pixels as uint8 (depth 8) or uint16 (depth 16): (h, w, 4), read-only.

        A layer holding native samples of that depth gives them as they are (:meth:`Layer.array`).
        """
        key = (index, depth)
        if key not in self._arrays:
            self._arrays[key] = self.image.layers[index].array(depth)
        return self._arrays[key]

    def release_arrays(self) -> None:
        """Drop the cached integer arrays (the PNG bytes and the composite stay)."""
        self._arrays.clear()

    def layer_pngs(self) -> list[bytes]:
        """Every layer as PNG bytes (``png_depth`` bits), bottom to top, encoded in parallel once."""
        missing = [i for i in range(len(self.image.layers)) if i not in self._pngs]
        if missing:
            def one(i: int) -> tuple[int, bytes]:
                return i, encode_png(self.layer_array(i, self.png_depth))

            if self.workers > 1 and len(missing) > 1:
                with ThreadPoolExecutor(self.workers) as pool:
                    self._pngs.update(pool.map(one, missing))
            else:
                self._pngs.update(map(one, missing))
        return [self._pngs[i] for i in range(len(self.image.layers))]

    def composite(self) -> np.ndarray:
        """The flattened visible stack, float32 straight alpha (H, W, 4), computed once."""
        if self._composite is None:
            self._composite = self.image.composite()
        return self._composite

    def composite_array(self, depth: int = 8) -> np.ndarray:
        """The composite as uint8 (depth 8) or uint16 (depth 16) RGBA (H, W, 4), computed once."""
        key = (-1, depth)
        if key not in self._arrays:
            self._arrays[key] = from_float(self.composite(), depth)
        return self._arrays[key]

    def composite_png(self) -> bytes:
        """The composite as a PNG (``png_depth`` bits)."""
        return encode_png(self.composite_array(self.png_depth))

    def thumbnail_png(self, side: int = 256) -> bytes:
        """An 8-bit PNG of the composite fitted into ``side`` x ``side``."""
        thumb = Image.fromarray(self.composite_array(8), "RGBA")
        thumb.thumbnail((side, side))
        return encode_png(np.asarray(thumb))
