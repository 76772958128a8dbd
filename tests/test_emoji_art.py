"""Drawings inside a transparent canvas (emoji, icons, stickers): what the bottom layer hides is filled from
its own paint, not from the canvas's stored black (layerdiff.regions.emoji_art, issue 28 items 1 and 2g)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from layerdiff.regions.decomposer import RegionLayerDecomposer
from layerdiff.regions.emoji_art import fill_under_drawing, inside_transparent_canvas

YELLOW = np.array([1.0, 0.8, 0.2], np.float32)
BLUE = np.array([0.1, 0.2, 0.9], np.float32)
PX = 96


def _drawing() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image (PX, PX, 4), disc (PX, PX), bar (PX, PX)): a yellow disc inside a transparent canvas whose
    stored colour is black, and a blue bar over the disc's right edge, reaching past it."""
    yy, xx = np.mgrid[:PX, :PX]
    disc = (yy - 48) ** 2 + (xx - 44) ** 2 <= 28 ** 2  # (PX, PX)
    bar = (yy >= 40) & (yy < 56) & (xx >= 56) & (xx < 84)  # (PX, PX)
    image = np.zeros((PX, PX, 4), np.float32)
    image[disc, :3], image[disc, 3] = YELLOW, 1.0
    image[bar, :3], image[bar, 3] = BLUE, 1.0
    return image, disc, bar


def _painted_stack(image: np.ndarray, disc: np.ndarray, bar: np.ndarray) -> np.ndarray:
    """The stack the painter leaves: a bottom layer opaque over the whole drawing whose hidden part holds
    the canvas's black, and the bar above it."""
    stack = np.zeros((2, PX, PX, 4), np.float32)
    stack[0, ..., :3] = image[..., :3]
    stack[0, bar, :3] = 0.0  # the canvas's colour pushed under the bar
    stack[0, ..., 3] = image[..., 3]
    stack[1, bar, :3], stack[1, bar, 3] = BLUE, 1.0
    return stack


def _composite(stack: np.ndarray) -> np.ndarray:
    out = np.zeros(stack.shape[1:], np.float32)  # (h, w, 4) premultiplied
    for layer in stack:
        a = layer[..., 3:]
        out[..., :3] = layer[..., :3] * a + out[..., :3] * (1 - a)
        out[..., 3:] = a + out[..., 3:] * (1 - a)
    return out


def test_hidden_bottom_pixels_take_the_bottom_paint_not_the_canvas() -> None:
    image, disc, bar = _drawing()
    stack = _painted_stack(image, disc, bar)
    out = fill_under_drawing(stack, image)
    hidden = bar  # the bar is opaque: the bottom layer is fully covered there
    assert np.abs(out[0, hidden, :3] - YELLOW).max() < 0.02  # the disc's yellow, not black
    assert np.allclose(out[0, ~hidden], stack[0, ~hidden])  # what shows is untouched
    assert np.array_equal(out[1], stack[1])
    assert np.allclose(_composite(out), _composite(stack), atol=1e-6)
    levels = out[0, hidden, :3] * 255.0
    assert np.abs(levels - np.round(levels)).max() < 1e-3  # new colours on 8-bit levels
    assert np.array_equal(stack[0, bar, :3], np.zeros_like(stack[0, bar, :3]))  # the input is not modified


def test_pixels_seen_through_a_translucent_layer_keep_their_colour() -> None:
    image, disc, bar = _drawing()
    stack = _painted_stack(image, disc, bar)
    stack[1, bar, 3] = 0.6  # the bottom layer shows through the bar
    assert np.array_equal(fill_under_drawing(stack, image), stack)


def test_flags_opaque_images_and_single_layers_are_left_alone() -> None:
    image, disc, bar = _drawing()
    stack = _painted_stack(image, disc, bar)
    assert inside_transparent_canvas(image[..., 3])
    flag = image.copy()
    flag[8:88, :, 3] = 1.0  # a drawing reaching the left and right borders: vector_art's rules
    assert not inside_transparent_canvas(flag[..., 3])
    assert fill_under_drawing(stack, flag) is stack
    opaque = image.copy()
    opaque[..., 3] = 1.0
    assert not inside_transparent_canvas(opaque[..., 3])
    assert fill_under_drawing(stack, opaque) is stack
    single = stack[:1]
    assert fill_under_drawing(single, image) is single


@pytest.fixture(scope="module")
def decomposer() -> RegionLayerDecomposer:
    return RegionLayerDecomposer.from_pretrained("layerdiff-tiny")


def test_decomposer_fills_under_an_emoji_part_from_the_bottom_paint(decomposer: RegionLayerDecomposer) -> None:
    image, disc, bar = _drawing()
    rgba = Image.fromarray(np.round(image * 255).astype(np.uint8), "RGBA")
    stack = decomposer.decompose(rgba, 2).to_numpy()  # (2, PX, PX, 4)
    covered = np.prod(1.0 - stack[1:, ..., 3], axis=0) <= 0.0  # (PX, PX) bottom fully hidden
    under = covered & (stack[0, ..., 3] > 0) & disc
    assert under.sum() > 20
    dark = stack[0, under, :3].mean(-1) < 0.3  # the canvas's black
    assert not dark.any()
    assert np.abs(_composite(stack) - _composite(image[None])).max() <= 1.0 / 255 + 1e-6
