"""Noto emoji SVGs rendered with cairosvg into RGBA arrays, whole or split into amodal parts.

The SVG files (``u1f600.svg``, ``u1f468_200d_1f373.svg`` ...) come from Google's Noto Emoji
(Apache-2.0) and live outside the repository, in ``../shared/data/noto-emoji-svg`` next to the
checkout; ``LAYERDIFF_EMOJI_DIR`` points elsewhere. Renders are cached per (emoji, size bucket)
and resized from the bucket, so a training stream pays cairosvg's ~10 ms at most once per bucket.

Parts: an emoji SVG paints its top-level elements in order (painter's model), so rendering
consecutive runs of elements separately and compositing them with "over" gives back the whole
emoji; the first run (a face, a fruit body ...) is then complete even where later parts cover it,
which is what an amodal layer is.
"""

from __future__ import annotations

import copy
import functools
import io
import os
import unicodedata
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..blend import over
from .synth_raster import resize_rgba

_BUCKETS = (64, 128, 256, 512, 1024)
_SKIP_CODEPOINTS = {0x200D, 0xFE0F, 0x20E3} | set(range(0x1F3FB, 0x1F400))  # joiners, selectors, skin tones
_SVG_NS = "http://www.w3.org/2000/svg"
_NON_DRAWING = {"defs", "title", "desc", "metadata", "style", "linearGradient", "radialGradient", "clipPath",
                "mask", "pattern", "symbol", "filter"}


def default_emoji_dir() -> Path:
    """``$LAYERDIFF_EMOJI_DIR`` or ``<repo>/../shared/data/noto-emoji-svg``."""
    env = os.environ.get("LAYERDIFF_EMOJI_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "noto-emoji-svg"


def emoji_name(stem: str) -> str:
    """Readable name of an emoji file stem: 'u1f600' -> 'grinning face', flags -> 'flag of XX'."""
    cps = [int(part, 16) for part in stem.lstrip("u").split("_") if part]
    if cps and all(0x1F1E6 <= c <= 0x1F1FF for c in cps):
        return "flag of " + "".join(chr(ord("A") + c - 0x1F1E6) for c in cps)
    words = []
    for c in cps:
        if c in _SKIP_CODEPOINTS:
            continue
        try:
            words.append(unicodedata.name(chr(c)).lower())
        except ValueError:
            continue
    return " ".join(words) if words else stem


def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


class _ByteLRU:
    """A least-recently-used cache of arrays bounded by their total size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        self.nbytes += self._size(value)
        while self.nbytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self.nbytes -= self._size(old)
        return value

    @staticmethod
    def _size(value: Any) -> int:
        return sum(a.nbytes for a in value) if isinstance(value, tuple) else getattr(value, "nbytes", 64)


class EmojiLibrary:
    """The emoji SVGs of one folder. ``names`` lists file stems; ``simple_only`` keeps single codepoints.

    Renders are kept in an LRU cache of at most ``cache_bytes`` (uint8 RGBA arrays).
    """

    def __init__(self, folder: str | os.PathLike | None = None, simple_only: bool = True,
                 cache_bytes: int = 256 << 20) -> None:
        self.folder = Path(folder) if folder is not None else default_emoji_dir()
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder}: emoji folder not found (set LAYERDIFF_EMOJI_DIR)")
        stems = sorted(p.stem for p in self.folder.glob("u*.svg"))
        if simple_only:
            stems = [s for s in stems if "_" not in s]
        if not stems:
            raise FileNotFoundError(f"{self.folder}: no emoji SVG files (u*.svg)")
        self.names: list[str] = stems
        self._cache = _ByteLRU(cache_bytes)
        self._svg: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self.names)

    def caption_name(self, stem: str) -> str:
        return emoji_name(stem)

    def _svg_bytes(self, stem: str) -> bytes:
        if stem not in self._svg:
            self._svg[stem] = (self.folder / f"{stem}.svg").read_bytes()
        return self._svg[stem]

    def _rasterize(self, svg: bytes, px: int) -> np.ndarray:
        import cairosvg

        png = cairosvg.svg2png(bytestring=svg, output_width=px, output_height=px)
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), np.uint8)

    def _render_bucket(self, stem: str, bucket: int) -> np.ndarray:
        def make() -> np.ndarray:
            arr = self._rasterize(self._svg_bytes(stem), bucket)
            arr.setflags(write=False)
            return arr

        return self._cache.get(("whole", stem, bucket), make)

    @staticmethod
    def _bucket(px: int) -> int:
        return next((b for b in _BUCKETS if b >= px), _BUCKETS[-1])

    def render(self, stem: str, px: int) -> np.ndarray:
        """The emoji as a (px, px, 4) float32 straight-alpha array."""
        if px < 1:
            raise ValueError(f"emoji size must be positive, got {px}")
        base = self._render_bucket(stem, self._bucket(px)).astype(np.float32) / 255.0
        return resize_rgba(base, (px, px))

    def _parts_bucket(self, stem: str, bucket: int, n_parts: int) -> tuple[np.ndarray, ...] | None:
        return self._cache.get(("parts", stem, bucket, n_parts), lambda: self._split(stem, bucket, n_parts))

    def _split(self, stem: str, bucket: int, n_parts: int) -> tuple[np.ndarray, ...] | None:
        root = ET.fromstring(self._svg_bytes(stem))
        drawables = [i for i, el in enumerate(root) if _tag(el) not in _NON_DRAWING]
        if len(drawables) < n_parts:
            return None
        # split point(s): the first element alone is the base, the rest is spread evenly
        cuts = [drawables[0] + 1] + [drawables[1 + k * (len(drawables) - 1) // (n_parts - 1)]
                                     for k in range(1, n_parts - 1)]
        bounds = [0] + cuts + [len(root)]
        parts = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            sub = copy.deepcopy(root)
            for i in range(len(root) - 1, -1, -1):
                if not (a <= i < b) and _tag(root[i]) not in _NON_DRAWING:
                    del sub[i]
            parts.append(self._rasterize(ET.tostring(sub), bucket))
        whole = self._render_bucket(stem, bucket).astype(np.float32) / 255.0
        stacked = parts[0].astype(np.float32) / 255.0
        for p in parts[1:]:
            stacked = over(stacked, p.astype(np.float32) / 255.0)
        mismatch = np.abs(stacked[..., 3] - whole[..., 3]).max() > 2 / 255
        if mismatch or any(p[..., 3].max() < 128 for p in parts):
            return None  # the SVG does not paint in independent runs (e.g. <use> across parts)
        return tuple(parts)

    def render_parts(self, stem: str, px: int, n_parts: int = 2) -> list[np.ndarray] | None:
        """The emoji split into ``n_parts`` amodal layers (bottom first), each (px, px, 4) float32.

        The first part is the first painted element (usually the emoji's body); later parts hold
        the remaining elements. Returns None when the SVG cannot be split so that the parts
        composite back to the whole within 2/255.
        """
        if n_parts < 2:
            raise ValueError(f"n_parts must be at least 2, got {n_parts}")
        parts = self._parts_bucket(stem, self._bucket(px), n_parts)
        if parts is None:
            return None
        return [resize_rgba(p.astype(np.float32) / 255.0, (px, px)) for p in parts]


@functools.lru_cache(maxsize=4)
def emoji_library(folder: str | None = None) -> EmojiLibrary | None:
    """A shared :class:`EmojiLibrary` for ``folder`` (default folder if None), or None if unavailable."""
    try:
        return EmojiLibrary(folder)
    except (FileNotFoundError, OSError):
        return None
