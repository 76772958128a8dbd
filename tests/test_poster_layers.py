"""The layers a designer expects on posters other than the bundled one (issue #28 items 2e, 2f and the
text lines of item 2a): an object cut by the canvas border is its own layer, a drop shadow goes with
its object over a background completed clean, a translucent shape keeps its alpha, and a subtitle in
its own colour on a panel is its own layer."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from region_scenes import SIZE, border_disc, gradient, over, topmost

import layerdiff
from layerdiff.text.ocr import ocr_available

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
BOLD = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
needs_ocr = pytest.mark.skipif(not ocr_available(), reason="needs the text extra (rapidocr-onnxruntime)")


def with_its_shadow(layer: np.ndarray, shadow: np.ndarray, opacity: float) -> np.ndarray:
    """(H, W, 4) straight RGBA of ``layer`` over its drop ``shadow`` (a layer of the PSD at ``opacity``):
    the one layer a designer expects, the shadow going with its object (item 2f)."""
    s = shadow.copy()
    s[..., 3] *= opacity
    a = layer[..., 3:] + s[..., 3:] * (1.0 - layer[..., 3:])  # (H, W, 1)
    rgb = layer[..., :3] * layer[..., 3:] + s[..., :3] * s[..., 3:] * (1.0 - layer[..., 3:])  # (H, W, 3)
    return np.concatenate([np.where(a > 0, rgb / np.maximum(a, 1e-6), 0.0), a], -1)


@pytest.fixture(scope="module")
def decomposer():
    return layerdiff.load("layerdiff-tiny", "decompose")


def shadowed_card() -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """A gradient with a light card over a soft black drop shadow; the card's mask and the shadow's
    alpha (both (SIZE, SIZE))."""
    base = Image.fromarray(gradient().astype(np.uint8)).convert("RGBA")
    shadow = Image.new("RGBA", base.size, (0, 0, 0, 0))
    ImageDraw.Draw(shadow).rounded_rectangle([70, 130, 270, 240], 18, fill=(0, 0, 0, 140))
    shadow = shadow.filter(ImageFilter.GaussianBlur(7))
    base.alpha_composite(shadow)
    card = Image.new("L", base.size, 0)
    ImageDraw.Draw(card).rounded_rectangle([60, 118, 260, 228], 18, fill=255)
    ImageDraw.Draw(base).rounded_rectangle([60, 118, 260, 228], 18, fill=(245, 240, 230))
    return base.convert("RGB"), np.asarray(card) > 250, np.asarray(shadow)[..., 3] / 255.0


def test_a_disc_cut_by_the_border_is_its_own_layer(decomposer):
    img, disc = border_disc()
    stack = decomposer.decompose(img).to_numpy()  # (K, H, W, 4)
    assert np.abs(over(stack) - np.asarray(img, np.float32) / 255.0).max() <= 1.0 / 255.0
    top = topmost(stack)
    assert (top[disc] > 0).mean() > 0.97
    assert (top[~disc] == 0).mean() > 0.97
    # the background under the disc continues the gradient
    assert np.abs(stack[0, disc, :3] * 255.0 - gradient()[disc]).mean() < 3.0


def test_a_disc_close_in_colour_to_its_background_is_its_own_layer(decomposer):
    img, disc = border_disc(colour=(120, 140, 150))  # close to the gradient's colours where it lies
    stack = decomposer.decompose(img).to_numpy()
    top = topmost(stack)
    assert (top[disc] > 0).mean() > 0.95
    assert (top[~disc] == 0).mean() > 0.97


def test_a_drop_shadow_goes_with_its_card_and_the_background_is_clean(decomposer):
    img, card, shadow = shadowed_card()
    stack = decomposer.decompose(img).to_numpy()
    rgb = np.asarray(img, np.float32) / 255.0
    assert np.abs(over(stack) - rgb).max() <= 1.0 / 255.0
    top = topmost(stack)
    card_layer = int(np.bincount(top[card]).argmax())
    assert card_layer > 0
    only_shadow = (shadow > 0.15) & ~card
    assert only_shadow.sum() > 500
    assert (stack[card_layer, only_shadow, 3] > 0.1).mean() > 0.95  # semi-transparent dark pixels
    assert stack[card_layer, only_shadow, :3].mean() < 0.2
    # the background under the shadow and the card is the gradient, no dark box
    assert np.abs(stack[0, only_shadow | card, :3] * 255.0 - gradient()[only_shadow | card]).mean() < 3.0


def test_a_shadow_meeting_a_glow_goes_with_its_card(decomposer):
    img, card, shadow = shadowed_card()
    base = img.convert("RGBA")
    glow = Image.new("RGBA", base.size, (0, 0, 0, 0))
    ImageDraw.Draw(glow).rectangle([20, 256, 330, 290], fill=(255, 150, 40, 230))
    base.alpha_composite(glow.filter(ImageFilter.GaussianBlur(9)))  # an orange glow reaching the shadow
    ImageDraw.Draw(base).rectangle([20, 256, 330, 290], fill=(255, 255, 255))  # a white bar, its object
    rgb = np.asarray(base.convert("RGB"), np.float32) / 255.0
    stack = decomposer.decompose(base.convert("RGB"), num_layers=3).to_numpy()
    top = topmost(stack)
    card_layer = int(np.bincount(top[card]).argmax())
    assert card_layer > 0
    only_shadow = (shadow > 0.15) & ~card
    assert (stack[card_layer, only_shadow, 3] > 0.1).mean() > 0.85  # the shadow went with the card
    assert np.abs(stack[0, only_shadow, :3] * 255.0 - gradient()[only_shadow]).mean() < 3.0
    assert np.abs(over(stack) - rgb).max() <= 1.0 / 255.0


def test_a_translucent_disc_keeps_its_alpha(decomposer):
    base = gradient()
    disc = np.hypot(*np.mgrid[0:SIZE, 0:SIZE] - np.array([150.0, 160.0])[:, None, None]) < 70
    rgb = base.copy()
    rgb[disc] = 0.6 * np.array([255.0, 255.0, 255.0]) + 0.4 * base[disc]
    img = Image.fromarray(rgb.round().astype(np.uint8))
    stack = decomposer.decompose(img).to_numpy()
    top = topmost(stack)
    layer = int(np.bincount(top[disc]).argmax())
    assert layer > 0
    inner = np.hypot(*np.mgrid[0:SIZE, 0:SIZE] - np.array([150.0, 160.0])[:, None, None]) < 60
    assert np.abs(stack[layer, inner, 3] - 0.6).mean() < 0.05
    assert np.abs(over(stack) - rgb / 255.0).max() <= 1.0 / 255.0


@needs_ocr
def test_a_subtitle_in_its_own_colour_is_its_own_layer(decomposer):
    img = Image.fromarray(gradient((20, 40, 90), (90, 40, 120)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle([30, 90, 290, 230], 20, fill=(250, 248, 240))
    draw.text((160, 140), "OPEN DAY", font=ImageFont.truetype(str(BOLD), 40), fill=(20, 30, 70), anchor="mm")
    sub = Image.new("L", img.size, 0)
    small = ImageFont.truetype(str(FONT), 17)
    ImageDraw.Draw(sub).text((160, 195), "all rooms open at noon", font=small, fill=255, anchor="mm")
    draw.text((160, 195), "all rooms open at noon", font=small, fill=(210, 80, 50), anchor="mm")
    ink = np.asarray(sub) > 200
    stack = decomposer.decompose(img).to_numpy()
    top = topmost(stack)
    owners = np.bincount(top[ink], minlength=len(stack))
    sub_layer = int(owners.argmax())
    assert owners[sub_layer] >= 0.95 * ink.sum()
    panel_layer = int(np.bincount(top[120:130, 40:60].ravel()).argmax())
    assert sub_layer != panel_layer and sub_layer > 0


def test_a_radial_background_the_fit_misses_stays_in_the_background(decomposer):
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    r = np.hypot(yy - 60.0, xx - 60.0) / SIZE  # a cone-shaped radial gradient, dark at (60, 60)
    rgb = np.stack([40 + 200 * r, 35 + 150 * r, 10 + 30 * r], -1).clip(0, 255)
    card = (np.abs(yy - 220) < 30) & (np.abs(xx - 200) < 50)
    rgb[card] = (230, 120, 150)
    img = Image.fromarray(rgb.round().astype(np.uint8))
    stack = decomposer.decompose(img).to_numpy()
    top = topmost(stack)
    assert (top[~card] == 0).mean() > 0.98  # no "shadow" or "object" cut out of the gradient
    assert (top[card] > 0).mean() > 0.95
    assert np.abs(over(stack) - rgb / 255.0).max() <= 1.0 / 255.0


def test_the_bundled_poster_has_its_sun_whole_and_clean(decomposer):
    from layerdiff.eval.metric import evaluate_pair, soft_iou
    from layerdiff.io import load
    from layerdiff.samples import sample_path

    truth = load(sample_path("poster.psd")).to_numpy()  # background, sun, shadow, panel, title, subtitle
    out = decomposer.decompose(Image.open(sample_path("poster.png")))
    # item 2a's true layers: background, sun, the panel with its shadow, title, subtitle
    designer = np.stack([truth[0], truth[1], with_its_shadow(truth[3], truth[2], 0.6), truth[4], truth[5]])
    assert evaluate_pair(out, designer)["iou"][0] >= 0.9
    # poster.psd keeps the shadow apart (one layer more than the designer's five)
    assert evaluate_pair(out, truth)["iou"][0] >= 0.855
    stack = out.to_numpy()
    sun = truth[1, ..., 3] > 0.5
    owner = int(np.bincount(topmost(stack)[sun]).argmax())
    assert owner > 0
    assert (stack[owner, sun, 3] > 0.5).mean() > 0.995  # completed under the panel as the disc it is
    colours = stack[owner, sun, :3]  # (m, 3)
    off = np.abs(colours - np.median(colours, 0)).max(-1)
    assert (off > 3.0 / 255.0).mean() < 0.005  # no darker copy of the panel's shadow inside it
    top = topmost(stack)
    title = truth[4, ..., 3] > 0.5
    title_layer = int(np.bincount(top[title]).argmax())
    assert soft_iou(stack[title_layer], truth[4]) > 0.97  # no counter (the "R"'s) left in the text layer
    subtitle = truth[5, ..., 3] > 0
    sub_layer = int(np.bincount(top[truth[5, ..., 3] > 0.5]).argmax())
    assert sub_layer not in (0, title_layer)
    shown = over(np.delete(stack, sub_layer, axis=0))  # (H, W, 3) the panel under the subtitle
    panel = over(truth[:4])
    assert (np.abs(shown - panel)[subtitle].max(-1) > 3.0 / 255.0).sum() < 20  # no outline of the words


@needs_ocr
def test_every_ink_pixel_of_the_bundled_posters_title_lies_in_its_layer(decomposer):
    from layerdiff.io import load
    from layerdiff.samples import sample_path

    truth = load(sample_path("poster.psd")).to_numpy()
    stack = decomposer.decompose(Image.open(sample_path("poster.png"))).to_numpy()
    top = topmost(stack)
    ink = truth[4, ..., 3] > 0.99  # the title's solid pixels
    title_layer = int(np.bincount(top[ink]).argmax())
    assert (top[ink] != title_layer).sum() == 0  # none left in the panel (the "A"'s crossbar row)
