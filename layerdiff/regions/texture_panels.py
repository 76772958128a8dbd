"""Translucent panels over a texture or a photo, found by their straight edges and the blend across them.

Over a repeating pattern the fit gives the background under a panel (:mod:`~layerdiff.regions.overlays`);
over a texture or a photograph nothing does, and the solver either leaves the panel in the background or
makes a layer of it that holds the picture under it. The panel's edges still tell it: the picture goes on
under the panel, so just inside an edge the image is ``s * (just outside) + b``, with one slope ``s`` for
the three channels (the panel's opacity ``a = 1 - s``, its colour ``b / a``): the blend line of
:func:`~layerdiff.regions.overlays.blend_consensus`, read across the edge.

1. :func:`edge_runs`: pixels whose step across a row (a column) is strong and stands out from the steps
   ``_AWAY`` px to either side (a line, not texture), in runs along the row of at least ``_RUN`` of the
   shorter side (gaps of ``_GAP`` px closed); the ``_KEEP`` longest and strongest runs each way;
2. :func:`find_texture_panels`: boxes inside the canvas, cut by one border, or bands across it (two edges
   meeting at a corner of the canvas tell too little), whose sides are runs or the border, covering at least
   ``_SIDE`` of each side and three sides' worth in all; across the sides (``_DEPTH`` px in and out, the
   middle of each side), the least-squares blend; kept when the opacity is in [0.1, 0.9], the colour in
   the sRGB cube, the error small next to how much the picture varies along the edges and the inside
   unblends into the cube; best first, then boxes apart from those taken;
3. :func:`insert_texture_panels`: each panel a layer just above the background (a layer the solver made
   of it is replaced), the background under it the picture unblended
   (:func:`~layerdiff.regions.overlays.insert_panels`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .background import blend_line
from .overlays import Panel, insert_panels
from .paint import make_room

__all__ = ["edge_runs", "find_texture_panels", "insert_texture_panels"]

_MIN_SIDE = 64
"""Shorter side (px) under which no panel is looked for."""
_STEP = 0.06
"""Least step across an edge (sum over channels, 0-1, pixels 2 apart)."""
_AWAY = 4
"""px: an edge pixel's step is at least twice the steps this far to either side."""
_RUN = 0.12
"""Least run along an edge, a fraction of the shorter side."""
_GAP = 3
"""px: gaps in a run this short are closed."""
_KEEP = 12
"""Runs kept each way (the longest and strongest)."""
_NEAR = 2
"""px: a run this close to a box's side lies on it."""
_SIDE = 0.3
"""Least share of each side that runs cover (a border side is covered)."""
_SIDES = 3.0
"""Least sum of the four sides' shares."""
_DEPTH = 3
"""px: the pixels compared lie this far inside and outside a side."""
_MARGIN = 0.15
"""Share of each side's length left out at both ends (rounded corners, objects at the corners)."""
_MIN_SIZE = (0.08, 0.15)
"""Least height and width of a box, fractions of the canvas."""
_ERROR = 0.03
"""Most mean error (per channel, 0-1) of the blend across the sides."""
_ERROR_SHARE = 0.12
"""Most error of the blend next to how much the picture varies along the sides."""
_VARIES = 0.05
"""Least variation of the picture along the sides (over a flat fill opacity cannot be told from colour)."""
_INSIDE = 0.9
"""Least share of a box's pixels that unblend into the sRGB cube."""
_SAME = 0.7
"""IoU of a layer's extent with a box above which the layer is the solver's copy of the panel."""


def _runs(line: np.ndarray, least: int) -> list[tuple[int, int]]:
    """(start, end) of the runs of ``line`` (n,) bool at least ``least`` long, gaps of ``_GAP`` closed."""
    closed = ndimage.binary_closing(line, np.ones(2 * _GAP + 1, bool)) | line
    labels, _ = ndimage.label(closed)
    return [(s[0].start, s[0].stop) for s in ndimage.find_objects(labels) if s[0].stop - s[0].start >= least]


def edge_runs(step: np.ndarray, least: int) -> list[tuple[int, int, int]]:
    """Runs (row, start, end) of edge pixels along the rows of ``step`` (h, w): the step across each row."""
    beside = np.zeros_like(step)  # (h, w) the larger step _AWAY px above or below
    beside[_AWAY:-_AWAY] = np.maximum(step[:-2 * _AWAY], step[2 * _AWAY:])
    edge = (step > _STEP) & (step >= 2 * beside)  # (h, w)
    found = []
    for row in np.nonzero(edge.sum(1) >= least)[0]:
        found += [(int(row), s, e, float(step[row, s:e].mean())) for s, e in _runs(edge[row], least)]
    found.sort(key=lambda run: -run[3])
    kept: list[tuple[int, int, int, float]] = []
    for run in found:  # an edge is two or three rows of steps: keep the strongest row
        if not any(abs(run[0] - k[0]) <= _NEAR and min(run[2], k[2]) - max(run[1], k[1]) > 0.5 * (run[2] - run[1])
                   for k in kept):
            kept.append(run)
    kept.sort(key=lambda run: -(run[2] - run[1]) * run[3])
    return [run[:3] for run in kept[:_KEEP]]


def _cover(runs: list[tuple[int, int, int]], at: int, start: int, end: int, size: int) -> float:
    """Share of the side at ``at`` from ``start`` to ``end`` that ``runs`` cover (1 on the canvas border)."""
    if at <= _NEAR or at >= size - 1 - _NEAR:
        return 1.0
    return max([(min(e, end) - max(s, start)) / max(end - start, 1) for r, s, e in runs if abs(r - at) <= _NEAR],
               default=0.0)


def _pairs(rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(outside (m, 3), inside (m, 3)) pixels across the sides of ``box`` (y0, y1, x0, x1) off the border."""
    h, w = rgb.shape[:2]
    y0, y1, x0, x1 = box
    xs = np.arange(int(x0 + _MARGIN * (x1 - x0)), int(x1 - _MARGIN * (x1 - x0)))
    ys = np.arange(int(y0 + _MARGIN * (y1 - y0)), int(y1 - _MARGIN * (y1 - y0)))
    out, inside = [], []
    if y0 - _DEPTH >= 0 and y0 > _NEAR:
        out.append(rgb[y0 - _DEPTH, xs]), inside.append(rgb[y0 + _DEPTH, xs])
    if y1 + _DEPTH < h and y1 < h - 1 - _NEAR:
        out.append(rgb[y1 + _DEPTH, xs]), inside.append(rgb[y1 - _DEPTH, xs])
    if x0 - _DEPTH >= 0 and x0 > _NEAR:
        out.append(rgb[ys, x0 - _DEPTH]), inside.append(rgb[ys, x0 + _DEPTH])
    if x1 + _DEPTH < w and x1 < w - 1 - _NEAR:
        out.append(rgb[ys, x1 + _DEPTH]), inside.append(rgb[ys, x1 - _DEPTH])
    if not out:
        return np.zeros((0, 3)), np.zeros((0, 3))
    return np.concatenate(out).astype(np.float64), np.concatenate(inside).astype(np.float64)


def _blend(rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float, np.ndarray] | None:
    """(error share, opacity, colour (3,)) of the blend across ``box``'s sides, or None when it is no panel."""
    outside, inside = _pairs(rgb, box)  # (m, 3) each
    if len(outside) < 16:
        return None
    varies = float(np.sqrt(((outside - outside.mean(0)) ** 2).sum(-1).mean()))
    if varies < _VARIES:
        return None
    slope, offset = blend_line(outside, inside, np.ones(len(outside)))  # one slope for the three channels
    error = float(np.abs(inside - slope * outside - offset).mean())
    opacity = 1.0 - slope
    if not 0.1 <= opacity <= 0.9 or error > _ERROR or error > _ERROR_SHARE * varies:
        return None
    colour = offset / opacity  # (3,)
    if colour.min() < -0.03 or colour.max() > 1.03:
        return None
    y0, y1, x0, x1 = box
    under = (rgb[y0:y1 + 1, x0:x1 + 1] - offset) / slope  # (bh, bw, 3) the picture unblended
    if ((under >= -0.02) & (under <= 1.02)).all(-1).mean() < _INSIDE:
        return None
    return error / varies, opacity, np.clip(colour, 0, 1).astype(np.float32)


def find_texture_panels(rgb: np.ndarray) -> list[Panel]:
    """Translucent axis-aligned panels over the texture or photo of ``rgb`` (h, w, 3) in [0, 1] (steps 1-2 of
    the module docstring), best first."""
    h, w = rgb.shape[:2]
    if min(h, w) < _MIN_SIDE:
        return []
    least = int(_RUN * min(h, w))
    across = np.zeros((h, w), np.float32)  # step across each row (a horizontal edge)
    across[1:-1] = np.abs(rgb[2:] - rgb[:-2]).sum(-1)
    along = np.zeros((h, w), np.float32)  # step across each column (a vertical edge)
    along[:, 1:-1] = np.abs(rgb[:, 2:] - rgb[:, :-2]).sum(-1)
    rows, cols = edge_runs(across, least), edge_runs(along.T, least)
    ys = sorted({r for r, _, _ in rows} | {0, h - 1})
    xs = sorted({c for c, _, _ in cols} | {0, w - 1})
    found = []
    for y0 in ys:
        for y1 in (y for y in ys if y - y0 >= _MIN_SIZE[0] * h):
            for x0 in xs:
                for x1 in (x for x in xs if x - x0 >= _MIN_SIZE[1] * w):
                    top, bottom, left, right = y0 <= _NEAR, y1 >= h - 1 - _NEAR, x0 <= _NEAR, x1 >= w - 1 - _NEAR
                    if top + bottom + left + right > (2 if (top and bottom) or (left and right) else 1):
                        continue  # a box inside the canvas, one cut by a border, or a band across it
                    sides = [_cover(rows, y0, x0, x1, h), _cover(rows, y1, x0, x1, h),
                             _cover(cols, x0, y0, y1, w), _cover(cols, x1, y0, y1, w)]
                    if min(sides) < _SIDE or sum(sides) < _SIDES:
                        continue
                    blend = _blend(rgb, (y0, y1, x0, x1))
                    if blend is not None:
                        found.append((blend[0], (y0, y1, x0, x1), blend[1], blend[2]))
    panels: list[Panel] = []
    for _, (y0, y1, x0, x1), opacity, colour in sorted(found, key=lambda f: f[0]):
        mask = np.zeros((h, w), bool)
        mask[y0:y1 + 1, x0:x1 + 1] = True
        if any((mask & p.mask).any() for p in panels):
            continue
        panels.append(Panel(mask, mask.copy(), opacity, colour))
    return panels


def insert_texture_panels(stack: np.ndarray, rgb: np.ndarray, panels: list[Panel], exact: bool,
                          cap: int) -> np.ndarray:
    """``stack`` (K, h, w, 4) with each panel a layer just above the background (step 3 of the module
    docstring): a layer whose extent is the panel's box is replaced; otherwise the panel takes an empty
    slot (exact count) or one more layer under ``cap`` (automatic count), or is left out."""
    for panel in panels:
        extent = stack[1:, ..., 3] > 0  # (K - 1, h, w)
        iou = (extent & panel.mask).sum((1, 2)) / np.maximum((extent | panel.mask).sum((1, 2)), 1)  # (K - 1,)
        if len(iou) and iou.max() >= _SAME:
            stack = np.delete(stack, int(np.argmax(iou)) + 1, 0)
        else:
            room = make_room(stack, exact, cap)
            if room is None:
                continue
            stack = room
        model = stack[0, ..., :3].copy()  # (h, w, 3) the background; under the panel the picture unblended
        model[panel.mask] = np.clip((rgb[panel.mask] - panel.alpha * panel.colour) / (1 - panel.alpha), 0, 1)
        stack = insert_panels(stack, rgb, model, [panel])  # (K', h, w, 4)
    return stack
