"""Opaque background layers of the synthetic designs: solid, gradients, textures, photo crops.

Each background is first drawn as a *spec* (a dict of resolution-free parameters, all random
choices made with the caller's generator) and then rendered at any size, so one design can be
rendered at 128 px for training and at 512 px for evaluation.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from PIL import Image

from .synth_raster import pixel_grid, resize_gray
from .synth_vocab import PHOTOS, article, jitter_color, pick_colors

BACKGROUND_TYPES = ("solid", "linear", "radial", "noise", "stripes", "dots", "photo")
_TYPE_WEIGHTS = np.array([0.18, 0.18, 0.1, 0.12, 0.1, 0.1, 0.22])


@functools.lru_cache(maxsize=len(PHOTOS))
def load_photo(name: str) -> np.ndarray:
    """An ``skimage.data`` sample image as (H, W, 3) float32 RGB in [0, 1] (read-only, cached)."""
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; known: {sorted(PHOTOS)}")
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    arr = img[..., :3].astype(np.float32) / 255.0
    arr.setflags(write=False)
    return arr


def sample_photo_crop(rng: np.random.Generator, name: str, aspect: float = 1.0) -> tuple[float, ...]:
    """A random crop box (x0, y0, x1, y1), normalised to the photo, of width/height ``aspect``."""
    h, w = load_photo(name).shape[:2]
    scale = float(rng.uniform(0.45, 1.0))
    ch = scale * min(h, w / aspect)
    cw = ch * aspect
    x0 = float(rng.uniform(0, w - cw))
    y0 = float(rng.uniform(0, h - ch))
    return x0 / w, y0 / h, (x0 + cw) / w, (y0 + ch) / h


@functools.lru_cache(maxsize=len(PHOTOS))
def _photo_pil(name: str) -> Image.Image:
    return Image.fromarray(np.round(load_photo(name) * 255).astype(np.uint8), "RGB")


def render_photo_crop(name: str, crop: tuple[float, ...], size: tuple[int, int]) -> np.ndarray:
    """Crop ``name`` to the normalised ``crop`` box and resize to ``size = (w, h)``: (h, w, 3) float32."""
    im = _photo_pil(name)
    w, h = im.size
    box = (crop[0] * w, crop[1] * h, crop[2] * w, crop[3] * h)
    out = im.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=2.0)
    return np.asarray(out, np.float32) / 255.0


def sample_background(rng: np.random.Generator, photos: bool = True) -> dict[str, Any]:
    """Draw a background spec. Keys: type, caption, color (the main colour name or None), params."""
    weights = _TYPE_WEIGHTS.copy()
    if not photos:
        weights[BACKGROUND_TYPES.index("photo")] = 0.0
    kind = BACKGROUND_TYPES[int(rng.choice(len(BACKGROUND_TYPES), p=weights / weights.sum()))]
    c1, c2 = pick_colors(rng, 2)
    spec: dict[str, Any] = {"type": kind, "color": c1, "rgb": [jitter_color(c1, rng), jitter_color(c2, rng)]}
    if kind == "solid":
        spec["caption"] = f"a solid {c1} background"
    elif kind == "linear":
        spec["angle"] = float(rng.uniform(0, 2 * math.pi))
        spec["caption"] = f"{article(c1)} to {c2} gradient background"
    elif kind == "radial":
        spec["center"] = rng.uniform(0.2, 0.8, size=2).astype(np.float32)
        spec["radius"] = float(rng.uniform(0.5, 1.1))
        spec["caption"] = f"a radial {c1} to {c2} gradient background"
    elif kind == "noise":
        g = int(rng.integers(3, 9))
        spec["coarse"] = rng.random((g, g), dtype=np.float32)
        spec["fine"] = rng.random((16, 16), dtype=np.float32)
        spec["caption"] = f"a mottled {c1} and {c2} texture background"
    elif kind == "stripes":
        spec["angle"] = float(rng.choice([0.0, math.pi / 2, math.pi / 4, -math.pi / 4]))
        spec["period"] = float(rng.uniform(0.06, 0.2))
        spec["duty"] = float(rng.uniform(0.3, 0.6))
        spec["caption"] = f"{article(c1)} and {c2} striped background"
    elif kind == "dots":
        spec["period"] = float(rng.uniform(0.08, 0.2))
        spec["radius"] = float(rng.uniform(0.15, 0.35))
        spec["caption"] = f"{article(c1)} background with {c2} polka dots"
    else:  # photo
        name = list(PHOTOS)[int(rng.integers(len(PHOTOS)))]
        spec["photo"] = name
        spec["crop"] = sample_photo_crop(rng, name)
        spec["color"] = None
        spec["caption"] = f"a background photo of {PHOTOS[name]}"
    return spec


PHOTO_ADJUSTMENTS = ("exposure", "levels", "curves", "posterize", "threshold", "invert", "colorize")


def sample_adjusted_photo(rng: np.random.Generator) -> dict[str, Any]:
    """A photo background under an image editor's adjustment (exposure with clipped highlights, levels,
    curves, posterize, threshold, invert, colourise), the whole photo or 2-4 side-by-side strips each with
    its own adjustment (a before/after or contact-sheet collage). Adjustments flatten parts of a photo
    into uniform areas (clipped skies, posterised bands) that still belong to the photo's layer. Drawn
    only when a design stream asks for adjusted photos, so other streams are unchanged."""
    name = list(PHOTOS)[int(rng.integers(len(PHOTOS)))]
    strips = 1 if rng.random() < 0.5 else int(rng.integers(2, 5))
    adjust = []
    for _ in range(strips):
        kind = PHOTO_ADJUSTMENTS[int(rng.integers(len(PHOTO_ADJUSTMENTS)))]
        if rng.random() < 0.2 and strips > 1:
            kind = "none"
        adjust.append({"kind": kind, "gain": float(rng.uniform(1.4, 3.5)), "gamma": float(rng.uniform(0.4, 2.5)),
                       "black": float(rng.uniform(0.0, 0.35)), "white": float(rng.uniform(0.55, 1.0)),
                       "levels": int(rng.integers(2, 7)), "cut": float(rng.uniform(0.3, 0.7)),
                       "tint": jitter_color(pick_colors(rng, 1)[0], rng)})
    return {"type": "photo", "photo": name, "crop": sample_photo_crop(rng, name), "color": None,
            "rgb": [np.zeros(3, np.float32), np.ones(3, np.float32)], "adjust": adjust,
            "vertical": bool(rng.random() < 0.5),
            "caption": f"a background photo of {PHOTOS[name]}" + (" in an edited collage" if strips > 1 else "")}


def adjust_photo(rgb: np.ndarray, adj: dict[str, Any]) -> np.ndarray:
    """One adjustment of :func:`sample_adjusted_photo` applied to (h, w, 3) RGB in [0, 1]."""
    kind = adj["kind"]
    if kind == "exposure":
        return np.clip(rgb * adj["gain"], 0, 1)
    if kind == "levels":
        return np.clip((rgb - adj["black"]) / max(adj["white"] - adj["black"], 0.05), 0, 1)
    if kind == "curves":
        return np.clip(rgb, 0, 1) ** adj["gamma"]
    if kind == "posterize":
        n = adj["levels"]
        return np.minimum(np.floor(rgb * n), n - 1) / (n - 1)
    if kind == "threshold":
        luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)  # (h, w)
        return np.repeat((luma >= adj["cut"]).astype(np.float32)[..., None], 3, axis=-1)
    if kind == "invert":
        return 1.0 - rgb
    if kind == "colorize":
        luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)  # (h, w)
        return np.clip(luma[..., None] * 2 * np.asarray(adj["tint"], np.float32), 0, 1)
    return rgb


def _adjusted(rgb: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Apply the spec's adjustments to the whole photo or to its strips; (n, n, 3)."""
    out = rgb.copy()
    parts = spec["adjust"]
    n = rgb.shape[0]
    edges = np.linspace(0, n, len(parts) + 1).round().astype(int)
    for adj, lo, hi in zip(parts, edges[:-1], edges[1:]):
        sl = (slice(None), slice(lo, hi)) if spec["vertical"] else (slice(lo, hi), slice(None))
        out[sl] = adjust_photo(rgb[sl], adj)
    return out


def _mix(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + t[..., None] * (b - a)  # (H, W, 3)


def render_background(spec: dict[str, Any], n: int) -> np.ndarray:
    """Render a background spec on an n x n canvas: (n, n, 4) float32, alpha 1 everywhere."""
    ys, xs = pixel_grid(n)
    u, v = xs / n, ys / n  # normalised coordinates
    a, b = spec["rgb"]
    kind = spec["type"]
    if kind == "solid":
        rgb = np.broadcast_to(a, (n, n, 3))
    elif kind == "linear":
        ca, sa = math.cos(spec["angle"]), math.sin(spec["angle"])
        t = (u - 0.5) * ca + (v - 0.5) * sa
        rgb = _mix(np.clip(t / (abs(ca) * 0.5 + abs(sa) * 0.5) * 0.5 + 0.5, 0, 1), a, b)
    elif kind == "radial":
        cx, cy = spec["center"]
        rgb = _mix(np.clip(np.hypot(u - cx, v - cy) / spec["radius"], 0, 1), a, b)
    elif kind == "noise":
        t = 0.75 * resize_gray(spec["coarse"], (n, n)) + 0.25 * resize_gray(spec["fine"], (n, n))
        rgb = _mix(np.clip(t, 0, 1), a, b)
    elif kind == "stripes":
        ca, sa = math.cos(spec["angle"]), math.sin(spec["angle"])
        phase = np.mod((u * ca + v * sa) / spec["period"], 1.0)
        d = (np.abs(phase - 0.5) - spec["duty"] / 2) * spec["period"] * n  # pixels, < 0 inside a stripe
        rgb = _mix(np.clip(0.5 - d, 0, 1), a, b)
    elif kind == "dots":
        p = spec["period"]
        lu, lv = np.mod(u / p, 1.0) - 0.5, np.mod(v / p, 1.0) - 0.5
        d = (np.hypot(lu, lv) - spec["radius"]) * p * n
        rgb = _mix(np.clip(0.5 - d, 0, 1), a, b)
    elif kind == "photo":
        rgb = render_photo_crop(spec["photo"], spec["crop"], (n, n))
        if spec.get("adjust"):
            rgb = _adjusted(rgb, spec)
    else:
        raise ValueError(f"unknown background type {kind!r}; known: {BACKGROUND_TYPES}")
    out = np.ones((n, n, 4), np.float32)
    out[..., :3] = np.clip(rgb, 0, 1)
    return out
