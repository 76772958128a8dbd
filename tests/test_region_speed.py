"""Speed work on the region decomposer (issue #28 item 5) keeps its results: the text lines are read in a
background thread while the image is segmented, and the fast paths of the full-resolution painting equal
the plain computations they replace."""

from __future__ import annotations

import functools
import threading
import time
import warnings

import numpy as np
import pytest

import layerdiff.text.ocr as ocr
from layerdiff import parallel, recompose
from layerdiff.errors import LayerdiffError
from layerdiff.regions import decomposer, paint
from layerdiff.regions.paint import paint_layers


def test_text_read_in_the_background(monkeypatch):
    """With the OCR engine the text reading runs in another thread, and the waiting call returns
    its result."""
    seen = {}

    def read():
        seen["thread"] = threading.current_thread()
        return [(1, 2, 3, 4)], []

    monkeypatch.setattr(ocr, "ocr_available", lambda: True)
    wait = decomposer._in_background(read)
    assert wait() == ([(1, 2, 3, 4)], [])
    assert seen["thread"] is not threading.main_thread()


def test_text_read_here_without_the_engine(monkeypatch):
    """Without the OCR engine the reading runs in the calling thread, so its one-time warning reaches the
    caller's warning filters."""
    def read():
        assert threading.current_thread() is threading.main_thread()
        warnings.warn("text lines not kept whole", stacklevel=2)

    monkeypatch.setattr(ocr, "ocr_available", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wait = decomposer._in_background(read)
    assert wait() is None
    assert [str(w.message) for w in caught] == ["text lines not kept whole"]


@pytest.mark.skipif(not ocr.ocr_available(), reason="needs the text extra (rapidocr-onnxruntime)")
def test_ocr_sessions_run_on_one_thread():
    """The detector, direction classifier and recogniser each run on one ONNX Runtime thread (the lines are
    read beside the segmentation; pool threads would spin on its core)."""
    engine = ocr._engine()
    sessions = [engine.text_det.infer.session, engine.text_cls.infer.session, engine.text_rec.session.session]
    assert [s.get_session_options().intra_op_num_threads for s in sessions] == [1, 1, 1]


def test_parallel_map_keeps_order_and_serial_results(monkeypatch):
    """parallel_map returns fn's results in order on threads, serially with LAYERDIFF_THREADS=1, and a bad
    setting is a one-line LayerdiffError."""
    seen = set()

    def square(x):
        seen.add(threading.current_thread().name)
        return x * x

    monkeypatch.setenv("LAYERDIFF_THREADS", "3")
    assert parallel.worker_count() == 3
    assert parallel.parallel_map(square, range(20)) == [x * x for x in range(20)]
    assert all(name.startswith("layerdiff") for name in seen)
    monkeypatch.setenv("LAYERDIFF_THREADS", "1")
    seen.clear()
    assert parallel.parallel_map(square, range(5)) == [0, 1, 4, 9, 16]
    assert seen == {threading.current_thread().name}
    monkeypatch.setenv("LAYERDIFF_THREADS", "two")
    with pytest.raises(LayerdiffError, match="LAYERDIFF_THREADS must be a positive integer"):
        parallel.worker_count()


@pytest.mark.parametrize("threads", ["1", "2"])
def test_threaded_painting_equals_serial(monkeypatch, threads):
    """The full-resolution painting (upsampling, alpha refinement, exact recomposition, one layer or band a
    thread) and the work-size painting give the same samples on any number of threads."""
    rng = np.random.default_rng(5)
    low = rng.random((3, 24, 20, 4)).astype(np.float32)  # (L, h, w, 4)
    low[..., 3] = (rng.random((3, 24, 20)) > 0.4) * rng.random((3, 24, 20)) ** 0.2
    target = (rng.random((96, 80, 3)) * 255).astype(np.uint8)  # (H, W, 3)
    rgb = rng.random((24, 20, 3)).astype(np.float32)
    cover = rng.random((3, 24, 20)) > 0.5  # (K, h, w)
    cover[0] = True
    monkeypatch.setattr(recompose, "_PROJECT_BAND_PX", 1 << 10)  # several bands
    monkeypatch.setattr(recompose, "_REFINE_CROP_PX", 1 << 9)  # several crops
    monkeypatch.setenv("LAYERDIFF_THREADS", "1")
    serial = recompose.upsample_layers(low, target)
    painted = paint_layers(rgb, cover, cover, 2)
    monkeypatch.setenv("LAYERDIFF_THREADS", threads)
    assert np.array_equal(recompose.upsample_layers(low, target), serial)
    assert np.array_equal(paint_layers(rgb, cover, cover, 2), painted)


def test_start_engine_builds_once_in_the_background(monkeypatch):
    """start_engine builds the OCR engine on a thread of its own; a caller that needs it meanwhile waits for
    that one engine instead of building a second."""
    built = []

    @functools.lru_cache(maxsize=1)
    def slow_build():
        built.append(threading.current_thread().name)
        time.sleep(0.2)
        return object()

    monkeypatch.setattr(ocr, "_build_engine", slow_build)
    monkeypatch.setattr(ocr.importlib.util, "find_spec", lambda name: object())  # "installed"
    ocr.start_engine()
    time.sleep(0.05)  # the loader thread holds the lock now
    engine = ocr._engine()
    assert built == ["layerdiff-ocr-load"]
    assert ocr._engine() is engine


def test_matte_cover_on_the_band_box_equals_the_whole_image():
    """matte_cover filters only the box of the edge band plus the matte's reach; its alpha equals the
    colour-line matte of the whole image wherever it is used (the band), and the hard mask elsewhere."""
    rng = np.random.default_rng(11)
    for trial in range(12):
        h, w = (int(v) for v in rng.integers(8, 70, 2))
        rgb = rng.random((h, w, 3)).astype(np.float32)  # (h, w, 3)
        cover = np.zeros((h, w), bool)
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        cover[max(0, y - 6):y + 5, max(0, x - 4):x + 9] = True
        if trial % 4 == 0:
            cover = rng.random((h, w)) > 0.5
        for radius in (1, 3):
            band = paint._edge_band(cover)
            hard = cover.astype(np.float32)
            alpha, conf = recompose.colour_line_matte(rgb, cover & ~band, ~cover & ~band, radius)
            whole = np.where(band, hard + conf * (alpha - hard), hard).astype(np.float32)
            assert np.array_equal(paint.matte_cover(rgb, cover, radius), whole)
