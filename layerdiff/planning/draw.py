"""Layers drawn exactly from a plan: flat and gradient backgrounds, and quoted text set in a real font.

Backgrounds use the plan's exact colours: the vocabulary's (:data:`layerdiff.data.synth_vocab.COLORS`) or
the shade named ("light green", :mod:`layerdiff.planning.colours`); text is
typeset with :func:`layerdiff.text.render_text` in the DejaVu face the plan's style names, fitted
into its box, so it is sharp at any output size.
"""

from __future__ import annotations

import math

import numpy as np

from layerdiff.data.synth_vocab import FONTS, PHOTOS, font_dir
from layerdiff.layered import Layer

from .colours import colour_rgb
from .plan import Background, PlanLayer

PATTERN_PERIOD = 0.12
"""Stripe / dot period as a share of the canvas's shorter side."""

STYLE_FACES: dict[str, tuple[str, int, str, str]] = {
    "sans": ("DejaVu Sans", 400, "normal", "sans-serif"),
    "bold sans": ("DejaVu Sans", 700, "normal", "sans-serif"),
    "serif": ("DejaVu Serif", 400, "normal", "serif"),
    "bold serif": ("DejaVu Serif", 700, "normal", "serif"),
    "italic sans": ("DejaVu Sans", 400, "italic", "sans-serif"),
    "condensed bold sans": ("DejaVu Sans Condensed", 700, "normal", "sans-serif"),
    "monospace": ("DejaVu Sans Mono", 400, "normal", "monospace"),
    "light sans": ("DejaVu Sans", 200, "normal", "sans-serif"),
}
"""Plan font style -> (family, CSS weight, style, generic family) of the :class:`~layerdiff.text.TextInfo`."""

TEXT_FILL = 0.78
"""Share of the box height the text's em takes (the rest leaves room for descenders)."""


def rgb(name: str) -> np.ndarray:
    """A plan colour (a vocabulary colour or a shade of one: "light green") as float32 RGB in [0, 1], shape (3,)
    (:func:`layerdiff.planning.colours.colour_rgb`)."""
    return colour_rgb(name)


def is_exact(bg: Background) -> bool:
    """Whether :func:`draw_background` draws this background exactly (else the model draws the scene)."""
    return bg.kind != "scene" or _photo_name(bg.phrase) is not None


def _photo_name(phrase: str) -> str | None:
    words = set(phrase.lower().replace(",", " ").split())
    for name, text in PHOTOS.items():
        if text.split()[-1] in words and ("photo" in words or "photograph" in words or "picture" in words):
            return name
    return None


def draw_background(bg: Background, width: int, height: int) -> np.ndarray:
    """The opaque background layer: (height, width, 4) float32, alpha 1.

    solid: the colour; linear: from ``colors[0]`` to ``colors[1]`` along ``angle`` (0: left to right,
    90: top to bottom), end to end across the canvas; radial: ``colors[0]`` at the centre to ``colors[1]``
    at the farthest corner; stripes / dots: ``colors[1]`` stripes or dots on ``colors[0]``, anti-aliased;
    a scene that names a :data:`layerdiff.data.synth_vocab.PHOTOS` photo: that photo, cropped to fill.
    Other scenes are not drawn here (:func:`is_exact` is False): a ValueError.
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)  # (H, W) each
    u, v = (xs + 0.5) / width, (ys + 0.5) / height
    colors = [rgb(c) for c in bg.colors] or [rgb("white")]
    a = colors[0]
    b = colors[1] if len(colors) > 1 else a
    if bg.kind == "solid":
        out = np.broadcast_to(a, (height, width, 3))
    elif bg.kind == "linear":
        ca, sa = math.cos(math.radians(bg.angle)), math.sin(math.radians(bg.angle))
        t = (u - 0.5) * ca + (v - 0.5) * sa  # (H, W)
        t = np.clip(t / (abs(ca) * 0.5 + abs(sa) * 0.5) * 0.5 + 0.5, 0, 1)
        out = a + (b - a) * t[..., None]
    elif bg.kind == "radial":
        t = np.clip(np.hypot(u - 0.5, v - 0.5) / math.hypot(0.5, 0.5), 0, 1)  # (H, W)
        out = a + (b - a) * t[..., None]
    elif bg.kind in ("stripes", "dots"):
        side = min(width, height)
        period = PATTERN_PERIOD * side  # pixels
        if bg.kind == "stripes":
            phase = np.mod((xs + ys) / math.sqrt(2) / period, 1.0)
            d = (np.abs(phase - 0.5) - 0.25) * period  # pixels, < 0 inside a stripe
        else:
            lu, lv = np.mod(xs / period, 1.0) - 0.5, np.mod(ys / period, 1.0) - 0.5
            d = (np.hypot(lu, lv) - 0.25) * period
        t = np.clip(0.5 - d, 0, 1)  # (H, W) coverage of colours[1]
        out = a + (b - a) * t[..., None]
    else:
        name = _photo_name(bg.phrase)
        if name is None:
            raise ValueError(f"background {bg.phrase!r}: a scene without a known photo is drawn by the model")
        from layerdiff.data.synth_backgrounds import render_photo_crop

        out = render_photo_crop(name, (0.0, 0.0, 1.0, 1.0), (width, height))  # (H, W, 3)
    layer = np.ones((height, width, 4), np.float32)
    layer[..., :3] = out
    return layer


def text_colour(layer: PlanLayer, bg: Background) -> str:
    """The text's colour: its own, else white on a dark background and black on a light one."""
    if layer.color:
        return layer.color
    base = rgb(bg.colors[0]) if bg.colors else rgb("white")
    return "black" if float(base @ np.array([0.299, 0.587, 0.114], np.float32)) > 0.5 else "white"


def draw_text(layer: PlanLayer, bg: Background, width: int, height: int) -> Layer:
    """A text layer: ``layer.text`` in its style's DejaVu face, as large as fits its box, centred in it.

    The returned layer carries a :class:`~layerdiff.text.TextInfo` (editable text) and is cropped to its ink.
    """
    from layerdiff.text import TextInfo, TextLine, render_text
    from layerdiff.text.fonts import load_font

    style = layer.style or "bold sans"
    family, weight, fstyle, generic = STYLE_FACES[style]
    path = str(font_dir() / FONTS[style])
    x0, y0, x1, y1 = layer.box or (0.1, 0.8, 0.9, 0.95)
    bx0, by0, bx1, by1 = x0 * width, y0 * height, x1 * width, y1 * height
    string = (layer.text or "").replace("\n", " ")
    size = max(4.0, (by1 - by0) * TEXT_FILL)
    font = load_font(path, int(round(size)))
    left, top, right, bottom = font.getbbox(string, anchor="ls")
    if right - left > bx1 - bx0:  # too wide: shrink to the box width
        size = max(4.0, size * (bx1 - bx0) / (right - left))
        font = load_font(path, int(round(size)))
        left, top, right, bottom = font.getbbox(string, anchor="ls")
    x = (bx0 + bx1) / 2 - (left + right) / 2
    baseline = (by0 + by1) / 2 - (top + bottom) / 2
    ink = (int(math.floor(x + left)), int(math.floor(baseline + top)), int(math.ceil(x + right)),
           int(math.ceil(baseline + bottom)))
    colour = tuple(int(round(float(c) * 255)) for c in rgb(text_colour(layer, bg)))
    info = TextInfo(text=string, box=ink, baseline=float(baseline), font_size=float(int(round(size))),
                    color=colour, font_family=family, font_weight=weight, font_style=fstyle,
                    generic_family=generic, alignment="center", lines=[TextLine(string, ink, float(baseline),
                                                                                float(x))], font_file=path)
    out = render_text(info, (width, height))  # named after its words, as decomposed text layers are
    out.metadata["caption"] = layer.phrase
    return out
