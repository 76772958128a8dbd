"""Raster helpers of the synthetic designs: anti-aliased shapes from signed distances, blur, shadows.

Shapes are drawn by analytic coverage: for a signed distance ``d`` (pixels, negative inside) the
pixel coverage is ``clip(0.5 - d, 0, 1)``, a one-pixel linear ramp that equals box-filtered
coverage for straight edges. Distance functions follow I. Quilez, "2D distance functions"
(iquilezles.org/articles/distfunctions2d). Every size here is in pixels of the canvas being drawn.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image
from scipy import ndimage

FAR = 1e4
"""Distance given to pixels outside the window a shape is evaluated in."""


@functools.lru_cache(maxsize=16)
def pixel_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates of an n x n canvas: (ys, xs), each (n, n) float32, read-only."""
    c = np.arange(n, dtype=np.float32) + 0.5
    ys, xs = np.meshgrid(c, c, indexing="ij")
    ys.setflags(write=False)
    xs.setflags(write=False)
    return ys, xs


def coverage(d: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a signed distance field (pixels): (H, W) float32 in [0, 1]."""
    return np.clip(0.5 - d, 0.0, 1.0).astype(np.float32, copy=False)


def _box(px: np.ndarray, py: np.ndarray, hw: float, hh: float, r: float) -> np.ndarray:
    qx = np.abs(px) - (hw - r)
    qy = np.abs(py) - (hh - r)
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0) - r


def _polygon(px: np.ndarray, py: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Signed distance to a simple polygon ``verts`` (N, 2) (Quilez, sdPolygon)."""
    d = (px - verts[0, 0]) ** 2 + (py - verts[0, 1]) ** 2
    s = np.ones_like(px)
    n = len(verts)
    for i in range(n):
        vi, vj = verts[i], verts[i - 1]
        ex, ey = vj[0] - vi[0], vj[1] - vi[1]
        wx, wy = px - vi[0], py - vi[1]
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        bx, by = wx - ex * t, wy - ey * t
        d = np.minimum(d, bx * bx + by * by)
        c1 = py >= vi[1]
        c2 = py < vj[1]
        c3 = ex * wy > ey * wx
        flip = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
        s = np.where(flip, -s, s)
    return s * np.sqrt(d)


def _heart(px: np.ndarray, py: np.ndarray, scale: float) -> np.ndarray:
    """Quilez's sdHeart, tip down, 1.104 * scale tall, centred on (0, 0); y grows downwards."""
    x = np.abs(px) / scale
    y = -py / scale + 0.552
    lobe = np.hypot(x - 0.25, y - 0.75) - math.sqrt(2.0) / 4.0
    m = np.maximum(x + y, 0.0) * 0.5
    body = np.sqrt(np.minimum(x * x + (y - 1.0) ** 2, (x - m) ** 2 + (y - m) ** 2)) * np.sign(x - y)
    return np.where(x + y > 1.0, lobe, body) * scale


def _star_vertices(outer: float, inner: float, points: int = 5) -> np.ndarray:
    ang = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    rad = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)


def shape_sdf(shape: str, n: int, cx: float, cy: float, w: float, h: float, angle: float = 0.0,
              thickness: float = 0.0) -> np.ndarray:
    """Signed distance (pixels) of a shape centred at (cx, cy) with extent w x h on an n x n canvas.

    ``angle`` rotates (radians, clockwise on screen); ``thickness`` is the ring's band width.
    Pixels farther than the shape's reach hold ``FAR``. Returns (n, n) float32.
    """
    reach = 0.75 * math.hypot(w, h) + 3.0
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, n)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, n)
    out = np.full((n, n), FAR, np.float32)
    if x1 <= x0 or y1 <= y0:
        return out
    ys, xs = pixel_grid(n)
    dx, dy = xs[y0:y1, x0:x1] - cx, ys[y0:y1, x0:x1] - cy
    ca, sa = math.cos(angle), math.sin(angle)
    px, py = ca * dx + sa * dy, -sa * dx + ca * dy  # shape-local coordinates
    if shape == "circle":
        d = np.hypot(px, py) - w / 2
    elif shape == "ring":
        d = np.abs(np.hypot(px, py) - (w - thickness) / 2) - thickness / 2
    elif shape == "ellipse":
        a, b = w / 2, h / 2
        f = (px / a) ** 2 + (py / b) ** 2 - 1.0
        grad = 2.0 * np.hypot(px / (a * a), py / (b * b))
        d = f / np.maximum(grad, 1e-6)
    elif shape in ("square", "rectangle"):
        d = _box(px, py, w / 2, h / 2, 0.0)
    elif shape == "rounded rectangle":
        d = _box(px, py, w / 2, h / 2, 0.25 * min(w, h))
    elif shape == "triangle":
        verts = np.array([[0.0, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32)
        d = _polygon(px, py, verts)
    elif shape == "star":
        d = _polygon(px, py, _star_vertices(w / 2, 0.42 * w / 2).astype(np.float32))
    elif shape == "heart":
        d = _heart(px, py, h / 1.104)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    out[y0:y1, x0:x1] = d
    return out


def alpha_box(alpha: np.ndarray, threshold: float) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixel box of ``alpha > threshold`` for an (H, W) map, or None if empty."""
    mask = alpha > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def blur(alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an (H, W) map (sigma in pixels; <= 0 returns a copy)."""
    if sigma <= 0:
        return alpha.copy()
    return ndimage.gaussian_filter(alpha, sigma, truncate=3.0).astype(np.float32, copy=False)


def shift(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shift an (H, W) map by whole pixels, filling with zeros."""
    out = np.zeros_like(a)
    h, w = a.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = a[max(-dy, 0):h - max(dy, 0),
                                                                    max(-dx, 0):w - max(dx, 0)]
    return out


def solid(alpha: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 4) layer of one colour ``rgb`` (3,) with the given alpha (H, W)."""
    out = np.empty(alpha.shape + (4,), np.float32)
    out[..., :3] = rgb
    out[..., 3] = alpha
    return out


def over_fast(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Porter-Duff "over" of straight-alpha (H, W, 4) images for the normal blend mode (float32).

    Same result as :func:`layerdiff.blend.over` with mode "normal" (to float rounding), cheaper.
    """
    return composite_stack((dst, src))


def composite_stack(stack: np.ndarray | tuple[np.ndarray, ...]) -> np.ndarray:
    """Flatten an (L, H, W, 4) straight-alpha stack (bottom to top, normal blending): (H, W, 4).

    Accumulates premultiplied colour on channel planes (numpy broadcasts (H, W, 1) against
    (H, W, 3) slowly; planes are ~5x faster). Equals ``LayeredImage.composite()`` to float rounding.
    """
    h, w = stack[0].shape[:2]
    planar = np.ascontiguousarray(np.moveaxis(np.asarray(stack, np.float32), -1, 1))  # (L, 4, H, W)
    acc = np.zeros((4, h, w), np.float32)  # premultiplied R, G, B and alpha so far
    for planes in planar:
        a = planes[3]
        acc *= 1.0 - a
        acc[:3] += planes[:3] * a
        acc[3] += a
    alpha = acc[3]
    np.divide(acc[:3], alpha, out=acc[:3], where=alpha > 1e-8)
    acc[:3, alpha <= 1e-8] = 0.0
    np.clip(acc, 0.0, 1.0, out=acc)
    return np.ascontiguousarray(np.moveaxis(acc, 0, -1))  # (H, W, 4)


def with_halo(obj: np.ndarray, rgb: np.ndarray, sigma: float, opacity: float, dx: int = 0, dy: int = 0,
              ) -> np.ndarray:
    """Put a soft shadow (or, with no offset and a bright colour, a glow) under ``obj`` (H, W, 4).

    The halo is the object's alpha, shifted by (dx, dy), blurred by ``sigma`` and scaled by
    ``opacity``; it lives in the same layer, under the object, with partial alpha.
    """
    halo = blur(shift(obj[..., 3], dx, dy), sigma) * opacity
    return over_fast(solid(np.clip(halo, 0, 1), rgb), obj)


def outline_alpha(alpha: np.ndarray, radius: float) -> np.ndarray:
    """Alpha of the object grown by ``radius`` pixels (anti-aliased), for sticker borders."""
    dist = ndimage.distance_transform_edt(alpha < 0.5).astype(np.float32)  # (H, W) pixels to the object
    return np.maximum(np.clip(radius + 0.5 - dist, 0.0, 1.0), alpha)


def resize_rgba(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, 4) float image to ``size = (w, h)`` in premultiplied space (no dark fringes)."""
    if rgba.shape[1] == size[0] and rgba.shape[0] == size[1]:
        return rgba.astype(np.float32, copy=True)
    u8 = np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8)
    im = Image.fromarray(u8, "RGBA").convert("RGBa").resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    return np.asarray(im.convert("RGBA"), np.float32) / 255.0


def resize_gray(a: np.ndarray, size: tuple[int, int], resample: int = Image.Resampling.BICUBIC) -> np.ndarray:
    """Resize an (H, W) float map to ``size = (w, h)``."""
    return np.asarray(Image.fromarray(a.astype(np.float32), "F").resize(size, resample), np.float32)
