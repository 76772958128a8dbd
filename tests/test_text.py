"""Text layers: TextInfo, fonts, reading text (PP-OCRv4 via rapidocr), font matching, annotation and editing.

Posters are rendered here with matplotlib's bundled DejaVu fonts, so the expected wording, size, colour,
baseline and family are known exactly and do not depend on the fonts the machine has installed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from layerdiff.layered import Layer, LayeredImage
from layerdiff.text import TextInfo, TextLine
from layerdiff.text import detect as detect_mod
from layerdiff.text.edit import NotATextLayerError, edit_text_layer
from layerdiff.text.fonts import FontFace, available_fonts, find_face, generic_of, render_mask
from layerdiff.text.ocr import ocr_available
from layerdiff.text.render import render_text, retypeset

MPL_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FACES = (
    FontFace("DejaVu Sans", 400, "normal", str(MPL_FONTS / "DejaVuSans.ttf"), "sans-serif"),
    FontFace("DejaVu Sans", 700, "normal", str(MPL_FONTS / "DejaVuSans-Bold.ttf"), "sans-serif"),
    FontFace("DejaVu Sans", 400, "italic", str(MPL_FONTS / "DejaVuSans-Oblique.ttf"), "sans-serif"),
    FontFace("DejaVu Serif", 400, "normal", str(MPL_FONTS / "DejaVuSerif.ttf"), "serif"),
    FontFace("DejaVu Serif", 700, "normal", str(MPL_FONTS / "DejaVuSerif-Bold.ttf"), "serif"),
    FontFace("DejaVu Sans Mono", 400, "normal", str(MPL_FONTS / "DejaVuSansMono.ttf"), "monospace"),
)
needs_ocr = pytest.mark.skipif(not ocr_available(), reason="rapidocr-onnxruntime (the 'text' extra) not installed")


def _info(**kw) -> TextInfo:
    base = dict(text="Hello", box=(10, 20, 90, 50), baseline=48.0, font_size=32.0, color=(200, 10, 30),
                font_family="DejaVu Sans", lines=[TextLine("Hello", (10, 20, 90, 50), 48.0, 8.0, 0.9)],
                font_file=FACES[0].path)
    base.update(kw)
    return TextInfo(**base)


def _poster() -> tuple[Image.Image, dict]:
    """A 560x300 poster: a bold serif title centred, two left-aligned sans lines below."""
    im = Image.new("RGB", (560, 300), (25, 50, 120))
    d = ImageDraw.Draw(im)
    title = ImageFont.truetype(FACES[4].path, 52)
    d.text((280, 90), "Grand Opening", font=title, fill=(255, 255, 255), anchor="ms")
    body = ImageFont.truetype(FACES[0].path, 30)
    d.text((40, 180), "Saturday 12 May", font=body, fill=(250, 210, 0), anchor="ls")
    d.text((40, 222), "Main street gallery", font=body, fill=(250, 210, 0), anchor="ls")
    return im, {"title_baseline": 90, "body_baselines": (180, 222)}


# ------------------------------------------------------------------------------------------- TextInfo
def test_textinfo_round_trips_through_dict():
    info = _info(alignment="center", font_weight=700, font_style="italic", generic_family="serif")
    back = TextInfo.from_dict(info.to_dict())
    assert back == info
    assert back.color_hex == "#c80a1e"


@pytest.mark.parametrize("patch, word", [({"color": [1, 2]}, "colour"), ({"alignment": "justify"}, "alignment"),
                                         ({"box": [5, 5, 1]}, "box"), ({"font_size": "big"}, "font size"),
                                         ({"lines": [{"box": [0, 0, 1, 1]}]}, "line")])
def test_textinfo_from_dict_rejects_bad_fields(patch, word):
    data = {**_info().to_dict(), **patch}
    with pytest.raises(ValueError, match=word):
        TextInfo.from_dict(data)


def test_layer_carries_text_and_copies_it():
    layer = Layer(np.zeros((4, 4, 4), np.float32), text=_info())
    twin = layer.copy()
    assert twin.text == layer.text and twin.text is not layer.text


# ---------------------------------------------------------------------------------------------- fonts
def test_generic_family_of_names():
    assert generic_of("Liberation Serif") == "serif"
    assert generic_of("DejaVu Sans") == "sans-serif"
    assert generic_of("Nimbus Roman") == "serif"
    assert generic_of("Liberation Mono") == "monospace"
    assert generic_of("Anything", spacing_mono=True) == "monospace"


def test_available_fonts_and_lookup():
    faces = available_fonts()
    assert faces, "no fonts found on this machine"
    assert all(f.path.lower().endswith((".ttf", ".otf")) and f.weight in (400, 700) for f in faces)
    first = faces[0]
    assert find_face(first.family, first.weight, first.style) == first
    assert find_face("No Such Family", generic=first.generic).generic == first.generic
    assert find_face("x", path=FACES[3].path).path == FACES[3].path  # a known file wins


def test_render_mask_is_tight_and_placed_on_the_baseline():
    mask, (left, top) = render_mask("Hg", FACES[0].path, 40)
    assert mask.max() > 0.9 and mask[0].max() > 0 and mask[-1].max() > 0 and mask[:, 0].max() > 0
    assert top < 0 < top + mask.shape[0]  # ink above and (the g's tail) below the baseline


# ------------------------------------------------------------------------------------ render / edit
def test_render_text_places_ink_at_the_baseline_with_the_colour():
    info = _info()
    layer = render_text(info, (120, 80))
    assert layer.text is info and layer.name == "Text: Hello"
    x0, y0, x1, y1 = layer.content_bbox(0.5)
    assert abs(y1 - 48) <= 1  # "Hello" has no descender: ink ends on the baseline
    core = layer.pixels[layer.pixels[..., 3] > 0.99, :3] * 255
    assert np.abs(core - np.array([200, 10, 30])).max() < 1


@pytest.mark.parametrize("alignment", ["left", "center", "right"])
def test_retypeset_keeps_the_alignment_edge(alignment):
    info = retypeset(_info(alignment=alignment), "Hello")  # lay out once so the box is the font's ink
    longer = retypeset(info, "Hello there world\nsecond line")
    assert [ln.text for ln in longer.lines] == ["Hello there world", "second line"]
    assert longer.lines[1].baseline == pytest.approx(info.baseline + info.line_height)
    old, new = info.box, longer.lines[0].box
    edge = {"left": (old[0], new[0]), "center": ((old[0] + old[2]) / 2, (new[0] + new[2]) / 2),
            "right": (old[2], new[2])}[alignment]
    assert abs(edge[0] - edge[1]) <= 1.0
    assert longer.box[2] - longer.box[0] > 2 * (old[2] - old[0])


def test_retypeset_changes_size_colour_and_family():
    info = retypeset(_info(), None, color=(0, 255, 0), font_size=48, font_family="DejaVu Sans")
    assert info.color == (0, 255, 0) and info.font_size == 48 and info.line_height == pytest.approx(1.2 * 48)
    assert info.box[3] - info.box[1] > 30
    with pytest.raises(ValueError, match="not installed"):
        retypeset(_info(), None, font_family="No Such Font Family")


def test_edit_text_layer_replaces_only_that_layer():
    bg = Layer(np.ones((80, 120, 4), np.float32), name="bg")
    text = render_text(_info(), (120, 80))
    stack = LayeredImage((120, 80), [bg, text])
    out = edit_text_layer(stack, 1, "Hi", color=(0, 0, 255))
    assert out.layers[1].text.text == "Hi" and out.layers[1].text.color == (0, 0, 255)
    assert out.layers[1].name == "Text: Hi"
    assert np.array_equal(out.layers[0].pixels, bg.pixels)
    assert stack.layers[1].text.text == "Hello"  # the input is untouched
    old_ink = stack.layers[1].content_bbox(0.5)
    new_ink = out.layers[1].content_bbox(0.5)
    assert new_ink[0] == pytest.approx(old_ink[0], abs=2) and new_ink[2] < old_ink[2]
    with pytest.raises(NotATextLayerError, match="layer 0 .'bg'. has no text"):
        edit_text_layer(stack, 0, "x")
    with pytest.raises(ValueError, match="empty"):
        edit_text_layer(stack, 1, "  ")


# ------------------------------------------------------------------------------------- reading text
@needs_ocr
def test_read_text_recovers_wording_style_and_blocks():
    im, truth = _poster()
    blocks = detect_mod.read_text(im, faces=FACES)
    assert [b.text for b in blocks] == ["Grand Opening", "Saturday 12 May\nMain street gallery"]
    title, body = blocks
    assert (title.font_family, title.font_weight, title.generic_family) == ("DejaVu Serif", 700, "serif")
    assert (body.font_family, body.font_weight, body.font_style) == ("DejaVu Sans", 400, "normal")
    assert title.font_size == pytest.approx(52, rel=0.08) and body.font_size == pytest.approx(30, rel=0.08)
    assert np.abs(np.subtract(title.color, (255, 255, 255))).max() <= 12
    assert np.abs(np.subtract(body.color, (250, 210, 0))).max() <= 12
    assert abs(title.baseline - truth["title_baseline"]) <= 2
    assert [abs(ln.baseline - b) <= 2 for ln, b in zip(body.lines, truth["body_baselines"])] == [True, True]
    assert abs(body.lines[0].x - 40) <= 3
    assert (title.alignment, body.alignment) == ("center", "left")
    assert body.line_height == pytest.approx(42, abs=2)
    assert 0.5 <= body.confidence <= 1.0


@needs_ocr
def test_annotate_text_layers_marks_only_the_text_layer():
    im, _ = _poster()
    full = np.asarray(im, np.float32) / 255.0
    bg = np.concatenate([np.broadcast_to(np.array([25, 50, 120], np.float32) / 255, full.shape),
                         np.ones(full.shape[:2] + (1,), np.float32)], axis=-1)
    title_px = np.zeros(full.shape[:2] + (4,), np.float32)
    mask = Image.new("L", im.size, 0)
    ImageDraw.Draw(mask).text((280, 90), "Grand Opening", font=ImageFont.truetype(FACES[4].path, 52), fill=255,
                              anchor="ms")
    title_px[..., :3] = 1.0
    title_px[..., 3] = np.asarray(mask, np.float32) / 255.0
    square = np.zeros_like(title_px)
    square[230:290, 400:540] = (0.9, 0.2, 0.2, 1.0)
    stack = LayeredImage(im.size, [Layer(bg, name="bg"), Layer(title_px, name="title"), Layer(square, name="box")])
    detect_mod.annotate_text_layers(stack, faces=FACES)
    assert stack.layers[0].text is None and stack.layers[2].text is None
    info = stack.layers[1].text
    assert info is not None and info.text == "Grand Opening" and info.color == (255, 255, 255)
    assert info.font_family == "DejaVu Serif" and info.font_weight == 700


def test_annotate_without_ocr_warns_once_and_keeps_the_stack(monkeypatch):
    monkeypatch.setattr(detect_mod, "ocr_available", lambda: False)
    monkeypatch.setattr(detect_mod, "_warned", False)
    stack = LayeredImage((8, 8), [Layer(np.ones((8, 8, 4), np.float32))])
    with pytest.warns(UserWarning, match=r"pip install 'layerdiff\[text\]'"):
        assert detect_mod.annotate_text_layers(stack) is stack
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detect_mod.annotate_text_layers(stack)  # the second call is silent
    assert stack.layers[0].text is None


@pytest.mark.parametrize("face", [FACES[1], FACES[3]])
def test_restore_spaces_puts_back_dropped_word_spaces(face):
    from layerdiff.text.analyze import restore_spaces

    truth = "AUTUMN COFFEE SHOW 2026"
    glyphs, _ = render_mask(truth, face.path, 40)
    assert restore_spaces("AUTUMNCOFFEESHOW2026", glyphs, face, 40) == truth
    assert restore_spaces("AUTUMN COFFEE SHOW 2026", glyphs, face, 40) == truth  # nothing missing: unchanged
    tight, _ = render_mask("Gallery", face.path, 40)
    assert restore_spaces("Gallery", tight, face, 40) == "Gallery"  # letter gaps are not word gaps


def test_merge_pieces_joins_a_line_split_at_a_wide_gap():
    from layerdiff.text.analyze import fit_line, merge_pieces
    from layerdiff.text.ocr import Detection

    im = Image.new("RGB", (520, 120), (240, 240, 230))
    font = ImageFont.truetype(FACES[5].path, 40)
    d = ImageDraw.Draw(im)
    d.text((20, 70), "Market", font=font, fill=(20, 20, 120), anchor="ls")
    x = 20 + font.getlength("Market") + 30
    d.text((x, 70), "food", font=font, fill=(20, 20, 120), anchor="ls")
    d.text((20, 110), "far below", font=font, fill=(20, 20, 120), anchor="ls")
    rgb = np.asarray(im, np.float32) / 255.0

    def det(text, x0, x1, y0=32, y1=82):
        return Detection(text, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32), 0.9)

    pieces = [fit_line(rgb, det("Market", 14, int(x) - 20), FACES), fit_line(rgb, det("food", int(x) - 6, 330), FACES),
              fit_line(rgb, det("far below", 14, 260, 84, 119), FACES)]
    merged = merge_pieces(rgb, pieces, FACES)
    assert sorted(f.detection.text for f in merged) == ["Market food", "far below"]
    joined = next(f for f in merged if f.detection.text == "Market food")
    assert joined.best.family == "DejaVu Sans Mono" and joined.font_size == pytest.approx(40, rel=0.08)


def test_an_engine_that_does_not_load_counts_as_unavailable(monkeypatch):
    """rapidocr installed but its system libraries missing (OpenCV's libGL.so.1 on a bare machine): OCR is
    unavailable with a one-line reason naming the packages, so decomposition warns instead of failing."""
    import importlib

    from layerdiff.text import ocr

    def no_libgl(name, *args):
        raise ImportError("libGL.so.1: cannot open shared object file: No such file or directory")

    ocr.ocr_unavailable_reason.cache_clear()
    monkeypatch.setattr(importlib, "import_module", no_libgl)
    try:
        assert not ocr.ocr_available()
        assert "apt-get install libgl1" in ocr.ocr_unavailable_reason()
    finally:
        ocr.ocr_unavailable_reason.cache_clear()
