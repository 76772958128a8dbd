"""Text detection and recognition with RapidOCR's PP-OCRv4 models (``pip install 'layerdiff[text]'``).

The detector, direction classifier and recogniser are the ONNX files inside the ``rapidocr-onnxruntime``
wheel (Apache-2.0); nothing is downloaded at run time. The engine is built once per process.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LayerdiffError

__all__ = ["Detection", "ocr_available", "ocr_unavailable_reason", "recognize", "start_engine",
           "TextRecognitionUnavailable"]

TEXT_CONFIDENCE = 0.7
"""Recognition confidence a line needs to make its layer a text layer (a ring read as "O" with 0.5 is a
shape, not text)."""
_MAX_SIDE = 1600  # the detector downsizes longer sides to this; shorter images are read at their own size


class TextRecognitionUnavailable(LayerdiffError):
    """rapidocr-onnxruntime is not installed."""


@dataclass
class Detection:
    """One recognised line: its text, the detector's quadrilateral (4 x (x, y)) and the recogniser's score."""

    text: str
    quad: np.ndarray  # (4, 2) float32 canvas pixels
    confidence: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        x0, y0 = np.floor(self.quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(self.quad.max(axis=0)).astype(int)
        return int(x0), int(y0), int(x1), int(y1)


def ocr_available() -> bool:
    """Whether the OCR engine is installed and loads (imported once; a wheel whose system libraries are
    missing, e.g. OpenCV's ``libGL.so.1``, counts as unavailable, see :func:`ocr_unavailable_reason`)."""
    return ocr_unavailable_reason() is None


INSTALL_HINT = "pip install 'layerdiff[text]' (rapidocr-onnxruntime)"


@functools.lru_cache(maxsize=1)
def ocr_unavailable_reason() -> str | None:
    """None when the OCR engine loads, else what to do about it, in one line."""
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        return INSTALL_HINT
    try:
        importlib.import_module("rapidocr_onnxruntime")  # imports OpenCV and onnxruntime
    except (ImportError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"rapidocr-onnxruntime does not load ({reason}); on Debian/Ubuntu: apt-get install libgl1 libglib2.0-0"
    return None


_ENGINE_LOCK = threading.Lock()


def _engine() -> Any:
    """The process's one engine, built by the first caller (others wait for it)."""
    with _ENGINE_LOCK:
        return _build_engine()


def start_engine() -> None:
    """Build the engine on a background thread, so that a decomposition that reads text later finds it
    ready: ONNX Runtime loads its three models with the GIL released, beside the imports and the image
    decoding of a cold start. Nothing happens when the text extra is not installed; an engine that fails
    to load says so when it is used."""
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        return
    threading.Thread(target=_build_quietly, name="layerdiff-ocr-load", daemon=True).start()


def _build_quietly() -> None:
    with contextlib.suppress(Exception):  # reported by the first real use (recognize)
        _engine()


@functools.lru_cache(maxsize=1)
def _build_engine() -> Any:
    if not ocr_available():
        raise TextRecognitionUnavailable("text recognition needs rapidocr-onnxruntime: "
                                         f"{ocr_unavailable_reason() or INSTALL_HINT}")
    from rapidocr_onnxruntime import RapidOCR

    # one ONNX Runtime thread a session: the region decomposer reads text on a thread of its own while it
    # segments the image, and idle pool threads would spin on the core the segmentation needs (same results)
    return RapidOCR(det_limit_type="max", det_limit_side_len=_MAX_SIDE, intra_op_num_threads=1)


def recognize(rgb: np.ndarray, min_confidence: float = 0.5) -> list[Detection]:
    """Detect and read the text lines of an (H, W, 3) uint8 RGB image, top to bottom."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"recognize() needs an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    bgr = np.ascontiguousarray(rgb[..., ::-1])  # (H, W, 3): the engine reads arrays as BGR
    result, _ = _engine()(bgr)
    out = []
    for quad, text, score in result or []:
        text = str(text).strip()
        if text and float(score) >= min_confidence:
            out.append(Detection(text, np.asarray(quad, np.float32).reshape(4, 2), float(score)))
    out.sort(key=lambda d: (d.box[1], d.box[0]))
    return out
