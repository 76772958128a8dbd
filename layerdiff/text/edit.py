"""Editing a text layer: new words, colour, size or font, typeset in the layer's own style."""

from __future__ import annotations

from ..errors import LayerdiffError
from ..layered import LayeredImage
from .render import render_text, retypeset

__all__ = ["edit_text_layer", "NotATextLayerError"]


class NotATextLayerError(LayerdiffError, ValueError):
    """The layer chosen for a text edit carries no text."""


def edit_text_layer(stack: LayeredImage, layer: int | str, text: str | None = None, *,
                    color: tuple[int, int, int] | None = None, font_size: float | None = None,
                    font_family: str | None = None) -> LayeredImage:
    """A copy of ``stack`` whose text layer ``layer`` (index or name) is re-rendered.

    New words (``"\n"`` separates lines), colour (RGB 0-255), size (em px) or family; the layer keeps its
    alignment, anchor, name (an automatic ``Text: ...`` name follows the new words), visibility, opacity, blend
    mode and group. Only that layer's pixels change: the layers below, which hold what lay under the old
    words, show through where the old glyphs were.
    """
    out = stack.copy()
    index = out.index_of(layer)
    old = out.layers[index]
    if old.text is None:
        raise NotATextLayerError(f"layer {index} ({old.name!r}) has no text; decompose with text recognition "
                                 "(pip install 'layerdiff[text]') or pick a text layer")
    if text is not None and not text.strip():
        raise ValueError("the new text is empty; hide or delete the layer instead")
    if color is not None and (len(color) != 3 or any(not 0 <= int(c) <= 255 for c in color)):
        raise ValueError(f"colour must be three integers in 0-255, got {color!r}")
    info = retypeset(old.text, text, color=color, font_size=font_size, font_family=font_family)
    new = render_text(info, out.size, name=None if old.name.startswith("Text:") else old.name)
    new.visible, new.opacity, new.blend_mode = old.visible, old.opacity, old.blend_mode
    new.metadata = dict(old.metadata)
    out.layers[index] = new
    return out
