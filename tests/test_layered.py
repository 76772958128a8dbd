"""The core LayeredImage / Layer / blend code: compositing against hand-computed values, stack editing,
cropping, and numpy / PIL round trips (8- and 16-bit)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from layerdiff.blend import normalize_blend_mode, over, visibility_weights
from layerdiff.layered import Layer, LayeredImage, from_float, to_float


def solid(h: int, w: int, rgba: tuple[float, float, float, float]) -> np.ndarray:
    return np.broadcast_to(np.asarray(rgba, np.float32), (h, w, 4)).copy()


def two_layer(top_rgba: tuple[float, float, float, float], mode: str = "normal", opacity: float = 1.0,
              bottom_rgba: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 1.0)) -> LayeredImage:
    return LayeredImage((3, 2), [Layer(solid(2, 3, bottom_rgba), name="bottom"),
                                 Layer(solid(2, 3, top_rgba), name="top", blend_mode=mode, opacity=opacity)])


# ---------------------------------------------------------------- compositing
def test_over_with_half_alpha_matches_hand_value() -> None:
    out = two_layer((0.0, 0.0, 1.0, 0.5)).composite()
    np.testing.assert_allclose(out[0, 0], [0.5, 0.0, 0.5, 1.0], atol=1e-6)


def test_opacity_scales_alpha() -> None:
    out = two_layer((0.0, 0.0, 1.0, 1.0), opacity=0.25).composite()
    np.testing.assert_allclose(out[1, 2], [0.75, 0.0, 0.25, 1.0], atol=1e-6)


def test_two_translucent_layers_on_transparent_canvas() -> None:
    # a_o = 0.5 + 0.5 * 0.5 = 0.75; colour = (0.5 * blue + 0.25 * red) / 0.75
    out = two_layer((0.0, 0.0, 1.0, 0.5), bottom_rgba=(1.0, 0.0, 0.0, 0.5)).composite()
    np.testing.assert_allclose(out[0, 0], [1 / 3, 0.0, 2 / 3, 0.75], atol=1e-6)


@pytest.mark.parametrize("mode, expected", [
    ("multiply", [0.25, 0.5, 0.0]),
    ("screen", [0.75, 1.0, 0.5]),
    ("darken", [0.5, 0.5, 0.0]),
    ("lighten", [0.5, 1.0, 0.5]),
    ("difference", [0.0, 0.5, 0.5]),
    ("linear_dodge", [1.0, 1.0, 0.5]),
    ("linear_burn", [0.0, 0.5, 0.0]),
])
def test_separable_blend_modes_on_opaque_backdrop(mode: str, expected: list[float]) -> None:
    out = two_layer((0.5, 1.0, 0.0, 1.0), mode=mode, bottom_rgba=(0.5, 0.5, 0.5, 1.0)).composite()
    np.testing.assert_allclose(out[0, 0, :3], expected, atol=1e-6)
    assert out[0, 0, 3] == pytest.approx(1.0)


def test_blend_mode_over_transparent_backdrop_is_normal() -> None:
    dst = np.zeros((1, 1, 4), np.float32)
    src = solid(1, 1, (0.2, 0.4, 0.6, 0.5))
    np.testing.assert_allclose(over(dst, src, "multiply"), src, atol=1e-6)


def test_unknown_blend_mode_warns_and_uses_normal() -> None:
    dst = solid(1, 1, (1, 0, 0, 1))
    src = solid(1, 1, (0, 0, 1, 1))
    with pytest.warns(UserWarning, match="vivid_light"):
        out = over(dst, src, "vivid_light")
    np.testing.assert_allclose(out, src)


def test_hidden_layers_are_skipped_unless_asked() -> None:
    image = two_layer((0.0, 0.0, 1.0, 1.0))
    image[1].visible = False
    np.testing.assert_allclose(image.composite()[0, 0], [1, 0, 0, 1])
    np.testing.assert_allclose(image.composite(include_hidden=True)[0, 0], [0, 0, 1, 1])


def test_background_colour_sits_under_the_stack() -> None:
    image = LayeredImage((2, 2), [Layer(solid(2, 2, (0, 0, 1, 0.5)))])
    out = image.composite(background=(1.0, 1.0, 1.0))
    np.testing.assert_allclose(out[0, 0], [0.5, 0.5, 1.0, 1.0], atol=1e-6)


def test_offset_layers_are_placed_and_clipped_by_the_canvas() -> None:
    image = LayeredImage((4, 3), [Layer(solid(2, 2, (0, 1, 0, 1)), offset=(3, -1))])
    out = image.composite()
    assert out[0, 3, 3] == 1.0 and out[0, 3, 1] == 1.0  # the visible corner (x=3, y=0)
    assert out[..., 3].sum() == 1.0
    assert image[0].bbox == (3, -1, 5, 1)


def test_visibility_weights_reproduce_the_composite() -> None:
    rng = np.random.default_rng(0)
    stack = rng.random((3, 4, 5, 4)).astype(np.float32)
    stack[0, ..., 3] = 1.0
    image = LayeredImage.from_numpy(stack)
    weights = visibility_weights(stack[..., 3])  # (L, H, W)
    np.testing.assert_allclose(weights.sum(0), 1.0, atol=1e-6)
    colour = (weights[..., None] * stack[..., :3]).sum(0)
    np.testing.assert_allclose(colour, image.composite()[..., :3], atol=1e-5)


def test_normalize_blend_mode_spellings() -> None:
    for spelling in ("Color Dodge", "COLOR_DODGE", "color-dodge", "BlendMode.COLOR_DODGE"):
        assert normalize_blend_mode(spelling) == "color_dodge"
    assert normalize_blend_mode("pass through") == "normal"
    assert Layer(solid(1, 1, (0, 0, 0, 1)), blend_mode="Multiply").blend_mode == "multiply"


# ---------------------------------------------------------------- validation
def test_bad_opacity_and_canvas_raise() -> None:
    with pytest.raises(ValueError, match="opacity"):
        Layer(solid(1, 1, (0, 0, 0, 1)), opacity=1.5)
    with pytest.raises(ValueError, match="canvas size"):
        LayeredImage((0, 5))
    with pytest.raises(ValueError, match="bit_depth"):
        LayeredImage((2, 2), bit_depth=12)


def test_to_float_channel_counts_and_dtypes() -> None:
    gray = np.array([[0, 255]], np.uint8)
    np.testing.assert_allclose(to_float(gray)[0, 1], [1, 1, 1, 1])
    la = np.array([[[65535, 0]]], np.uint16)
    np.testing.assert_allclose(to_float(la)[0, 0], [1, 1, 1, 0])
    with pytest.raises(ValueError, match="channels"):
        to_float(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        to_float(np.zeros((2, 2, 3), np.int64))


# ---------------------------------------------------------------- editing
def stack_of(n: int) -> LayeredImage:
    layers = [Layer(solid(2, 2, (i / n, 0, 0, 1.0 if i == 0 else 0.5)), name=f"L{i}") for i in range(n)]
    return LayeredImage((2, 2), layers)


def test_add_remove_move_and_index_of() -> None:
    image = stack_of(3)
    image.add_layer(Layer(solid(2, 2, (0, 1, 0, 1)), name="new"), index=1)
    assert [lay.name for lay in image] == ["L0", "new", "L1", "L2"]
    assert image.remove_layer("new").name == "new"
    image.move_layer("L2", 0)
    assert [lay.name for lay in image] == ["L2", "L0", "L1"]
    image.move_layer(0, -1)
    assert [lay.name for lay in image] == ["L0", "L1", "L2"]
    assert image.index_of(-1) == 2
    with pytest.raises(KeyError, match="no layer named"):
        image.index_of("missing")
    with pytest.raises(IndexError):
        image.index_of(7)
    with pytest.raises(IndexError):
        image.move_layer(0, 9)


def test_merge_keeps_the_composite_and_takes_the_top_slot() -> None:
    image = stack_of(4)
    before = image.composite()
    merged = image.merge([1, 2], name="merged")
    assert [lay.name for lay in image] == ["L0", "merged", "L3"]
    assert merged.width == 2 and merged.offset == (0, 0)
    np.testing.assert_allclose(image.composite(), before, atol=1e-6)


def test_merge_drops_hidden_layers_and_merge_down_checks_bottom() -> None:
    image = stack_of(3)
    image[2].visible = False
    image.merge_down(2)
    assert len(image) == 2
    np.testing.assert_allclose(image[1].pixels[0, 0], solid(1, 1, (1 / 3, 0, 0, 0.5))[0, 0], atol=1e-6)
    with pytest.raises(ValueError, match="bottom"):
        image.merge_down(0)


def test_crop_to_content_and_expand_to_canvas_keep_the_composite() -> None:
    px = np.zeros((6, 8, 4), np.float32)
    px[2:4, 3:7] = (0.2, 0.4, 0.6, 1.0)
    empty = Layer(np.zeros((6, 8, 4), np.float32), name="empty")
    image = LayeredImage((8, 6), [Layer(solid(6, 8, (1, 1, 1, 1))), Layer(px, name="box"), empty])
    before = image.composite()
    image.crop_to_content()
    assert image[1].offset == (3, 2) and image[1].pixels.shape == (2, 4, 4)
    assert image[2].pixels.shape == (1, 1, 4)
    np.testing.assert_allclose(image.composite(), before)
    image.expand_to_canvas()
    assert all(lay.offset == (0, 0) and lay.pixels.shape == (6, 8, 4) for lay in image)
    np.testing.assert_allclose(image.composite(), before)


def test_copy_is_deep() -> None:
    image = stack_of(2)
    clone = image.copy()
    clone[0].pixels[:] = 0
    clone[0].name = "changed"
    assert image[0].name == "L0" and image[0].pixels.max() > 0


# ---------------------------------------------------------------- conversions
def test_numpy_round_trip_and_opacity_folding() -> None:
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 256, (3, 5, 4, 4), dtype=np.uint8)
    image = LayeredImage.from_numpy(stack, names=["a", "b", "c"])
    assert image.size == (4, 5) and image.bit_depth == 8
    np.testing.assert_array_equal(from_float(image.to_numpy()), stack)
    image[1].opacity = 0.5
    image[2].visible = False
    out = image.to_numpy(include_hidden=False)
    assert out.shape == (2, 5, 4, 4)
    np.testing.assert_allclose(out[1, ..., 3], stack[1, ..., 3] / 255.0 * 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="names"):
        LayeredImage.from_numpy(stack, names=["a"])


def test_pil_round_trip_is_exact_in_8_bit() -> None:
    rng = np.random.default_rng(2)
    images = [Image.fromarray(rng.integers(0, 256, (4, 6, 4), dtype=np.uint8), "RGBA") for _ in range(2)]
    stack = LayeredImage.from_pil(images, names=["x", "y"])
    for original, back in zip(images, stack.to_pil()):
        np.testing.assert_array_equal(np.asarray(original), np.asarray(back))
    with pytest.raises(ValueError, match="share one size"):
        LayeredImage.from_pil([images[0], images[0].resize((3, 3))])


def test_16_bit_values_survive_float_round_trip() -> None:
    values = np.arange(0, 65536, 257 * 3 + 1, dtype=np.uint16)[:60].reshape(3, 5, 4)
    image = LayeredImage.from_numpy(values[None])
    assert image.bit_depth == 16
    np.testing.assert_array_equal(from_float(image[0].pixels, 16), values)


def test_16_bit_grayscale_pil_keeps_precision() -> None:
    gray = np.array([[0, 1, 65534, 65535]], np.uint16)
    im = Image.fromarray(gray)  # uint16 -> mode "I;16"
    image = LayeredImage.from_pil(im)
    assert image.bit_depth == 16
    np.testing.assert_array_equal(from_float(image[0].pixels[..., 0], 16), gray)


def test_composite_pil_is_8_bit_rgba() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pil = two_layer((0.0, 0.0, 1.0, 0.5)).composite_pil()
    assert pil.mode == "RGBA" and pil.size == (3, 2)
    assert pil.getpixel((0, 0)) == (128, 0, 128, 255)
