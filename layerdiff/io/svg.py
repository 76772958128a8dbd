"""Layered SVG output: raster layers as embedded PNG images, text layers as live ``<text>``.

Each layer is one ``<g>`` (bottom to top, so SVG paints them in stacking order), marked as an Inkscape
layer (``inkscape:groupmode="layer"``, ``inkscape:label`` = the layer name) with its opacity, visibility
(``display:none``) and blend mode (CSS ``mix-blend-mode``). A raster layer holds an ``<image>`` at its offset
with its pixels as a base64 8-bit PNG. A text layer (``layer.text`` set) holds one ``<text>`` per line at the
line's pen origin ``x`` and baseline ``y``, with ``font-size`` (px), ``font-family`` (the matched family,
then its generic fallback), ``font-weight``, ``font-style`` and ``fill``; the text stays editable in a
browser's inspector, Inkscape or Illustrator, and renders like the raster when the font is installed.
"""

from __future__ import annotations

import base64
import io
import os
import warnings
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from PIL import Image

from ..atomic import atomic_path
from ..layered import Layer, LayeredImage
from ..text.info import TextInfo

__all__ = ["write_svg", "write_svg_to", "svg_document"]

# our blend mode -> CSS mix-blend-mode
_CSS_BLEND = {"multiply": "multiply", "screen": "screen", "overlay": "overlay", "darken": "darken",
              "lighten": "lighten", "color_dodge": "color-dodge", "color_burn": "color-burn",
              "hard_light": "hard-light", "soft_light": "soft-light", "difference": "difference",
              "exclusion": "exclusion", "hue": "hue", "saturation": "saturation", "color": "color",
              "luminosity": "luminosity", "linear_dodge": "plus-lighter"}


def _png_data_uri(layer: Layer, encoded: Any, index: int) -> str:
    rgba = encoded.layer_array(index, 8) if encoded is not None else layer.array(8)  # (h, w, 4)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _num(value: float) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _font_family(family: str, generic: str) -> str:
    name = family.replace("'", "")
    return f"'{name}', {generic}"


def _group_attrs(layer: Layer, index: int, where: str) -> str:
    attrs = [f'id="layer-{index + 1}"', 'inkscape:groupmode="layer"', f"inkscape:label={quoteattr(layer.name)}"]
    style = []
    if not layer.visible:
        style.append("display:none")
    if layer.blend_mode != "normal":
        css = _CSS_BLEND.get(layer.blend_mode)
        if css is None:
            warnings.warn(f"{where}: layer {layer.name!r}: blend mode {layer.blend_mode!r} has no SVG/CSS "
                          "equivalent; written as normal", stacklevel=4)
        else:
            style.append(f"mix-blend-mode:{css}")
    if style:
        attrs.append(f'style="{";".join(style)}"')
    if layer.opacity < 1.0:
        attrs.append(f'opacity="{_num(layer.opacity)}"')
    return " ".join(attrs)


def _text_elements(info: TextInfo) -> list[str]:
    family = quoteattr(_font_family(info.font_family, info.generic_family))
    common = (f'font-size="{_num(info.font_size)}px" font-family={family} font-weight="{int(info.font_weight)}" '
              f'font-style="{info.font_style}" fill="{info.color_hex}"')
    out = []
    for line in info.lines:
        out.append(f'<text x="{_num(line.x)}" y="{_num(line.baseline)}" {common} xml:space="preserve">'
                   f"{escape(line.text)}</text>")
    return out


def svg_document(image: LayeredImage, *, where: str = "svg", encoded: Any = None, run: str | None = None) -> str:
    """The SVG text of ``image`` (see the module docstring). ``run`` is recorded as ``data-layerdiff-run``."""
    w, h = image.size
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" version="1.1" '
            f'width="{w}" height="{h}" viewBox="0 0 {w} {h}"')
    if run is not None:
        head += f" data-layerdiff-run={quoteattr(run)}"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', head + ">", "<title>layerdiff layered image</title>"]
    for i, layer in enumerate(image.layers):
        parts.append(f"<g {_group_attrs(layer, i, where)}>")
        if layer.text is not None and layer.text.lines:
            parts.extend(_text_elements(layer.text))
        else:
            x, y = layer.offset
            uri = _png_data_uri(layer, encoded, i)
            parts.append(f'<image x="{x}" y="{y}" width="{layer.width}" height="{layer.height}" '
                         f'preserveAspectRatio="none" href="{uri}" xlink:href="{uri}"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_svg_to(image: LayeredImage, file: Path, *, encoded: Any = None, run: str | None = None) -> None:
    """Write the SVG document to ``file`` directly (see :func:`write_svg`)."""
    Path(file).write_text(svg_document(image, where=str(file), encoded=encoded, run=run), "utf-8")


def write_svg(image: LayeredImage, path: str | os.PathLike, *, run: str | None = None) -> Path:
    """Write ``image`` as a layered SVG, atomically; returns the path."""
    target = Path(path)
    with atomic_path(target) as tmp:
        write_svg_to(image, tmp, run=run)
    return target
