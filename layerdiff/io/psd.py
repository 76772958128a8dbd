"""Photoshop PSD / PSB reading and writing through psd-tools.

Reading turns the layer tree into a flat bottom-to-top stack of RGBA layers:

- every leaf layer (pixel, shape, type, smart object, fill) is rendered on its own by psd-tools'
  compositor, so masks, vector masks, fill opacity and the effects psd-tools draws are applied;
  its own opacity is kept as ``Layer.opacity`` (not baked in) and its blend mode as
  ``Layer.blend_mode``;
- pass-through groups are dissolved: their visibility and opacity are folded into their
  children and the group path is kept in ``Layer.metadata["group"]`` (a list of names);
  a group's mask applies to its children because they are rendered through it;
- groups whose result depends on isolation (a blend mode other than pass-through/normal, a
  "normal" group holding non-normal layers or adjustments, or group effects) are rasterised
  whole by psd-tools, with a warning;
- clipped layers keep their pixels with alpha multiplied by the base layer's alpha (and the
  base's opacity folded into theirs); a hidden base hides them, as in Photoshop;
- adjustment layers have no pixels of their own: they are dropped with a warning naming
  the layer (psd-tools' compositor is what applies them in ``PSDImage.composite()``);
- CMYK, grayscale, bitmap, Lab, indexed and duotone documents are converted to sRGB by
  psd-tools' own colour path (embedded ICC profile applied); 16- and 32-bit RGB and grayscale
  documents without an ICC profile keep float precision (``bit_depth = 16``);
- a document with no layers becomes one layer holding its merged composite.

Writing uses psd-tools' document creation API: an 8-bit (or, for 16-bit images, 16-bit) RGB(A)
document with one pixel layer per ``Layer`` (name, visibility, opacity, offset, blend mode) and
groups rebuilt from ``metadata["group"]``; the merged preview is layerdiff's own composite.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import struct
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..atomic import atomic_path
from ..errors import LayeredFileError
from ..layered import Layer, LayeredImage, to_float
from ..text.store import PSD_RESOURCE_ID, attach_psd_text, psd_text_payload
from .limits import Limits, resolve, too_large
from .psd_text import add_type_layer, reconcile_type_layers

__all__ = ["read_psd", "read_psd_composite", "write_psd", "write_psd_to", "psd_reference_composite",
           "read_psd_header", "group_path", "PSD_SIGNATURE"]

PSD_SIGNATURE = b"8BPS"
_COLOR_MODES = {0: "bitmap", 1: "grayscale", 2: "indexed", 3: "rgb", 4: "cmyk", 7: "multichannel",
                8: "duotone", 9: "lab"}


# --------------------------------------------------------------------------- structure check
@dataclass(frozen=True)
class PsdHeader:
    """The 26-byte file header plus where the sections end, read without psd-tools."""

    version: int  # 1 = PSD, 2 = PSB
    channels: int
    height: int
    width: int
    depth: int
    color_mode: str


def read_psd_header(path: str | os.PathLike, limits: Limits) -> PsdHeader:
    """Validate the header and the section lengths; refuse truncated, corrupt or too-large files.

    Walks the four length-prefixed sections (colour mode data, image resources, layer and
    mask information) and checks the file is long enough to hold them, so a cut file is named
    "truncated" before psd-tools sees it.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(26)
        if len(head) < 26:
            raise LayeredFileError(path, f"PSD header is cut after {len(head)} of 26 bytes", "truncated")
        sig, version, _reserved, channels, height, width, depth, mode = struct.unpack(">4sH6sHIIHH", head)
        if sig != PSD_SIGNATURE:
            raise LayeredFileError(path, "not a PSD file (no 8BPS signature)", "not-an-image")
        if version not in (1, 2):
            raise LayeredFileError(path, f"PSD version {version} is neither 1 (PSD) nor 2 (PSB)", "corrupt")
        if not 1 <= channels <= 56:
            raise LayeredFileError(path, f"PSD header declares {channels} channels (1-56 allowed)", "corrupt")
        if depth not in (1, 8, 16, 32):
            raise LayeredFileError(path, f"PSD bit depth {depth} is not 1, 8, 16 or 32", "corrupt")
        if mode not in _COLOR_MODES:
            raise LayeredFileError(path, f"PSD colour mode {mode} is unknown", "corrupt")
        max_side = 30000 if version == 1 else 300000
        if not (1 <= width <= max_side and 1 <= height <= max_side):
            raise LayeredFileError(path, f"PSD canvas {width}x{height} is outside 1..{max_side}", "corrupt")
        limits.check_size(path, width, height)
        limits.budget(path).add(width, height, what="the canvas")
        offset = 26
        for section, wide in (("colour mode data", False), ("image resources", False),
                              ("layer and mask information", version == 2)):
            fmt, n = (">Q", 8) if wide else (">I", 4)
            fh.seek(offset)
            raw = fh.read(n)
            if len(raw) < n:
                raise LayeredFileError(path, f"file ends inside the {section} length", "truncated")
            (length,) = struct.unpack(fmt, raw)
            offset += n + length
            if offset > size:
                raise LayeredFileError(
                    path, f"{section} section needs {offset:,} bytes but the file has {size:,}", "truncated")
        if offset + 2 > size:
            raise LayeredFileError(path, "file ends before the merged image data", "truncated")
        fh.seek(offset)
        (compression,) = struct.unpack(">H", fh.read(2))
        rows = channels * height
        if compression == 0:  # raw
            needed = rows * ((width * depth + 7) // 8)
        elif compression == 1:  # RLE: a table of per-row byte counts, then the rows
            item = 2 if version == 1 else 4
            table = fh.read(rows * item)
            if len(table) < rows * item:
                raise LayeredFileError(path, "file ends inside the merged image's row table", "truncated")
            counts = np.frombuffer(table, ">u2" if item == 2 else ">u4")
            needed = rows * item + int(counts.sum(dtype=np.int64))
        else:  # ZIP-compressed: the length is not recorded
            needed = 0
        if offset + 2 + needed > size:
            raise LayeredFileError(
                path, f"merged image data needs {offset + 2 + needed:,} bytes but the file has {size:,}",
                "truncated")
    return PsdHeader(version, channels, height, width, depth, _COLOR_MODES[mode])


# --------------------------------------------------------------------------- colour conversion
class _ColorConverter:
    """Document-space colour arrays from psd-tools' compositor -> sRGB float (H, W, 3)."""

    def __init__(self, psd: Any) -> None:
        from psd_tools.constants import ColorMode, Resource

        self.psd = psd
        self.mode = psd.color_mode
        self.icc = psd.image_resources.get_data(Resource.ICC_PROFILE) if (
            Resource.ICC_PROFILE in psd.image_resources) else None
        if self.icc and self.mode == ColorMode.RGB and _is_plain_srgb(self.icc):
            self.icc = None  # already sRGB: skip the 8-bit transform and keep 16-bit precision
        self.direct = self.mode in (ColorMode.RGB, ColorMode.GRAYSCALE) and not self.icc
        self.keeps_precision = self.direct and psd.depth >= 16

    def __call__(self, color: np.ndarray) -> np.ndarray:
        from psd_tools.api import pil_io
        from psd_tools.constants import ColorMode

        if self.direct:
            rgb = color[..., :3] if color.shape[-1] >= 3 else np.repeat(color[..., :1], 3, axis=-1)
            return np.clip(rgb, 0.0, 1.0).astype(np.float32)  # (H, W, 3)
        if self.mode == ColorMode.LAB:  # psd-tools leaves Lab unconverted; PIL cannot convert it
            return lab_to_srgb(color)
        # The conversion composite_pil() does, without its alpha handling (alpha is kept apart).
        mode = pil_io.get_pil_mode(self.mode)
        mode = "RGB" if mode == "P" else mode
        channels = pil_io.get_pil_channels(mode)
        pixels = np.clip(255 * color[..., :channels], 0, 255).astype(np.uint8)  # (H, W, C)
        if mode in ("1", "L"):
            image = Image.fromarray(np.ascontiguousarray(pixels[..., 0]), "L")
            if mode == "1":
                image = image.convert("1", dither=Image.Dither.NONE)
        else:
            image = Image.fromarray(np.ascontiguousarray(pixels), mode)
        image = pil_io.post_process(image, None, self.icc)
        if self.mode == ColorMode.CMYK and image.mode == "CMYK":
            # No profile: naive conversion. post_process() inverted the planes to ink amounts.
            ink = np.asarray(image).astype(np.float32) / 255.0  # (H, W, 4)
            return ((1 - ink[..., :3]) * (1 - ink[..., 3:4])).astype(np.float32)
        return np.asarray(image.convert("RGB")).astype(np.float32) / 255.0  # (H, W, 3)


def _is_plain_srgb(icc: bytes) -> bool:
    """Whether an ICC profile is (gamma-encoded) sRGB, by its description."""
    from PIL import ImageCms

    try:
        desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except Exception:
        return False
    return desc.startswith("sRGB") and "linear" not in desc.lower()


def lab_to_srgb(color: np.ndarray) -> np.ndarray:
    """Lab as psd-tools' compositor holds it (L, a, b each in [0, 1]; a, b offset by 128/255) -> sRGB
    float (H, W, 3), via CIE Lab (D65 white) -> XYZ -> sRGB (scikit-image)."""
    from skimage.color import lab2rgb

    c = color.astype(np.float64)
    lab = np.stack([c[..., 0] * 100.0, c[..., 1] * 255.0 - 128.0, c[..., 2] * 255.0 - 128.0], axis=-1)
    return np.clip(lab2rgb(lab), 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- reading
@dataclass
class _Clip:
    """What a clipped layer inherits from its base: canvas alpha (H, W), opacity and visibility."""

    alpha: np.ndarray | None
    opacity: float
    visible: bool


@dataclass
class _Entry:
    """A rendered layer before colour conversion: document-space colour (h, w, C), alpha (h, w)."""

    color: np.ndarray
    alpha: np.ndarray
    offset: tuple[int, int]
    name: str
    visible: bool
    opacity: float
    blend_mode: str
    metadata: dict[str, Any]


@contextlib.contextmanager
def _rendering_alone(chain: list[Any]) -> Iterator[None]:
    """Temporarily give the layers of ``chain`` opacity 255 and no clipping flag.

    Written on the records (not through the API setters) so that psd-tools does not mark the
    document edited, which would make it redraw vector layers instead of reading their pixels.
    """
    from psd_tools.constants import Clipping

    saved = [(rec, rec.opacity, rec.clipping) for rec in {id(x._record): x._record for x in chain}.values()]
    try:
        for rec, _, _ in saved:
            rec.opacity = 255
            rec.clipping = Clipping.BASE
        yield
    finally:
        for rec, opacity, clipping in saved:
            rec.opacity = opacity
            rec.clipping = clipping


_Box = tuple[int, int, int, int]


def _intersect(a: _Box, b: _Box) -> _Box | None:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _blend_name(layer: Any) -> str:
    return str(layer.blend_mode.name).lower()


class _Flattener:
    """Walks a PSDImage's tree and collects flat layers, bottom to top (see the module docstring)."""

    def __init__(self, psd: Any, path: str, limits: Limits, adjustments: str) -> None:
        from psd_tools.api.utils import get_color_channels
        from psd_tools.composite.widen import make_widen

        self.psd = psd
        self.path = path
        self.limits = limits
        self.adjustments = adjustments
        self.canvas = (0, 0, psd.width, psd.height)
        self.convert = _ColorConverter(psd)
        self.channels = get_color_channels(psd)
        self.widen = make_widen(psd)
        self.entries: list[_Entry] = []
        self.dropped: list[str] = []
        self.baked: list[str] = []

    def warn(self, message: str) -> None:
        warnings.warn(f"{self.path}: {message}", stacklevel=5)

    # ---------------------------------------------------------------- rendering
    def render(self, target: Any, ancestors: list[Any], extra: list[Any],
               viewport: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """psd-tools' rendering of ``target`` (with the visible layers of ``extra``) alone, through
        its ancestor groups so their masks apply, at full opacity: document colour (h, w, C) and
        alpha (h, w) on ``viewport``."""
        from psd_tools.composite import composite

        chain = [*ancestors, target]
        allowed = {id(x) for x in chain}
        inside = {id(x) for x in extra}

        def layer_filter(layer: Any) -> bool:
            return id(layer) in allowed or (id(layer) in inside and layer.is_visible())

        with _rendering_alone(chain):
            color, _shape, alpha = composite(chain[0], color=1.0, alpha=0.0, viewport=viewport,
                                             layer_filter=layer_filter, force=False, as_layer=True)
        return color, alpha[..., 0].astype(np.float32)  # (h, w, C), (h, w)

    def reach(self, layer: Any) -> tuple[int, int, int, int] | None:
        """Box a leaf can paint into (its box grown by strokes). Pixels outside the canvas are kept
        (as Photoshop keeps them) up to one canvas size beyond each edge."""
        try:
            from psd_tools.composite.composite import _stroke_reach

            box = _stroke_reach(layer)
        except Exception:  # private helper: fall back to the layer's own box
            box = layer.bbox
        w, h = self.canvas[2], self.canvas[3]
        return _intersect((-w, -h, 2 * w, 2 * h), tuple(int(v) for v in box))

    def pixels_of(self, layer: Any, ancestors: list[Any], extra: list[Any],
                  box: tuple[int, int, int, int] | None) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Document colour (h, w, C), alpha (h, w) and canvas offset of a rendered layer or group."""
        if box is None:
            return self.empty()
        try:
            color, alpha = self.render(layer, ancestors, extra, box)
        except (MemoryError, LayeredFileError):
            raise
        except Exception as err:  # psd-tools could not composite it: fall back to the stored pixels
            self.warn(f"layer {layer.name!r}: psd-tools cannot composite it ({type(err).__name__}: {err}); "
                      "using its stored pixels")
            return self.stored_pixels(layer)
        return color, alpha, (box[0], box[1])

    def empty(self) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        return np.zeros((1, 1, self.channels), np.float32), np.zeros((1, 1), np.float32), (0, 0)

    def stored_pixels(self, layer: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        try:
            color = layer.numpy("color")  # (h, w, C) in document colour space, or None
            alpha = layer.numpy("alpha")
        except (MemoryError, LayeredFileError):
            raise
        except Exception as err:
            self.warn(f"layer {layer.name!r}: cannot read its pixels ({type(err).__name__}: {err}); "
                      "left empty")
            return self.empty()
        if color is None or color.size == 0:
            return self.empty()
        color = self.widen(color, self.channels) if color.shape[-1] != self.channels else color
        alpha = np.ones(color.shape[:2], np.float32) if alpha is None else alpha.reshape(color.shape[:2])
        return color.astype(np.float32), alpha.astype(np.float32), (layer.left, layer.top)

    # ---------------------------------------------------------------- collection
    def add(self, color: np.ndarray, alpha: np.ndarray, offset: tuple[int, int], *, name: str, visible: bool,
            opacity: float, blend_mode: str, group: list[str], clip: _Clip | None,
            extra: dict[str, Any]) -> None:
        if clip is not None:
            if clip.alpha is not None:
                alpha = alpha * _crop_canvas(clip.alpha, offset, alpha.shape)
            opacity *= clip.opacity
            visible = visible and clip.visible
        self.entries.append(_Entry(color, alpha, offset, name, visible, min(max(opacity, 0.0), 1.0),
                                   blend_mode, {"group": list(group), **extra}))
        self.limits.check_layers(self.path, len(self.entries))

    def base_alpha(self, base: Any, ancestors: list[Any]) -> Callable[[], np.ndarray | None]:
        """Lazy canvas alpha (H, W) of a clipping base (mask applied, opacity not)."""
        from psd_tools.api.layers import AdjustmentLayer

        cache: dict[str, np.ndarray | None] = {}

        def compute() -> np.ndarray | None:
            if "a" not in cache:
                if isinstance(base, AdjustmentLayer):
                    cache["a"] = None
                else:
                    group = base.is_group()
                    box = self.canvas if group else self.reach(base)
                    extra = list(base.descendants()) if group else []
                    _, alpha, offset = self.pixels_of(base, ancestors, extra, box)
                    canvas_shape = (self.canvas[3], self.canvas[2])
                    cache["a"] = _crop_canvas(alpha, (-offset[0], -offset[1]), canvas_shape)
            return cache["a"]

        return compute

    def bake(self, adjustment: Any, ancestors: list[Any], targets: list[_Entry]) -> None:
        """Apply an adjustment layer to the colour of ``targets`` with psd-tools' own adjustment code.

        Its mask and opacity apply, and so do the masks and opacities of its (pass-through)
        ancestor groups. Exact where one layer covers a pixel fully; elsewhere the adjustment of
        the mix is approximated by the mix of the adjusted layers.
        """
        from psd_tools.composite.composite import Compositor

        for entry in targets:
            h, w = entry.alpha.shape
            x, y = entry.offset
            compositor = Compositor((x, y, x + w, y + h), entry.color, entry.alpha[..., None],
                                    widen=self.widen, color_mode=self.psd.color_mode)
            compositor.apply(adjustment, clip_compositing=True)
            adjusted = compositor.result_over_backdrop()  # (h, w, C)
            weight: float | np.ndarray = 1.0
            for group in ancestors:
                weight = weight * compositor._get_mask(group) * (group.opacity / 255.0)  # (h, w, 1)
            entry.color = entry.color + weight * (adjusted - entry.color)
            entry.metadata.setdefault("adjustments", []).append(adjustment.name)

    # ---------------------------------------------------------------- tree walk
    def raster_reason(self, group: Any) -> str | None:
        """Why a group cannot be dissolved into its children exactly, or None."""
        from psd_tools.api.layers import AdjustmentLayer
        from psd_tools.constants import BlendMode

        if group.blend_mode not in (BlendMode.PASS_THROUGH, BlendMode.NORMAL):
            return f"blend mode {_blend_name(group)}"
        if _has_effects(group):
            return "layer effects on the group"
        if group.blend_mode == BlendMode.NORMAL:  # isolated: exact only for normal content
            for d in group.descendants():
                if not d.is_visible():
                    continue
                if isinstance(d, AdjustmentLayer):
                    return f"adjustment layer {d.name!r} inside an isolated group"
                if not d.is_group() and d.blend_mode not in (BlendMode.NORMAL, BlendMode.PASS_THROUGH):
                    return f"layer {d.name!r} with blend mode {_blend_name(d)} inside an isolated group"
        return None

    def walk(self, group: Any, ancestors: list[Any], visible: bool, opacity: float, path: list[str],
             clip: _Clip | None) -> None:
        from psd_tools.api.layers import AdjustmentLayer

        base: tuple[Callable[[], np.ndarray | None], float, bool] | None = None
        base_start = len(self.entries)  # first entry of the current clipping group
        consumed: set[int] = set()
        for child in group:
            if id(child) in consumed:
                continue
            own_visible = visible and bool(child.visible)
            own_opacity = opacity * child.opacity / 255.0
            child_clip = clip
            if child.clipping:
                if base is None:
                    self.warn(f"layer {child.name!r} clips to nothing below it; kept hidden")
                    own_visible = False
                else:
                    alpha_fn, base_opacity, base_visible = base
                    base_alpha = alpha_fn()
                    if base_alpha is None:
                        self.warn(f"layer {child.name!r} clips to an adjustment layer; kept unclipped")
                    child_clip = _Clip(_combine(clip.alpha if clip else None, base_alpha),
                                       base_opacity * (clip.opacity if clip else 1.0),
                                       base_visible and (clip.visible if clip else True))
            else:
                base = (self.base_alpha(child, ancestors), child.opacity / 255.0, bool(child.visible))
                base_start = len(self.entries)

            if isinstance(child, AdjustmentLayer):
                self.adjust(child, ancestors, own_visible, base_start if child.clipping else 0)
                continue
            extra: dict[str, Any] = {"psd_kind": child.kind, "clipping": bool(child.clipping)}
            name = child.name
            if child.is_group():
                reason = self.raster_reason(child)
                if reason is None:
                    self.walk(child, [*ancestors, child], own_visible, own_opacity, [*path, child.name],
                              child_clip)
                    continue
                self.warn(f"group {child.name!r} rasterised ({reason})")
                inside = list(child.descendants())
                color, alpha, offset = self.pixels_of(child, ancestors, inside, self.canvas)
                extra["rasterized_group"] = True
            elif not child.clipping and _has_effects(child) and child.has_clip_layers(visible=True):
                # psd-tools paints the base's overlay effects over its clipped layers: keep them together.
                clipped = [c for c in child.clip_layers]
                consumed.update(id(c) for c in clipped)
                shown = [c for c in clipped if not isinstance(c, AdjustmentLayer)]
                for c in clipped:
                    if c.is_group():
                        shown.extend(c.descendants())
                self.warn(f"layer {child.name!r} with effects merged with the layers clipped to it")
                color, alpha, offset = self.pixels_of(child, ancestors, clipped + shown, self.canvas)
                extra["merged_clipping_group"] = [c.name for c in clipped]
            else:
                color, alpha, offset = self.pixels_of(child, ancestors, [], self.reach(child))
            self.add(color, alpha, offset, name=name, visible=own_visible, opacity=own_opacity,
                     blend_mode=_mode_for_layer(child), group=path, clip=child_clip, extra=extra)

    def adjust(self, layer: Any, ancestors: list[Any], visible: bool, first: int) -> None:
        """An adjustment layer: baked into the layers below it in its scope, or dropped."""
        self.dropped.append(layer.name)
        if not visible:
            return
        targets = self.entries[first:]
        if self.adjustments == "bake" and targets:
            try:
                self.bake(layer, ancestors, targets)
            except (MemoryError, LayeredFileError):
                raise
            except Exception as err:
                self.warn(f"adjustment layer {layer.name!r} ({layer.kind}) cannot be applied "
                          f"({type(err).__name__}: {err}); dropped")
                return
            self.baked.append(layer.name)
            self.warn(f"adjustment layer {layer.name!r} ({layer.kind}) baked into the {len(targets)} "
                      "layer(s) below it")
        else:
            self.warn(f"adjustment layer {layer.name!r} ({layer.kind}) has no pixels; dropped")

    def layers(self) -> list[Layer]:
        """Convert the collected entries to sRGB layers cropped to their content (the entries are used up).

        The layers stay float: psd-tools' colours are not exactly the values 8-bit samples convert to."""
        out = []
        entries, self.entries = self.entries[::-1], []
        while entries:
            e = entries.pop()  # bottom first; its float arrays are freed once its layer is made
            rgb = self.convert(e.color)  # (h, w, 3)
            rgb = np.where(e.alpha[..., None] > 0, rgb, 0.0)  # canonical colour under full transparency
            layer = Layer(np.concatenate([rgb, e.alpha[..., None]], axis=-1), name=e.name, visible=e.visible,
                          opacity=e.opacity, offset=e.offset, blend_mode=e.blend_mode, metadata=e.metadata)
            box = layer.content_bbox()
            if box is None:
                layer.pixels = np.zeros((1, 1, 4), np.float32)
                layer.offset = (min(max(e.offset[0], 0), self.canvas[2] - 1),
                                min(max(e.offset[1], 0), self.canvas[3] - 1))
            elif box != layer.bbox:
                x0, y0, x1, y1 = box
                ox, oy = layer.offset
                layer.pixels = np.ascontiguousarray(layer.pixels[y0 - oy:y1 - oy, x0 - ox:x1 - ox])
                layer.offset = (x0, y0)
            out.append(layer)
        return out


def _crop_canvas(canvas: np.ndarray, offset: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """The (h, w) window of a 2-D ``canvas`` at ``offset`` (zeros outside it)."""
    h, w = shape[:2]
    x, y = offset
    out = np.zeros((h, w), np.float32)
    ch, cw = canvas.shape
    box = _intersect((0, 0, cw, ch), (x, y, x + w, y + h))
    if box is not None:
        out[box[1] - y:box[3] - y, box[0] - x:box[2] - x] = canvas[box[1]:box[3], box[0]:box[2]]
    return out


def _has_effects(layer: Any) -> bool:
    try:
        return bool(layer.has_effects())
    except Exception:
        return False


def _combine(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a * b


def _mode_for_layer(layer: Any) -> str:
    name = _blend_name(layer)
    return "normal" if name == "pass_through" else name


def _open_psd(path: str, limits: Limits) -> Any:
    from psd_tools import PSDImage
    from psd_tools.psd.parse_limits import ParseLimitError

    header = read_psd_header(path, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            psd = PSDImage.open(path, max_alloc_bytes=max(limits.max_pixels * 16, 1 << 30))
    except ParseLimitError as err:
        problem = f"PSD structure over psd-tools' parse limits: {err}"
        raise LayeredFileError(path, problem, "too-large") from None
    except MemoryError:
        raise LayeredFileError(path, "not enough memory to parse the PSD", "too-large") from None
    except (EOFError, struct.error) as err:
        raise LayeredFileError(path, f"PSD data ends early: {err}", "truncated") from None
    except Exception as err:
        raise LayeredFileError(path, f"cannot parse PSD: {type(err).__name__}: {err}", "corrupt") from None
    if (psd.width, psd.height) != (header.width, header.height):
        raise LayeredFileError(path, "psd-tools and the header disagree on the canvas size", "corrupt")
    return psd


def read_psd(path: str | os.PathLike, *, limits: Limits | None = None, adjustments: str = "bake",
             ) -> LayeredImage:
    """Read a PSD or PSB file as a flat stack of RGBA layers (see the module docstring).

    ``adjustments``: "bake" applies each visible adjustment layer to the colours of the layers
    below it in its scope (psd-tools' adjustment code); "drop" leaves them out. Both warn.
    """
    if adjustments not in ("bake", "drop"):
        raise ValueError(f"adjustments must be 'bake' or 'drop', got {adjustments!r}")
    limits = resolve(limits)
    path = str(path)
    with psd_tools_log_as_warnings(path):
        psd = _open_psd(path, limits)
        try:
            return _to_layered(psd, path, limits, adjustments)
        except LayeredFileError:
            raise
        except MemoryError:
            raise too_large(path, "PSD layers") from None
        except Exception as err:
            problem = f"cannot decode PSD layers: {type(err).__name__}: {err}"
            reason = "too-large" if "exceed" in str(err).lower() else "corrupt"
            raise LayeredFileError(path, problem, reason) from None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append(" ".join(record.getMessage().split()))


@contextlib.contextmanager
def psd_tools_log_as_warnings(path: str) -> Iterator[None]:
    """Route psd-tools' log records (warnings and errors) while reading ``path``: they become Python
    warnings naming the file when the read succeeds, and are dropped when it fails (the one-line
    error says what went wrong), instead of being printed to stderr by logging's last-resort handler."""
    logger = logging.getLogger("psd_tools")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    for message in dict.fromkeys(handler.messages):
        warnings.warn(f"{path}: psd-tools: {message}", stacklevel=4)


def _to_layered(psd: Any, path: str, limits: Limits, adjustments: str) -> LayeredImage:
    descendants = list(psd.descendants())
    limits.check_layers(path, len(descendants))
    budget = limits.budget(path)
    budget.add(psd.width, psd.height, what="the canvas")
    for layer in descendants:
        x0, y0, x1, y1 = layer.bbox
        if x1 > x0 and y1 > y0:
            limits.check_size(path, x1 - x0, y1 - y0, what=f"layer {layer.name!r}")
            if not layer.is_group():
                budget.add(x1 - x0, y1 - y0, what=f"layer {layer.name!r}")
    flat = _Flattener(psd, path, limits, adjustments)
    metadata: dict[str, Any] = {"format": "psb" if psd.version == 2 else "psd",
                                "color_mode": psd.color_mode.name.lower(), "depth": int(psd.depth)}
    run = _run_of(psd)
    if run is not None:
        metadata["run"] = run
    if descendants:
        flat.walk(psd, [], True, 1.0, [], None)
    layers = flat.layers()
    if not layers:
        if descendants:
            warnings.warn(f"{path}: no layer with pixels; using the merged image", stacklevel=3)
        layers = [_merged_layer(psd, path)]
        metadata["merged_only"] = True
    if flat.dropped:
        metadata["adjustment_layers"] = flat.dropped
    if flat.baked:
        metadata["baked_adjustments"] = flat.baked
    depth = 16 if flat.convert.keeps_precision and not metadata.get("merged_only") else 8
    if psd.depth >= 16 and depth == 8:
        reason = "its merged image" if metadata.get("merged_only") else "colour conversion to sRGB"
        warnings.warn(f"{path}: {psd.depth}-bit document read with 8-bit precision ({reason})", stacklevel=3)
    for problem in attach_psd_text(psd.image_resources.get_data(PSD_RESOURCE_ID), layers):
        warnings.warn(f"{path}: {problem}", stacklevel=3)
    for problem in reconcile_type_layers(psd, layers):  # type layers edited after layerdiff wrote them
        warnings.warn(f"{path}: {problem}", stacklevel=3)
    return LayeredImage(psd.size, layers, bit_depth=depth, metadata=metadata)


def read_psd_composite(path: str | os.PathLike, *, limits: Limits | None = None,
                       ) -> tuple[np.ndarray, str, int]:
    """What Photoshop shows for a PSD/PSB: float32 RGBA (H, W, 4), which image it is, and its bit depth.

    The file's embedded merged image (``"embedded composite"``: layer effects, adjustments and
    everything else Photoshop rendered included) when the file says it has one; otherwise the
    composite of the layers as :func:`read_psd` reads them (``"layers"``). The depth is 16 where the
    image keeps 16-bit precision (a 16- or 32-bit RGB or grayscale document without a colour
    conversion, as :func:`read_psd` decides), else 8; a deeper document read at 8 bits warns.
    """
    limits = resolve(limits)
    path = str(path)
    with psd_tools_log_as_warnings(path):
        psd = _open_psd(path, limits)
        deep = psd.depth >= 16 and _ColorConverter(psd).keeps_precision
        try:
            if not psd.has_preview():
                image = None
            elif deep:
                image = to_float(psd.numpy())  # (H, W, 4): the merged data at full precision
            else:
                image = to_float(np.asarray(psd.topil().convert("RGBA")))  # (H, W, 4)
        except MemoryError:
            raise too_large(path, "merged image") from None
        except Exception:
            image = None  # unreadable merged data: fall back to the layers
        if image is not None and image.shape[:2] == (psd.height, psd.width):
            image[..., :3] *= image[..., 3:4] > 0  # canonical colour under full transparency
            if psd.depth >= 16 and not deep:
                warnings.warn(f"{path}: {psd.depth}-bit document's embedded composite read with 8-bit "
                              "precision (colour conversion to sRGB)", stacklevel=3)
            return image, "embedded composite", 16 if deep else 8
    layered = read_psd(path, limits=limits)
    return layered.composite(), "layers", layered.bit_depth


def _run_of(psd: Any) -> str | None:
    """The ``layerdiff:run`` id recorded in the document's XMP metadata, or None."""
    from psd_tools.constants import Resource

    try:
        xmp = psd.image_resources.get_data(Resource.XMP_METADATA)
    except Exception:
        return None
    match = _XMP_RUN.search(xmp) if isinstance(xmp, bytes) else None
    return match.group(1).decode("ascii") if match else None


def _merged_layer(psd: Any, path: str) -> Layer:
    try:
        image = psd.composite()
    except Exception as err:
        raise LayeredFileError(path, f"cannot decode the merged image: {type(err).__name__}: {err}",
                               "corrupt") from None
    rgba = np.array(image.convert("RGBA"))  # (H, W, 4) uint8, kept as such by the layer
    rgba[..., :3] *= rgba[..., 3:4] > 0  # canonical colour under full transparency
    if rgba.shape[:2] != (psd.height, psd.width):
        raise LayeredFileError(path, "merged image size differs from the canvas", "corrupt")
    rgba.flags.writeable = False  # ours alone: the layer takes it without a copy
    return Layer(rgba, name="Background", metadata={"group": [], "psd_kind": "merged"})


def psd_reference_composite(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """psd-tools' own composite of a PSD as float RGBA (H, W, 4), and its source.

    Renders the layers with ``PSDImage.composite(ignore_preview=True)``; where that fails, the
    embedded merged preview is used. Source is ``"composite"`` or ``"preview"``. Lab documents,
    which psd-tools returns unconverted, are converted with :func:`lab_to_srgb`.
    """
    from psd_tools import PSDImage
    from psd_tools.composite import composite
    from psd_tools.constants import ColorMode

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        psd = PSDImage.open(path)
        if psd.color_mode == ColorMode.LAB:
            color, _, alpha = composite(psd, color=1.0, alpha=0.0)
            return np.concatenate([lab_to_srgb(color), alpha[..., :1]], axis=-1), "composite"
        try:
            image, source = psd.composite(ignore_preview=True), "composite"
        except Exception:
            image, source = psd.topil(), "preview"
    if image is None:
        raise ValueError(f"{path}: psd-tools can neither composite the layers nor read a merged preview")
    return np.asarray(image.convert("RGBA")).astype(np.float32) / 255.0, source


# --------------------------------------------------------------------------- writing
_XMP_RUN = re.compile(rb'layerdiff:run="([A-Za-z0-9_-]{1,64})"')
_INT32 = 2**31 - 1


def _xmp_packet(run: str) -> bytes:
    """A minimal XMP packet recording the run id (``layerdiff:run``)."""
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:layerdiff="https://github.com/layerdiff/layerdiff/ns/psd" '
            f'layerdiff:run="{run}"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


def _check_geometry(image: LayeredImage, target: Path) -> None:
    """PSD stores layer rectangles as signed 32-bit integers: refuse what does not fit, in one line."""
    for layer in image.layers:
        x0, y0, x1, y1 = layer.bbox
        if min(x0, y0) < -_INT32 or max(x1, y1) > _INT32:
            raise LayeredFileError(target, f"layer {layer.name!r} at offset {layer.offset} with size "
                                   f"{layer.width}x{layer.height} is outside the range a PSD can store "
                                   "(32-bit coordinates)", "unsupported")


def write_psd_to(image: LayeredImage, file: Path, *, encoded: Any = None, run: str | None = None,
                 type_layers: bool = True) -> None:
    """Write the PSD document to ``file`` directly (see :func:`write_psd`)."""
    from psd_tools import PSDImage
    from psd_tools.constants import BlendMode, Compression, Resource
    from psd_tools.psd.image_resources import ImageResource

    from .encode import EncodedStack

    _check_geometry(image, file)
    encoded = encoded or EncodedStack(image, composite_depths=())  # only the PSD planes are taken
    deep = image.bit_depth == 16
    compression = Compression.ZIP_WITH_PREDICTION if deep else Compression.RLE  # what Photoshop writes
    psd = PSDImage.new("RGBA", image.size, color=0, depth=16 if deep else 8, compression=compression)
    psd.background_color = None  # a transparent merged preview
    stack: list[tuple[tuple[str, ...], Any]] = [((), psd)]
    for index, layer in enumerate(image.layers):
        group = group_path(layer)
        while stack[-1][0] != group[:len(stack[-1][0])]:
            stack.pop()
        for depth in range(len(stack[-1][0]), len(group)):
            created = stack[-1][1].create_group(name="Group")
            created.name = _psd_name(group[depth])  # the setter stores non-MacRoman names as Unicode
            stack.append((group[:depth + 1], created))
        mode_name = "PASS_THROUGH" if layer.blend_mode == "pass_through" else layer.blend_mode.upper()
        if mode_name not in BlendMode.__members__:
            warnings.warn(f"{file}: layer {layer.name!r}: blend mode {layer.blend_mode!r} is not a PSD "
                          "blend mode; written as normal", stacklevel=3)
            mode_name = "NORMAL"
        if deep:
            created = stack[-1][1].create_pixel_layer_from_array(
                encoded.layer_array(index, 16), name="Layer", left=layer.offset[0], top=layer.offset[1],
                compression=compression, opacity=int(round(layer.opacity * 255)), blend_mode=BlendMode[mode_name])
        else:
            created = stack[-1][1].create_pixel_layer(
                Image.fromarray(encoded.layer_array(index, 8), "RGBA"), name="Layer", left=layer.offset[0],
                top=layer.offset[1], opacity=int(round(layer.opacity * 255)), blend_mode=BlendMode[mode_name])
        created.name = _psd_name(layer.name)
        if type_layers and layer.text is not None:
            add_type_layer(created, layer.text)  # a Photoshop type layer over the same pixels (io.psd_text)
        if not layer.visible:
            created.visible = False
    # The merged image, from layerdiff's own composite (computed once per image in bands, shared with
    # the ORA writer) instead of psd-tools compositing the layers again in save(). A negative layer count
    # marks the fourth channel as the composite's transparency (PSD spec, layer info section), so
    # readers show the transparent composite; encode_image_data stores the colour over white, as
    # Photoshop does.
    layer_info = psd._record._get_layer_info()
    layer_info.layer_count = -abs(layer_info.layer_count)
    psd._merged_alpha = True
    psd._record.image_data.set_data([merged_image_data(psd, encoded)], psd._record.header)
    if run is not None:
        psd._record.image_resources[Resource.XMP_METADATA] = ImageResource(
            key=Resource.XMP_METADATA, data=_xmp_packet(run))
    text_payload = psd_text_payload(image.layers)  # text layers' TextInfo, see layerdiff.text.store
    if text_payload is not None:
        psd._record.image_resources[PSD_RESOURCE_ID] = ImageResource(key=PSD_RESOURCE_ID, data=text_payload)
    with open(file, "wb") as fh:
        psd._record.write(fh)  # not psd.save(): it would composite the layers again for the preview


def merged_image_data(psd: Any, encoded: Any) -> bytes:
    """The merged image section's raw planes, channel after channel (what ``ImageData.set_data`` joins),
    from ``encoded``'s composite.

    Made band by band (:meth:`~layerdiff.io.encode.EncodedStack.composite_bands`) with psd-tools'
    ``encode_image_data`` on each band of rows, the header's height set to the band's for the call:
    its arithmetic is per pixel, so the bytes are those of one call on the whole composite, without
    the whole float composite and its float temporaries in memory.
    """
    from psd_tools.api.numpy_io import encode_image_data

    header = psd._record.header
    height = header.height
    chunks: list[list[bytes]] = [[] for _ in range(header.channels)]
    try:
        for _, rows in encoded.composite_bands():  # (h, W, 4)
            header.height = rows.shape[0]
            for channel, plane in enumerate(encode_image_data(psd, rows[..., :3], rows[..., 3:4])):
                chunks[channel].append(plane)
    finally:
        header.height = height
    return b"".join(chunk for channel in chunks for chunk in channel)


def write_psd(image: LayeredImage, path: str | os.PathLike, *, run: str | None = None,
              type_layers: bool = True) -> Path:
    """Write ``image`` as an RGB PSD (PSB when a side exceeds 30,000 px), atomically.

    8-bit with RLE channels, or 16-bit with ZIP-with-prediction channels when ``image.bit_depth``
    is 16. One pixel layer per :class:`Layer`; ``metadata["group"]`` (a list of names) rebuilds
    groups. Blend modes psd-tools does not know are written as "normal" with a warning. ``run`` is
    recorded in the XMP metadata (``layerdiff:run``). With ``type_layers``, a layer with ``text`` is also
    a Photoshop type layer (its wording and style in a ``TySh`` block, see :mod:`layerdiff.io.psd_text`)
    whose pixels stay the rendered text.
    Offsets outside PSD's 32-bit range raise :class:`LayeredFileError`.
    """
    target = Path(path)
    _check_geometry(image, target)
    with atomic_path(target) as tmp:
        write_psd_to(image, tmp, run=run, type_layers=type_layers)
    return target


def _psd_name(name: str) -> str:
    """PSD layer names hold at most 255 characters."""
    return name if len(name) < 256 else name[:255]


def group_path(layer: Layer) -> tuple[str, ...]:
    """``layer.metadata["group"]`` as a tuple of group names, outermost first (() when ungrouped)."""
    group = layer.metadata.get("group") or ()
    if isinstance(group, str):
        return (group,)
    return tuple(str(g) for g in group)
