"""LayeredImage.composite blends each layer only where it has pixels; the result must equal, bit for bit,
blending every layer over the whole canvas with layerdiff.blend.over (the straightforward definition)."""

from __future__ import annotations

import numpy as np
import pytest

from layerdiff.blend import BLEND_FUNCTIONS, over
from layerdiff.layered import Layer, LayeredImage


def reference_composite(image: LayeredImage, background: tuple[float, ...] | None) -> np.ndarray:
    out = np.zeros((image.height, image.width, 4), np.float32)
    if background is not None:
        bg = list(background) + [1.0] * (4 - len(background))
        out[:] = np.asarray(bg[:4], np.float32)
    for layer in image.layers:
        if not layer.visible or layer.opacity <= 0:
            continue
        src = layer.on_canvas(image.size)  # (H, W, 4)
        if layer.opacity < 1:
            src[..., 3] *= layer.opacity
        out = over(out, src, layer.blend_mode)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_composite_is_bit_identical_to_whole_canvas_blending(seed: int) -> None:
    rng = np.random.default_rng(seed)
    modes = sorted(BLEND_FUNCTIONS)
    for trial in range(25):
        width, height = (int(v) for v in rng.integers(5, 40, 2))
        layers = []
        for _ in range(int(rng.integers(1, 6))):
            h, w = (int(v) for v in rng.integers(1, 30, 2))
            px = rng.random((h, w, 4), dtype=np.float32)  # (h, w, 4)
            px[..., 3] = np.where(rng.random((h, w)) < 0.4, 0, px[..., 3])
            if rng.random() < 0.3:
                px[..., 3] = 1
            layers.append(Layer(px, opacity=float(rng.choice([1.0, 0.5, 0.37])),
                                offset=tuple(int(v) for v in rng.integers(-10, 30, 2)),
                                visible=bool(rng.random() < 0.9), blend_mode=str(rng.choice(modes))))
        image = LayeredImage((width, height), layers)
        background = [None, (0.2, 0.3, 0.4), (0.1, 0.2, 0.3, 0.5)][trial % 3]
        expected = reference_composite(image, background)
        assert np.array_equal(image.composite(background=background), expected), trial


def test_composite_of_an_opaque_background_and_a_small_layer() -> None:
    bg = np.ones((50, 60, 4), np.float32) * np.float32(0.5)
    bg[..., 3] = 1
    dot = np.zeros((4, 4, 4), np.float32)
    dot[1:3, 1:3] = (1, 0, 0, 0.3)
    image = LayeredImage((60, 50), [Layer(bg), Layer(dot, offset=(10, 20)), Layer(dot, offset=(11, 21))])
    assert np.array_equal(image.composite(), reference_composite(image, None))


def test_composite_in_bands_of_rows_is_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    import layerdiff.layered as layered

    rng = np.random.default_rng(7)
    layers = [Layer(rng.random((30, 25, 4), dtype=np.float32), offset=(-3, 2), blend_mode=mode, opacity=0.8)
              for mode in ("normal", "multiply", "color", "screen")]
    image = LayeredImage((24, 28), layers)
    whole = image.composite()
    monkeypatch.setattr(layered, "_BAND_PIXELS", 7)  # bands of a row or two
    assert np.array_equal(image.composite(), whole)
    assert np.array_equal(whole, reference_composite(image, None))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_from_float_in_place_matches_the_plain_formula(dtype: type) -> None:
    from layerdiff.layered import from_float

    rng = np.random.default_rng(5)
    values = (rng.random((40, 30, 4)) * 1.4 - 0.2).astype(dtype) if dtype != np.uint8 else \
        rng.integers(0, 3, (40, 30, 4)).astype(np.uint8)
    for depth, scale, out in ((8, 255.0, np.uint8), (16, 65535.0, np.uint16)):
        expected = np.round(np.clip(values, 0, 1) * scale).astype(out)
        assert np.array_equal(from_float(values, depth), expected)
