"""Full-canvas fades and vignettes over the background (layerdiff.regions.fades)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from layerdiff.regions.fades import fade_shapes, find_fade, split_fade

N = 128


def _shape(kind: str, start: float, power: float) -> np.ndarray:
    y, x = np.mgrid[:N, :N].astype(np.float32)
    x, y = (x + 0.5) / N, (y + 0.5) / N
    if kind == "vignette":
        s = np.hypot(x - 0.5, y - 0.5) / np.sqrt(0.5)
    else:
        s = {"right": x, "down": y, "left": 1 - x, "up": 1 - y}[kind]
    return np.clip((s - start) / (1 - start), 0, 1) ** power


def _texture(seed: int = 0) -> np.ndarray:
    """A mottled two-colour texture (N, N, 3): coarse noise zoomed up."""
    coarse = np.random.default_rng(seed).random((16, 16))
    t = np.clip(ndimage.zoom(coarse, N / 16, order=1)[:N, :N], 0, 1)[..., None]  # (N, N, 1)
    return (np.array([0.55, 0.2, 0.6]) * t + np.array([0.95, 0.5, 0.7]) * (1 - t)).astype(np.float32)


def _over(base: np.ndarray, colour: tuple[float, float, float], alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return (base * (1 - a) + np.asarray(colour, np.float32) * a).astype(np.float32)


def test_shapes_cover_vignettes_and_four_sides():
    kinds = [kind for kind, _ in fade_shapes(16, 16)]
    assert set(kinds) == {"vignette", "right", "down", "left", "up"}
    for _, shape in fade_shapes(16, 16):
        assert shape.shape == (16, 16) and shape.min() >= 0 and shape.max() <= 1


def test_vignette_over_a_flat_fill_is_found():
    base = np.full((N, N, 3), [0.86, 0.15, 0.15], np.float32)
    img = _over(base, (0.96, 0.51, 0.08), 0.6 * _shape("vignette", 0.35, 1.5))
    fade = find_fade(img)
    assert fade is not None and fade.kind == "vignette"
    # the overlay over the base gives the picture back, and the base is the flat fill
    low, top = split_fade(np.concatenate([img, np.ones((N, N, 1), np.float32)], -1), fade)
    again = top[..., :3] * top[..., 3:] + low[..., :3] * (1 - top[..., 3:])
    assert np.abs(again - img).max() < 1e-4
    assert np.abs(low[..., :3] - base).max() < 0.03
    assert (top[..., 3][N // 2, N // 2] == 0) and top[..., 3][0, 0] > 0.4


def test_fade_over_a_texture_reads_its_opacity_from_the_detail():
    img = _over(_texture(), (0.2, 0.6, 0.3), 0.45 * _shape("up", 0.0, 1.5))
    fade = find_fade(img)
    assert fade is not None and fade.kind == "up"
    assert abs(fade.opacity - 0.45) < 0.15
    assert np.abs(fade.colour - np.array([0.2, 0.6, 0.3])).max() < 0.2


@pytest.mark.parametrize("spare", [False, True])
def test_texture_alone_has_no_fade(spare):
    assert find_fade(_texture(3), spare=spare) is None


def test_gradient_fill_is_a_fade_only_when_the_count_has_room():
    img = _over(np.full((N, N, 3), [0.1, 0.6, 0.6], np.float32), (0.5, 0.5, 0.5), 0.4 * _shape("left", 0.0, 1.5))
    assert find_fade(img) is None  # a gradient fill of the background as far as the picture tells
    fade = find_fade(img, spare=True)
    assert fade is not None and fade.kind == "left"


def test_flat_fill_has_no_fade():
    assert find_fade(np.full((N, N, 3), 0.3, np.float32), spare=True) is None


def test_decomposer_spends_an_empty_slot_on_the_fade():
    from layerdiff.loader import load

    base = np.full((N, N, 3), [0.1, 0.6, 0.6], np.float32)
    alpha = 0.5 * _shape("left", 0.0, 1.5)
    img = (_over(base, (0.9, 0.9, 0.9), alpha) * 255 + 0.5).astype(np.uint8)
    dec = load("layerdiff-tiny", "decompose")
    out = dec.decompose_stack(img, num_layers=2)  # (2, N, N, 4)
    assert out.shape[0] == 2
    assert np.abs(out[0, ..., :3] - base).max() < 0.05  # the base is the flat fill
    assert abs(float(out[1, ..., 3].mean()) - float(alpha.mean())) < 0.1  # the fade is a layer
    comp = out[1, ..., :3] * out[1, ..., 3:] + out[0, ..., :3] * (1 - out[1, ..., 3:])
    assert np.abs(comp * 255 - img).max() <= 1.0
    dec.fades = False
    try:
        off = dec.decompose_stack(img, num_layers=2)
    finally:
        dec.fades = True
    assert off[1, ..., 3].max() == 0  # without fades the slot stays empty


def test_decomposer_adds_a_vignette_to_a_plain_fill_with_an_automatic_count():
    from layerdiff.loader import load

    base = np.full((N, N, 3), [0.86, 0.15, 0.15], np.float32)
    img = (_over(base, (0.96, 0.51, 0.08), 0.6 * _shape("vignette", 0.35, 1.5)) * 255 + 0.5).astype(np.uint8)
    out = load("layerdiff-tiny", "decompose").decompose_stack(img, num_layers="auto")  # (2, N, N, 4)
    assert out.shape[0] == 2
    assert out[1, N // 2, N // 2, 3] == 0 and out[1, 0, 0, 3] > 0.4
    comp = out[1, ..., :3] * out[1, ..., 3:] + out[0, ..., :3] * (1 - out[1, ..., 3:])
    assert np.abs(comp * 255 - img).max() <= 1.0


def test_a_speck_gives_its_slot_to_a_vignette_when_no_slot_is_empty():
    from layerdiff.loader import load
    from layerdiff.regions.paint import merge_speck

    base = np.full((N, N, 3), [0.86, 0.15, 0.15], np.float32)
    bg = np.concatenate([_over(base, (0.96, 0.51, 0.08), 0.6 * _shape("vignette", 0.35, 1.5)),
                         np.ones((N, N, 1), np.float32)], -1)  # (N, N, 4) the vignette still in it
    disc = np.zeros((N, N, 4), np.float32)
    disc[40:80, 40:80] = (0.1, 0.2, 0.9, 1.0)
    speck = np.zeros((N, N, 4), np.float32)
    speck[60:62, 100:103] = (1.0, 1.0, 1.0, 1.0)  # 6 px: a speck, not a layer a designer made
    stack = np.stack([bg, disc, speck])  # (3, N, N, 4) no slot empty
    merged = merge_speck(stack, 0.003)
    assert merged.shape[0] == 2 and (merged[1, 60:62, 100:103] == 1.0).all()  # onto the layer under it
    assert np.array_equal(merged[1, 40:80, 40:80], disc[40:80, 40:80])
    assert merge_speck(stack[:2], 0.003) is None  # the disc is no speck
    out = load("layerdiff-tiny", "decompose")._take_fade(stack, True, 8)  # (3, N, N, 4)
    assert out.shape[0] == 3
    assert out[1, N // 2, N // 2, 3] == 0 and out[1, 0, 0, 3] > 0.4  # the vignette took the speck's slot
    assert np.array_equal(out[2], merged[1])
    assert np.abs(out[0, ..., :3] - base).max() < 0.05
