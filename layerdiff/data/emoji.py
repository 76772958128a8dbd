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
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..blend import over, visibility_weights
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


# --------------------------------------------------------------- per-element split (held-out evaluation set)
ANALYSIS_PX = 128
"""Side at which :func:`element_groups` measures elements, so a grouping does not depend on the output size."""

_PAINT_ATTRS = ("fill", "stroke", "opacity", "fill-opacity", "stroke-opacity", "stroke-width", "style")
_TONES = range(0x1F3FB, 0x1F400)  # skin-tone modifiers
_REGIONAL = range(0x1F1E6, 0x1F200)  # regional indicators (flag pairs)


def codepoints(stem: str) -> list[int]:
    """The codepoints of an emoji file stem: 'u1f468_200d_1f373' -> [0x1F468, 0x200D, 0x1F373]."""
    return [int(part, 16) for part in stem.lstrip("u").split("_") if part]


def never_trained(stem: str) -> bool:
    """Whether an emoji is one the training data never drew, and not a recolouring of one it drew.

    Training renders only single-codepoint emoji (``EmojiLibrary(simple_only=True)``, the library every
    :class:`~layerdiff.data.synthetic.SyntheticDesigns` uses). Kept: zero-width-joiner sequences,
    keycaps and tag sequences. Left out: single codepoints (trained), skin-tone variants (the same
    drawings recoloured) and regional-indicator flags (flags are a held-out set of their own).
    """
    cps = codepoints(stem)
    if len(cps) < 2:
        return False
    if any(c in _TONES for c in cps) or all(c in _REGIONAL for c in cps):
        return False
    return True


def heldout_stems(folder: str | os.PathLike | None = None) -> list[str]:
    """The sorted stems of ``folder`` (default :func:`default_emoji_dir`) that :func:`never_trained` keeps."""
    root = Path(folder) if folder is not None else default_emoji_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: emoji folder not found (set LAYERDIFF_EMOJI_DIR)")
    return sorted(p.stem for p in root.glob("u*.svg") if never_trained(p.stem))


def is_flag(stem: str) -> bool:
    """Whether an emoji file stem is a regional-indicator flag ('u1f1ef_1f1f5': flag of JP)."""
    cps = codepoints(stem)
    return len(cps) == 2 and all(c in _REGIONAL for c in cps)


def flag_stems(folder: str | os.PathLike | None = None) -> list[str]:
    """The sorted stems of the regional-indicator flags in ``folder`` (default :func:`default_emoji_dir`).
    Training never draws them (:class:`EmojiLibrary` keeps single codepoints only)."""
    root = Path(folder) if folder is not None else default_emoji_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: emoji folder not found (set LAYERDIFF_EMOJI_DIR)")
    return sorted(p.stem for p in root.glob("u*.svg") if is_flag(p.stem))


def flatten_groups(svg: bytes, where: str = "svg") -> bytes:
    """The SVG with every top-level ``<g>`` that has no attributes replaced by its children, in order.

    A plain group changes nothing in the rendering, so the result paints the same pixels; its
    elements become top-level, so :func:`element_groups` can split them. Noto's flags draw the whole
    flag (field, stripes, canton, emblem) inside one such group, then a translucent outline.
    """
    root = _parse_svg(svg, where)
    flat = ET.Element(root.tag, root.attrib)
    for child in root:
        if _tag(child) == "g" and not child.attrib:
            flat.extend(list(child))
        else:
            flat.append(child)
    return ET.tostring(flat)


def _drawables(root: ET.Element) -> list[int]:
    return [i for i, el in enumerate(root) if _tag(el) not in _NON_DRAWING]


def _paint(el: ET.Element) -> tuple[str | None, ...]:
    return tuple(el.get(a) for a in _PAINT_ATTRS)


_URL = re.compile(r"url\(\s*['\"]?#([^)'\"\s]+)")
_HREF = ("href", "{http://www.w3.org/1999/xlink}href")


def _references(el: ET.Element) -> set[str]:
    """Ids an element and its descendants name through ``url(#id)`` or ``href="#id"``."""
    found: set[str] = set()
    for node in el.iter():
        for key, value in node.attrib.items():
            if key in _HREF and value.startswith("#"):
                found.add(value[1:])
            else:
                found.update(_URL.findall(value))
    return found


def _definitions(root: ET.Element) -> dict[str, ET.Element]:
    """The elements with an id outside the drawing children (gradients, clip paths ...)."""
    defs: dict[str, ET.Element] = {}
    for child in root:
        if _tag(child) in _NON_DRAWING:
            for node in child.iter():
                if node.get("id"):
                    defs[node.get("id")] = node
    return defs


def _render_subset(root: ET.Element, keep: set[int], px: int) -> np.ndarray:
    """The SVG with only the drawing children ``keep`` and the definitions they use, as (px, px, 4)
    uint8 RGBA (fewer definitions make cairosvg's parse, most of a render's time, shorter)."""
    import cairosvg

    defs = _definitions(root)
    needed: set[str] = set()
    todo = set().union(*(_references(root[i]) for i in keep)) if keep else set()
    while todo:
        ident = todo.pop()
        if ident in needed or ident not in defs:
            continue
        needed.add(ident)
        todo |= _references(defs[ident])
    sub = ET.Element(root.tag, root.attrib)
    for i, child in enumerate(root):
        if _tag(child) not in _NON_DRAWING:
            if i in keep:
                sub.append(child)
        elif _tag(child) == "defs":
            kept = ET.SubElement(sub, child.tag, child.attrib)
            kept.extend(c for c in child if not c.get("id") or c.get("id") in needed)
        elif not child.get("id") or child.get("id") in needed:
            sub.append(child)
    png = cairosvg.svg2png(bytestring=ET.tostring(sub), output_width=px, output_height=px)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), np.uint8)


def _parse_svg(svg: bytes, where: str) -> ET.Element:
    try:
        return ET.fromstring(svg)
    except ET.ParseError as err:
        raise ValueError(f"{where}: not a readable SVG ({err})") from None


def element_groups(svg: bytes, max_layers: int = 6, min_visible: float = 0.005,
                   where: str = "svg") -> list[list[int]]:
    """Group an emoji's top-level drawing elements into layers, bottom first (indices into the root).

    The SVG paints its top-level elements in order, so any grouping of consecutive elements gives
    layers that composite back to the emoji. Rule, measured at :data:`ANALYSIS_PX`:

    1. consecutive elements with the same paint (``fill``, ``stroke``, opacities, ``style``) are one
       element of the design (the two eyes, the strands of one hair colour);
    2. then, while a layer's visible area (its alpha times what the layers above leave uncovered) is
       under ``min_visible`` of the canvas, or there are more than ``max_layers`` layers, the layer of
       smallest visible area joins the layer drawn just before it (the first layer joins the second):
       a highlight or a speck stays with what it sits on.
    """
    if max_layers < 1:
        raise ValueError(f"max_layers must be at least 1, got {max_layers}")
    root = _parse_svg(svg, where)
    draw = _drawables(root)
    if not draw:
        raise ValueError(f"{where}: no drawing elements")
    groups: list[list[int]] = []
    for i in draw:
        if groups and _paint(root[i]) == _paint(root[groups[-1][-1]]):
            groups[-1].append(i)
        else:
            groups.append([i])
    alphas = np.stack([_render_subset(root, set(g), ANALYSIS_PX)[..., 3] for g in groups]
                      ).astype(np.float32) / 255.0  # (G, px, px)
    canvas = float(ANALYSIS_PX * ANALYSIS_PX)
    while len(groups) > 1:
        visible = visibility_weights(alphas).sum(axis=(1, 2)) / canvas  # (G,)
        k = int(np.argmin(visible))
        if visible[k] >= min_visible and len(groups) <= max_layers:
            break
        j = k - 1 if k > 0 else 1  # the layer it joins
        lo, hi = min(j, k), max(j, k)
        groups[lo] = groups[lo] + groups[hi]
        alphas[lo] = alphas[hi] + alphas[lo] * (1.0 - alphas[hi])  # hi is drawn over lo
        del groups[hi]
        alphas = np.delete(alphas, hi, axis=0)
    return groups


def element_layers(svg: bytes, px: int = 512, max_layers: int = 6, min_visible: float = 0.005,
                   where: str = "svg", tolerance: float = 3 / 255) -> tuple[list[np.ndarray], list[list[int]]]:
    """An emoji split per element: (layers, groups). Layers are (px, px, 4) float32 straight-alpha RGBA,
    bottom first, each the cairosvg render of one group of :func:`element_groups`.

    Raises ``ValueError`` (naming ``where``) when the SVG has fewer than two groups, or when its
    layers composited with "over" differ from the whole render by more than ``tolerance`` in
    premultiplied colour or alpha (an SVG whose elements reference each other across layers).
    """
    if px < 1:
        raise ValueError(f"{where}: size must be positive, got {px}")
    groups = element_groups(svg, max_layers=max_layers, min_visible=min_visible, where=where)
    if len(groups) < 2:
        raise ValueError(f"{where}: one layer only after grouping its elements")
    root = _parse_svg(svg, where)
    layers = [_render_subset(root, set(g), px).astype(np.float32) / 255.0 for g in groups]  # each (px, px, 4)
    whole = _render_subset(root, set(_drawables(root)), px).astype(np.float32) / 255.0  # (px, px, 4)
    stacked = layers[0]
    for layer in layers[1:]:
        stacked = over(stacked, layer)
    premul = np.abs(stacked[..., :3] * stacked[..., 3:] - whole[..., :3] * whole[..., 3:]).max()
    if max(premul, float(np.abs(stacked[..., 3] - whole[..., 3]).max())) > tolerance:
        raise ValueError(f"{where}: its elements do not composite back to the whole emoji")
    return layers, groups


def heldout_selection(count: int = 100, seed: int = 28, folder: str | os.PathLike | None = None,
                      max_layers: int = 6, min_visible: float = 0.005) -> list[str]:
    """``count`` stems of :func:`heldout_stems`, in the order of a permutation drawn with ``seed``,
    skipping those :func:`element_layers` refuses (checked at :data:`ANALYSIS_PX`)."""
    if count < 1:
        raise ValueError(f"emoji count must be >= 1, got {count}")
    root = Path(folder) if folder is not None else default_emoji_dir()
    stems = heldout_stems(root)
    chosen: list[str] = []
    for k in np.random.default_rng(seed).permutation(len(stems)):
        stem = stems[int(k)]
        try:
            element_layers((root / f"{stem}.svg").read_bytes(), ANALYSIS_PX, max_layers, min_visible, stem)
        except ValueError:
            continue
        chosen.append(stem)
        if len(chosen) == count:
            break
    return chosen
