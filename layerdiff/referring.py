"""Referring prompts: which object to pull out of an image, given by points, a box, a mask or a phrase.

A :class:`ReferringPrompt` names one object. Its geometric parts are rasterised into the *prompt map*
that the layer-aware transformer reads in the region channel of the object frame (see
:mod:`layerdiff.frames`); the phrase is the text prompt. The maps are exactly the ones the model was
trained on (``training/tasks.py``, task ``refer``):

- a point: a filled disc of radius ``max(2, 0.03 * max(h, w))`` pixels of the map around the point;
- a box: the filled box, rows ``int(y0 * h) : max(int(y0 * h) + 1, ceil(y1 * h))`` (columns alike), with
  the box normalised to [0, 1];
- a mask: the mask thresholded at 0.5.

Several parts of one prompt are united in one map. Negative points (label 0, as in SAM's point
prompts, Kirillov et al. 2023) are not drawn: the model never saw them. They act after extraction
(the extracted object loses the connected parts they touch, see ``pipelines/extract.py``) and as
background seeds in the flood-fill baseline.

Coordinates are pixels of the image the prompt refers to: a point ``(x, y)`` is the pixel column and
row (fractions allowed; pixel ``(i, j)`` spans ``[i, i + 1)``, so valid points have ``0 <= x < W``);
a box ``(x0, y0, x1, y1)`` has exclusive right/bottom edges. With ``normalized=True`` points and boxes
are fractions of the image in [0, 1] (a point as the fraction of its pixel centre, ``(x + 0.5) / W``,
the convention of :func:`layerdiff.data.synthetic.referring_sample`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import LayerdiffError

__all__ = ["PromptError", "ReferringPrompt", "point_radius", "prompt_from_alpha", "referring_prompt_map",
           "as_prompts", "box_map", "mask_map",
           "PROMPT_KINDS"]

PROMPT_KINDS = ("point", "box", "mask", "phrase")


class PromptError(LayerdiffError, ValueError):
    """A referring prompt that cannot be used (malformed, empty, or outside the image)."""


def point_radius(height: int, width: int) -> float:
    """Radius in map pixels of the disc drawn for a point prompt on an (height, width) map."""
    return max(2.0, 0.03 * max(height, width))


def _as_mask(mask: Any) -> np.ndarray:
    """A mask (bool/int/float array, (H, W) or (H, W, C), or PIL image) -> float32 (H, W) in [0, 1].

    Multi-channel masks use their alpha channel when it is not fully opaque, else their mean colour.
    """
    from PIL import Image

    if isinstance(mask, Image.Image):
        if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
            rgba = np.asarray(mask.convert("RGBA"), np.float32) / 255.0
            a = rgba[..., 3]
            return a if a.min() < 1.0 else rgba[..., :3].mean(-1)
        return np.asarray(mask.convert("L"), np.float32) / 255.0
    if hasattr(mask, "detach"):  # torch tensor
        mask = mask.detach().cpu().numpy()
    arr = np.asarray(mask)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    elif arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.integer):
        arr = (arr > 0).astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise PromptError("mask contains NaN or infinite values")
        arr = np.clip(arr.astype(np.float32), 0.0, 1.0)
    else:
        raise PromptError(f"mask: unsupported dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] in (1, 2, 3, 4):
        if arr.shape[-1] in (2, 4) and arr[..., -1].min() < 1.0:
            arr = arr[..., -1]
        else:
            arr = arr[..., : min(3, arr.shape[-1])].mean(-1)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise PromptError(f"mask: expected an (H, W) array, got shape {np.asarray(mask).shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _finite(values: Sequence[Any], what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise PromptError(f"{what}: expected numbers, got {values!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise PromptError(f"{what}: coordinates must be finite, got {values!r}")
    return out


@dataclass
class ReferringPrompt:
    """One object to extract: any of positive/negative points, a box, a mask and a phrase.

    Args:
        points: ``(x, y)`` or ``(x, y, label)`` with label 1 (on the object, default) or 0 (not on it).
        box: ``(x0, y0, x1, y1)`` around the object (right/bottom edges exclusive).
        mask: (H, W) array or PIL image marking the object (any size with the image's aspect ratio).
        text: a phrase naming the object ("the red star").
        normalized: points and box are fractions of the image in [0, 1] instead of pixels.

    Raises:
        PromptError: malformed parts, an empty mask, a degenerate box, or no positive part at all.
    """

    points: Sequence[Sequence[float]] = ()
    box: Sequence[float] | None = None
    mask: Any = None
    text: str = ""
    normalized: bool = False
    _points: list[tuple[float, float, int]] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        pts = []
        for i, p in enumerate(self.points or ()):
            if isinstance(p, (str, bytes)) or not hasattr(p, "__len__") or len(p) not in (2, 3):
                raise PromptError(f"point {i}: expected (x, y) or (x, y, label), got {p!r}")
            x, y = _finite(p[:2], f"point {i}")
            label = 1 if len(p) == 2 else p[2]
            if isinstance(label, (bool, np.bool_)):
                label = int(label)
            if label not in (0, 1):
                raise PromptError(f"point {i}: label must be 1 (object) or 0 (not object), got {p[2]!r}")
            pts.append((x, y, int(label)))
        self._points = pts
        self.points = [tuple(p) for p in pts]
        if self.box is not None:
            if isinstance(self.box, (str, bytes)) or not hasattr(self.box, "__len__") or len(self.box) != 4:
                raise PromptError(f"box: expected (x0, y0, x1, y1), got {self.box!r}")
            x0, y0, x1, y1 = _finite(self.box, "box")
            if not (x1 > x0 and y1 > y0):
                raise PromptError(f"box {self.box!r} is empty or reversed (need x1 > x0 and y1 > y0)")
            self.box = (x0, y0, x1, y1)
        if self.mask is not None:
            self.mask = _as_mask(self.mask)
            if not (self.mask > 0.5).any():
                mh, mw = self.mask.shape
                raise PromptError(f"mask ({mw}x{mh}) is empty: no value above 0.5")
        if not isinstance(self.text, str):
            raise PromptError(f"text: expected a string, got {type(self.text).__name__}")
        self.text = " ".join(self.text.split())
        if not (self.positive_points or self.box is not None or self.mask is not None or self.text):
            what = "only negative points" if self._points else "nothing"
            raise PromptError(f"the prompt has {what}: give a positive point, a box, a mask or a text")

    # ------------------------------------------------------------------ views
    @property
    def positive_points(self) -> list[tuple[float, float]]:
        return [(x, y) for x, y, label in self._points if label == 1]

    @property
    def negative_points(self) -> list[tuple[float, float]]:
        return [(x, y) for x, y, label in self._points if label == 0]

    @property
    def kinds(self) -> list[str]:
        """The prompt types present, from :data:`PROMPT_KINDS`."""
        present = [bool(self.positive_points), self.box is not None, self.mask is not None, bool(self.text)]
        return [k for k, on in zip(PROMPT_KINDS, present) if on]

    @property
    def has_map(self) -> bool:
        """Whether the prompt has a geometric part (the model's region channel is non-zero)."""
        return bool(self.positive_points) or self.box is not None or self.mask is not None

    def describe(self, limit: int = 40) -> str:
        """A short name for the extracted layer: the phrase, else the prompt types."""
        if self.text:
            return self.text[:limit]
        return "object (" + ", ".join(self.kinds) + ")"

    # ------------------------------------------------------------ validation
    def in_pixels(self, size: tuple[int, int]) -> ReferringPrompt:
        """This prompt checked against an image of ``size = (W, H)``, in pixel coordinates.

        Points must lie on the image; a box must overlap it (it is clipped to it); a mask must have the
        image's aspect ratio (within a pixel).

        Raises:
            PromptError: a point off the image, a box outside it, a mask of another aspect ratio.
        """
        w, h = int(size[0]), int(size[1])
        pts = []
        for i, (x, y, label) in enumerate(self._points):
            if self.normalized:
                if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                    raise PromptError(f"point {i} ({x:g}, {y:g}) is outside the image (normalised "
                                      f"coordinates must be in [0, 1])")
                x, y = min(x * w - 0.5, w - 1.0), min(y * h - 0.5, h - 1.0)
                x, y = max(x, 0.0), max(y, 0.0)
            elif not (0.0 <= x < w and 0.0 <= y < h):
                raise PromptError(f"point {i} ({x:g}, {y:g}) is outside the {w}x{h} image")
            pts.append((x, y, label))
        box = self.box
        if box is not None:
            x0, y0, x1, y1 = box
            if self.normalized:
                x0, y0, x1, y1 = x0 * w, y0 * h, x1 * w, y1 * h
            cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
            if not (cx1 > cx0 and cy1 > cy0):
                raise PromptError(f"box {tuple(box)!r} does not overlap the {w}x{h} image")
            box = (cx0, cy0, cx1, cy1)
        if self.mask is not None:
            mh, mw = self.mask.shape
            if abs(mw * h - mh * w) > max(mw, w, mh, h):
                raise PromptError(f"mask is {mw}x{mh} but the image is {w}x{h} (aspect ratios differ)")
        out = replace(self, points=pts, box=box, normalized=False)
        return out

    # ------------------------------------------------------------ rasterise
    def raster(self, size: tuple[int, int], out_size: tuple[int, int] | None = None) -> np.ndarray:
        """The prompt map of this prompt on an image of ``size = (W, H)``, drawn at ``out_size = (w, h)``
        (default: ``size``): (h, w) float32 with values in {0, 1}. A phrase-only prompt gives zeros.

        At ``out_size == size`` the map equals the training map of :func:`referring_prompt_map` for the
        same point / box / mask.
        """
        p = self.in_pixels(size)
        w_in, h_in = int(size[0]), int(size[1])
        w, h = (w_in, h_in) if out_size is None else (int(out_size[0]), int(out_size[1]))
        if w < 1 or h < 1:
            raise PromptError(f"map size must be positive, got {w}x{h}")
        m = np.zeros((h, w), np.float32)
        pos = p.positive_points
        if pos:
            r = point_radius(h, w)
            yy, xx = np.mgrid[0:h, 0:w]
            for x, y in pos:
                cx, cy = (x + 0.5) * w / w_in - 0.5, (y + 0.5) * h / h_in - 0.5  # pixel index on the map
                if (w, h) == (w_in, h_in):
                    cx, cy = x, y
                m[((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r] = 1.0
        if p.box is not None:
            x0, y0, x1, y1 = p.box
            m = np.maximum(m, box_map((x0 / w_in, y0 / h_in, x1 / w_in, y1 / h_in), h, w))
        if p.mask is not None:
            m = np.maximum(m, mask_map(p.mask, h, w))
        return m


def box_map(box: tuple[float, float, float, float], h: int, w: int) -> np.ndarray:
    """A filled box (x0, y0, x1, y1) normalised to [0, 1] on an (h, w) map (the training rasterisation)."""
    m = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = box
    m[int(y0 * h) : max(int(y0 * h) + 1, int(np.ceil(y1 * h))), int(x0 * w) : max(int(x0 * w) + 1,
                                                                                int(np.ceil(x1 * w)))] = 1
    return m


def mask_map(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """A soft mask (H, W) -> a binary (h, w) map: area-resampled, thresholded at 0.5 (its peak if that
    leaves nothing, so a thin mask survives downsampling)."""
    if mask.shape == (h, w):
        return (mask > 0.5).astype(np.float32)
    from .recompose import resize_plane

    small = np.clip(resize_plane(mask.astype(np.float32), (w, h)), 0.0, 1.0)  # (h, w)
    out = small > 0.5
    if not out.any():
        out = small >= 0.5 * small.max()
    return out.astype(np.float32)


def as_prompts(prompts: Any) -> list[ReferringPrompt]:
    """A prompt, a phrase, or a list of them -> a non-empty list of :class:`ReferringPrompt`."""
    items = list(prompts) if isinstance(prompts, (list, tuple)) else [prompts]
    if not items:
        raise PromptError("no prompt given: pass a ReferringPrompt (or a list of them)")
    out = []
    for i, p in enumerate(items):
        if isinstance(p, str):
            p = ReferringPrompt(text=p)
        if not isinstance(p, ReferringPrompt):
            raise PromptError(f"prompt {i}: expected a ReferringPrompt or a phrase, got {type(p).__name__}")
        out.append(p)
    return out


# ----------------------------------------------------------------- training prompts
def prompt_from_alpha(obj_alpha: np.ndarray, kind: str, rng: np.random.Generator) -> ReferringPrompt | None:
    """The referring prompt of ``kind`` ("point", "box", "mask") that training draws for an object layer
    with alpha ``obj_alpha`` (H, W): a random pixel with alpha > 0.5, the box of those pixels, or their mask.
    None when the object has no such pixel. Draws from ``rng`` only for a point (one integer)."""
    if kind not in ("point", "box", "mask"):
        raise PromptError(f"prompt kind must be 'point', 'box' or 'mask', got {kind!r}")
    visible = np.asarray(obj_alpha) > 0.5
    if not visible.any():
        return None
    ys, xs = np.nonzero(visible)
    if kind == "box":
        return ReferringPrompt(box=(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    if kind == "mask":
        return ReferringPrompt(mask=visible)
    k = int(rng.integers(len(xs)))
    return ReferringPrompt(points=[(xs[k], ys[k], 1)])


def referring_prompt_map(obj_alpha: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Training's region hint for a referring prompt of ``kind`` on object alpha (H, W): (H, W) float32.

    The same maps (and the same use of ``rng``) as the ``refer`` task of ``training/tasks.py``; an object
    without pixels of alpha > 0.5 gives zeros.
    """
    h, w = np.asarray(obj_alpha).shape
    prompt = prompt_from_alpha(obj_alpha, kind, rng)
    if prompt is None:
        return np.zeros((h, w), np.float32)
    return prompt.raster((w, h))
