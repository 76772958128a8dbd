"""What a text layer says and how it looks: :class:`TextLine` (one recognised line) and :class:`TextInfo`
(a block of lines sharing one style), with a JSON-safe dict form used by every file format.

Coordinates are canvas pixels. ``baseline`` is the y of a line's baseline; a line's ``x`` is its pen origin
(where the first glyph's advance starts, as SVG ``<text x>`` and PIL's ``"ls"`` anchor place it).
``font_size`` is the em size in pixels (CSS ``font-size``). Colours are 8-bit RGB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["TextLine", "TextInfo", "ALIGNMENTS", "GENERIC_FAMILIES", "layer_name"]

ALIGNMENTS = ("left", "center", "right")
GENERIC_FAMILIES = ("serif", "sans-serif", "monospace")

Box = tuple[int, int, int, int]
_NAME_CHARS = 40  # characters of the first line kept in a text layer's name


def layer_name(text: str) -> str:
    """The name of a layer holding ``text``: ``Text: `` and its first line (at most 40 characters), as layer
    editors name type layers after their words; ``Text`` when the text is blank."""
    first = text.split("\n", 1)[0].strip()
    return f"Text: {first[:_NAME_CHARS]}" if first else "Text"


def _box(value: Any, what: str) -> Box:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ValueError(f"{what} must be 4 integers [x0, y0, x1, y1], got {value!r}")
    x0, y0, x1, y1 = (int(v) for v in value)
    if x1 < x0 or y1 < y0:
        raise ValueError(f"{what} {value!r} has negative size")
    return x0, y0, x1, y1


def _number(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


@dataclass
class TextLine:
    """One line of text: its wording, ink box, baseline y, pen-origin x and recognition confidence."""

    text: str
    box: Box
    baseline: float
    x: float
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "box": list(self.box), "baseline": round(float(self.baseline), 2),
                "x": round(float(self.x), 2), "confidence": round(float(self.confidence), 4)}

    @classmethod
    def from_dict(cls, data: Any) -> TextLine:
        """The inverse of :meth:`to_dict`; raises ``ValueError`` naming the bad field."""
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise ValueError(f"text line must be an object with a 'text' string, got {data!r:.80}")
        return cls(data["text"], _box(data.get("box"), "line box"), _number(data.get("baseline"), "line baseline"),
                   _number(data.get("x", data.get("box", [0])[0]), "line x"),
                   _number(data.get("confidence", 1.0), "line confidence"))


@dataclass
class TextInfo:
    """A text block (one or more lines in one style) carried by a text layer.

    ``text`` is the lines joined by ``"\\n"``; ``box`` the union of the lines' ink boxes; ``baseline`` the first
    line's. ``font_family`` is the best-matching family among the fonts on the machine that read it,
    ``generic_family`` its CSS fallback. ``line_height`` is the baseline-to-baseline distance (px).
    ``font_file`` is the matched font file on that machine (a hint for re-rendering; other machines resolve
    the family again). ``confidence`` is the mean recognition confidence in [0, 1].
    """

    text: str
    box: Box
    baseline: float
    font_size: float
    color: tuple[int, int, int]
    font_family: str = "DejaVu Sans"
    font_weight: int = 400
    font_style: str = "normal"
    generic_family: str = "sans-serif"
    alignment: str = "left"
    line_height: float = 0.0
    lines: list[TextLine] = field(default_factory=list)
    confidence: float = 1.0
    font_file: str | None = None

    def __post_init__(self) -> None:
        self.box = _box(self.box, "text box")
        self.color = tuple(int(min(max(round(float(c)), 0), 255)) for c in self.color)  # type: ignore[assignment]
        if len(self.color) != 3:
            raise ValueError(f"text colour must be RGB, got {self.color!r}")
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"text alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")
        if self.generic_family not in GENERIC_FAMILIES:
            raise ValueError(f"generic font family must be one of {GENERIC_FAMILIES}, got {self.generic_family!r}")
        if self.font_style not in ("normal", "italic"):
            raise ValueError(f"font style must be 'normal' or 'italic', got {self.font_style!r}")
        if not self.font_size > 0:
            raise ValueError(f"font size must be positive, got {self.font_size!r}")
        if not self.line_height:
            self.line_height = round(1.2 * float(self.font_size), 2)

    @property
    def color_hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.color)

    def transformed(self, factor: float = 1.0, center: tuple[float, float] = (0.0, 0.0), dx: float = 0.0,
                    dy: float = 0.0) -> TextInfo:
        """The block after its layer is scaled by ``factor`` about ``center`` and then moved by ``(dx, dy)`` px:
        boxes, baselines and pen origins follow the pixels; font size and line height scale by ``factor``."""
        cx, cy = center

        def px(x: float) -> float:
            return cx + (x - cx) * factor + dx

        def py(y: float) -> float:
            return cy + (y - cy) * factor + dy

        def box(b: Box) -> Box:
            return (int(round(px(b[0]))), int(round(py(b[1]))), int(round(px(b[2]))), int(round(py(b[3]))))

        lines = [replace(line, box=box(line.box), baseline=py(line.baseline), x=px(line.x)) for line in self.lines]
        return replace(self, box=box(self.box), baseline=py(self.baseline), font_size=self.font_size * factor,
                       line_height=self.line_height * factor, lines=lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the form stored in manifests, ORA attributes and PSD metadata)."""
        return {"text": self.text, "box": list(self.box), "baseline": round(float(self.baseline), 2),
                "font_size": round(float(self.font_size), 2), "color": list(self.color),
                "font_family": self.font_family, "font_weight": int(self.font_weight),
                "font_style": self.font_style, "generic_family": self.generic_family,
                "alignment": self.alignment, "line_height": round(float(self.line_height), 2),
                "lines": [line.to_dict() for line in self.lines],
                "confidence": round(float(self.confidence), 4), "font_file": self.font_file}

    @classmethod
    def from_dict(cls, data: Any) -> TextInfo:
        """The inverse of :meth:`to_dict`; raises ``ValueError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"text info must be an object, got {type(data).__name__}")
        if not isinstance(data.get("text"), str):
            raise ValueError("text info has no 'text' string")
        color = data.get("color")
        if not isinstance(color, (list, tuple)) or len(color) != 3:
            raise ValueError(f"text colour must be [r, g, b], got {color!r}")
        lines = data.get("lines", [])
        if not isinstance(lines, list):
            raise ValueError("text info 'lines' must be a list")
        font_file = data.get("font_file")
        try:
            return cls(
                text=data["text"], box=_box(data.get("box"), "text box"),
                baseline=_number(data.get("baseline"), "baseline"),
                font_size=_number(data.get("font_size"), "font size"),
                color=tuple(_number(c, "colour channel") for c in color),  # type: ignore[arg-type]
                font_family=str(data.get("font_family", "DejaVu Sans")),
                font_weight=int(_number(data.get("font_weight", 400), "font weight")),
                font_style=str(data.get("font_style", "normal")),
                generic_family=str(data.get("generic_family", "sans-serif")),
                alignment=str(data.get("alignment", "left")),
                line_height=_number(data.get("line_height", 0.0), "line height"),
                lines=[TextLine.from_dict(line) for line in lines],
                confidence=_number(data.get("confidence", 1.0), "confidence"),
                font_file=str(font_file) if isinstance(font_file, str) else None)
        except (TypeError, ValueError) as err:
            raise ValueError(str(err)) from None
