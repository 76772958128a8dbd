"""The in-memory layered image: an ordered stack (bottom to top) of RGBA layers on a canvas.

Pixels are straight alpha, shape (h, w, 4): ``Layer.pixels`` is float32 in [0, 1]; layers read from
8- or 16-bit files hold their ``uint8`` / ``uint16`` samples until something needs float (see
:class:`Layer`). A layer is placed on the canvas at ``offset = (x, y)`` (its top-left corner; it may
stick out of the canvas or be smaller than it). ``bit_depth`` records the precision the data came
from (8 or 16) and is used by writers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image

from .blend import normalize_blend_mode, over
from .text.info import TextInfo

__all__ = ["Layer", "LayeredImage", "to_float", "from_float"]


def to_float(array: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float arrays -> float32 in [0, 1] with 4 channels (H, W, 4).

    Float input is clipped to [0, 1]; NaN becomes 0 and infinities 1 or 0.
    """
    a = np.asarray(array)
    if a.dtype == np.uint8:
        f = a.astype(np.float32)
        f /= 255.0  # in place: one float buffer, the same float32 division as ``a / 255.0``
    elif a.dtype == np.uint16:
        f = a.astype(np.float32)
        f /= 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float32)  # a copy (the layer owns its pixels), clipped in place: one full-size buffer
        if not np.isfinite(f).all():  # NaN -> 0, +inf -> 1, -inf -> 0 (clip keeps NaN)
            np.nan_to_num(f, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(f, 0.0, 1.0, out=f)
    elif a.dtype == bool:
        f = a.astype(np.float32)
    else:
        raise ValueError(f"unsupported pixel dtype {a.dtype}")
    if f.ndim == 2:
        f = f[..., None]
    if f.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {a.shape}")
    c = f.shape[-1]
    if c == 1:
        f = np.concatenate([np.repeat(f, 3, axis=-1), np.ones_like(f)], axis=-1)
    elif c == 2:
        f = np.concatenate([np.repeat(f[..., :1], 3, axis=-1), f[..., 1:2]], axis=-1)
    elif c == 3:
        f = np.concatenate([f, np.ones_like(f[..., :1])], axis=-1)
    elif c != 4:
        raise ValueError(f"expected 1-4 channels, got {c}")
    return np.ascontiguousarray(f, dtype=np.float32)


def from_float(array: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """float [0, 1] -> uint8 (bit_depth 8) or uint16 (bit_depth 16), rounded to nearest."""
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    scaled = np.clip(array, 0, 1)  # the one temporary; the steps below work in place on it
    if not np.issubdtype(scaled.dtype, np.floating):
        scaled = scaled.astype(np.float64)  # as ``integer array * 255.0`` would give
    scaled *= 255.0 if bit_depth == 8 else 65535.0
    np.round(scaled, out=scaled)
    return scaled.astype(np.uint8 if bit_depth == 8 else np.uint16)


_NATIVE_DEPTHS = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}
"""The integer sample types a :class:`Layer` keeps as read, and their bit depths."""

_INT_TYPES = {8: np.uint8, 16: np.uint16}

_CONVERT_BAND_PIXELS = 1 << 20
"""Pixels converted at once between integer and float samples (bounds the temporaries)."""

_LEVELS: dict[np.dtype, np.ndarray] = {}


def _levels(dtype: np.dtype) -> np.ndarray:
    """The float32 value :func:`to_float` gives each integer level of ``dtype``: (256,) or (65536,)."""
    if dtype not in _LEVELS:
        levels = np.arange(np.iinfo(dtype).max + 1, dtype=np.int64).astype(dtype)
        _LEVELS[dtype] = to_float(levels[:, None, None])[:, 0, 0]  # (N,) the same float32 arithmetic
    return _LEVELS[dtype]


def _expand_channels(a: np.ndarray) -> np.ndarray:
    """(H, W, C) or (H, W) integer samples -> (H, W, 4), as :func:`to_float` expands float ones (grey to
    RGB, a missing alpha opaque); 4-channel input is returned as it is."""
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {a.shape}")
    c = a.shape[-1]
    opaque = np.full(a.shape[:2] + (1,), np.iinfo(a.dtype).max, a.dtype)  # (H, W, 1)
    if c == 1:
        return np.concatenate([np.repeat(a, 3, axis=-1), opaque], axis=-1)
    if c == 2:
        return np.concatenate([np.repeat(a[..., :1], 3, axis=-1), a[..., 1:2]], axis=-1)
    if c == 3:
        return np.concatenate([a, opaque], axis=-1)
    if c != 4:
        raise ValueError(f"expected 1-4 channels, got {c}")
    return a


def _is_frozen(a: np.ndarray) -> bool:
    """Whether nothing can change ``a``'s samples: it and every array it views are read-only, and the
    memory at the bottom is the array's own or an immutable ``bytes`` object."""
    base: Any = a
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    return base is None or isinstance(base, bytes)


def _to_int_banded(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """``from_float(to_float(samples), bit_depth)`` (or ``from_float(samples)`` for float samples), in
    bands of rows so the float temporaries stay small; the same values, element by element."""
    h, w = samples.shape[:2]
    out = np.empty((h, w, 4), _INT_TYPES[bit_depth])  # (h, w, 4)
    band = max(1, _CONVERT_BAND_PIXELS // max(w, 1))
    floating = np.issubdtype(samples.dtype, np.floating)
    for top in range(0, h, band):
        rows = samples[top:top + band]
        out[top:top + band] = from_float(rows if floating else to_float(rows), bit_depth)
    return out


class Layer:
    """One RGBA layer: straight-alpha samples of shape (h, w, 4) placed on the canvas at ``offset``.

    A layer holds its samples in one of two forms (see :attr:`stored`):

    - *native*: the ``uint8`` or ``uint16`` samples of an 8- or 16-bit file, as read (4 or 8 bytes a
      pixel), read-only (:attr:`native`). Integer input is kept this way: a read-only array that
      nothing can change is taken as it is (layers decoded from one file member share it), any
      other is copied.
    - *float*: float32 in [0, 1] (16 bytes a pixel). Float input is copied, clipped to [0, 1]
      and NaN-cleaned (:func:`to_float`).

    :attr:`pixels` is always the float32 (h, w, 4) view: its first use converts native samples
    once (:func:`to_float`) and drops them, so changing ``pixels`` in place can never leave a stale
    integer copy behind. Assigning ``pixels`` keeps integer arrays native and stores float arrays
    as given. Size, :attr:`bbox`, :meth:`content_bbox`, :meth:`is_empty`, :meth:`on_canvas` and
    :meth:`array` (what the writers use) work on native samples without converting the layer, and
    give exactly what they give on the converted float samples.
    """

    def __init__(self, pixels: np.ndarray, name: str = "Layer", visible: bool = True, opacity: float = 1.0,
                 offset: tuple[int, int] = (0, 0), blend_mode: str = "normal",
                 metadata: dict[str, Any] | None = None, text: TextInfo | None = None) -> None:
        self._native: np.ndarray | None = None
        self._float: np.ndarray | None = None
        a = np.asarray(pixels)
        if a.dtype in _NATIVE_DEPTHS:
            self._hold_native(a)
        else:
            self._float = to_float(a)
        self.name = name
        self.visible = visible
        self.metadata: dict[str, Any] = {} if metadata is None else metadata
        self.text = text
        """What a text layer says and its style (see :mod:`layerdiff.text`); None for other layers."""
        self.blend_mode = normalize_blend_mode(blend_mode)
        self.offset = (int(offset[0]), int(offset[1]))
        if not 0.0 <= float(opacity) <= 1.0:
            raise ValueError(f"layer {self.name!r}: opacity must be in [0, 1], got {opacity}")
        self.opacity = float(opacity)

    def _hold_native(self, a: np.ndarray) -> None:
        """Keep integer samples (h, w, C) as the layer's native (h, w, 4) read-only array."""
        expanded = _expand_channels(a)
        if expanded is a and not _is_frozen(a):
            expanded = a.copy()
        expanded = np.ascontiguousarray(expanded)
        expanded.flags.writeable = False  # shared with the writers and with copies of the layer
        self._native, self._float = expanded, None

    # ------------------------------------------------------------------ samples
    @property
    def pixels(self) -> np.ndarray:
        """The samples as float32 in [0, 1], (h, w, 4); converts native samples (once) and drops them."""
        if self._float is None:
            self._float = to_float(self._native)
            self._native = None
        return self._float

    @pixels.setter
    def pixels(self, value: np.ndarray) -> None:
        a = np.asarray(value)
        if a.dtype in _NATIVE_DEPTHS:
            self._hold_native(a)
        else:
            self._native, self._float = None, a

    @property
    def native(self) -> np.ndarray | None:
        """The native ``uint8`` / ``uint16`` samples (h, w, 4), read-only, or None once the layer is float."""
        return self._native

    @property
    def stored(self) -> np.ndarray:
        """The array the layer holds now, native or float, without converting anything."""
        return self._native if self._native is not None else self._float

    @property
    def native_bit_depth(self) -> int | None:
        """8 or 16 while the samples are native, None once they are float."""
        return None if self._native is None else _NATIVE_DEPTHS[self._native.dtype]

    @property
    def nbytes(self) -> int:
        """Bytes the samples take in memory now."""
        return int(self.stored.nbytes)

    def array(self, bit_depth: int = 8) -> np.ndarray:
        """The samples as ``uint8`` (``bit_depth`` 8) or ``uint16`` (16), (h, w, 4), for writers.

        Native samples of that depth are returned as they are (read-only, not copied); anything else
        is ``from_float(pixels, bit_depth)``, computed in bands without converting the layer.
        """
        if bit_depth not in _INT_TYPES:
            raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
        if self._native is not None and self._native.dtype == _INT_TYPES[bit_depth]:
            return self._native
        return _to_int_banded(self.stored, bit_depth)

    def float_window(self, rows: slice, cols: slice) -> np.ndarray:
        """A float32 copy of ``pixels[rows, cols]`` (h, w, 4), made without converting the whole layer."""
        if self._native is not None:
            return to_float(self._native[rows, cols])
        return self._float[rows, cols].copy()

    def alpha_above(self, threshold: float = 0.0, rows: slice = slice(None), cols: slice = slice(None),
                    ) -> np.ndarray:
        """``pixels[rows, cols, 3] > threshold`` (h, w) bool; on native samples as the integer test that
        gives the same answer for every level, without converting."""
        if self._native is None:
            return self._float[rows, cols, 3] > threshold
        alpha = self._native[rows, cols, 3]  # (h, w)
        above = _levels(self._native.dtype) > threshold  # (N,) monotone: False ... False True ... True
        if not above.any():
            return np.zeros(alpha.shape, bool)
        return alpha >= int(np.argmax(above))

    # ------------------------------------------------------------------ geometry
    @property
    def width(self) -> int:
        return int(self.stored.shape[1])

    @property
    def height(self) -> int:
        return int(self.stored.shape[0])

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the layer's pixel block on the canvas."""
        x, y = self.offset
        return x, y, x + self.width, y + self.height

    def copy(self) -> Layer:
        """A deep copy; native samples (read-only) are shared, not copied."""
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Layer:
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = value if key == "_native" else copy.deepcopy(value, memo)
        return new

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._native is not None and self._native.flags.writeable:
            self._native.flags.writeable = False

    def __repr__(self) -> str:
        return (f"Layer({self.name!r}, {self.width}x{self.height} {self.stored.dtype}, offset={self.offset}, "
                f"opacity={self.opacity}, visible={self.visible}, blend_mode={self.blend_mode!r})")

    def on_canvas(self, size: tuple[int, int]) -> np.ndarray:
        """The layer's pixels placed on a transparent canvas of ``size = (W, H)``: (H, W, 4)."""
        w, h = size
        out = np.zeros((h, w, 4), np.float32)
        x0, y0, x1, y1 = self.bbox
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 > cx0 and cy1 > cy0:
            rows, cols = slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0)
            out[cy0:cy1, cx0:cx1] = self._float[rows, cols] if self._native is None else self.float_window(rows, cols)
        return out

    def content_bbox(self, threshold: float = 0.0) -> tuple[int, int, int, int] | None:
        """Bounding box (canvas coordinates) of pixels with alpha > threshold, or None if empty."""
        ys, xs = np.nonzero(self.alpha_above(threshold))
        if len(xs) == 0:
            return None
        x, y = self.offset
        return x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1

    def is_empty(self, threshold: float = 0.0) -> bool:
        return self.content_bbox(threshold) is None


class LayeredImage:
    """An ordered stack of :class:`Layer` (index 0 = bottom) on a ``size = (width, height)`` canvas."""

    def __init__(
        self,
        size: tuple[int, int],
        layers: Iterable[Layer] = (),
        bit_depth: int = 8,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        w, h = int(size[0]), int(size[1])
        if w < 1 or h < 1:
            raise ValueError(f"canvas size must be positive, got {w}x{h}")
        if bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
        self.size = (w, h)
        self.layers: list[Layer] = list(layers)
        self.bit_depth = bit_depth
        self.metadata: dict[str, Any] = dict(metadata or {})

    # ------------------------------------------------------------------ basics
    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def __repr__(self) -> str:
        names = ", ".join(repr(layer.name) for layer in self.layers)
        return f"LayeredImage({self.width}x{self.height}, {len(self)} layers: [{names}])"

    def copy(self) -> LayeredImage:
        return LayeredImage(self.size, [layer.copy() for layer in self.layers], self.bit_depth,
                            copy.deepcopy(self.metadata))

    def index_of(self, layer: int | str) -> int:
        """Index of a layer given by index (negative allowed) or by name."""
        if isinstance(layer, str):
            for i, candidate in enumerate(self.layers):
                if candidate.name == layer:
                    return i
            raise KeyError(f"no layer named {layer!r}; layers: {[lay.name for lay in self.layers]}")
        n = len(self.layers)
        if not -n <= int(layer) < n:
            raise IndexError(f"layer index {layer} out of range for {n} layers")
        return int(layer) % n

    # -------------------------------------------------------------- compositing
    def composite(self, include_hidden: bool = False, background: Sequence[float] | None = None,
                  rows: tuple[int, int] | None = None) -> np.ndarray:
        """Flatten the visible layers bottom to top: (H, W, 4) float32, straight alpha.

        ``background``: optional RGB(A) colour in [0, 1] placed under the stack. ``rows = (top,
        bottom)``: only those canvas rows, (bottom - top, W, 4) - the same values as those rows of
        the whole composite (every pixel is composited on its own), without the whole canvas in memory.

        Each layer is blended with :func:`~layerdiff.blend.over` only on the box where it has
        pixels (alpha > 0), in bands of rows (so its temporaries stay small); elsewhere the result
        of "over" with a transparent source is applied directly (it leaves alpha as it is and
        recomputes colour only where alpha is not 1). Both give the same values, bit for bit, as
        blending the whole canvas at once.
        """
        first, last = (0, self.height) if rows is None else (int(rows[0]), int(rows[1]))
        if not 0 <= first < last <= self.height:
            raise ValueError(f"rows {rows} are not a non-empty range inside 0..{self.height}")
        out = np.zeros((last - first, self.width, 4), np.float32)  # canvas rows first..last
        if background is not None:
            bg = list(background) + [1.0] * (4 - len(background))
            out[:] = np.asarray(bg[:4], np.float32)
        for layer in self.layers:
            if not (layer.visible or include_hidden) or layer.opacity <= 0:
                continue
            box = _paint_box(layer, self.size, (first, last))
            _over_transparent(out, None if box is None else (box[0], box[1] - first, box[2], box[3] - first))
            if box is None:
                continue
            x0, y0, x1, y1 = box
            ox, oy = layer.offset
            band = max(1, _BAND_PIXELS // (x1 - x0))  # rows per band: bounds over()'s temporaries
            for top in range(y0, y1, band):
                bottom = min(top + band, y1)
                src = layer.float_window(slice(top - oy, bottom - oy), slice(x0 - ox, x1 - ox))  # (h, w, 4)
                if layer.opacity < 1:
                    src[..., 3] *= layer.opacity
                dst = out[top - first:bottom - first, x0:x1]  # (h, w, 4)
                out[top - first:bottom - first, x0:x1] = over(dst, src, layer.blend_mode)
        return out

    def composite_pil(self, **kwargs: Any) -> Image.Image:
        return Image.fromarray(from_float(self.composite(**kwargs), 8), "RGBA")

    # ---------------------------------------------------------------- editing
    def add_layer(self, layer: Layer, index: int | None = None) -> Layer:
        """Insert ``layer`` at ``index`` (default: on top) and return it."""
        if index is None:
            self.layers.append(layer)
        else:
            self.layers.insert(index, layer)
        return layer

    def remove_layer(self, layer: int | str) -> Layer:
        return self.layers.pop(self.index_of(layer))

    def move_layer(self, layer: int | str, new_index: int) -> None:
        """Reorder: move a layer so that it ends up at ``new_index`` (0 = bottom)."""
        item = self.layers.pop(self.index_of(layer))
        n = len(self.layers) + 1
        if not -n <= new_index < n:
            raise IndexError(f"new index {new_index} out of range for {n} layers")
        self.layers.insert(new_index % n, item)

    def merge(self, indices: Sequence[int | str], name: str | None = None) -> Layer:
        """Merge the given layers (composited in stack order) into one full-canvas layer.

        The merged layer takes the place of the topmost merged layer. Hidden layers in the
        selection are dropped from the result, as in Photoshop's "Merge Layers".
        """
        idx = sorted({self.index_of(i) for i in indices})
        if len(idx) < 1:
            raise ValueError("merge needs at least one layer")
        sub = LayeredImage(self.size, [self.layers[i] for i in idx])
        merged = Layer(sub.composite(), name=name or self.layers[idx[-1]].name)
        top = idx[-1]
        for i in reversed(idx):
            self.layers.pop(i)
        self.layers.insert(top - (len(idx) - 1), merged)
        return merged

    def merge_down(self, layer: int | str) -> Layer:
        i = self.index_of(layer)
        if i == 0:
            raise ValueError("cannot merge down the bottom layer")
        return self.merge([i - 1, i])

    def crop_to_content(self, threshold: float = 0.0) -> LayeredImage:
        """Shrink every layer to the bounding box of its non-transparent pixels (in place).

        Empty layers become 1x1 transparent blocks, as PSD stores them.
        """
        for layer in self.layers:
            box = layer.content_bbox(threshold)
            if box is None:
                layer.pixels = np.zeros((1, 1, 4), np.float32 if layer.native is None else layer.native.dtype)
                continue
            x0, y0, x1, y1 = box
            ox, oy = layer.offset
            layer.pixels = np.ascontiguousarray(layer.stored[y0 - oy : y1 - oy, x0 - ox : x1 - ox])
            layer.offset = (x0, y0)
        return self

    def expand_to_canvas(self) -> LayeredImage:
        """Make every layer a full-canvas block at offset (0, 0) (in place; content outside is cut)."""
        for layer in self.layers:
            layer.pixels = layer.on_canvas(self.size)
            layer.offset = (0, 0)
        return self

    # ------------------------------------------------------------ conversions
    def to_numpy(self, include_hidden: bool = True) -> np.ndarray:
        """(L, H, W, 4) float32 full-canvas stack, bottom to top; opacity folded into alpha."""
        planes = []
        for layer in self.layers:
            if not (layer.visible or include_hidden):
                continue
            p = layer.on_canvas(self.size)
            p[..., 3] *= layer.opacity
            planes.append(p)
        if not planes:
            return np.zeros((0, self.height, self.width, 4), np.float32)
        return np.stack(planes)

    @classmethod
    def from_numpy(cls, stack: np.ndarray, names: Sequence[str] | None = None, bit_depth: int | None = None,
                   ) -> LayeredImage:
        """From an (L, H, W, C) array (uint8, uint16 or float in [0, 1]), bottom to top."""
        arr = np.asarray(stack)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise ValueError(f"expected an (L, H, W, C) stack, got shape {arr.shape}")
        depth = bit_depth or (16 if arr.dtype == np.uint16 else 8)
        names = list(names) if names is not None else [f"Layer {i + 1}" for i in range(arr.shape[0])]
        if len(names) != arr.shape[0]:
            raise ValueError(f"{len(names)} names for {arr.shape[0]} layers")
        layers = [Layer(arr[i], name=names[i]) for i in range(arr.shape[0])]
        return cls((arr.shape[2], arr.shape[1]), layers, bit_depth=depth)

    def to_pil(self, full_canvas: bool = True) -> list[Image.Image]:
        """One RGBA PIL image per layer, bottom to top (8-bit)."""
        out = []
        for layer in self.layers:
            px = from_float(layer.on_canvas(self.size), 8) if full_canvas else layer.array(8)  # (h, w, 4)
            out.append(Image.fromarray(px, "RGBA"))
        return out

    @classmethod
    def from_pil(cls, images: Image.Image | Sequence[Image.Image], names: Sequence[str] | None = None,
                 ) -> LayeredImage:
        """From one PIL image (a single layer) or a list of same-size images (bottom to top)."""
        if isinstance(images, Image.Image):
            images = [images]
        if not images:
            raise ValueError("from_pil needs at least one image")
        size = images[0].size
        for im in images:
            if im.size != size:
                raise ValueError(f"all layers must share one size: {im.size} != {size}")
        arrays = [np.asarray(pil_to_rgba(im)) for im in images]  # (H, W, 4) uint8 or uint16 each
        depth = 16 if any(a.dtype == np.uint16 for a in arrays) else 8
        if len({a.dtype for a in arrays}) == 1:  # one integer type: the layers keep it (native)
            return cls.from_numpy(np.stack(arrays), names=names, bit_depth=depth)
        return cls.from_numpy(np.stack([to_float(a) for a in arrays]), names=names, bit_depth=depth)


_BAND_PIXELS = 1 << 20
"""Pixels blended at once by :meth:`LayeredImage.composite`."""


def _paint_box(layer: Layer, size: tuple[int, int], rows: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Canvas box (x0, y0, x1, y1) of ``layer``'s pixels with alpha > 0, clipped to ``size`` and to the canvas
    ``rows = (top, bottom)``; None if none."""
    w, _ = size
    x, y = layer.offset
    cx0, cy0 = max(x, 0), max(y, rows[0])
    cx1, cy1 = min(x + layer.width, w), min(y + layer.height, rows[1])
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    alpha = layer.alpha_above(0.0, slice(cy0 - y, cy1 - y), slice(cx0 - x, cx1 - x))  # (h, w)
    rows = np.flatnonzero(alpha.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(alpha[rows[0]:rows[-1] + 1].any(axis=0))
    return cx0 + int(cols[0]), cy0 + int(rows[0]), cx0 + int(cols[-1]) + 1, cy0 + int(rows[-1]) + 1


def _over_transparent(out: np.ndarray, box: tuple[int, int, int, int] | None) -> None:
    """In place, outside ``box``: what :func:`over` gives for a fully transparent source.

    There ``over`` yields alpha ``a_b`` and colour ``(c_b * a_b) / a_b`` (0 where ``a_b <= 1e-8``):
    ``c_b`` itself wherever ``a_b == 1``, so only the other pixels are recomputed, with the same
    float32 operations.
    """
    alpha = out[..., 3]  # (H, W)
    redo = alpha != 1  # (H, W)
    if box is not None:
        x0, y0, x1, y1 = box
        redo[y0:y1, x0:x1] = False
    ys, xs = np.nonzero(redo)
    if len(ys) == 0:
        return
    a_b = out[ys, xs, 3:4]  # (N, 1)
    num = out[ys, xs, :3] * a_b  # (N, 3)
    out[ys, xs, :3] = np.divide(num, a_b, out=np.zeros_like(num), where=a_b > 1e-8)


def pil_to_rgba(im: Image.Image) -> Image.Image | np.ndarray:
    """Convert any PIL mode to RGBA; 16-bit grayscale modes keep their precision as a uint16 array."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im).astype(np.float64)
        a = np.clip(a, 0, 65535).astype(np.uint16)
        return np.stack([a, a, a, np.full_like(a, 65535)], axis=-1)
    return im if im.mode == "RGBA" else im.convert("RGBA")
