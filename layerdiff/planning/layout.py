"""Boxes for a plan's layers from their rough places: a fixed 3 x 3 grid of cells, filled in order.

A layer that has a box keeps it. Objects with a place take that cell (several in one cell share it,
side by side); objects without one take free cells, the middle row first (one object alone gets a
larger centred box; two go left and right, three in a row, four in the corners); a layer
planned "on" another gets a box centred in that layer's box, at
:data:`NEST_SCALE` of its side. Text layers without a place go to a band at the bottom (the second
at the top), as wide as the string needs.
"""

from __future__ import annotations

from .plan import Box, LayerPlan

CELL = 0.3
"""Side of a grid cell's box, as a share of the canvas side (the synthetic designs' objects are 0.16-0.42)."""
SINGLE = 0.44
"""Side of the box of an object alone on the canvas."""
NEST_SCALE = 0.5
CENTRES = {"left": 0.2, "center": 0.5, "right": 0.8, "top": 0.2, "bottom": 0.8}
FREE_ORDER = {
    2: ("left", "right"), 3: ("left", "center", "right"), 4: ("top left", "top right", "bottom left", "bottom right"),
}
"""Cells of 2-4 free objects, in order; other counts (or taken cells) fill :data:`CELL_ORDER`."""
CELL_ORDER = ("center", "left", "right", "top left", "top right", "bottom left", "bottom right", "top", "bottom")
TEXT_HEIGHT = 0.13
CHAR_WIDTH = 0.6
"""Width of one character in units of the text height (DejaVu Sans averages about 0.6 em)."""


def _cell(place: str) -> tuple[float, float]:
    words = place.split()
    cx = next((CENTRES[w] for w in words if w in ("left", "right")), 0.5)
    cy = next((CENTRES[w] for w in words if w in ("top", "bottom")), 0.5)
    return cx, cy


def _square(cx: float, cy: float, side: float) -> Box:
    half = side / 2
    x0, y0 = min(max(cx - half, 0.0), 1.0 - side), min(max(cy - half, 0.0), 1.0 - side)
    return round(x0, 4), round(y0, 4), round(x0 + side, 4), round(y0 + side, 4)


def assign_boxes(plan: LayerPlan, nested: dict[int, int] | None = None) -> LayerPlan:
    """Fill in the boxes the plan's layers lack (in place; returns the plan).

    nested: layer index -> index of the layer it sits on ("a star on a square").
    """
    nested = dict(nested or {})
    objects = [k for k, lay in enumerate(plan.layers) if lay.kind == "object" and lay.box is None and k not in nested]
    texts = [k for k, lay in enumerate(plan.layers) if lay.kind == "text" and lay.box is None]
    placed: dict[str, list[int]] = {}
    free = []
    for k in objects:
        place = plan.layers[k].place
        (placed.setdefault(place, []) if place else free).append(k)
    taken = {_cell(p) for p in placed}
    if len(free) == 1 and not placed:
        plan.layers[free[0]].box = _square(0.5, 0.5, SINGLE)
        free = []
    order = FREE_ORDER.get(len(free), ()) + CELL_ORDER
    cells = [p for i, p in enumerate(order) if _cell(p) not in taken and p not in order[:i]]
    for i, k in enumerate(free):
        if i < len(cells):
            placed.setdefault(cells[i], []).append(k)
        else:  # more objects than cells: share the cells in turn
            placed.setdefault(CELL_ORDER[i % len(CELL_ORDER)], []).append(k)
    for place, ks in placed.items():
        cx, cy = _cell(place)
        n = len(ks)
        side = CELL if n == 1 else min(CELL, 0.9 / n)
        for j, k in enumerate(ks):
            offset = (j - (n - 1) / 2) * side * 1.05
            if place in ("left", "right"):  # a column: share along y
                plan.layers[k].box = _square(cx, cy + offset, side)
            else:  # share along x
                plan.layers[k].box = _square(cx + offset, cy, side)
    for k, under in sorted(nested.items()):
        if plan.layers[k].box is not None:
            continue
        base = plan.layers[under].box or _square(0.5, 0.5, SINGLE)
        cx, cy = (base[0] + base[2]) / 2, (base[1] + base[3]) / 2
        plan.layers[k].box = _square(cx, cy, min(base[2] - base[0], base[3] - base[1]) * NEST_SCALE)
    for i, k in enumerate(texts):
        lay = plan.layers[k]
        width = min(0.92, max(0.2, len(lay.text or "") * CHAR_WIDTH * TEXT_HEIGHT))
        place = lay.place or ("bottom" if i % 2 == 0 else "top")
        cx, cy = _cell(place)
        cy = {0.2: 0.1, 0.8: 0.9}.get(cy, cy)
        x0 = min(max(cx - width / 2, 0.02), 0.98 - width)
        y0 = min(max(cy - TEXT_HEIGHT / 2, 0.0), 1.0 - TEXT_HEIGHT)
        lay.box = (round(x0, 4), round(y0, 4), round(x0 + width, 4), round(y0 + TEXT_HEIGHT, 4))
    return plan
