"""Speed work on the region decomposer (issue #28 item 5) keeps its results: the text lines are read in a
background thread while the image is segmented, and the fast paths of the full-resolution painting equal
the plain computations they replace."""

from __future__ import annotations

import threading
import warnings

import numpy as np

import layerdiff.text.ocr as ocr
from layerdiff.regions import decomposer
from layerdiff.regions.text_lines import LineReading


def test_lines_read_aside_in_a_thread(monkeypatch):
    """With the OCR engine the lines are read in another thread, and the waiting call returns its boxes."""
    seen = {}

    def fake_line_boxes(img, reading=None):
        seen["thread"] = threading.current_thread()
        reading.size = (img.shape[1], img.shape[0])
        return [(1, 2, 3, 4)]

    monkeypatch.setattr(ocr, "ocr_available", lambda: True)
    monkeypatch.setattr(decomposer, "line_boxes", fake_line_boxes)
    reading = LineReading()
    wait = decomposer._read_lines_aside(np.zeros((6, 8, 4), np.float32), reading)
    assert wait() == [(1, 2, 3, 4)]
    assert seen["thread"] is not threading.main_thread()
    assert reading.size == (8, 6)


def test_lines_read_here_without_the_engine(monkeypatch):
    """Without the OCR engine the call runs in the calling thread, so its one-time warning reaches the
    caller's warning filters."""
    def fake_line_boxes(img, reading=None):
        assert threading.current_thread() is threading.main_thread()
        warnings.warn("text lines not kept whole", stacklevel=2)

    monkeypatch.setattr(ocr, "ocr_available", lambda: False)
    monkeypatch.setattr(decomposer, "line_boxes", fake_line_boxes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wait = decomposer._read_lines_aside(np.zeros((6, 8, 4), np.float32), None)
    assert wait() is None
    assert [str(w.message) for w in caught] == ["text lines not kept whole"]
