"""A PSD with type layers opens in GIMP (batch mode, 2.10's PSD loader) and in Krita (command-line export):
every layer loads, names and offsets intact, with the rendered text pixels. Both import Photoshop type layers
as pixel layers. The tests need ``gimp-console`` (``apt-get install gimp``) or ``krita`` and ``xvfb-run``
(``apt-get install krita xvfb xauth``) and are skipped, with that reason in the summary, without them."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
from PIL import Image

from layerdiff.io import save
from layerdiff.layered import Layer, LayeredImage
from layerdiff.text import TextInfo, TextLine
from layerdiff.text.render import render_text

GIMP = shutil.which("gimp-console-2.10") or shutil.which("gimp-console")
KRITA = shutil.which("krita")
XVFB = shutil.which("xvfb-run")
pytestmark = pytest.mark.slow

_SCRIPT = """
(let* ((image (car (gimp-file-load RUN-NONINTERACTIVE "{psd}" "{psd}")))
       (layers (gimp-image-get-layers image))
       (count (car layers))
       (ids (cadr layers)))
  (let loop ((i 0))
    (when (< i count)
      (let* ((layer (aref ids i))
             (offsets (gimp-drawable-offsets layer))
             (png (string-append "{out}/" (number->string i) ".png")))
        (gimp-message (string-append "LAYER|" (number->string i) "|" (car (gimp-item-get-name layer)) "|"
                                     (number->string (car (gimp-item-is-text-layer layer))) "|"
                                     (number->string (car offsets)) "|" (number->string (cadr offsets))))
        (file-png-save RUN-NONINTERACTIVE image layer png png 0 9 0 0 0 0 0))
      (loop (+ i 1))))
  (gimp-message "LOADED"))
(gimp-quit 0)
"""


def _text(text: str, y: int, alignment: str = "left") -> TextInfo:
    lines = [TextLine(line, (10, y - 28 + 36 * i, 200, y + 8 + 36 * i), y + 36 * i, 10.0)
             for i, line in enumerate(text.split("\n"))]
    return TextInfo(text, (10, y - 28, 200, y + 8 + 36 * (len(lines) - 1)), y, 28.0, (20, 90, 200),
                    font_family="DejaVu Serif", alignment=alignment, line_height=36.0, lines=lines)


def _poster(tmp_path) -> LayeredImage:
    """A background and two text layers (one multi-line, centred, with characters that need escaping), saved
    as ``poster.psd`` in ``tmp_path``."""
    size = (240, 160)
    bg = Layer(np.tile(np.array([1.0, 0.95, 0.8, 1.0], np.float32), (size[1], size[0], 1)), name="Background")
    title = render_text(_text("Café – 2026", 40), size, name="Text: Café")
    body = render_text(_text("Grand (opening)\nünïcode \\ 😀", 100, "center"), size, name="Text: Grand")
    stack = LayeredImage(size, [bg, title, body])
    save(stack, tmp_path / "poster.psd")
    return stack


def _same_pixels(theirs: np.ndarray, layer: Layer) -> None:
    """An editor's 8-bit RGBA of ``layer`` equals layerdiff's (colour compared where alpha > 0)."""
    ours = np.round(layer.pixels * 255).astype(np.int16)  # (h, w, 4)
    theirs = theirs.astype(np.int16)
    assert theirs.shape == ours.shape
    assert np.array_equal(theirs[..., 3], ours[..., 3])
    seen = ours[..., 3] > 0
    assert np.array_equal(theirs[seen, :3], ours[seen, :3])


@pytest.mark.skipif(GIMP is None, reason="GIMP is not installed (gimp-console not on PATH)")
def test_gimp_loads_a_psd_with_type_layers(tmp_path):
    stack = _poster(tmp_path)
    out = tmp_path / "layers"
    out.mkdir()
    script = _SCRIPT.format(psd=tmp_path / "poster.psd", out=out)
    done = subprocess.run([GIMP, "-i", "-d", "-f", "--batch-interpreter=plug-in-script-fu-eval", "-b", "-"],
                          input=script, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert "LOADED" in log, log[-2000:]
    rows = [line.split("LAYER|", 1)[1].split("|") for line in log.splitlines() if "LAYER|" in line]
    expected = list(reversed(stack.layers))  # GIMP lists the top layer first
    assert [row[1] for row in rows] == [layer.name for layer in expected]
    assert [row[2] for row in rows] == ["0", "0", "0"]  # GIMP 2.10 imports type layers as pixel layers
    for row, layer in zip(rows, expected, strict=True):
        assert (int(row[3]), int(row[4])) == layer.offset
        _same_pixels(np.asarray(Image.open(out / f"{row[0]}.png").convert("RGBA")), layer)


@pytest.mark.skipif(KRITA is None or XVFB is None, reason="Krita or xvfb-run is not installed")
def test_krita_loads_a_psd_with_type_layers(tmp_path):
    stack = _poster(tmp_path)
    target = tmp_path / "krita.ora"  # Krita's OpenRaster export lists the layers it loaded, with their pixels
    # OpenCV (imported by the text extra in this process) points Qt at its own plugins; Krita needs its own
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_QPA_")}
    done = subprocess.run([XVFB, "-a", KRITA, "--nosplash", "--export", "--export-filename", str(target),
                           str(tmp_path / "poster.psd")], capture_output=True, text=True, timeout=400, env=env)
    assert target.is_file(), (done.stdout + done.stderr)[-2000:]
    with zipfile.ZipFile(target) as ora:
        entries = list(ET.fromstring(ora.read("stack.xml")).iter("layer"))
        expected = list(reversed(stack.layers))  # the top layer first
        assert len(entries) == len(expected)
        for entry, layer in zip(entries, expected, strict=True):
            assert entry.get("name") == layer.name and (int(entry.get("x")), int(entry.get("y"))) == layer.offset
            with ora.open(entry.get("src")) as fh:
                _same_pixels(np.asarray(Image.open(fh).convert("RGBA")), layer)
