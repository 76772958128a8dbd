"""Text layers: read the text of an image as editable text (wording, box, baseline, font, size, colour,
alignment), attach it to the layers that hold it, and typeset it again.

Only :class:`TextInfo` and :class:`TextLine` are imported eagerly (``layerdiff.layered`` needs them); the
readers and renderers load on first attribute access, and the OCR engine (``rapidocr-onnxruntime``, the
``text`` extra) only when text is read.
"""

from __future__ import annotations

import importlib
from typing import Any

from .info import ALIGNMENTS, GENERIC_FAMILIES, TextInfo, TextLine, layer_name

_LAZY = {
    "detect_text": "layerdiff.text.detect",
    "read_text": "layerdiff.text.detect",
    "annotate_text_layers": "layerdiff.text.detect",
    "render_text": "layerdiff.text.render",
    "retypeset": "layerdiff.text.render",
    "edit_text_layer": "layerdiff.text.edit",
    "available_fonts": "layerdiff.text.fonts",
    "ocr_available": "layerdiff.text.ocr",
}

__all__ = ["TextInfo", "TextLine", "ALIGNMENTS", "GENERIC_FAMILIES", "layer_name", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'layerdiff.text' has no attribute {name!r}")
