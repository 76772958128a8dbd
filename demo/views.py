"""What the demo shows: layers and composites on a checkerboard, the layer panel, the Extract canvas.

Everything here is rendering: a :class:`~layerdiff.layered.LayeredImage` in, uint8 pictures, captions
and Markdown out. Pictures sent to the browser are written as PNG files by :func:`write_png`, each
under a fresh name (a temporary file renamed into place), never rewritten: Gradio serves a returned
file from its cache, where identical pictures share one path, and a picture that Gradio encoded itself
would be rewritten in place there while another client was still downloading it (the truncated
responses, "Too little data for declared Content-Length", of identical uploads at the same moment).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from layerdiff.atomic import atomic_path
from layerdiff.layered import LayeredImage, from_float

from .clicks import ClickPrompt

if TYPE_CHECKING:
    from layerdiff.planning import LayerPlan
    from layerdiff.text import TextInfo

PREVIEW_SIDE = 1024  # longest side of the composite preview sent to the browser
PREVIEW_MIN_SIDE = 256  # smaller composites are enlarged (nearest neighbour) to at least this
THUMB_SIDE = 384  # longest side of a layer thumbnail
INCLUDE_COLOR, EXCLUDE_COLOR, BOX_COLOR = (40, 200, 90), (230, 40, 40), (255, 210, 0)


# --------------------------------------------------------------------------- pictures
def on_checkerboard(rgba: np.ndarray, max_side: int, min_side: int = 0) -> np.ndarray:
    """(H, W, 4) float straight RGBA -> (h, w, 3) uint8 over a grey checkerboard.

    The longest side is shrunk to ``max_side``, or enlarged by a whole factor (pixels stay sharp)
    while it is under ``min_side``.
    """
    pil = Image.fromarray(from_float(rgba, 8), "RGBA")
    if max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    elif max(pil.size) < min_side:
        factor = -(-min_side // max(pil.size))  # ceil
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.Resampling.NEAREST)
    px = np.asarray(pil).astype(np.float32) / 255.0  # (h, w, 4)
    h, w = px.shape[:2]
    square = max(4, min(16, max(h, w) // 24))
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // square) + (xx // square)) % 2 == 0, 0.80, 0.95).astype(np.float32)[..., None]
    out = px[..., :3] * px[..., 3:] + board * (1.0 - px[..., 3:])  # (h, w, 3)
    return from_float(out, 8)


def layer_label(image: LayeredImage, index: int) -> str:
    """The caption of layer ``index``: "2 · Sun", with "(hidden)" for a hidden layer."""
    layer = image[index]
    return f"{index} · {layer.name}" + ("" if layer.visible else " (hidden)")


def layer_gallery(image: LayeredImage) -> list[tuple[np.ndarray, str]]:
    """One (thumbnail on a checkerboard, caption) per layer, bottom to top; opacity folded in."""
    out = []
    for i, layer in enumerate(image):
        pixels = layer.on_canvas(image.size)  # (H, W, 4), one layer at a time
        pixels[..., 3] *= layer.opacity
        out.append((on_checkerboard(pixels, THUMB_SIDE), layer_label(image, i)))
    return out


def composite_preview(image: LayeredImage) -> np.ndarray:
    """The composite of the visible layers on a checkerboard: (h, w, 3) uint8."""
    return on_checkerboard(image.composite(), PREVIEW_SIDE, PREVIEW_MIN_SIDE)


def describe(image: LayeredImage) -> str:
    """One Markdown line: layer count, hidden layers, canvas size; for a 16-bit stack, which downloads keep
    its 16 bits (the browser's previews and the SVG's embedded images are 8-bit)."""
    hidden = sum(not layer.visible for layer in image)
    extra = f", {hidden} hidden" if hidden else ""
    count = f"{len(image)} layer" + ("" if len(image) == 1 else "s")
    depth = " · 16-bit: PSD, ORA and ZIP keep 16 bits; previews and SVG are 8-bit" if image.bit_depth == 16 else ""
    return f"**{count}**{extra} · {image.width}×{image.height} px{depth}"


def parse_css_color(color: str | None) -> str:
    """'#rgb', '#rrggbb', 'rgb(r, g, b)' or 'rgba(r, g, b, a)' (what colour pickers send) -> '#rrggbb'."""
    text = (color or "").strip().lower()
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return text
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        return "#" + "".join(c * 2 for c in text[1:])
    m = re.fullmatch(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)", text)
    if m:
        values = [min(255, round(float(v))) for v in m.groups()]
        return "#" + "".join(f"{v:02x}" for v in values)
    raise ValueError(f"colour {color!r} is not '#rrggbb' or 'rgb(r, g, b)'")


def _cell(text: str, limit: int = 60) -> str:
    """``text`` as one Markdown table cell: one line, at most ``limit`` characters, ``|`` escaped."""
    flat = " ".join(str(text).split())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return flat.replace("\\", "\\\\").replace("|", "\\|") or "–"


def plan_table(plan: LayerPlan) -> str:
    """A layer plan as Markdown: a count line, then one table row per layer, bottom (the background) first;
    a layer's place (if named) follows its phrase, its box is (x0, y0)–(x1, y1) as fractions of the image."""
    bg = plan.background
    rows = [f"**Plan: {plan.num_layers} layer{'s' if plan.num_layers != 1 else ''}**, bottom to top",
            "", "| # | layer | colour | shape / font | box |", "|---|---|---|---|---|",
            f"| 0 | {_cell(bg.phrase or 'background')} ({bg.kind}) | {_cell(', '.join(bg.colors))} | – | whole image |"]
    for i, layer in enumerate(plan.layers, 1):
        what = f'text "{layer.text}"' if layer.kind == "text" else layer.phrase
        what += f" ({layer.place})" if layer.place else ""
        style = layer.style if layer.kind == "text" else layer.shape
        box = "by the layout" if layer.box is None else "({:.2f}, {:.2f})–({:.2f}, {:.2f})".format(*layer.box)
        rows.append(f"| {i} | {_cell(what)} | {_cell(layer.color or '')} | {_cell(style or '')} | {box} |")
    return "\n".join(rows)


def plan_json(plan: LayerPlan) -> str:
    """A layer plan as JSON to read and edit: one line per layer (the form ``LayerPlan.from_json`` reads)."""
    parts = []
    for key, value in plan.to_dict().items():
        if isinstance(value, list) and value:
            items = ",\n    ".join(json.dumps(item, ensure_ascii=False) for item in value)
            parts.append(f"  {json.dumps(key)}: [\n    {items}\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}"


def text_summary(info: TextInfo | None, index: int | None = None) -> str:
    """One Markdown line on the text of the selected layer (or that it has none)."""
    if info is None:
        return ("The selected layer is not a text layer (text layers come from a caption with a quoted string on "
                "*Generate*, or from files that carry text).")
    lines = len(info.text.split("\n"))
    style = " ".join(part for part in (info.font_family, "Bold" if info.font_weight >= 600 else "",
                                       "Italic" if info.font_style == "italic" else "") if part)
    where = f"Layer {index}" if index is not None else "The layer"
    return (f"**{where} is a text layer**: {lines} line{'s' if lines != 1 else ''} in {style}, "
            f"{info.font_size:g} px, {info.color_hex}, aligned {info.alignment}.")


# --------------------------------------------------------------------------- files for the browser
def fresh_folder(work_dir: Path) -> Path:
    """A new, empty folder ``work_dir/<random id>`` for the files of one response."""
    folder = Path(work_dir) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def write_png(rgb: np.ndarray, target: Path) -> str:
    """Write (h, w, 3) uint8 ``rgb`` to the new file ``target`` (a temporary file, then renamed) and
    return its path as a string."""
    with atomic_path(target) as tmp:
        Image.fromarray(rgb, "RGB").save(tmp, format="PNG", compress_level=1)
    return str(target)


def render_stack(image: LayeredImage, work_dir: Path) -> tuple[list[tuple[str, str]], str]:
    """The layer panel [(thumbnail file, caption), ...] and the composite preview file of ``image``, written
    into a fresh folder of ``work_dir``."""
    folder = fresh_folder(work_dir)
    gallery = [(write_png(thumb, folder / f"layer-{i}.png"), caption)
               for i, (thumb, caption) in enumerate(layer_gallery(image))]
    return gallery, write_png(composite_preview(image), folder / "composite.png")


# --------------------------------------------------------------------------- the Extract canvas
def extract_canvas(image: LayeredImage | None, prompt: ClickPrompt | None = None
                   ) -> tuple[np.ndarray | None, ClickPrompt]:
    """The Extract tab's canvas: the bottom layer of ``image`` on a checkerboard with ``prompt`` drawn on
    it (points as dots, green include / red exclude; the box as a yellow rectangle; a pending corner as a
    cross), and the prompt bound to this canvas (a fresh one when the image size changed)."""
    if image is None or len(image) == 0:
        return None, ClickPrompt()
    bottom = image[0]
    source = bottom.on_canvas(image.size)  # (H, W, 4): what extraction peels from
    source[..., 3] *= bottom.opacity
    canvas = on_checkerboard(source, PREVIEW_SIDE, PREVIEW_MIN_SIDE)  # (h, w, 3) uint8
    preview = (canvas.shape[1], canvas.shape[0])
    if prompt is None or prompt.size != image.size:
        prompt = ClickPrompt(size=image.size, preview=preview)
    else:
        prompt = replace(prompt, preview=preview)
    return draw_prompt(canvas, prompt), prompt


def draw_prompt(canvas: np.ndarray, prompt: ClickPrompt) -> np.ndarray:
    """``canvas`` (h, w, 3) uint8 with the clicks of ``prompt`` drawn on a copy."""
    from PIL import ImageDraw

    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    (w, h), (pw, ph) = prompt.size, (pil.width, pil.height)
    sx, sy = pw / max(1, w), ph / max(1, h)
    r = max(4, round(max(pw, ph) / 90))
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        edges = (x0 * sx, y0 * sy, max(x0 * sx, x1 * sx - 1), max(y0 * sy, y1 * sy - 1))
        draw.rectangle(edges, outline=(20, 20, 20), width=max(3, r // 2 + 1))
        draw.rectangle(edges, outline=BOX_COLOR, width=max(2, r // 3))
    if prompt.corner is not None:
        cx, cy = (prompt.corner[0] + 0.5) * sx, (prompt.corner[1] + 0.5) * sy
        for dx, dy in ((2 * r, 0), (0, 2 * r)):
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=(20, 20, 20), width=max(4, r // 2 + 2))
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=BOX_COLOR, width=max(2, r // 3))
    for x, y, label in prompt.points:
        cx, cy = (x + 0.5) * sx, (y + 0.5) * sy
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=INCLUDE_COLOR if label else EXCLUDE_COLOR,
                     outline=(255, 255, 255), width=max(1, r // 4))
    return np.asarray(pil)
