"""The Extract tab's click prompt: a small state machine of include / exclude points and box corners.

A click on the Extract canvas arrives as a pixel of that canvas (``gr.SelectData.index``); a
:class:`ClickPrompt` maps it back to a pixel of the image shown there and accumulates points, or the two
corners of a box, until :meth:`ClickPrompt.referring` turns them into a
:class:`~layerdiff.referring.ReferringPrompt`. Plain Python: no Gradio, no NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from layerdiff.errors import LayerdiffError

if TYPE_CHECKING:
    from layerdiff.referring import ReferringPrompt

CLICK_MODES = {"include": "Include point", "exclude": "Exclude point", "box": "Box (click two corners)"}
MAX_CLICK_POINTS = 64


@dataclass(frozen=True)
class ClickPrompt:
    """The Extract tab's prompt: what was clicked on its canvas, in pixels of the image shown there.

    ``size`` is that image's (W, H) and ``preview`` the (w, h) of the canvas it was drawn on (the image
    shrunk or enlarged for display); a click's ``evt.index`` is a
    pixel of the canvas. ``points`` are ``(x, y, label)`` with label 1 (include) or 0 (exclude); ``box`` is
    ``(x0, y0, x1, y1)`` with exclusive right/bottom edges; ``corner`` is the first corner of a box whose
    opposite corner is not clicked yet.
    """

    size: tuple[int, int] = (0, 0)
    preview: tuple[int, int] = (0, 0)
    points: tuple[tuple[int, int, int], ...] = ()
    box: tuple[int, int, int, int] | None = None
    corner: tuple[int, int] | None = None

    @property
    def empty(self) -> bool:
        """No point, box or corner clicked yet."""
        return not self.points and self.box is None and self.corner is None

    def to_pixel(self, index: Any) -> tuple[int, int]:
        """A canvas pixel ``[x, y]`` (``gr.SelectData.index``) -> the image pixel (x, y) under it."""
        (w, h), (pw, ph) = self.size, self.preview
        if min(w, h, pw, ph) < 1:
            raise LayerdiffError("nothing to click on yet: open, decompose or generate an image first")
        try:
            px, py = (float(v) for v in index)
        except (TypeError, ValueError):
            raise LayerdiffError(f"a click must be [x, y] on the canvas, got {index!r}") from None
        if not (0 <= px < pw and 0 <= py < ph):
            raise LayerdiffError(f"click ({px:g}, {py:g}) is outside the {pw}x{ph} canvas")
        return min(w - 1, int((px + 0.5) * w / pw)), min(h - 1, int((py + 0.5) * h / ph))

    def click(self, mode: str, index: Any) -> ClickPrompt:
        """The prompt after a click at canvas pixel ``index`` in ``mode`` (see :data:`CLICK_MODES`):
        "include"/"exclude" add a point; "box" sets the first corner, then the opposite one (the box holds
        both clicked pixels; a third click starts a new box)."""
        if mode not in CLICK_MODES:
            raise ValueError(f"unknown click mode {mode!r}; known: {', '.join(CLICK_MODES)}")
        x, y = self.to_pixel(index)
        if mode in ("include", "exclude"):
            if len(self.points) >= MAX_CLICK_POINTS:
                raise LayerdiffError(f"at most {MAX_CLICK_POINTS} points: press *Clear prompt* to start again")
            return replace(self, points=(*self.points, (x, y, int(mode == "include"))))
        if self.corner is None:
            return replace(self, box=None, corner=(x, y))
        (cx, cy) = self.corner
        box = (min(cx, x), min(cy, y), max(cx, x) + 1, max(cy, y) + 1)
        return replace(self, box=box, corner=None)

    def referring(self, text: str = "", size: tuple[int, int] | None = None) -> ReferringPrompt:
        """The :class:`~layerdiff.referring.ReferringPrompt` of these clicks and the phrase ``text``, checked
        against the (W, H) ``size`` of the image it will be applied to."""
        from layerdiff.referring import ReferringPrompt

        text = " ".join((text or "").split())
        positive = any(label for _, _, label in self.points)
        if not (positive or self.box is not None or text):
            if self.corner is not None:
                raise LayerdiffError("the box has one corner only: click its opposite corner")
            what = "only excluded points" if self.points else "no prompt given"
            raise LayerdiffError(f"{what}: click the object (an include point or two box corners) or type "
                                 "a phrase")
        if size is not None and not self.empty and tuple(size) != tuple(self.size):
            raise LayerdiffError(f"the clicks were made on a {self.size[0]}x{self.size[1]} image but the bottom "
                                 f"layer is {size[0]}x{size[1]}: press *Clear prompt* and click again")
        return ReferringPrompt(points=list(self.points), box=self.box, text=text)

    def describe(self) -> str:
        """One line for the UI: what the prompt holds, or what to click next."""
        if self.size == (0, 0):
            return "Open, decompose or generate an image first; its bottom layer shows here."
        parts = []
        include = sum(label for _, _, label in self.points)
        if include:
            parts.append(f"{include} include point" + ("s" if include > 1 else ""))
        if len(self.points) - include:
            exclude = len(self.points) - include
            parts.append(f"{exclude} exclude point" + ("s" if exclude > 1 else ""))
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            parts.append(f"box ({x0}, {y0})–({x1}, {y1})")
        if self.corner is not None:
            parts.append(f"box corner ({self.corner[0]}, {self.corner[1]}): click the opposite corner")
        if not parts:
            return "Click the object (or two corners of a box around it), or type a phrase; then *Extract*."
        return "Prompt: " + ", ".join(parts) + "."
