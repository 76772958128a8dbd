"""Typesetting a :class:`~layerdiff.text.info.TextInfo` back into pixels, and re-flowing it with new words."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw

from ..layered import Layer
from .fonts import FontFace, find_face, load_font
from .info import TextInfo, TextLine, layer_name

__all__ = ["face_for", "render_text", "retypeset"]


def face_for(info: TextInfo) -> FontFace:
    """The face that renders ``info`` on this machine (its matched file if present, else the closest)."""
    return find_face(info.font_family, info.font_weight, info.font_style, info.generic_family, info.font_file)


def render_text(info: TextInfo, size: tuple[int, int], name: str | None = None) -> Layer:
    """``info`` drawn on a transparent ``size = (W, H)`` canvas, cropped to its ink, as a text layer."""
    face = face_for(info)
    font = load_font(face.path, info.font_size)
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for line in info.lines:
        draw.text((line.x, line.baseline), line.text, font=font, fill=255, anchor="ls")
    alpha = np.asarray(mask, np.float32) / 255.0  # (H, W)
    rgba = np.zeros((size[1], size[0], 4), np.float32)
    rgba[..., :3] = np.asarray(info.color, np.float32) / 255.0
    rgba[..., 3] = alpha
    rgba[alpha == 0, :3] = 0.0  # canonical colour under full transparency
    layer = Layer(rgba, name=name or layer_name(info.text))
    layer.text = info
    box = layer.content_bbox()
    if box is not None:
        x0, y0, x1, y1 = box
        layer.pixels = np.ascontiguousarray(rgba[y0:y1, x0:x1])
        layer.offset = (x0, y0)
    return layer


def retypeset(info: TextInfo, text: str | None = None, *, color: tuple[int, int, int] | None = None,
              font_size: float | None = None, font_family: str | None = None) -> TextInfo:
    """A new TextInfo with other words, colour, size or family, keeping the block's alignment and anchor.

    Lines are ``text.split("\\n")``. The first baseline stays; the others follow at the block's line height
    (scaled with the size). Each line's pen origin is placed so that the block keeps its left edge, centre or
    right edge (``alignment``), measured on the old lines' ink.
    """
    out = dataclasses.replace(info, lines=list(info.lines))
    if color is not None:
        out.color = tuple(int(c) for c in color)  # type: ignore[assignment]
    scale = 1.0
    if font_size is not None:
        if not font_size > 0:
            raise ValueError(f"font size must be positive, got {font_size}")
        scale = float(font_size) / info.font_size
        out.font_size = float(font_size)
        out.line_height = info.line_height * scale
    if font_family is not None:
        face = find_face(font_family, info.font_weight, info.font_style, info.generic_family)
        if face.family.lower() != font_family.lower():
            raise ValueError(f"font family {font_family!r} is not installed here (closest: {face.family!r})")
        out.font_family, out.font_file, out.generic_family = face.family, face.path, face.generic
    words = info.text if text is None else text
    texts = words.split("\n")
    face = face_for(out)
    font = load_font(face.path, out.font_size)
    x0, _, x1, _ = info.box
    anchor = {"left": x0, "center": (x0 + x1) / 2, "right": x1}[info.alignment]
    lines = []
    for i, line_text in enumerate(texts):
        baseline = info.baseline + i * out.line_height
        if line_text:
            left, top, right, bottom = font.getbbox(line_text, anchor="ls")
        else:
            left = top = right = bottom = 0
        ink_w = right - left
        ink_x0 = {"left": anchor, "center": anchor - ink_w / 2, "right": anchor - ink_w}[info.alignment]
        x = ink_x0 - left
        box = (int(np.floor(ink_x0)), int(np.floor(baseline + top)), int(np.ceil(ink_x0 + ink_w)),
               int(np.ceil(baseline + bottom)))
        old_conf = info.lines[i].confidence if i < len(info.lines) else 1.0
        lines.append(TextLine(line_text, box, float(baseline), float(x), old_conf if text is None else 1.0))
    out.lines = lines
    out.text = "\n".join(texts)
    out.box = (min(ln.box[0] for ln in lines), min(ln.box[1] for ln in lines),
               max(ln.box[2] for ln in lines), max(ln.box[3] for ln in lines))
    out.baseline = lines[0].baseline
    if text is not None:
        out.confidence = 1.0
    return out
