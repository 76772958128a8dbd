"""Decomposition and extraction read their text layers: each text layer carries its wording, colour and size
(``Layer.text``) and is named after its words, in every written format, while the pixels stay the same; the
font matcher ranks every face on cached glyphs and sets only a shortlist exactly.

The poster is drawn with matplotlib's bundled DejaVu fonts, so the expected wording, size and colour do not
depend on the fonts the machine has installed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from layerdiff.cli import main
from layerdiff.io import load as load_stack
from layerdiff.layered import Layer, LayeredImage
from layerdiff.loader import load
from layerdiff.referring import ReferringPrompt
from layerdiff.text import analyze, layer_name
from layerdiff.text import detect as detect_mod
from layerdiff.text import fonts as fonts_mod
from layerdiff.text.fonts import FontFace, glyph_run_mask, render_mask
from layerdiff.text.ocr import Detection, ocr_available

MPL_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
BOLD = str(MPL_FONTS / "DejaVuSans-Bold.ttf")
WORDS = "SUMMER SALE"
WHITE = (255, 255, 255)
needs_ocr = pytest.mark.skipif(not ocr_available(), reason="rapidocr-onnxruntime (the 'text' extra) not installed")


def _poster() -> Image.Image:
    """512x384: navy background, a yellow square, and 56 px white bold sans words (baseline y=150)."""
    im = Image.new("RGB", (512, 384), (30, 60, 140))
    d = ImageDraw.Draw(im)
    d.rectangle((330, 230, 470, 350), fill=(240, 200, 40))
    d.text((40, 150), WORDS, font=ImageFont.truetype(BOLD, 56), fill=WHITE, anchor="ls")
    return im


def _text_layers(stack: LayeredImage) -> list[Layer]:
    return [layer for layer in stack.layers if layer.text is not None]


@pytest.fixture(scope="module")
def decomposer():
    return load("layerdiff-tiny", "decompose")


@pytest.fixture(scope="module")
def decomposed(decomposer) -> LayeredImage:
    return decomposer.decompose(_poster())


@needs_ocr
def test_decompose_reads_the_text_layer(decomposed):
    (layer,) = _text_layers(decomposed)
    info = layer.text
    assert info.text == WORDS and [ln.text for ln in info.lines] == [WORDS]
    assert np.abs(np.subtract(info.color, WHITE)).max() <= 12
    assert info.font_size == pytest.approx(56, rel=0.1)
    assert abs(info.baseline - 150) <= 3
    assert layer.name == f"Text: {WORDS}"
    assert [ly.name for ly in decomposed.layers if ly is not layer][0] == "Background"


@needs_ocr
def test_read_text_off_attaches_nothing_and_keeps_the_pixels(decomposer, decomposed):
    plain = decomposer.decompose(_poster(), read_text=False)
    assert not _text_layers(plain)
    assert [ly.name for ly in plain.layers] == ["Background"] + [f"Layer {i}" for i in range(1, len(plain))]
    assert len(plain) == len(decomposed)
    for a, b in zip(plain.layers, decomposed.layers):
        assert a.offset == b.offset and np.array_equal(a.pixels, b.pixels)


def test_decompose_without_the_engine_attaches_nothing(decomposer, monkeypatch):
    from layerdiff.regions import text_lines
    from layerdiff.text import ocr

    monkeypatch.setattr(ocr, "ocr_available", lambda: False)
    monkeypatch.setattr(text_lines, "_warned", False)
    with pytest.warns(UserWarning, match=r"pip install 'layerdiff\[text\]'"):
        stack = decomposer.decompose(_poster())
    assert not _text_layers(stack) and len(stack) >= 2


@needs_ocr
def test_cli_outputs_carry_the_text(tmp_path, capsys):
    src = tmp_path / "poster.png"
    _poster().save(src)
    out = tmp_path / "out"
    assert main(["decompose", str(src), "-o", str(out), "--formats", "psd,ora,svg"]) == 0
    capsys.readouterr()
    for name in ("poster.psd", "poster.ora"):
        (layer,) = _text_layers(load_stack(out / name))
        assert layer.text.text == WORDS and layer.name == f"Text: {WORDS}", name
    svg = (out / "poster.svg").read_text("utf-8")
    assert "<text " in svg and f">{WORDS}</text>" in svg
    plain = tmp_path / "plain"
    assert main(["decompose", str(src), "-o", str(plain), "--formats", "svg", "--no-read-text"]) == 0
    assert "<text " not in (plain / "poster.svg").read_text("utf-8")


@needs_ocr
def test_extract_reads_the_text_only_for_text_objects():
    extractor = load("layerdiff-tiny", "extract")
    words = extractor.extract(_poster(), ReferringPrompt(box=(30, 95, 500, 170)))
    info = words.layers[1].text
    assert info is not None and info.text == WORDS and words.layers[1].name == f"Text: {WORDS}"
    assert np.abs(np.subtract(info.color, WHITE)).max() <= 12 and info.font_size == pytest.approx(56, rel=0.1)
    assert words.layers[1].metadata["prompt"] == "object (box)"  # the prompt stays in the metadata
    assert words.layers[0].text is None
    square = extractor.extract(_poster(), ReferringPrompt(box=(320, 220, 480, 360)))
    assert not _text_layers(square)
    plain = extractor.extract(_poster(), ReferringPrompt(box=(30, 95, 500, 170)), read_text=False)
    assert not _text_layers(plain) and np.array_equal(plain.layers[1].pixels, words.layers[1].pixels)


def _words_stack(confidence: float = 0.95) -> tuple[LayeredImage, Detection]:
    """The poster as [background, white words] and the words' line as the recogniser would give it."""
    im = _poster()
    rgb = np.asarray(im, np.float32) / 255.0  # (H, W, 3)
    mask = Image.new("L", im.size, 0)
    ImageDraw.Draw(mask).text((40, 150), WORDS, font=ImageFont.truetype(BOLD, 56), fill=255, anchor="ls")
    alpha = np.asarray(mask, np.float32) / 255.0  # (H, W)
    words = np.zeros(alpha.shape + (4,), np.float32)
    words[..., :3], words[..., 3] = 1.0, alpha
    background = np.concatenate([rgb, np.ones(alpha.shape + (1,), np.float32)], -1)
    stack = LayeredImage(im.size, [Layer(background, name="bg"), Layer(words, name="words")])
    ys, xs = np.nonzero(alpha > 0.5)
    x0, y0, x1, y1 = xs.min() - 3, ys.min() - 3, xs.max() + 4, ys.max() + 4
    return stack, Detection(WORDS, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32), confidence)


@pytest.mark.parametrize("confidence, read", [(0.95, True), (0.55, False)])
def test_attach_text_scales_the_lines_and_needs_a_confident_reading(confidence, read):
    from layerdiff.regions.text_lines import LineReading, attach_text

    stack, line = _words_stack(confidence)
    half = Detection(line.text, line.quad / 2, line.confidence)  # read on the image at half size
    attach_text(stack, LineReading([half], (stack.width // 2, stack.height // 2)),
                faces=(FontFace("DejaVu Sans", 700, "normal", BOLD, "sans-serif"),))
    info = stack.layers[1].text
    assert (info is not None) == read and stack.layers[0].text is None
    if read:
        assert info.text == WORDS and stack.layers[1].name == f"Text: {WORDS}" and abs(info.baseline - 150) <= 2
    else:
        assert stack.layers[1].name == "words"


def test_annotate_uses_the_given_lines_without_running_the_recogniser(monkeypatch):
    stack, line = _words_stack()

    def refuse(*args, **kwargs):
        raise AssertionError("the recogniser ran although the lines were given")

    monkeypatch.setattr(detect_mod, "recognize", refuse)
    monkeypatch.setattr(detect_mod, "ocr_available", lambda: False)  # given lines need no engine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detect_mod.annotate_text_layers(stack, detections=[line], layers=[1], name_layers=True,
                                        faces=(FontFace("DejaVu Sans", 700, "normal", BOLD, "sans-serif"),))
    assert stack.layers[1].text.text == WORDS and stack.layers[1].name == f"Text: {WORDS}"
    assert stack.layers[0].text is None and stack.layers[0].name == "bg"


def test_glyph_run_mask_is_close_to_the_exact_rendering():
    quick = glyph_run_mask("Grand Opening 2026", BOLD, 40)
    exact, _ = render_mask("Grand Opening 2026", BOLD, 40)
    assert abs(quick.shape[0] - exact.shape[0]) <= 1 and abs(quick.shape[1] - exact.shape[1]) <= 4
    h, w = min(quick.shape[0], exact.shape[0]), min(quick.shape[1], exact.shape[1])
    a, b = quick[:h, :w], exact[:h, :w]
    assert np.minimum(a, b).sum() / np.maximum(a, b).sum() > 0.8
    assert glyph_run_mask("   ", BOLD, 40).shape == (1, 1)
    assert not render_mask("Grand", BOLD, 40)[0].flags.writeable  # cached renderings are read-only


def test_font_matching_sets_only_a_shortlist_exactly(monkeypatch):
    files = {"DejaVuSans.ttf": (400, "normal"), "DejaVuSans-Bold.ttf": (700, "normal"),
             "DejaVuSans-Oblique.ttf": (400, "italic"), "DejaVuSerif.ttf": (400, "normal"),
             "DejaVuSerif-Bold.ttf": (700, "normal"), "DejaVuSansMono.ttf": (400, "normal")}
    faces = tuple(FontFace(f"{family} {file[:-4]}", weight, style, str(MPL_FONTS / file), "sans-serif")
                  for family in ("A", "B") for file, (weight, style) in files.items())  # 12 candidates
    assert len(faces) > analyze._SHORTLIST
    glyphs, _ = render_mask("Summer Sale", faces[4].path, 37)
    det = Detection("Summer Sale", np.zeros((4, 2), np.float32), 0.9)
    box = (0, 0, glyphs.shape[1], glyphs.shape[0])
    exact_paths = []
    real = analyze.render_mask

    def spy(text, path, size):
        exact_paths.append(path)
        return real(text, path, size)

    monkeypatch.setattr(analyze, "render_mask", spy)
    fonts_mod._render_mask.cache_clear()
    fit = analyze._score_faces(det, glyphs, box, WHITE, faces)
    assert len(exact_paths) <= analyze._SHORTLIST + 1  # the shortlist and the size refinement of the best
    assert fit.best.path == faces[4].path and fit.sizes[fit.best] == pytest.approx(37, rel=0.05)
    assert set(fit.scores) == set(faces)  # faces left out keep their quick score for the block's vote
    monkeypatch.setattr(analyze, "_SHORTLIST", len(faces))
    assert analyze._score_faces(det, glyphs, box, WHITE, faces).best.path == fit.best.path


def test_layer_name_follows_the_first_line():
    assert layer_name("SUMMER SALE\nsecond line") == "Text: SUMMER SALE"
    assert layer_name("  \n") == "Text"
    assert layer_name("x" * 60) == "Text: " + "x" * 40


def test_quick_and_exact_scores_agree_on_a_long_line_with_one_descender():
    text = "Tickets workshop marathon"  # one "p": its tail rows hold too little ink to count as the line's
    glyphs, _ = render_mask(text, BOLD, 33)
    x0, y0, x1, y1 = analyze._ink_box(glyphs)
    glyphs = glyphs[y0:y1, x0:x1]  # (gh, gw) cropped as fit_line crops the matte
    target = analyze._resize(glyphs, (max(4, round(glyphs.shape[1] * analyze._CMP_HEIGHT / glyphs.shape[0])),
                                      analyze._CMP_HEIGHT))  # (32, cw)
    quick = analyze._compare(target, glyphs.shape, glyph_run_mask(text, BOLD, 40))
    exact = analyze._compare(target, glyphs.shape, render_mask(text, BOLD, 40)[0])
    assert quick[1] == pytest.approx(exact[1], rel=0.03)  # the same ink height, so the same scale
    assert abs(quick[0] - exact[0]) < 0.05 and exact[0] > 0.8


@needs_ocr
def test_diffusion_pipelines_read_the_text_layers_too(decomposer, monkeypatch):
    """The diffusion decomposer and extractor attach TextInfo to the text layers they return (their sampling
    is replaced here by known layers: what is tested is the reading after it)."""
    from types import SimpleNamespace

    from layerdiff.pipelines import LayerDecomposePipeline, LayerExtractPipeline

    plain = decomposer.decompose(_poster(), read_text=False)
    monkeypatch.setattr(LayerDecomposePipeline, "__call__",
                        lambda self, *a, **k: SimpleNamespace(images=[plain.copy()]))
    stack = load("tiny-random", "decompose").decompose(_poster())
    (layer,) = _text_layers(stack)
    assert layer.text.text == WORDS and layer.name == f"Text: {WORDS}"
    assert not _text_layers(load("tiny-random", "decompose").decompose(_poster(), read_text=False))

    words = load("layerdiff-tiny", "extract").extract(_poster(), ReferringPrompt(box=(30, 95, 500, 170)),
                                                      read_text=False)
    monkeypatch.setattr(LayerExtractPipeline, "__call__",
                        lambda self, *a, **k: SimpleNamespace(images=[words.copy()]))
    out = load("tiny-random", "extract").extract(_poster(), "the words")
    assert out.layers[1].text is not None and out.layers[1].text.text == WORDS
