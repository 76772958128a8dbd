"""Full-canvas overlays: a gradient fade or a vignette of one colour over the background.

Designers darken or tint a background with a layer of one colour whose opacity ramps across the canvas:
a fade along one side (for a caption's legibility) or a vignette toward the corners. The background
layer then shows ``base * (1 - a) + colour * a`` with ``a = opacity * shape``, and the shape is one of
a small family: a ramp along an axis, ``clip((t - t0) / (1 - t0), 0, 1) ** g``, or a radial ramp from the
canvas centre, ``clip((r - r0) / (1 - r0), 0, 1) ** g`` (``r`` 1 at the corners).

:func:`find_fade` fits every shape of the family to the background's colours by least squares
(``colour(x) = mean + shape(x) * step``) and keeps the best one. Its opacity is read from the texture:
a layer of one colour at opacity ``a`` scales the background's fine detail by ``1 - a`` (the same
reasoning as a dehazing transmission map, He et al., CVPR 2009), so the detail regressed on the shape
gives it. Where a linear ramp toward one side fits as well as toward the other, the base is the end that
needs the fainter overlay. A fade is taken only where the evidence is strong: the means of bands along
the ramp must follow it (a photo's own change of light does not); over a textured background the detail
must fall with the shape as much as the colour step needs (a colour shift alone is a gradient of the
picture); over a smooth background, where an axis ramp and a gradient fill cannot be told apart, only a
vignette whose colour is in gamut, or any shape when the count asks for a layer the picture has no other
use for. Images under 64 px get none. :func:`split_fade` then splits the background into its base
(unblended) and the overlay, keeping the composite exact. The decomposer does not call it over a photo
background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Fade", "fade_shapes", "find_fade", "split_fade"]

_RADII = (0.2, 0.35, 0.5)
"""Start of a vignette's ramp (``r0``; ``r`` is 1 at the corners)."""
_STARTS = (0.0, 0.25, 0.5)
"""Start of an axis fade's ramp along the canvas (``t0``)."""
_POWERS = (1.0, 1.5, 2.0)
"""Easing of the ramp (``g``)."""
_MIN_SIDE = 64
"""Shorter side (px) under which no fade is looked for."""
_STEP = 4
"""Fit on every ``_STEP``-th pixel of each axis."""
_TIE = 1.001
"""Fits within this factor of the best error are alike (the least opacity decides between them)."""
_MIN_STEP = 0.05
"""Least colour step (largest channel, 0-1) from the base to the fully faded end."""
_SHARE_VIGNETTE = 0.3
"""Least share of the colours' variance a vignette explains."""
_VIGNETTE_LEAST = 0.8
"""Most opacity a vignette's colour may need to stay in gamut (more: the corners are another picture)."""
_SHARE_TEXTURED = 0.3
"""Least share of the colours' variance an axis fade explains over a texture that fades with it."""
_SHARE_SMOOTH = 0.5
"""Least share of the colours' variance an axis fade explains over a smooth background (spare count only)."""
_BANDS = 16
"""Bands along the ramp for the band test."""
_BAND_SHARE = 0.9
"""Least share of the variance of the band means the fit explains."""
_WINDOW = 0.08
"""Side of the box (a fraction of the shorter side) the detail is measured against."""
_DETAIL = 0.012
"""Mean detail (sum over channels of |colour - box mean|) above which a background is textured."""
_OPACITY = 0.55
"""Opacity taken over a smooth background, where the picture does not fix it (the least that keeps the
overlay's colour in gamut when that is more)."""


@dataclass
class Fade:
    """A full-canvas overlay: ``shape`` (h, w) in [0, 1], its ``opacity``, ``colour`` (3,) and ``kind``
    ("vignette" or the side it fades toward: "right", "down", "left", "up")."""

    kind: str
    shape: np.ndarray
    opacity: float
    colour: np.ndarray

    @property
    def alpha(self) -> np.ndarray:
        """The overlay's alpha (h, w)."""
        return (self.opacity * self.shape).astype(np.float32)


def _coordinate(kind: str, h: int, w: int, step: int = 1) -> np.ndarray:
    """Where a shape of ``kind`` ramps along, on every ``step``-th pixel of an (h, w) grid: the distance
    from the centre (1 at the corners) for a vignette, the position toward its side for an axis fade."""
    y, x = np.mgrid[0:h:step, 0:w:step].astype(np.float32)
    x, y = (x + 0.5) / w, (y + 0.5) / h  # pixel centres in (0, 1)
    if kind == "vignette":
        return np.hypot(x - 0.5, y - 0.5) / np.sqrt(0.5)
    return {"right": x, "down": y, "left": 1 - x, "up": 1 - y}[kind]


def _shape(kind: str, start: float, power: float, h: int, w: int, step: int = 1) -> np.ndarray:
    """One shape of the family on every ``step``-th pixel of an (h, w) grid: float32 in [0, 1]."""
    s = _coordinate(kind, h, w, step)
    return (np.clip((s - start) / (1 - start), 0, 1) ** power).astype(np.float32)


def _band_share(x: np.ndarray, fitted: np.ndarray, along: np.ndarray) -> float:
    """Share of the variance of the colours' band means (``_BANDS`` bands of ``along`` in [0, 1], (N,)) that
    the fit explains: a fade follows its ramp band by band, a picture's own change of light does not."""
    band = np.minimum((along * _BANDS).astype(int), _BANDS - 1)  # (N,)
    count = np.bincount(band, minlength=_BANDS)[:, None].astype(np.float64)  # (B, 1)
    means = np.stack([np.bincount(band, x[:, c], _BANDS) for c in range(3)], 1) / np.maximum(count, 1)  # (B, 3)
    model = np.stack([np.bincount(band, fitted[:, c], _BANDS) for c in range(3)], 1) / np.maximum(count, 1)
    spread = (count * (means - x.mean(0)) ** 2).sum()
    return 1.0 - float((count * (means - model) ** 2).sum() / max(spread, 1e-12))


def _family() -> list[tuple[str, float, float]]:
    """(kind, start, power) of every shape of the family."""
    out = [("vignette", r0, g) for r0 in _RADII for g in _POWERS]
    return out + [(kind, t0, g) for kind in ("right", "down", "left", "up") for t0 in _STARTS for g in _POWERS]


def fade_shapes(h: int, w: int) -> list[tuple[str, np.ndarray]]:
    """Every shape of the family on an (h, w) grid: (kind, (h, w) float32 in [0, 1])."""
    return [(kind, _shape(kind, start, power, h, w)) for kind, start, power in _family()]


def _least_opacity(mean: np.ndarray, step: np.ndarray) -> float:
    """The least opacity whose colour ``mean + step / opacity`` lies in [0, 1]."""
    room = np.where(step > 0, 1 - mean, mean)  # (3,)
    return float(np.max(np.abs(step) / np.maximum(room, 1e-6)))


def find_fade(rgb: np.ndarray, spare: bool = False) -> Fade | None:
    """The overlay over an opaque background (h, w, 3) in [0, 1], or None; ``spare``: the count asks for a
    layer the picture has no other use for (over a smooth background an axis fade is then taken)."""
    h, w = rgb.shape[:2]
    if min(h, w) < _MIN_SIDE:
        return None
    x = rgb[::_STEP, ::_STEP].reshape(-1, 3).astype(np.float64)  # (N, 3)
    total = ((x - x.mean(0)) ** 2).sum()
    if total <= 0:
        return None
    fits = []
    for kind, start, power in _family():
        v = _shape(kind, start, power, h, w, _STEP).reshape(-1).astype(np.float64)  # (N,)
        design = np.stack([np.ones_like(v), v], 1)  # (N, 2)
        coef, *_ = np.linalg.lstsq(design, x, rcond=None)  # (2, 3): mean, step
        error = ((x - design @ coef) ** 2).sum()
        fits.append((error, _least_opacity(*coef), (kind, start, power), design, coef))
    low = min(fit[0] for fit in fits)
    # a linear ramp one way and the other fit alike: the base is the end that needs the fainter overlay
    error, least, member, design, (mean, step) = min((fit for fit in fits if fit[0] <= low * _TIE + 1e-9),
                                                     key=lambda fit: fit[1])
    kind = member[0]
    share = 1.0 - error / total  # of the colours' variance, explained by the shape
    if _band_share(x, design @ np.stack([mean, step]), _coordinate(kind, h, w, _STEP).reshape(-1)) < _BAND_SHARE:
        return None
    if (np.abs(step).max() < _MIN_STEP and not spare) or least > 0.95:
        return None
    window = max(5, round(_WINDOW * min(h, w))) | 1
    detail = np.abs(rgb - ndimage.uniform_filter(rgb, size=(window, window, 1), mode="nearest")).sum(-1)  # (h, w)
    detail = detail[::_STEP, ::_STEP].reshape(-1).astype(np.float64)  # (N,)
    (d0, d1), *_ = np.linalg.lstsq(design, detail, rcond=None)  # detail ~ d0 * (1 - opacity * shape)
    read = -d1 / d0 if d0 >= _DETAIL else None  # the opacity the texture shows
    agrees = read is not None and least - 0.05 <= read <= 1.0
    if kind == "vignette":  # darkening or tinting toward the corners, in a colour that is in gamut
        taken = share >= _SHARE_VIGNETTE and least <= _VIGNETTE_LEAST
    else:
        taken = (agrees and share >= _SHARE_TEXTURED) or (spare and share >= _SHARE_SMOOTH)
    if not taken:
        return None
    opacity = float(np.clip(read, least, 0.95)) if agrees else max(least, _OPACITY)
    colour = np.clip(mean + step / opacity, 0, 1).astype(np.float32)  # (3,)
    return Fade(kind, _shape(*member, h, w), opacity, colour)


def split_fade(background: np.ndarray, fade: Fade) -> tuple[np.ndarray, np.ndarray]:
    """(base (h, w, 4), overlay (h, w, 4)) of an opaque background layer (h, w, 4): the base unblended
    from the overlay, and the overlay's colour adjusted where the base leaves [0, 1], so the overlay
    over the base gives ``background`` again."""
    alpha = fade.alpha[..., None]  # (h, w, 1)
    rgb = background[..., :3]  # (h, w, 3)
    base = np.clip((rgb - fade.colour * alpha) / np.maximum(1 - alpha, 1e-6), 0, 1)  # (h, w, 3)
    top = np.where(alpha > 0, (rgb - base * (1 - alpha)) / np.maximum(alpha, 1e-6), fade.colour)  # (h, w, 3)
    top = np.clip(top, 0, 1)
    ones = np.ones_like(alpha)
    return (np.concatenate([base, ones], -1).astype(np.float32),
            np.concatenate([top, alpha], -1).astype(np.float32))
