"""A PSD with type layers opens in GIMP (batch mode, 2.10's PSD loader): every layer loads, names and offsets
intact, with the rendered text pixels. GIMP imports Photoshop type layers as pixel layers; the test needs
``gimp-console`` (``apt-get install gimp``) and is skipped, with that reason in the summary, without it."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from layerdiff.io import save
from layerdiff.layered import Layer, LayeredImage
from layerdiff.text import TextInfo, TextLine
from layerdiff.text.render import render_text

GIMP = shutil.which("gimp-console-2.10") or shutil.which("gimp-console")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(GIMP is None, reason="GIMP is not installed (gimp-console not on PATH)")]

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


def test_gimp_loads_a_psd_with_type_layers(tmp_path):
    size = (240, 160)
    bg = Layer(np.tile(np.array([1.0, 0.95, 0.8, 1.0], np.float32), (size[1], size[0], 1)), name="Background")
    title = render_text(_text("Café – 2026", 40), size, name="Text: Café")
    body = render_text(_text("Grand (opening)\nünïcode \\ 😀", 100, "center"), size, name="Text: Grand")
    stack = LayeredImage(size, [bg, title, body])
    save(stack, tmp_path / "poster.psd")
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
        gimp = np.asarray(Image.open(out / f"{row[0]}.png").convert("RGBA")).astype(np.int16)  # (h, w, 4)
        ours = np.round(layer.pixels * 255).astype(np.int16)  # (h, w, 4)
        assert gimp.shape == ours.shape
        assert np.array_equal(gimp[..., 3], ours[..., 3])
        seen = ours[..., 3] > 0
        assert np.array_equal(gimp[seen, :3], ours[seen, :3])
