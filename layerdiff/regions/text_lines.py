"""Keep detected text lines whole: every letter of a line lands in one layer.

The region layerer judges regions pair by pair, so a line of text can split across layers (a letter left
in the background, a word cut in two). A text detector sees the line as a whole: the PP-OCRv4 detector
and recogniser of ``rapidocr-onnxruntime`` (the ``text`` extra, :mod:`layerdiff.text.ocr`) give a box
per line. Inside each box:

1. the line's *ink* regions are those lying (almost) entirely inside the box whose colour is nearer the
   line's main ink colour (the largest region inside that differs from the surroundings) than every
   region that makes up a large part of the box's surroundings (its frame);
2. the other regions inside the box are *counters* (the holes of "A", "e", the gaps between letters),
   which show what lies under the text;
3. the ink regions all join the layer that holds most ink above the surroundings' layer (or most ink
   overall when none is above it); counters of the surroundings' colour (within ``delta_e``: not the
   fill of outlined letters; a small counter whose mean colour the letters' edges darken counts,
   :func:`showing_through`) in a layer below the surroundings' layer, or in the text's layer when the
   text lies above its surroundings, join the surroundings' layer;
4. when the text lies above its surroundings, pixels of ink regions inside the box that have the
   surroundings' colour (counters too small to be regions of their own, merged into a letter by the
   segmentation) are relabelled as the main surrounding region, so the text's layer holds only ink;
   and pixels of the counters that show the surroundings within ``delta_e`` of an ink region's colour
   (a crossbar row segmented with the counter above it) are relabelled as the main ink region.

Layers left empty are dropped and the others renumbered in order. Without the engine
:func:`line_boxes` warns once and returns None, and the decomposition is unchanged.

The lines read here also give the decomposition its text: :func:`attach_text` matches them with the
painted layers and gives each text layer its wording, font, size and colour
(:class:`~layerdiff.text.TextInfo`) without running the recogniser a second time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..text.ocr import TEXT_CONFIDENCE, Detection
from .graph import RegionGraph
from .segment import rgb_to_lab

if TYPE_CHECKING:
    from ..layered import LayeredImage
    from ..text.fonts import FontFace

__all__ = ["LineReading", "read_lines", "line_boxes", "attach_text", "keep_lines_whole", "showing_through",
           "TEXT_CONFIDENCE"]

Box = tuple[int, int, int, int]
_INSIDE = 0.9  # fraction of a region's pixels inside a line's box for it to belong to the line
_FRAME = 3  # width (px) of the frame around a box that samples the line's surroundings
_MAJOR = 0.15  # share of the frame's pixels that makes a region part of the surroundings
_warned = False


@dataclass
class LineReading:
    """The text lines the detector read in an image, kept so that the text layers can be read from them
    (:func:`attach_text`) without running the recogniser again: ``detections`` in the pixels of an image of
    ``size`` (w, h)."""

    detections: list[Detection] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)


def read_lines(img: np.ndarray, min_confidence: float = 0.5) -> list[Detection] | None:
    """The text lines (wording, quadrilateral, confidence) the detector reads in ``img`` (h, w, 3|4) float in
    [0, 1] (transparency over white), top to bottom; None, with a one-time warning, without the ``text``
    extra."""
    global _warned
    from ..text.ocr import INSTALL_HINT, ocr_available, ocr_unavailable_reason, recognize

    if not ocr_available():
        if not _warned:
            warnings.warn(f"text lines not kept whole: {ocr_unavailable_reason() or INSTALL_HINT}", stacklevel=2)
            _warned = True
        return None
    rgb = np.asarray(img, np.float32)[..., :3]  # (h, w, 3)
    if img.shape[-1] == 4:
        a = img[..., 3:4]
        rgb = rgb * a + (1.0 - a)
    u8 = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)  # (h, w, 3)
    return recognize(u8, min_confidence)


def line_boxes(img: np.ndarray, min_confidence: float = 0.5, reading: LineReading | None = None,
               ) -> list[Box] | None:
    """Boxes (x0, y0, x1, y1), end-exclusive, of the text lines of :func:`read_lines`; None, with a one-time
    warning, without the ``text`` extra. ``reading``: filled with the lines read and the image's size."""
    found = read_lines(img, min_confidence)
    if found is None:
        return None
    if reading is not None:
        reading.detections, reading.size = list(found), (int(img.shape[1]), int(img.shape[0]))
    return [det.box for det in found]


def attach_text(stack: LayeredImage, reading: LineReading, image: Any = None,
                faces: tuple[FontFace, ...] | None = None, min_confidence: float = TEXT_CONFIDENCE,
                ) -> LayeredImage:
    """Read the text layers of a decomposition (in place; returns ``stack``): each layer whose pixels are text
    gets its :class:`~layerdiff.text.TextInfo` (:func:`layerdiff.text.annotate_text_layers`) and is named after
    its words, from the lines ``reading`` holds (read at the work size, scaled here to the stack's canvas)
    matched with each layer's own pixels at full size. Only lines read with at least ``min_confidence`` count
    (a ring read as "O" with 0.5 is a shape, not text). ``image``: the decomposed image (PIL image, array or
    LayeredImage; default: the stack's composite). Pixels are not changed."""
    if reading.size[0] <= 0 or reading.size[1] <= 0:
        return stack
    from ..contract import image_to_array
    from ..text.detect import annotate_text_layers

    scale = np.array([stack.width / reading.size[0], stack.height / reading.size[1]], np.float32)  # (2,) x, y
    lines = [replace(det, quad=det.quad * scale)  # quads (4, 2) on the canvas
             for det in reading.detections if det.confidence >= min_confidence]
    if not lines:
        return stack
    rgba = None if image is None else image_to_array(image)[0]  # (H, W, 4)
    return annotate_text_layers(stack, rgba, faces=faces, detections=lines, name_layers=True)


def _lab_distance(colour: np.ndarray, i: np.ndarray, j: int) -> np.ndarray:
    """CIE76 distance between regions ``i`` (k,) and region ``j`` on the Lab part of ``colour`` (n, D)."""
    return np.linalg.norm(colour[i, :3] - colour[j, :3], axis=-1)


def showing_through(colour: np.ndarray, base: np.ndarray, ink: np.ndarray, delta_e: float) -> np.ndarray:
    """(k,) bool: which regions of Lab colours ``colour`` (k, 3) show the surroundings ``base`` (3,) through a
    line of ``ink`` (3,) colour: their colour lies within ``delta_e`` of the segment from ``base`` to ``ink``
    and nearer its ``base`` half (a counter small enough that the letters' anti-aliased edges darken its
    mean colour, as the "R" of a title on a panel)."""
    span = np.asarray(ink, np.float64) - base  # (3,)
    t = np.clip((np.asarray(colour, np.float64) - base) @ span / max(float(span @ span), 1e-12), 0.0, 1.0)  # (k,)
    off = np.linalg.norm(colour - (base + t[:, None] * span), axis=-1)  # (k,)
    return (t < 0.5) & (off < delta_e)


def _line(graph: RegionGraph, labels: np.ndarray, layer: np.ndarray, box: Box, delta_e: float,
          explained: np.ndarray | None = None) -> None:
    """Apply steps 1-4 of the module docstring to one box, changing ``labels`` (h, w) and ``layer`` (n,)
    in place; regions flagged in ``explained`` (n,) (the background fit explains them) are never ink, and go
    back to the background from the line's layer."""
    h, w = labels.shape
    x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    n = graph.count
    inside_px = np.bincount(labels[y0:y1, x0:x1].ravel(), minlength=n)  # (n,)
    inside = np.nonzero(inside_px >= _INSIDE * graph.regions.area)[0]
    own = np.zeros(len(inside), bool) if explained is None else explained[inside]  # (k,) the background's paint
    fy0, fx0, fy1, fx1 = max(y0 - _FRAME, 0), max(x0 - _FRAME, 0), min(y1 + _FRAME, h), min(x1 + _FRAME, w)
    frame = np.ones((fy1 - fy0, fx1 - fx0), bool)
    frame[y0 - fy0:y1 - fy0, x0 - fx0:x1 - fx0] = False
    if not frame.any() or not len(inside):
        return
    frame_px = np.bincount(labels[fy0:fy1, fx0:fx1][frame], minlength=n)  # (n,)
    around = [int(r) for r in np.nonzero(frame_px >= _MAJOR * frame_px.sum())[0]]
    if not around:
        around = [int(np.argmax(frame_px))]
    colour = graph.regions.colour
    to_around = np.min([_lab_distance(colour, inside, r) for r in around], axis=0)  # (k,)
    distinct = inside[(to_around > delta_e) & ~own]
    if not len(distinct):
        return
    main = int(distinct[np.argmax(graph.regions.area[distinct])])  # the line's main ink colour
    ink_mask = (_lab_distance(colour, inside, main) < to_around) & ~own  # (k,) nearer the ink than the surroundings
    ink, counters = inside[ink_mask], inside[~ink_mask]
    paint = inside[own]  # the background's own paint inside the box (a pattern's dots): never ink
    base = around[int(np.argmax(frame_px[around]))]  # the main region around the line
    under = int(layer[base])
    ink_area = np.bincount(layer[ink], weights=graph.regions.area[ink], minlength=int(layer.max()) + 1)  # (K,)
    top = int(np.argmax(ink_area[under + 1:])) + under + 1 if ink_area[under + 1:].sum() > 0 else int(
        np.argmax(ink_area))
    layer[ink] = top
    layer[paint[layer[paint] == top]] = 0  # the background's paint the line's layer took goes back to it
    shows = (_lab_distance(colour, counters, base) < delta_e) | showing_through(
        colour[counters, :3], colour[base, :3], colour[main, :3], delta_e)
    counters = counters[shows]  # only those showing the surroundings
    back = layer[counters] < under
    if top > under:
        back |= layer[counters] == top
    layer[counters[back]] = under
    if top > under:  # 4. counter pixels the segmentation gave to a letter go back to the surroundings
        crop = labels[y0:y1, x0:x1]  # (bh, bw) view
        lab = rgb_to_lab(graph.image[y0:y1, x0:x1, :3])  # (bh, bw, 3)
        near = np.linalg.norm(lab - colour[base, :3], axis=-1) < delta_e
        inked = np.min([np.linalg.norm(lab - colour[r, :3], axis=-1) for r in ink], axis=0) < delta_e  # (bh, bw)
        crop[inked & ~near & np.isin(crop, counters)] = main  # and ink pixels given to a counter, to the ink
        crop[near & np.isin(crop, ink)] = base


def keep_lines_whole(graph: RegionGraph, layer: np.ndarray, boxes: list[Box], delta_e: float = 10.0,
                     explained: np.ndarray | None = None) -> tuple[RegionGraph, np.ndarray]:
    """``graph`` (a copy with new pixel labels where step 4 moved counter pixels; the input is not changed)
    and the layer (n,) of every region after keeping each text line of ``boxes`` in one layer (module
    docstring), renumbered 0..K-1 without empty layers. ``delta_e``: Lab distance above which a region
    inside a box differs in colour from the line's surroundings; ``explained`` (n,) bool: regions the
    background fit explains (a pattern's dots inside a box) are never ink: those in the line's layer go
    back to the background."""
    out = np.asarray(layer, np.int64).copy()
    labels = graph.regions.labels.copy()  # (h, w)
    for box in boxes:
        _line(graph, labels, out, box, delta_e, explained)
    used = np.unique(out)  # sorted layer indices still holding regions
    if not np.array_equal(labels, graph.regions.labels):
        graph = replace(graph, regions=replace(graph.regions, labels=labels))
    return graph, np.searchsorted(used, out).astype(np.int64)
