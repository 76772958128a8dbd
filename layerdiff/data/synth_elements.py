"""Foreground elements of the synthetic designs: shapes, text, emoji icons, framed photos, overlays.

As for backgrounds, an element is a resolution-free *spec* (drawn with the caller's generator)
rendered to one full-canvas RGBA layer at any size. Geometry is normalised to the canvas side:
``box = (cx, cy, w, h)`` is the object's centre and extent without its shadow or glow. Shadows
and glows belong to their object's layer, under the object (see :func:`synth_raster.with_halo`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .emoji import EmojiLibrary
from .synth_backgrounds import render_photo_crop, sample_photo_crop
from .synth_raster import coverage, outline_alpha, over_fast, pixel_grid, shape_sdf, solid, with_halo
from .synth_vocab import (
    FONTS,
    PHOTOS,
    SHAPES,
    WORDS,
    article,
    contrast_color,
    font_dir,
    jitter_color,
    join_phrases,
    pick_colors,
)

KIND_DEPTH = {"overlay": 0.0, "photo": 1.0, "shape": 2.0, "icon": 3.0, "text": 4.0}
"""Typical stacking order of element kinds (lower is further back); designs perturb it."""

SHADOW_RGB = np.zeros(3, np.float32)


@functools.lru_cache(maxsize=512)
def get_font(style: str, px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The DejaVu font of ``style`` at ``px`` pixels, or PIL's default font when DejaVu is missing."""
    try:
        return ImageFont.truetype(str(font_dir() / FONTS[style]), px)
    except OSError:
        return ImageFont.load_default(size=px)


def _text_width(style: str, text: str) -> float:
    """Advance width of ``text`` in units of the font size."""
    return float(get_font(style, 100).getlength(text)) / 100.0


# ---------------------------------------------------------------------------------------- sampling
def _effect(rng: np.random.Generator, size: float, glow_ok: bool = True) -> dict[str, Any] | None:
    r = rng.random()
    if r < 0.35:
        return {"type": "shadow", "dx": float(rng.uniform(0.01, 0.035)), "dy": float(rng.uniform(0.01, 0.04)),
                "sigma": float(rng.uniform(0.008, 0.03)), "opacity": float(rng.uniform(0.35, 0.7)),
                "rgb": SHADOW_RGB, "caption": "a soft shadow"}
    if glow_ok and r < 0.45:
        name = pick_colors(rng, 1, avoid=("black", "navy", "brown", "gray"))[0]
        return {"type": "glow", "dx": 0.0, "dy": 0.0, "sigma": float(rng.uniform(0.015, 0.04)),
                "opacity": float(rng.uniform(0.7, 1.0)), "rgb": jitter_color(name, rng),
                "caption": f"{article(name)} glow"}
    return None


def _caption(head: str, extras: list[str], effect: dict[str, Any] | None) -> str:
    """Join a head phrase, extras and an effect: 'a red circle with a white outline and a soft shadow'."""
    extras = extras + ([effect["caption"]] if effect else [])
    return head + (" with " + join_phrases(extras) if extras else "")


def _shape_extent(rng: np.random.Generator, shape: str) -> tuple[float, float]:
    w = float(rng.uniform(0.16, 0.42))
    if shape == "rectangle":
        ratio = float(rng.uniform(0.35, 0.65))
        return (w, w * ratio) if rng.random() < 0.7 else (w * ratio, w)
    if shape == "ellipse":
        return w, w * float(rng.uniform(0.45, 0.75))
    if shape == "rounded rectangle":
        return w, w * float(rng.uniform(0.4, 1.0))
    if shape == "triangle":
        return w, w * float(rng.uniform(0.8, 1.0))
    return w, w


def sample_shape(rng: np.random.Generator) -> dict[str, Any]:
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    color = pick_colors(rng, 1)[0]
    w, h = _shape_extent(rng, shape)
    rotatable = shape not in ("circle", "ring", "ellipse")
    angle = float(rng.uniform(-0.35, 0.35)) if rotatable and rng.random() < 0.3 else 0.0
    spec: dict[str, Any] = {"type": "shape", "kind": "shape", "shape": shape, "color": color,
                            "rgb": jitter_color(color, rng), "size": (w, h), "angle": angle,
                            "thickness": float(rng.uniform(0.2, 0.35)), "outline": None}
    extras = []
    if rng.random() < 0.2 and shape != "ring":
        oc = pick_colors(rng, 1, avoid=(color,))[0]
        width = float(rng.uniform(0.012, 0.03))
        spec["outline"] = {"color": oc, "rgb": jitter_color(oc, rng), "width": width}
        extras.append(f"{article(oc)} outline")
    spec["effect"] = _effect(rng, w)
    spec["caption"] = _caption(article(f"{color} {shape}"), extras, spec["effect"])
    return spec


def sample_text(rng: np.random.Generator, min_px: float, behind: str | None = None) -> dict[str, Any]:
    """A line of text; ``behind`` (the background's colour name, None for a photo) steers contrast."""
    text = WORDS[int(rng.integers(len(WORDS)))]
    if rng.random() < 0.3:
        text = text.upper()
    style = list(FONTS)[int(rng.integers(len(FONTS)))]
    color = contrast_color(rng, behind) if rng.random() < 0.8 else pick_colors(rng, 1)[0]
    low = min(max(0.07, min_px), 0.3)
    fsize = float(rng.uniform(low, max(0.2, low + 0.02)))
    width = _text_width(style, text)
    fsize = min(fsize, 0.9 / max(width, 1e-3))
    spec: dict[str, Any] = {"type": "text", "kind": "text", "text": text, "style": style, "color": color,
                            "rgb": jitter_color(color, rng), "font_size": fsize,
                            "size": (width * fsize, 1.15 * fsize), "outline": None, "shape": None}
    extras = []
    if rng.random() < 0.2:
        oc = pick_colors(rng, 1, avoid=(color,))[0]
        spec["outline"] = {"color": oc, "rgb": jitter_color(oc, rng), "width": float(rng.uniform(0.06, 0.12))}
        extras.append(f"{article(oc)} outline")
    spec["effect"] = _effect(rng, fsize)
    spec["caption"] = _caption(f'the text "{text}" in {color} {style}', extras, spec["effect"])
    return spec


def sample_icon(rng: np.random.Generator, lib: EmojiLibrary) -> dict[str, Any]:
    stem = lib.names[int(rng.integers(len(lib)))]
    s = float(rng.uniform(0.15, 0.38))
    sticker = rng.random() < 0.3
    name = lib.caption_name(stem)
    spec: dict[str, Any] = {"type": "icon", "kind": "icon", "stem": stem, "size": (s, s), "sticker": sticker,
                            "color": None, "shape": None, "effect": _effect(rng, s, glow_ok=False)}
    extras = ["a white border"] if sticker else []
    spec["caption"] = _caption(article(f"{name} {'sticker' if sticker else 'emoji'}"), extras, spec["effect"])
    return spec


def sample_icon_parts(rng: np.random.Generator, lib: EmojiLibrary) -> list[dict[str, Any]]:
    """Two specs (base, details) of one emoji split into amodal layers; [] if it cannot be split."""
    stem = lib.names[int(rng.integers(len(lib)))]
    if lib.render_parts(stem, 64) is None:
        return []
    s = float(rng.uniform(0.25, 0.45))
    name = lib.caption_name(stem)
    effect = _effect(rng, s, glow_ok=False)
    base = {"type": "icon_part", "kind": "icon", "stem": stem, "part": 0, "size": (s, s), "color": None,
            "shape": None, "effect": effect,
            "caption": _caption(f"the base of {article(name)} emoji", [], effect)}
    top = {"type": "icon_part", "kind": "icon", "stem": stem, "part": 1, "size": (s, s), "color": None,
           "shape": None, "effect": None, "caption": f"the details of {article(name)} emoji"}
    return [base, top]


def sample_photo(rng: np.random.Generator) -> dict[str, Any]:
    name = list(PHOTOS)[int(rng.integers(len(PHOTOS)))]
    frame = ["rectangle", "rounded rectangle", "circle"][int(rng.integers(3))]
    w = float(rng.uniform(0.25, 0.5))
    h = w if frame == "circle" else w * float(rng.uniform(0.6, 1.3))
    spec: dict[str, Any] = {"type": "photo", "kind": "photo", "photo": name, "frame": frame, "size": (w, h),
                            "crop": sample_photo_crop(rng, name, aspect=w / h), "color": None, "shape": None,
                            "border": float(rng.uniform(0.01, 0.025)) if rng.random() < 0.4 else 0.0,
                            "effect": _effect(rng, w, glow_ok=False)}
    frame_word = {"circle": "circular", "rectangle": "rectangular"}.get(frame, frame)
    extras = ["a white border"] if spec["border"] else []
    spec["caption"] = _caption(f"a photo of {PHOTOS[name]} in a {frame_word} frame", extras, spec["effect"])
    return spec


def sample_overlay(rng: np.random.Generator, full_ok: bool) -> dict[str, Any]:
    style = ["panel", "banner", "fade", "vignette"][int(rng.choice(4, p=[0.5, 0.2, 0.15, 0.15]))]
    if not full_ok and style in ("fade", "vignette"):
        style = "panel"
    color = pick_colors(rng, 1)[0]
    spec: dict[str, Any] = {"type": "overlay", "kind": "overlay", "style": style, "color": color,
                            "rgb": jitter_color(color, rng), "shape": None, "effect": None,
                            "opacity": float(rng.uniform(0.35, 0.8))}
    if style == "panel":
        spec["size"] = (float(rng.uniform(0.4, 0.85)), float(rng.uniform(0.25, 0.6)))
        spec["rounded"] = bool(rng.random() < 0.5)
        spec["caption"] = f"a semi-transparent {color} panel"
    elif style == "banner":
        spec["size"] = (1.0, float(rng.uniform(0.12, 0.3)))
        spec["caption"] = f"a semi-transparent {color} banner"
    elif style == "fade":
        spec["size"] = (1.0, 1.0)
        spec["angle"] = float(rng.choice([0.0, 0.5, 1.0, 1.5]) * math.pi)
        spec["caption"] = f"{article(color)} gradient fade overlay"
    else:
        spec["size"] = (1.0, 1.0)
        spec["caption"] = f"{article(color)} vignette"
    spec["full"] = style in ("fade", "vignette")
    return spec


# --------------------------------------------------------------------------------------- rendering
def _paste(canvas: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    """Copy ``patch`` (h, w, 4) into ``canvas`` at top-left (x0, y0), clipped to the canvas."""
    n_h, n_w = canvas.shape[:2]
    h, w = patch.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + w, n_w), min(y0 + h, n_h)
    if cx1 > cx0 and cy1 > cy0:
        canvas[cy0:cy1, cx0:cx1] = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]


def _render_shape(spec: dict[str, Any], n: int) -> np.ndarray:
    cx, cy = spec["center"]
    w, h = spec["size"]
    d = shape_sdf(spec["shape"], n, cx * n, cy * n, w * n, h * n, spec["angle"], spec["thickness"] * w * n)
    alpha = coverage(d)
    out = solid(alpha, spec["rgb"])
    if spec["outline"] is not None:
        t = max(spec["outline"]["width"] * n, 1.0)
        band = np.clip(t + 0.5 + d, 0.0, 1.0)  # 1 within t pixels inside the edge
        band = np.where(d < 0, band, 1.0)[..., None]
        out[..., :3] = spec["rgb"] + band * (spec["outline"]["rgb"] - spec["rgb"])
    return out


def _render_text(spec: dict[str, Any], n: int) -> np.ndarray:
    px = max(int(round(spec["font_size"] * n)), 6)
    font = get_font(spec["style"], px)
    xy = (spec["center"][0] * n, spec["center"][1] * n)
    outer = Image.new("L", (n, n))
    ImageDraw.Draw(outer).text(xy, spec["text"], fill=255, font=font, anchor="mm")
    inner_a = np.asarray(outer, np.float32) / 255.0
    out = solid(inner_a, spec["rgb"])
    if spec["outline"] is not None:
        sw = max(int(round(spec["outline"]["width"] * px)), 1)
        stroked = Image.new("L", (n, n))
        ImageDraw.Draw(stroked).text(xy, spec["text"], fill=255, font=font, anchor="mm", stroke_width=sw)
        outer_a = np.maximum(np.asarray(stroked, np.float32) / 255.0, inner_a)
        t = np.divide(inner_a, outer_a, out=np.zeros_like(inner_a), where=outer_a > 0)[..., None]
        out = solid(outer_a, spec["outline"]["rgb"])
        out[..., :3] = spec["outline"]["rgb"] + t * (spec["rgb"] - spec["outline"]["rgb"])
    return out


def _render_icon(spec: dict[str, Any], n: int, lib: EmojiLibrary) -> np.ndarray:
    px = max(int(round(spec["size"][0] * n)), 4)
    if spec["type"] == "icon_part":
        parts = lib.render_parts(spec["stem"], px)
        patch = parts[spec["part"]] if parts is not None else lib.render(spec["stem"], px)
    else:
        patch = lib.render(spec["stem"], px)
    out = np.zeros((n, n, 4), np.float32)
    _paste(out, patch, int(round(spec["center"][0] * n - px / 2)), int(round(spec["center"][1] * n - px / 2)))
    if spec.get("sticker"):
        border = outline_alpha(out[..., 3], max(0.05 * px, 1.5))
        out = over_fast(solid(border, np.ones(3, np.float32)), out)
    return out


def _render_photo(spec: dict[str, Any], n: int) -> np.ndarray:
    cx, cy = spec["center"]
    w, h = spec["size"]
    pw, ph = max(int(round(w * n)), 2), max(int(round(h * n)), 2)
    x0, y0 = int(round(cx * n - pw / 2)), int(round(cy * n - ph / 2))
    out = np.zeros((n, n, 4), np.float32)
    patch = np.ones((ph, pw, 4), np.float32)
    patch[..., :3] = render_photo_crop(spec["photo"], spec["crop"], (pw, ph))
    _paste(out, patch, x0, y0)
    frame = spec["frame"]
    fcx, fcy = x0 + pw / 2, y0 + ph / 2
    d = shape_sdf("rectangle" if frame == "rectangle" else frame, n, fcx, fcy, pw, ph)
    out[..., 3] = coverage(d)
    if spec["border"]:
        t = max(spec["border"] * n, 1.0)
        band = np.where(d < 0, np.clip(t + 0.5 + d, 0.0, 1.0), 1.0)[..., None]
        out[..., :3] = out[..., :3] + band * (1.0 - out[..., :3])
    return out


def _render_overlay(spec: dict[str, Any], n: int) -> np.ndarray:
    style = spec["style"]
    if style in ("panel", "banner"):
        cx, cy = spec["center"]
        w, h = spec["size"]
        shape = "rounded rectangle" if spec.get("rounded") else "rectangle"
        alpha = coverage(shape_sdf(shape, n, cx * n, cy * n, w * n + (4 if style == "banner" else 0), h * n))
    elif style == "fade":
        ys, xs = pixel_grid(n)
        a = spec["angle"]
        t = (xs / n - 0.5) * math.cos(a) + (ys / n - 0.5) * math.sin(a) + 0.5
        alpha = np.clip(t, 0, 1) ** 1.5
    else:
        ys, xs = pixel_grid(n)
        r = np.hypot(xs / n - 0.5, ys / n - 0.5) / math.sqrt(0.5)
        alpha = np.clip((r - 0.35) / 0.65, 0, 1) ** 1.5
    return solid((alpha * spec["opacity"]).astype(np.float32), spec["rgb"])


def render_element(spec: dict[str, Any], n: int, lib: EmojiLibrary | None) -> np.ndarray:
    """Render an element spec (with its ``center`` set) to a full (n, n, 4) float32 layer."""
    kind = spec["type"]
    if kind == "shape":
        out = _render_shape(spec, n)
    elif kind == "text":
        out = _render_text(spec, n)
    elif kind in ("icon", "icon_part"):
        if lib is None:
            raise ValueError("an icon element needs the emoji library (set LAYERDIFF_EMOJI_DIR)")
        out = _render_icon(spec, n, lib)
    elif kind == "photo":
        out = _render_photo(spec, n)
    elif kind == "overlay":
        out = _render_overlay(spec, n)
    else:
        raise ValueError(f"unknown element type {kind!r}")
    fx = spec.get("effect")
    if fx is not None:
        out = with_halo(out, fx["rgb"], fx["sigma"] * n, fx["opacity"], int(round(fx["dx"] * n)),
                        int(round(fx["dy"] * n)))
    return out
