"""What a designer checks first (issue #28 items 2b, 2c, 3) on the region decomposer of layerdiff-tiny:
text lines lie whole in one layer, and hiding a layer shows what lies under it (the panel's colour, the
background's gradient), not a copy of it."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from region_scenes import over, topmost

import layerdiff
from layerdiff.regions import text_lines
from layerdiff.regions.config import RegionConfig
from layerdiff.regions.graph import region_graph
from layerdiff.regions.hidden import complete_hidden
from layerdiff.regions.text_lines import keep_lines_whole, line_boxes
from layerdiff.text.ocr import ocr_available

BOLD = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
SIZE = 512
TOP, BOTTOM = np.array([40.0, 60.0, 140.0]), np.array([240.0, 170.0, 120.0])  # gradient ends, 8-bit RGB
PANEL = (70, 200, 440, 380)  # x0, y0, x1, y1
ORANGE = np.array([245.0, 140.0, 40.0])
TEXT_BOX = (90, 262, 420, 318)  # generous box around "SUMMER SALE"

needs_ocr = pytest.mark.skipif(not ocr_available(), reason="needs the text extra (rapidocr-onnxruntime)")


def _gradient() -> np.ndarray:
    """(SIZE, SIZE, 3) float 8-bit values of the poster's vertical gradient."""
    y = np.linspace(0.0, 1.0, SIZE)[:, None, None]
    return np.broadcast_to(TOP + (BOTTOM - TOP) * y, (SIZE, SIZE, 3))


def summer_sale() -> tuple[Image.Image, np.ndarray]:
    """The Pillow poster of issue #28 (gradient, orange rounded panel with a drop shadow, white
    "SUMMER SALE", white disc with a blue triangle) and its text's ink mask (SIZE, SIZE) bool."""
    img = Image.fromarray(_gradient().astype(np.uint8)).convert("RGBA")
    shadow = Image.new("RGBA", img.size, (0, 0, 0, 0))
    x0, y0, x1, y1 = PANEL
    ImageDraw.Draw(shadow).rounded_rectangle([x0 + 8, y0 + 10, x1 + 8, y1 + 10], 30, fill=(0, 0, 0, 110))
    img.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(6)))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(list(PANEL), 30, fill=tuple(int(v) for v in ORANGE))
    font = ImageFont.truetype(str(BOLD), 44)
    draw.text((255, 290), "SUMMER SALE", font=font, fill="white", anchor="mm")
    ink = Image.new("L", img.size, 0)
    ImageDraw.Draw(ink).text((255, 290), "SUMMER SALE", font=font, fill=255, anchor="mm")
    draw.ellipse([330, 50, 450, 170], fill="white")
    draw.polygon([(365, 80), (365, 140), (420, 110)], fill=(40, 80, 220))
    return img.convert("RGB"), np.asarray(ink) > 250


@pytest.fixture(scope="module")
def poster() -> tuple[Image.Image, np.ndarray]:
    return summer_sale()


@pytest.fixture(scope="module")
def decomposer():
    return layerdiff.load("layerdiff-tiny", "decompose")


def _letters_image() -> tuple[np.ndarray, tuple[int, int, int, int], np.ndarray]:
    """A grey canvas with a blue panel holding four white "letters" (bars, one with a blue counter):
    (h, w, 4) float image, the line's box and a (h, w) bool ink mask."""
    img = np.zeros((96, 160, 4), np.float32)
    img[..., :3], img[..., 3] = 0.5, 1.0
    img[20:76, 10:150, :3] = (0.1, 0.2, 0.8)
    ink = np.zeros((96, 160), bool)
    for x in (25, 55, 85, 115):
        ink[35:61, x:x + 20] = True
    ink[42:54, 60:70] = False  # counter of the second letter
    img[ink, :3] = 1.0
    return img, (20, 30, 140, 66), ink


def _ink_regions(graph, ink: np.ndarray) -> list[int]:
    """Regions with most of their pixels in the ink mask."""
    n = graph.count
    inside = np.bincount(graph.regions.labels[ink], minlength=n)
    return [int(r) for r in np.nonzero(inside > 0.5 * graph.regions.area)[0]]


def test_keep_lines_whole_joins_letters_and_returns_counters():
    img, box, ink = _letters_image()
    graph = region_graph(img, RegionConfig())
    labels = graph.regions.labels
    letters = _ink_regions(graph, ink)
    panel = int(labels[25, 12])
    counter = int(labels[48, 65])
    assert len(letters) == 4 and counter not in letters
    layer = np.zeros(graph.count, np.int64)
    layer[panel], layer[counter] = 1, 2  # the counter wrongly with the text
    layer[letters[:3]] = 2
    layer[letters[3]] = 0  # one letter left in the background
    new_graph, out = keep_lines_whole(graph, layer, [box])
    assert {int(out[r]) for r in letters} == {2}
    assert out[counter] == out[panel] == 1
    assert out[labels[5, 5]] == 0


def test_keep_lines_whole_leaves_regions_outside_lines_and_renumbers():
    img, box, ink = _letters_image()
    graph = region_graph(img, RegionConfig())
    labels = graph.regions.labels
    letters = _ink_regions(graph, ink)
    layer = np.zeros(graph.count, np.int64)
    layer[int(labels[25, 12])] = 1
    layer[letters] = 3  # layer 2 holds nothing
    assert np.array_equal(keep_lines_whole(graph, layer, [])[1], np.where(layer == 3, 2, layer))
    far = (0, 0, 8, 8)  # a box over the grey canvas only: nothing inside differs from it
    assert np.array_equal(keep_lines_whole(graph, layer, [far])[1], np.where(layer == 3, 2, layer))


def test_line_boxes_without_engine_warns_once(monkeypatch):
    import layerdiff.text.ocr as ocr

    monkeypatch.setattr(ocr, "ocr_available", lambda: False)
    monkeypatch.setattr(text_lines, "_warned", False)
    img = _letters_image()[0]
    with pytest.warns(UserWarning, match="layerdiff\\[text\\]"):
        assert line_boxes(img) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert line_boxes(img) is None


@needs_ocr
@pytest.mark.parametrize("count", ["auto", 4, 6])
def test_text_line_lies_whole_in_one_layer(poster, decomposer, count):
    image, ink = poster
    stack = decomposer.decompose(image, num_layers=count).to_numpy()  # (K, H, W, 4)
    target = np.asarray(image, np.float32) / 255.0
    assert np.abs(over(stack) - target).max() <= 1.0 / 255.0
    owners = np.bincount(topmost(stack)[ink], minlength=len(stack))
    text_layer = int(np.argmax(owners))
    assert text_layer > 0
    assert owners[text_layer] >= 0.99 * ink.sum()
    if topmost(stack)[PANEL[1] + 10, PANEL[0] + 30] == text_layer:
        return  # text and panel share a layer (the automatic count may do so): nothing more to check
    # the text's own layer holds no panel-coloured counters: its opaque pixels in the box are white
    x0, y0, x1, y1 = TEXT_BOX
    opaque = stack[text_layer, y0:y1, x0:x1, 3] > 0.99
    colours = stack[text_layer, y0:y1, x0:x1, :3][opaque]  # (m, 3)
    assert not (np.abs(colours - ORANGE / 255.0).max(-1) < 0.1).any()
    assert (np.abs(colours - 1.0).max(-1) > 0.05).mean() < 0.02  # anti-aliased edges only


@needs_ocr
def test_hiding_text_shows_panel_and_background_continues(poster, decomposer):
    image, ink = poster
    stack = decomposer.decompose(image, num_layers=4).to_numpy()  # (4, H, W, 4)
    text_layer = int(np.argmax(np.bincount(topmost(stack)[ink], minlength=len(stack))))
    hidden = np.delete(stack, text_layer, axis=0)
    shown = over(hidden) * 255.0  # (H, W, 3)
    x0, y0, x1, y1 = TEXT_BOX
    panel_part = shown[y0:y1, x0:x1]
    off = np.abs(panel_part - ORANGE).max(-1)  # (h, w) 8-bit steps from the panel's colour
    assert off.mean() < 1.0  # no text-shaped outlines in the panel: at most scattered edge pixels
    assert (off > 12.0).mean() < 0.005
    # the background alone continues its gradient under the panel: no dark letter outlines, no smear
    under = stack[0, PANEL[1] + 20:PANEL[3] - 20, PANEL[0] + 20:PANEL[2] - 20, :3] * 255.0
    truth = _gradient()[PANEL[1] + 20:PANEL[3] - 20, PANEL[0] + 20:PANEL[2] - 20]
    assert np.abs(under - truth).mean() < 6.0
    assert np.abs(under - truth).max() < 30.0


def test_complete_hidden_repaints_under_soft_edges_and_keeps_the_composite():
    h, w = 48, 64
    panel = np.array([0.9, 0.5, 0.1], np.float32)
    stack = np.zeros((2, h, w, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = panel, 1.0
    disc = (np.arange(h)[:, None] - 24.0) ** 2 + (np.arange(w)[None] - 32.0) ** 2
    stack[1, ..., 3] = np.clip(12.5 - np.sqrt(disc), 0.0, 1.0)  # (h, w) disc with a 1-px soft edge
    stack[1, ..., :3] = 1.0
    rgb = over(stack)  # (h, w, 3)
    ghost = stack.copy()
    ghost[0, stack[1, ..., 3] > 0, :3] = (0.2, 0.9, 0.2)  # a copy of the disc in the panel
    ghost[1, ..., :3] = np.where(stack[1, ..., 3:] > 0,
                                 (rgb - ghost[0, ..., :3] * (1 - stack[1, ..., 3:])) / np.maximum(
                                     stack[1, ..., 3:], 1e-6), 1.0).clip(0, 1)
    done = complete_hidden(ghost, rgb)
    covered = stack[1, ..., 3] >= 0.05
    assert np.abs(done[0, covered, :3] - panel).max() < 1e-3  # the panel continues, no disc copy
    assert np.abs(done[..., 3] - ghost[..., 3]).max() < 1e-5  # the matte explained the edge: alphas kept
    assert np.abs(over(done) - rgb).max() < 1e-4


def test_keep_lines_whole_keeps_the_fill_of_outlined_letters_with_the_text():
    img = np.zeros((96, 160, 4), np.float32)
    img[..., :3], img[..., 3] = (0.1, 0.2, 0.8), 1.0
    outline = np.zeros((96, 160), bool)
    fill = np.zeros((96, 160), bool)
    for x in (20, 60, 100):
        outline[30:66, x:x + 30] = True
        fill[34:62, x + 4:x + 26] = True
    img[outline, :3] = (0.1, 0.7, 0.2)
    img[fill, :3] = (0.55, 0.6, 0.95)  # light blue fill: nearer the surroundings than the outline, yet not theirs
    graph = region_graph(img, RegionConfig())
    fills = _ink_regions(graph, fill)
    outlines = _ink_regions(graph, outline & ~fill)
    layer = np.zeros(graph.count, np.int64)
    layer[fills + outlines] = 1
    _, out = keep_lines_whole(graph, layer, [(10, 20, 150, 76)])
    assert {int(out[r]) for r in fills + outlines} == {1}


DISC = (330, 50, 450, 170)  # x0, y0, x1, y1 of the white disc


def test_the_disc_is_its_own_layer_and_hiding_any_layer_shows_what_lies_under_it(poster, decomposer):
    image, ink = poster
    stack = decomposer.decompose(image).to_numpy()  # automatic count
    assert np.abs(over(stack) - np.asarray(image, np.float32) / 255.0).max() <= 1.0 / 255.0
    top = topmost(stack)
    x0, y0, x1, y1 = DISC
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    disc = np.hypot(yy - (y0 + y1) / 2.0, xx - (x0 + x1) / 2.0) < (x1 - x0) / 2.0 - 2.0
    disc_layer = int(np.bincount(top[disc]).argmax())
    panel_layer = int(top[PANEL[1] + 10, PANEL[0] + 30])
    assert disc_layer > 0 and panel_layer > 0 and disc_layer != panel_layer
    assert (top[disc] == disc_layer).mean() > 0.99
    # hiding the disc shows the gradient; hiding the panel shows the gradient under it
    shown = over(np.delete(stack, disc_layer, axis=0)) * 255.0
    assert np.abs(shown[disc] - _gradient()[disc]).mean() < 3.0
    inner = np.zeros((SIZE, SIZE), bool)
    inner[PANEL[1] + 20:PANEL[3] - 20, PANEL[0] + 20:PANEL[2] - 20] = True
    shown = over(np.delete(stack, panel_layer, axis=0)) * 255.0
    assert np.abs(shown[inner & ~ink] - _gradient()[inner & ~ink]).mean() < 6.0
    text_layer = int(np.bincount(top[ink]).argmax())
    if text_layer != panel_layer:  # hiding the text shows the panel's colour, no letter outlines
        tx0, ty0, tx1, ty1 = TEXT_BOX
        shown = over(np.delete(stack, text_layer, axis=0))[ty0:ty1, tx0:tx1] * 255.0
        off = np.abs(shown - ORANGE).max(-1)
        assert (off > 3.0).sum() < 30 and (off > 12.0).sum() < 10
