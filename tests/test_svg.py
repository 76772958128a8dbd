"""Layered SVG output: structure, and rendering by headless Chromium against layerdiff's own composite.

Chromium is Debian's ``/usr/bin/chromium`` driven by ``playwright`` (as in test_demo_browser.py). The text
layers use DejaVu Sans/Serif, which Chromium finds through fontconfig (Debian's fonts-dejavu-core).
"""

from __future__ import annotations

import argparse
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

import layerdiff
from layerdiff.cli.outputs import write_outputs
from layerdiff.layered import Layer, LayeredImage
from layerdiff.text import TextInfo, TextLine
from layerdiff.text.render import render_text, retypeset

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--font-render-hinting=none"]
SVG = "{http://www.w3.org/2000/svg}"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _raster_stack() -> LayeredImage:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:160].astype(np.float32)
    bg = np.stack([xx / 160, yy / 120, 0.5 + 0 * xx, 1 + 0 * xx], -1)  # (120, 160, 4) gradient
    blob = np.zeros((50, 70, 4), np.float32)
    blob[..., :3] = rng.uniform(0, 1, 3)
    blob[..., 3] = np.clip(1.2 - np.hypot(*np.mgrid[-1:1:50j, -1:1:70j]), 0, 1)
    hidden = np.ones((30, 30, 4), np.float32)
    return LayeredImage((160, 120), [
        Layer(bg, name="Background"),
        Layer(blob, name="Soft <blob> & co", offset=(40, 30), opacity=0.7),
        Layer(hidden, name="Hidden", offset=(5, 5), visible=False),
        Layer(np.tile(np.array([1.0, 0.5, 0.5, 1.0], np.float32), (40, 40, 1)), name="Multiply", offset=(100, 60),
              blend_mode="multiply"),
    ])


def _text_stack() -> LayeredImage:
    bg = Layer(np.tile(np.array([0.12, 0.2, 0.45, 1.0], np.float32), (200, 420, 1)), name="Background")
    title = retypeset(TextInfo("x", (200, 40, 220, 80), 80.0, 48.0, (255, 255, 255), font_family="DejaVu Serif",
                               font_weight=700, generic_family="serif", alignment="center",
                               lines=[TextLine("x", (200, 40, 220, 80), 80.0, 200.0)]), "Grand Opening")
    body = retypeset(TextInfo("x", (30, 110, 40, 140), 140.0, 28.0, (250, 210, 0), font_family="DejaVu Sans",
                              line_height=34.0, lines=[TextLine("x", (30, 110, 40, 140), 140.0, 30.0)]),
                     "Saturday 12 May\nMain street & gallery")
    return LayeredImage((420, 200), [bg, render_text(title, (420, 200)), render_text(body, (420, 200))])


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _render(browser, path, size) -> np.ndarray:
    page = browser.new_page(viewport={"width": size[0], "height": size[1]}, device_scale_factor=1)
    try:
        page.goto(path.as_uri())
        png = page.screenshot(clip={"x": 0, "y": 0, "width": size[0], "height": size[1]})
    finally:
        page.close()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))  # (H, W, 3)


def test_svg_structure_keeps_order_names_and_text(tmp_path):
    stack = _text_stack()
    stack.layers[1].opacity = 0.5
    path = layerdiff.save(stack, tmp_path / "poster.svg")
    root = ET.parse(path).getroot()
    assert (root.get("width"), root.get("height")) == ("420", "200")
    groups = root.findall(f"{SVG}g")
    labels = [g.get("{http://www.inkscape.org/namespaces/inkscape}label") for g in groups]
    assert labels == [layer.name for layer in stack.layers]
    assert groups[0].find(f"{SVG}image") is not None and groups[0].find(f"{SVG}text") is None
    assert groups[1].get("opacity") == "0.5"
    texts = groups[2].findall(f"{SVG}text")
    assert [t.text for t in texts] == ["Saturday 12 May", "Main street & gallery"]
    info = stack.layers[2].text
    assert float(texts[1].get("y")) == pytest.approx(info.lines[1].baseline, abs=0.01)
    assert float(texts[0].get("x")) == pytest.approx(info.lines[0].x, abs=0.01)
    assert texts[0].get("font-family") == "'DejaVu Sans', sans-serif" and texts[0].get("fill") == "#fad200"
    assert texts[0].get("font-size") == "28px"
    title = groups[1].find(f"{SVG}text")
    assert (title.get("font-weight"), title.get("font-family")) == ("700", "'DejaVu Serif', serif")


def test_svg_from_cli_outputs_and_unknown_blend_mode(tmp_path):
    stack = _raster_stack()
    stack.layers[3].blend_mode = "linear_burn"
    args = argparse.Namespace(output=str(tmp_path / "out"), formats="svg,zip")
    with pytest.warns(UserWarning, match="linear_burn.*written as normal"):
        written = write_outputs(stack, args, "poster")
    svg = (tmp_path / "out" / "poster.svg").read_text("utf-8")
    assert [p.name for p in written] == ["poster.svg", "poster.zip"]
    assert "mix-blend-mode" not in svg and 'style="display:none"' in svg
    assert len(re.findall(r"<image ", svg)) == 4


def test_chromium_renders_raster_layers_like_the_composite(tmp_path, chromium):
    stack = _raster_stack()
    path = layerdiff.save(stack, tmp_path / "r.svg")
    shot = _render(chromium, path, stack.size)
    ours = np.asarray(stack.composite_pil(background=(1, 1, 1)).convert("RGB"))
    assert _psnr(shot, ours) > 40


def test_chromium_renders_text_layers_like_the_composite(tmp_path, chromium):
    stack = _text_stack()
    path = layerdiff.save(stack, tmp_path / "t.svg")
    shot = _render(chromium, path, stack.size)
    ours = np.asarray(stack.composite_pil(background=(1, 1, 1)).convert("RGB"))
    without_text = np.asarray(LayeredImage(stack.size, stack.layers[:1]).composite_pil().convert("RGB"))
    assert _psnr(shot, ours) > 21  # glyph edges differ (FreeType hinting in PIL vs Chromium)
    assert _psnr(shot, ours) > _psnr(without_text, ours) + 8  # the live text is really drawn, in place


def test_convert_writes_svg_with_live_text(tmp_path):
    from layerdiff.cli import main

    src = layerdiff.save(_text_stack(), tmp_path / "poster.zip")
    assert main(["convert", str(src), str(tmp_path / "poster.svg")]) == 0
    assert main(["convert", str(src), str(tmp_path / "named"), "--format", "svg"]) == 0
    for out in (tmp_path / "poster.svg", tmp_path / "named"):
        root = ET.parse(out).getroot()
        assert [t.text for t in root.iter(f"{SVG}text")] == ["Grand Opening", "Saturday 12 May",
                                                              "Main street & gallery"]
