"""Reading the text of an image and of a layered image's layers.

- :func:`detect_text`: the lines of an image (wording, ink box, baseline, pen origin, confidence);
- :func:`read_text`: the same lines grouped into styled blocks (:class:`~layerdiff.text.info.TextInfo`);
- :func:`annotate_text_layers`: attach a ``TextInfo`` to each layer of a stack whose pixels are text;
- :func:`read_object_text`: the same for extracted objects, reading only around each object.

All need ``rapidocr-onnxruntime`` (the ``text`` extra). The decomposers and extractors call
them themselves (the region decomposer with the lines it already read to keep them whole);
without the engine it warns once and returns the stack unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image

from ..layered import LayeredImage, from_float, to_float
from .analyze import LineFit, blocks_to_info, fit_line, group_lines, matte_line, merge_pieces, own_glyphs
from .fonts import FontFace
from .info import TextInfo, TextLine, layer_name
from .ocr import INSTALL_HINT, TEXT_CONFIDENCE, Detection, ocr_available, ocr_unavailable_reason, recognize

__all__ = ["detect_text", "read_text", "annotate_text_layers", "read_object_text", "TEXT_CONFIDENCE"]

_warned = False


def _rgb(image: Any) -> np.ndarray:
    """(H, W, 3) float32 RGB of a PIL image, array, path or LayeredImage (transparency over white)."""
    if isinstance(image, LayeredImage):
        rgba = image.composite()
    elif isinstance(image, Image.Image):
        rgba = to_float(np.asarray(image.convert("RGBA")))
    else:
        rgba = to_float(np.asarray(image))
    a = rgba[..., 3:4]
    return rgba[..., :3] * a + (1.0 - a)  # (H, W, 3)


def _fits(rgb: np.ndarray, faces: tuple[FontFace, ...] | None, min_confidence: float) -> list[LineFit]:
    detections = recognize(from_float(rgb, 8), min_confidence)
    fits = [fit_line(rgb, det, faces) for det in detections]
    return merge_pieces(rgb, [f for f in fits if f is not None], faces)


def detect_text(image: Any, *, faces: tuple[FontFace, ...] | None = None,
                min_confidence: float = 0.5) -> list[TextLine]:
    """The text lines of ``image`` (PIL image, (H, W, 3|4) array or LayeredImage), top to bottom.

    ``faces`` limits the fonts matched against (default: every candidate face on the machine).
    """
    rgb = _rgb(image)
    return [fit.to_line() for fit in _fits(rgb, faces, min_confidence)]


def read_text(image: Any, *, faces: tuple[FontFace, ...] | None = None,
              min_confidence: float = 0.5) -> list[TextInfo]:
    """The text blocks of ``image`` with their style (font, size, colour, alignment), top to bottom."""
    rgb = _rgb(image)
    return blocks_to_info(group_lines(_fits(rgb, faces, min_confidence)), rgb.shape[1])


def annotate_text_layers(stack: LayeredImage, image: Any = None, *, faces: tuple[FontFace, ...] | None = None,
                         min_confidence: float = 0.5, detections: list[Detection] | None = None,
                         layers: Iterable[int] | None = None, name_layers: bool = False) -> LayeredImage:
    """Set ``layer.text`` on each layer of ``stack`` whose visible pixels are text (in place; returns ``stack``).

    The text is read from ``image`` (default: the stack's composite), or taken from ``detections``: lines
    already read in it (canvas pixels; e.g. by the decomposer, which reads them to keep lines whole), so the
    recogniser does not run again. A line belongs to the layer that shows most of its glyph pixels (the
    topmost layer with ink there); that layer is a text layer when at least 70% of its ink lies inside its
    lines' boxes (so a background with a title painted in is not one). Colour and glyph matte come from the
    layer's own pixels. ``layers``: the indices that may become text layers (default: all).
    ``name_layers``: name each text layer after its words (``Text: SUMMER SALE``), as layer editors name
    type layers. Without ``rapidocr-onnxruntime`` (and without ``detections``) this warns once and returns
    ``stack`` unchanged.
    """
    global _warned
    if detections is None and not ocr_available():
        if not _warned:
            warnings.warn(f"text layers not recognised: {ocr_unavailable_reason() or INSTALL_HINT}", stacklevel=2)
            _warned = True
        return stack
    rgb = _rgb(stack if image is None else image)
    if rgb.shape[:2] != (stack.height, stack.width):
        raise ValueError(f"image is {rgb.shape[1]}x{rgb.shape[0]} but the stack is {stack.width}x{stack.height}")
    if detections is None:
        detections = recognize(from_float(rgb, 8), min_confidence)
    if not detections:
        return stack
    allowed = set(range(len(stack.layers)) if layers is None else layers)
    planes = [layer.on_canvas(stack.size)[..., 3] * layer.opacity if layer.visible else None
              for layer in stack.layers]  # each (H, W)
    top = np.full((stack.height, stack.width), -1, np.int64)  # (H, W): topmost layer with ink at each pixel
    for i, alpha in enumerate(planes):
        if alpha is not None:
            top[alpha > 0.5] = i
    owner: dict[int, list] = {}
    for det in detections:
        matte, (mx, my), _ = matte_line(rgb, det.box)
        glyphs = own_glyphs(matte, det.box, (mx, my)) > 0.5  # (h, w)
        shown = top[my:my + glyphs.shape[0], mx:mx + glyphs.shape[1]][glyphs]
        shown = shown[shown >= 0]
        if len(shown):
            owner.setdefault(int(np.bincount(shown).argmax()), []).append(det)
    for i, dets in owner.items():
        if i not in allowed:
            continue
        layer = stack.layers[i]
        alpha = planes[i]
        inside = np.zeros(alpha.shape, bool)
        for det in dets:
            x0, y0, x1, y1 = det.box
            inside[max(y0, 0):y1, max(x0, 0):x1] = True
        ink = alpha > 0.5
        if ink.sum() == 0 or (ink & inside).sum() / ink.sum() < 0.7:
            continue
        own = layer.on_canvas(stack.size)[..., :3]  # (H, W, 3): the layer's colours, matted by its alpha
        fits = [fit_line(own, det, faces, alpha=alpha) for det in dets]
        fits = merge_pieces(own, [f for f in fits if f is not None], faces, alpha)
        infos = blocks_to_info(group_lines(fits), stack.width)
        if infos:
            layer.text = _merge(infos) if len(infos) > 1 else infos[0]
            if name_layers:
                layer.name = layer_name(layer.text.text)
    return stack


def _merge(infos: list[TextInfo]) -> TextInfo:
    """Several blocks on one layer: one TextInfo styled like its longest block, holding every line."""
    main = max(infos, key=lambda t: len(t.text))
    lines = sorted((ln for t in infos for ln in t.lines), key=lambda ln: (ln.baseline, ln.x))
    box = (min(ln.box[0] for ln in lines), min(ln.box[1] for ln in lines),
           max(ln.box[2] for ln in lines), max(ln.box[3] for ln in lines))
    merged = TextInfo(**{**main.__dict__, "lines": lines, "box": box, "text": "\n".join(ln.text for ln in lines),
                         "baseline": lines[0].baseline,
                         "confidence": float(np.mean([ln.confidence for ln in lines]))})
    return merged


def read_object_text(stack: LayeredImage, image: np.ndarray, pad: float = 0.5) -> LayeredImage:
    """Give each extracted object of ``stack`` (layers 1..) whose pixels are text its
    :class:`~layerdiff.text.TextInfo` and a name after its words (in place; returns ``stack``).

    The recogniser reads ``image`` (H, W, 4) around each object's ink box (padded by ``pad`` times its
    height, at least 8 px); lines centred on the object's ink and read with at least
    :data:`TEXT_CONFIDENCE` are matched with its own pixels by
    :func:`annotate_text_layers`. Without the ``text`` extra this warns once and changes
    nothing.
    """
    if not ocr_available():
        return annotate_text_layers(stack)  # the one-time warning that text is not read
    height, width = image.shape[:2]
    a = image[..., 3:4]
    u8 = (np.clip(image[..., :3] * a + (1.0 - a), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)  # (H, W, 3) over white
    lines = []
    for layer in stack.layers[1:]:
        ink = layer.content_bbox(0.5)
        if ink is None:
            continue
        x0, y0, x1, y1 = ink
        margin = max(8, int(round(pad * (y1 - y0))))
        cx0, cy0, cx1, cy1 = max(x0 - margin, 0), max(y0 - margin, 0), min(x1 + margin, width), min(y1 + margin, height)
        for det in recognize(u8[cy0:cy1, cx0:cx1], TEXT_CONFIDENCE):
            quad = det.quad + np.array([cx0, cy0], np.float32)  # (4, 2) canvas pixels
            cx, cy = quad.mean(0)
            seen = any(np.abs(quad - other.quad).max() <= 2.0 for other in lines)  # read twice: overlapping crops
            if x0 <= cx <= x1 and y0 <= cy <= y1 and not seen:
                lines.append(replace(det, quad=quad))
    return annotate_text_layers(stack, image, detections=lines, layers=range(1, len(stack.layers)),
                                name_layers=True)
