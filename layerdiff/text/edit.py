"""Editing a text layer: new words, colour, size or font, typeset in the layer's own style."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import LayerdiffError
from ..layered import LayeredImage
from .render import render_text, retypeset

__all__ = ["edit_text_layer", "run_text_edit", "NotATextLayerError"]


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


def run_text_edit(args: argparse.Namespace) -> int:
    """``layerdiff edit FILE --layer N --text "New words"`` (and ``--color``, ``--font-size``, ``--font-family``):
    re-render a text layer and write the outputs like every other edit. ``\\n`` in ``--text`` starts a line."""
    from ..cli.outputs import write_outputs
    from ..edit_ops import parse_color
    from ..io import load

    if args.op is not None:
        raise LayerdiffError("edit: --text/--font-size/--font-family edit a text layer; do not combine them with --op")
    if args.text is None and args.font_size is None and args.font_family is None:
        raise LayerdiffError("edit: give --op, or --text/--font-size/--font-family to edit a text layer")
    image = load(args.file)
    layer: int | str = int(args.layer) if args.layer.lstrip("-").isdigit() else args.layer
    try:
        color = None
        if args.color is not None:
            color = tuple(int(round(c * 255)) for c in parse_color(args.color)[:3])
        text = args.text.replace("\\n", "\n") if args.text is not None else None
        edited = edit_text_layer(image, layer, text, color=color, font_size=args.font_size,
                                 font_family=args.font_family)
    except (KeyError, IndexError, ValueError) as err:
        message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise LayerdiffError(f"{args.file}: {message}") from None
    for path in write_outputs(edited, args, Path(args.file).stem + "_edited"):
        print(f"wrote {path}")
    return 0
