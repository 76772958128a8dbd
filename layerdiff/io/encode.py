"""What the writers of one image share: 8/16-bit layer arrays, PNG bytes and the composite, made once.

Writing one result as PSD, PNG folder, ORA and ZIP encodes the same layers several times over
(each PNG-based format holds the same PNG per layer; PSD and ORA both store the merged image).
:class:`EncodedStack` computes each of these once per image, and encodes the layer PNGs on a
small thread pool (zlib releases the GIL).

PNGs are 8-bit RGBA, or 16-bit RGBA when the image's ``bit_depth`` is 16 (Pillow cannot write
16-bit colour PNGs, so :func:`encode_png16` writes them with zlib).

The composite is made in bands of rows (:meth:`EncodedStack.composite_bands`): the writers take
what they store from each band (the PSD merged image's planes, the 8/16-bit composite of the PNG
formats), so the whole float composite is never held.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..layered import LayeredImage, from_float

__all__ = ["EncodedStack", "encode_png", "encode_png16", "PNG_COMPRESS_LEVEL"]

PNG_COMPRESS_LEVEL = 6
"""zlib level of the layer PNGs (Pillow's default)."""

COMPOSITE_BAND_PIXELS = 1 << 22
"""Pixels of the composite made at once by :meth:`EncodedStack.composite_bands` (64 MiB of float32)."""

_INT_TYPES = {8: np.uint8, 16: np.uint16}


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
    """Lazily computed, cached encodings of one :class:`LayeredImage` (do not edit the image meanwhile).

    ``composite_depths``: the integer composites :meth:`composite_bands` fills in on the way (default
    ``png_depth`` and 8, what the ORA writer stores; ``()`` when no writer of this image needs them).
    """

    def __init__(self, image: LayeredImage, workers: int | None = None,
                 composite_depths: tuple[int, ...] | None = None) -> None:
        self.image = image
        self.png_depth = 16 if image.bit_depth == 16 else 8
        self.composite_depths = (self.png_depth, 8) if composite_depths is None else tuple(composite_depths)
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
        """The flattened visible stack, float32 straight alpha (H, W, 4), computed once and kept."""
        if self._composite is None:
            self._composite = self.image.composite()
        return self._composite

    def composite_bands(self, depths: tuple[int, ...] = ()) -> Iterator[tuple[int, np.ndarray]]:
        """The composite in bands of rows, top to bottom: ``(first row, (h, W, 4) float32)``.

        Each band holds the same values as those rows of :meth:`composite`. On the way the integer
        composites (``composite_depths`` and ``depths``) not made yet are filled in, so that
        :meth:`composite_array` afterwards costs nothing (only when the bands are read to the end).
        """
        h, w = self.image.height, self.image.width
        fill = {d: np.empty((h, w, 4), _INT_TYPES[d]) for d in {*self.composite_depths, *depths}
                if (-1, d) not in self._arrays}  # (H, W, 4) each
        band = max(1, COMPOSITE_BAND_PIXELS // w)
        for top in range(0, h, band):
            bottom = min(top + band, h)
            rows = (self._composite[top:bottom] if self._composite is not None
                    else self.image.composite(rows=(top, bottom)))  # (h, W, 4)
            for depth, array in fill.items():
                array[top:bottom] = from_float(rows, depth)
            yield top, rows
        self._arrays.update({(-1, d): array for d, array in fill.items()})

    def composite_array(self, depth: int = 8) -> np.ndarray:
        """The composite as uint8 (depth 8) or uint16 (depth 16) RGBA (H, W, 4), computed once, in bands."""
        if depth not in _INT_TYPES:
            raise ValueError(f"depth must be 8 or 16, got {depth}")
        key = (-1, depth)
        if key not in self._arrays:
            for _ in self.composite_bands((depth,)):  # drained: the generator stores the array as it goes
                pass
        return self._arrays[key]

    def composite_png(self) -> bytes:
        """The composite as a PNG (``png_depth`` bits)."""
        return encode_png(self.composite_array(self.png_depth))

    def thumbnail_png(self, side: int = 256) -> bytes:
        """An 8-bit PNG of the composite fitted into ``side`` x ``side``."""
        thumb = Image.fromarray(self.composite_array(8), "RGBA")
        thumb.thumbnail((side, side))
        return encode_png(np.asarray(thumb))
