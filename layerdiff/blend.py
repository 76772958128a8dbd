"""Alpha compositing and blend modes on straight-alpha float images.

All images here are float32 arrays in [0, 1] with straight (non-premultiplied) alpha,
shape (H, W, 4). Separable blend modes follow the W3C "Compositing and Blending Level 1"
formulas, which are the ones Photoshop documents and psd-tools implements:

    Cs' = (1 - a_b) * Cs + a_b * B(Cb, Cs)      (source colour mixed with the blend result)
    then "source-over" of (Cs', a_s) onto (Cb, a_b).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np


def _soft_light(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    d = np.where(cb <= 0.25, ((16 * cb - 12) * cb + 4) * cb, np.sqrt(cb))
    return np.where(cs <= 0.5, cb - (1 - 2 * cs) * cb * (1 - cb), cb + (2 * cs - 1) * (d - cb))


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.ones_like(a), where=b > 1e-12)


def _color_dodge(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    out = np.minimum(1.0, _safe_div(cb, 1 - cs))
    out = np.where(cs >= 1.0, 1.0, out)
    return np.where(cb <= 0.0, 0.0, out)


def _color_burn(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    out = 1 - np.minimum(1.0, _safe_div(1 - cb, cs))
    out = np.where(cs <= 0.0, 0.0, out)
    return np.where(cb >= 1.0, 1.0, out)


def _hard_light(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    return np.where(cs <= 0.5, cb * 2 * cs, 1 - (1 - cb) * (1 - (2 * cs - 1)))


def _lum(c: np.ndarray) -> np.ndarray:
    return (c[..., 0:1] * 0.3 + c[..., 1:2] * 0.59 + c[..., 2:3] * 0.11)


def _clip_color(c: np.ndarray) -> np.ndarray:
    lum = _lum(c)
    lo = c.min(axis=-1, keepdims=True)
    hi = c.max(axis=-1, keepdims=True)
    c = np.where(lo < 0, lum + (c - lum) * lum / np.maximum(lum - lo, 1e-12), c)
    c = np.where(hi > 1, lum + (c - lum) * (1 - lum) / np.maximum(hi - lum, 1e-12), c)
    return c


def _set_lum(c: np.ndarray, lum: np.ndarray) -> np.ndarray:
    return _clip_color(c + (lum - _lum(c)))


def _sat(c: np.ndarray) -> np.ndarray:
    return c.max(axis=-1, keepdims=True) - c.min(axis=-1, keepdims=True)


def _set_sat(c: np.ndarray, s: np.ndarray) -> np.ndarray:
    lo = c.min(axis=-1, keepdims=True)
    span = c.max(axis=-1, keepdims=True) - lo
    return np.divide((c - lo) * s, span, out=np.zeros_like(c), where=span > 1e-12)


def _pick_by_lum(cb: np.ndarray, cs: np.ndarray, darker: bool) -> np.ndarray:
    choose_src = (cs.sum(-1, keepdims=True) < cb.sum(-1, keepdims=True)) == darker
    return np.where(choose_src, cs, cb)


def _divide(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    out = np.divide(cb, cs, out=np.ones_like(cb), where=cs > 1e-12)
    return np.where((cs <= 1e-12) & (cb <= 0), 0.0, np.minimum(out, 1.0))


BLEND_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "normal": lambda cb, cs: cs,
    "multiply": lambda cb, cs: cb * cs,
    "screen": lambda cb, cs: cb + cs - cb * cs,
    "overlay": lambda cb, cs: _hard_light(cs, cb),
    "darken": np.minimum,
    "lighten": np.maximum,
    "color_dodge": _color_dodge,
    "color_burn": _color_burn,
    "hard_light": _hard_light,
    "soft_light": _soft_light,
    "difference": lambda cb, cs: np.abs(cb - cs),
    "exclusion": lambda cb, cs: cb + cs - 2 * cb * cs,
    "linear_dodge": lambda cb, cs: np.minimum(1.0, cb + cs),
    "linear_burn": lambda cb, cs: np.maximum(0.0, cb + cs - 1),
    "subtract": lambda cb, cs: np.maximum(0.0, cb - cs),
    "divide": _divide,
    "hard_mix": lambda cb, cs: (cb + cs >= 1.0).astype(cb.dtype),
    "darker_color": lambda cb, cs: _pick_by_lum(cb, cs, darker=True),
    "lighter_color": lambda cb, cs: _pick_by_lum(cb, cs, darker=False),
    # Non-separable modes (W3C Compositing Level 1, section 10.3).
    "hue": lambda cb, cs: _set_lum(_set_sat(cs, _sat(cb)), _lum(cb)),
    "saturation": lambda cb, cs: _set_lum(_set_sat(cb, _sat(cs)), _lum(cb)),
    "color": lambda cb, cs: _set_lum(cs, _lum(cb)),
    "luminosity": lambda cb, cs: _set_lum(cb, _lum(cs)),
}
"""Blend modes composited exactly. Names are snake_case versions of Photoshop's."""

BLEND_ALIASES = {"pass_through": "normal", "dissolve": "normal", "add": "linear_dodge"}


def normalize_blend_mode(mode: str) -> str:
    """Map 'Color Dodge', 'COLOR_DODGE', 'color-dodge' ... to 'color_dodge'."""
    key = str(mode).strip().lower().replace(" ", "_").replace("-", "_")
    if key.startswith("blendmode."):
        key = key[len("blendmode."):]
    return BLEND_ALIASES.get(key, key)


def over(dst: np.ndarray, src: np.ndarray, blend_mode: str = "normal") -> np.ndarray:
    """Composite ``src`` onto ``dst`` (both (H, W, 4) straight alpha) and return the result.

    Unsupported blend modes fall back to "normal" with a warning naming the mode.
    """
    mode = normalize_blend_mode(blend_mode)
    fn = BLEND_FUNCTIONS.get(mode)
    if fn is None:
        warnings.warn(f"blend mode {mode!r} is not composited exactly; using 'normal'", stacklevel=2)
        fn = BLEND_FUNCTIONS["normal"]
    a_s = src[..., 3:4]  # (H, W, 1)
    a_b = dst[..., 3:4]  # (H, W, 1)
    cs, cb = src[..., :3], dst[..., :3]  # (H, W, 3)
    if mode != "normal":
        cs = (1 - a_b) * cs + a_b * np.clip(fn(cb, cs), 0.0, 1.0)
    a_o = a_s + a_b * (1 - a_s)  # (H, W, 1)
    num = cs * a_s + cb * a_b * (1 - a_s)  # (H, W, 3) premultiplied result
    c_o = np.divide(num, a_o, out=np.zeros_like(num), where=a_o > 1e-8)
    return np.concatenate([c_o, a_o], axis=-1).astype(np.float32, copy=False)


def visibility_weights(alphas: np.ndarray) -> np.ndarray:
    """Per-layer visibility ``w_i = a_i * prod_{j>i} (1 - a_j)`` for a bottom-to-top stack.

    ``alphas``: (L, H, W) in [0, 1]. Returns (L, H, W); for "normal" layers the composite colour
    is ``sum_i w_i c_i`` and its alpha ``sum_i w_i`` (Porter & Duff 1984, "over").
    """
    above = np.ones_like(alphas[0])  # (H, W) transmittance of everything above layer i
    weights = np.empty_like(alphas)  # (L, H, W)
    for i in range(alphas.shape[0] - 1, -1, -1):
        weights[i] = alphas[i] * above
        above = above * (1 - alphas[i])
    return weights
