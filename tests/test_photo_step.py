"""The photo step of the region decomposer (issue #28 item 2d, :mod:`layerdiff.regions.photo`): a photo
placed in a design is one layer with the text over it separate, a photo filling the canvas is the
background under its sticker, and a flat design is left exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from layerdiff.regions.photo import find_photos, fit_outline

SIZE = 256
PHOTO = (40, 50, 210, 200)  # x0, y0, x1, y1 of the placed photo (a rounded rectangle)


def photo_texture(h: int, w: int, seed: int = 5, grain: float = 2.0) -> np.ndarray:
    """(h, w, 3) uint8 photo-like raster: seeded smooth colour noise at three scales plus per-pixel grain
    of ``grain`` 8-bit steps."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for cells, weight in ((5, 0.6), (max(h, w) // 10, 0.3), (max(h, w) // 3, 0.25)):
        noise = Image.fromarray((rng.random((cells, cells, 3)) * 255).astype(np.uint8))
        out += weight * np.asarray(noise.resize((w, h), Image.Resampling.BICUBIC), np.float32)  # (h, w, 3)
    out = (out - out.mean()) * 1.2 + 128.0 + rng.normal(0.0, grain, (h, w, 1))
    return np.clip(out, 0, 255).astype(np.uint8)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def photo_under_text() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A light blue design with a rounded-rectangle photo and white text over it: the image (SIZE, SIZE,
    3) uint8, the photo's visible pixels and the letters' inner pixels (SIZE, SIZE) bool."""
    x0, y0, x1, y1 = PHOTO
    frame = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(frame).rounded_rectangle(PHOTO, 24, fill=255)
    raster = Image.new("RGB", (SIZE, SIZE))
    raster.paste(Image.fromarray(photo_texture(y1 - y0 + 1, x1 - x0 + 1)), (x0, y0))
    img = Image.new("RGB", (SIZE, SIZE), (190, 215, 240))
    img.paste(raster, (0, 0), frame)
    text = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(text).text((62, 110), "SALE", fill=255, font=_font(48))
    img.paste((255, 255, 255), (0, 0), text)
    ink = ndimage.binary_erosion(np.asarray(text) > 250)  # (SIZE, SIZE) the letters less their edge
    return np.asarray(img), (np.asarray(frame) > 250) & ~(np.asarray(text) > 0), ink


def photo_with_sticker() -> tuple[np.ndarray, np.ndarray]:
    """A photo filling the canvas with a flat orange rounded sticker: the image and the sticker's pixels."""
    img = Image.fromarray(photo_texture(SIZE, SIZE, seed=11, grain=3.0))
    ImageDraw.Draw(img).rounded_rectangle([70, 80, 190, 170], 18, fill=(245, 130, 30))
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([70, 80, 190, 170], 18, fill=255)
    return np.asarray(img), np.asarray(mask) > 250


def flat_design() -> np.ndarray:
    """A gradient background with a red disc and a green rectangle (no photo)."""
    ramp = np.linspace(60, 200, SIZE, dtype=np.float32)  # (SIZE,)
    img = Image.fromarray(np.stack([np.broadcast_to(ramp[None], (SIZE, SIZE))] * 3, -1).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.ellipse([30, 40, 120, 130], fill=(220, 40, 40))
    draw.rectangle([130, 140, 230, 210], fill=(40, 170, 60))
    return np.asarray(img)


@pytest.fixture(scope="module")
def decomposers():
    """layerdiff-tiny's region decomposer with the photo step off and on."""
    from layerdiff.regions.decomposer import RegionLayerDecomposer

    off = RegionLayerDecomposer.from_pretrained("layerdiff-tiny")
    off.photos = False
    on = RegionLayerDecomposer.from_pretrained("layerdiff-tiny")
    on.photos = True
    return off, on


def _shown(stack: np.ndarray) -> np.ndarray:
    """(H, W) index of the layer that shows at each pixel (topmost with alpha > 0.5)."""
    top = np.zeros(stack.shape[1:3], np.int64)
    for k in range(1, len(stack)):
        top[stack[k, ..., 3] > 0.5] = k
    return top


def test_fit_outline_tells_rectangles_from_ellipses():
    rect = np.zeros((64, 64), bool)
    rect[10:40, 5:60] = True
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 30) ** 2 <= 20 ** 2
    outline, shape, fit = fit_outline(rect)
    assert shape == "rectangle" and fit > 0.99 and np.array_equal(outline, rect)
    outline, shape, fit = fit_outline(disc)
    assert shape == "ellipse" and fit > 0.95 and (outline ^ disc).sum() < 0.05 * disc.sum()


def test_a_placed_photo_under_text_is_one_layer(decomposers):
    img, photo, text = photo_under_text()
    areas = find_photos(img / 255.0)
    assert len(areas) == 1 and not areas[0].background
    x0, y0, x1, y1 = PHOTO
    box = np.zeros((SIZE, SIZE), bool)
    box[y0:y1 + 1, x0:x1 + 1] = True
    assert (areas[0].outline & box).sum() >= 0.9 * box.sum() and (areas[0].outline & ~box).sum() < 0.05 * box.sum()
    _, on = decomposers
    stack = on.decompose_stack(img, 3)  # (3, SIZE, SIZE, 4)
    shown = _shown(stack)
    photo_layer = np.bincount(shown[photo], minlength=3).argmax()
    assert photo_layer > 0  # placed over the design's background, not in it
    assert (shown[photo] == photo_layer).mean() >= 0.95  # the photo whole in one layer
    assert (shown[text] > photo_layer).mean() >= 0.9  # the letters in a layer above it
    background = ~ndimage.binary_dilation(photo | text, iterations=3)
    assert (shown[background] == 0).mean() >= 0.98


def test_a_photo_filling_the_canvas_is_the_background_under_its_sticker(decomposers):
    img, sticker = photo_with_sticker()
    areas = find_photos(img / 255.0)
    assert len(areas) == 1 and areas[0].background
    _, on = decomposers
    stack = on.decompose_stack(img, 2)  # (2, SIZE, SIZE, 4)
    shown = _shown(stack)
    assert (shown[sticker] == 1).mean() >= 0.97
    assert (shown[~ndimage.binary_dilation(sticker, iterations=3)] == 0).mean() >= 0.97


def test_a_flat_design_is_unchanged_by_the_step(decomposers):
    img = flat_design()
    assert find_photos(img / 255.0) == []
    off, on = decomposers
    for count in ("auto", 3):
        assert np.array_equal(off.decompose_stack(img, count), on.decompose_stack(img, count))


def test_bench_photo_measures_the_step_off_and_on():
    from bench_scripts import load_benchmark

    summary = load_benchmark("bench_photo").main(["--designs", "1", "--size", "96", "--photos"])
    assert {"layerdiff-tiny/all", "layerdiff-tiny+photos/all"} <= set(summary)


def test_find_photos_skips_the_opening_when_too_few_pixels_are_textured(monkeypatch):
    """A flat design returns no photo before the costly opening; a photo design still finds its photo."""
    import layerdiff.regions.photo as photo

    calls = []
    real = photo.ndimage.binary_opening

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(photo.ndimage, "binary_opening", counted)
    assert find_photos(flat_design().astype(np.float32) / 255) == []
    assert calls == []
    image, _, _ = photo_under_text()
    areas = find_photos(image.astype(np.float32) / 255)
    assert len(calls) == 1 and len(areas) == 1 and not areas[0].background
