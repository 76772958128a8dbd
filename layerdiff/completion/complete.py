"""Complete what a layer hides: parametric where the layer is a flat fill or a gradient, exemplar
inpainting or a smooth fill otherwise, chosen on the layer's own visible pixels.

:func:`complete_layer` works on one layer: ``known`` pixels are the layer's own reliable colours,
``hole`` pixels are to be painted, anything else is outside the layer and is neither read nor painted
(so a panel under text is completed from the panel alone, in the panel's colour model):

1. fit the parametric models of :mod:`layerdiff.completion.parametric`; an accepted fit paints the hole;
2. a layer without fine texture (its known pixels within half an 8-bit step, on average, of their
   1.5-px Gaussian mean: a soft mottled field, a blurred photo) is filled by push-pull, which continues
   such a field smoothly where copied patches would not match their surroundings;
3. otherwise choose between PatchMatch (:func:`~layerdiff.completion.patchmatch.patchmatch_inpaint`),
   PatchMatch on a smooth base (``base_sigma``) and push-pull (Gortler et al. 1996) by validation on the
   layer itself: at a reduced scale, the hole's shape moved onto known pixels is filled by each method
   and scored by RGB L1 against the truth there. Push-pull wins only when it beats the better PatchMatch
   variant by more than ``smooth_margin`` (10 %): a smooth fill of texture scores well on L1 yet reads as
   a smear;
4. paint the hole with the chosen method. PatchMatch reads a box around the hole (its bounding box grown
   by half its longer side) and searches levels up to ``search_side`` (128) px; finer levels take the
   upsampled nearest-neighbour field and one vote, which brings the source patches' full-resolution
   detail, so its cost is bounded by the box's pixels rather than growing with every searched level.

:func:`complete_stack` applies it to every layer of a decomposition (L, H, W, 4): it re-paints the pixels
each layer has fully hidden under the layers above it, from the pixels where it is fully visible, and
leaves every other value (and so the composite) unchanged.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .parametric import ParametricFit, fit_parametric
from .patchmatch import patchmatch_inpaint

__all__ = ["Completion", "complete_layer", "complete_layer_info", "complete_stack", "METHODS"]

METHODS = ("parametric", "patchmatch", "patchmatch-base", "push-pull")
_VALIDATION_SIDE = 128  # longer side of the validation scale
_MIN_VALIDATION_PIXELS = 40  # moved-hole pixels needed at that scale to validate
_BASE_SIGMA = 1.0 / 64.0
_SEARCH_SIDE = 128  # PatchMatch searches levels up to this side; finer ones take the upsampled field
_SMOOTH_DETAIL = 0.5 / 255.0  # below this fine texture (see _detail) a layer is smooth: push-pull fills it
_CROP_MARGIN = 32  # least margin (px) of known pixels read around the hole's box


@dataclass
class Completion:
    """Result of :func:`complete_layer_info`: the completed ``rgb`` (H, W, 3), the ``method`` used (one of
    :data:`METHODS`), the parametric ``fit`` tried (None when too few pixels were known) and the
    validation L1 of each exemplar/smooth method (empty when not validated)."""

    rgb: np.ndarray
    method: str
    fit: ParametricFit | None
    validation: dict[str, float]


def _push_pull(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    from ..regions.fill import push_pull_fill

    return push_pull_fill(rgb, known.astype(np.float32))  # (H, W, 3)


def _crop(known: np.ndarray, hole: np.ndarray) -> tuple[slice, slice]:
    """The box around the hole that exemplar inpainting reads: the hole's bounding box grown by half its
    longer side (at least ``_CROP_MARGIN`` px) on every side, within the layer's (known or hole pixels)
    bounding box; that whole box when the grown one holds fewer known pixels than hole pixels."""
    ys, xs = np.nonzero(hole)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    ly, lx = np.nonzero(known.any(1) | hole.any(1))[0], np.nonzero(known.any(0) | hole.any(0))[0]
    top, bottom, left, right = ly[0], ly[-1] + 1, lx[0], lx[-1] + 1
    grow = max(_CROP_MARGIN, (max(y1 - y0, x1 - x0) + 1) // 2)
    box = slice(max(top, y0 - grow), min(bottom, y1 + grow)), slice(max(left, x0 - grow), min(right, x1 + grow))
    if known[box].sum() < hole[box].sum():
        return slice(top, bottom), slice(left, right)
    return box


def _fill(method: str, rgb: np.ndarray, known: np.ndarray, hole: np.ndarray, seed: int,
          search_side: int | None = None) -> np.ndarray:
    if method == "push-pull":
        out = rgb.copy()
        out[hole] = _push_pull(np.where(known[..., None], rgb, 0.0), known)[hole]
        return out
    sigma = _BASE_SIGMA if method == "patchmatch-base" else 0.0
    if search_side is None:
        return patchmatch_inpaint(rgb, known, hole, base_sigma=sigma, seed=seed)
    box = _crop(known, hole)
    side = max(known.shape)  # the base's scale stays a fraction of the whole layer's side
    crop_side = max(box[0].stop - box[0].start, box[1].stop - box[1].start)
    out = rgb.copy()
    out[box] = patchmatch_inpaint(rgb[box], known[box], hole[box], base_sigma=sigma * side / crop_side,
                                  search_side=search_side, seed=seed)
    return out


def _shrink(rgb: np.ndarray, known: np.ndarray, hole: np.ndarray, factor: int,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block means (h, w, 3) over ``factor`` x ``factor`` blocks; a block is known when all its pixels are."""
    h, w = known.shape
    ph, pw = -h % factor, -w % factor
    k = np.pad(known, ((0, ph), (0, pw))).astype(np.float32)
    c = np.pad(np.where(known[..., None], rgb, 0.0), ((0, ph), (0, pw), (0, 0)))
    hh, ww = k.shape[0] // factor, k.shape[1] // factor
    ks = k.reshape(hh, factor, ww, factor).sum((1, 3))  # (hh, ww)
    cs = c.reshape(hh, factor, ww, factor, 3).sum((1, 3)) / np.maximum(ks, 1.0)[..., None]
    hs = np.pad(hole, ((0, ph), (0, pw))).reshape(hh, factor, ww, factor).any((1, 3))
    return cs.astype(np.float32), ks >= factor * factor, hs & (ks < factor * factor)


def _validation_hole(known: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The hole's shape moved to where it covers the most known pixels (a quarter or eighth of the image
    away, in 8 directions), restricted to known pixels."""
    h, w = known.shape
    best, best_count = np.zeros_like(known), -1
    for fy, fx in ((0.25, 0), (-0.25, 0), (0, 0.25), (0, -0.25), (0.25, 0.25), (-0.25, -0.25),
                   (0.125, 0), (0, 0.125), (-0.125, 0), (0, -0.125)):
        dy, dx = int(round(fy * h)), int(round(fx * w))
        moved = np.zeros_like(hole)
        src = hole[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        moved[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
        moved &= known
        count = int(moved.sum())
        if count > best_count:
            best, best_count = moved, count
    return best


def _detail(rgb: np.ndarray, known: np.ndarray) -> float:
    """Mean absolute difference (over channels) between the known pixels at least two pixels inside the
    known area and their known neighbours' Gaussian mean (sigma 1.5 px): the layer's fine texture."""
    inner = ndimage.binary_erosion(known, np.ones((5, 5), bool), border_value=1)
    if not inner.any():
        return 0.0
    k = known.astype(np.float32)
    num = ndimage.gaussian_filter(np.where(known[..., None], rgb, 0.0), (1.5, 1.5, 0))  # (H, W, 3)
    den = ndimage.gaussian_filter(k, 1.5)  # (H, W)
    local = num[inner] / np.maximum(den[inner], 1e-6)[:, None]  # (m, 3)
    return float(np.abs(rgb[inner] - local).mean())


def _choose(rgb: np.ndarray, known: np.ndarray, hole: np.ndarray, smooth_margin: float, seed: int,
            ) -> tuple[str, dict[str, float]]:
    factor = max(1, int(np.ceil(max(known.shape) / _VALIDATION_SIDE)))
    small, k, h_ = _shrink(rgb, known, hole, factor) if factor > 1 else (rgb, known, hole)
    vhole = _validation_hole(k, h_)
    if vhole.sum() < _MIN_VALIDATION_PIXELS:
        return "patchmatch-base", {}
    vknown = k & ~vhole
    scores = {}
    for method in ("patchmatch", "patchmatch-base", "push-pull"):
        out = _fill(method, small, vknown, vhole, seed)
        scores[method] = float(np.abs(out[vhole] - small[vhole]).mean())
    exemplar = min(("patchmatch", "patchmatch-base"), key=lambda m: scores[m])
    if scores["push-pull"] < (1.0 - smooth_margin) * scores[exemplar]:
        return "push-pull", scores
    return exemplar, scores


def complete_layer_info(rgb: np.ndarray, known: np.ndarray, hole: np.ndarray, *, method: str = "auto",
                        space: str = "srgb", smooth_margin: float = 0.1, exemplar: bool = True,
                        search_side: int | None = _SEARCH_SIDE, seed: int = 0) -> Completion:
    """:func:`complete_layer` with the method used and the evidence for it.

    ``method``: "auto" (the module docstring's rule) or one of :data:`METHODS` to force it ("parametric"
    then paints from the best fit even when the goodness-of-fit test rejects it). ``exemplar=False``
    makes "auto" fall back to push-pull without trying PatchMatch. ``search_side``: as
    :func:`~layerdiff.completion.patchmatch.patchmatch_inpaint` (None: search every level of the whole
    layer, no box).
    """
    rgb = np.asarray(rgb, np.float32)
    known = np.asarray(known, bool)
    hole = np.asarray(hole, bool)
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or known.shape != rgb.shape[:2] or hole.shape != rgb.shape[:2]:
        raise ValueError(f"complete_layer: rgb {rgb.shape} must be (H, W, 3), known {known.shape} and hole "
                         f"{hole.shape} (H, W)")
    hole = hole & ~known
    if method != "auto" and method not in METHODS:
        raise ValueError(f"complete_layer: method must be 'auto' or one of {METHODS}, got {method!r}")
    if not hole.any():
        return Completion(rgb.copy(), "none", None, {})
    fit = fit_parametric(rgb, known, space=space) if method in ("auto", "parametric") else None
    if fit is not None and (fit.accepted or method == "parametric"):
        out = rgb.copy()
        hy, hx = np.nonzero(hole)
        out[hy, hx] = fit.colours_at(hy, hx, float(max(rgb.shape[:2])))
        return Completion(out, "parametric", fit, {})
    if method == "parametric":  # too few known pixels to fit: the smooth fill
        method = "push-pull"
    scores: dict[str, float] = {}
    if method == "auto" and (not exemplar or _detail(rgb, known) < _SMOOTH_DETAIL):
        method = "push-pull"
    elif method == "auto":
        method, scores = _choose(rgb, known, hole, smooth_margin, seed)
    return Completion(_fill(method, rgb, known, hole, seed, search_side), method, fit, scores)


def complete_layer(rgb: np.ndarray, known: np.ndarray, hole: np.ndarray, **kwargs: object) -> np.ndarray:
    """Paint the ``hole`` (H, W) pixels of one layer's colours ``rgb`` (H, W, 3) in [0, 1] from its
    ``known`` (H, W) pixels; pixels in neither mask are outside the layer and are left alone.

    Returns float32 (H, W, 3), equal to ``rgb`` outside the hole. Keyword arguments as
    :func:`complete_layer_info`.
    """
    return complete_layer_info(rgb, known, hole, **kwargs).rgb  # type: ignore[arg-type]


def complete_stack(stack: np.ndarray, *, hidden_above: float = 1.0 - 0.5 / 255.0, visible: float = 0.99,
                   method: str = "auto", exemplar: bool = True, seed: int = 0, keep: Collection[int] = (),
                   ) -> tuple[np.ndarray, list[str]]:
    """Re-paint what each layer of ``stack`` (L, H, W, 4) straight alpha in [0, 1], bottom to top, hides.

    For layer k: its hole is where it has alpha > 0 and the layers above cover at least ``hidden_above``
    (so the composite does not change); its known pixels are where its own visibility (its alpha times
    what the layers above let through) is at least ``visible``, less a one-pixel band at their edge (mixed
    edge colours). ``method`` and ``exemplar`` as :func:`complete_layer_info`; the layers in ``keep`` are
    left as they are (their hidden part already completed by the caller, e.g. from a background fit).
    Returns the new stack (float32 copy) and the method used per layer ("none" where nothing was hidden
    or the layer was kept).
    """
    arr = np.asarray(stack, np.float32)
    if arr.ndim != 4 or arr.shape[-1] != 4:
        raise ValueError(f"complete_stack: expected an (L, H, W, 4) stack, got shape {arr.shape}")
    out = arr.copy()
    alpha = np.clip(arr[..., 3], 0.0, 1.0)  # (L, H, W)
    through = np.ones(arr.shape[1:3], np.float32)  # (H, W) what the layers above let through
    methods = ["none"] * len(arr)
    for k in range(len(arr) - 1, -1, -1):
        cover_above = 1.0 - through  # (H, W)
        hole = (alpha[k] > 0) & (cover_above >= hidden_above)
        known = ndimage.binary_erosion(alpha[k] * through >= visible, np.ones((3, 3), bool), border_value=1)
        if k not in keep and hole.any() and known.any():
            done = complete_layer_info(arr[k, ..., :3], known, hole, method=method, exemplar=exemplar, seed=seed)
            out[k, ..., :3] = done.rgb
            methods[k] = done.method
        through = through * (1.0 - alpha[k])
    return out, methods
