"""Exemplar completion by default: texture under a hole is synthesised (not smeared), smooth fields get
the smooth fill, PatchMatch reads a box around the hole and searches small levels only (a bounded
cost), and the region decomposer's default uses it (an uncovered striped background continues its
stripes)."""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

import layerdiff.completion.patchmatch as patchmatch
from layerdiff.completion import complete_layer_info
from layerdiff.regions.hidden import complete_hidden


def _texture(n: int, seed: int = 0) -> np.ndarray:
    """Diagonal stripes with grain: (n, n, 3) in [0, 1], no parametric model fits it."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:n, 0:n]
    on = ((xs + ys) // 12) % 2 == 0
    rgb = np.where(on[..., None], np.float32([0.85, 0.3, 0.2]), np.float32([0.2, 0.35, 0.8]))
    return np.clip(rgb + rng.normal(0, 0.04, rgb.shape), 0, 1).astype(np.float32)


def _detail(rgb: np.ndarray) -> np.ndarray:
    """(H, W): the fine texture, mean over channels of |rgb - its 2-px Gaussian mean|."""
    return np.abs(rgb - ndimage.gaussian_filter(rgb, (2, 2, 0))).mean(-1)


def test_a_textured_hole_gets_texture_not_a_smear() -> None:
    img = _texture(160)
    hole = np.zeros((160, 160), bool)
    hole[50:110, 40:120] = True
    out = complete_layer_info(np.where(hole[..., None], 1.0, img), ~hole, hole)
    assert out.method in ("patchmatch", "patchmatch-base")
    inner = ndimage.binary_erosion(hole, np.ones((9, 9), bool))
    outer = ~ndimage.binary_dilation(hole, np.ones((9, 9), bool))
    known_detail = _detail(img)[outer].mean()
    assert _detail(out.rgb)[inner].mean() > 0.6 * known_detail  # texture's own strength, not flattened
    smear = complete_layer_info(np.where(hole[..., None], 1.0, img), ~hole, hole, exemplar=False).rgb
    assert _detail(smear)[inner].mean() < 0.2 * known_detail  # what the default replaced
    # the hole holds the stripes' two colours, as the known pixels do, not their blend
    def share_near(x: np.ndarray) -> float:
        d = np.minimum(np.abs(x - (0.85, 0.3, 0.2)).mean(-1), np.abs(x - (0.2, 0.35, 0.8)).mean(-1))
        return float((d < 0.1).mean())
    assert share_near(out.rgb[inner]) > 0.7 and share_near(smear[inner]) < 0.3


def test_a_smooth_field_is_filled_smoothly() -> None:
    n = 128
    rng = np.random.default_rng(3)
    field = ndimage.zoom(rng.random((5, 5)), n / 5, order=3)[:n, :n]  # (n, n) soft mottling, no grain
    rgb = np.stack([0.3 + 0.4 * field, 0.5 - 0.3 * field, 0.6 + 0.2 * field], -1).astype(np.float32)
    hole = np.zeros((n, n), bool)
    hole[40:80, 40:90] = True
    out = complete_layer_info(rgb, ~hole, hole)
    assert out.fit is not None and not out.fit.accepted  # not a gradient: no parametric model fits
    assert out.method == "push-pull" and out.validation == {}  # no exemplar search for a smooth field


def test_the_hole_is_filled_from_its_neighbourhood() -> None:
    n = 320
    img = _texture(n)
    img[:, 200:] = (0.1, 0.9, 0.1)  # far from the hole: another colour of the same layer
    hole = np.zeros((n, n), bool)
    hole[60:100, 40:80] = True
    out = complete_layer_info(img, ~hole, hole)
    assert out.method in ("patchmatch", "patchmatch-base")
    green = (out.rgb[..., 1] > 0.7) & (out.rgb[..., 0] < 0.3)
    assert not (green & hole).any()


def test_only_small_levels_are_searched_and_the_cost_is_bounded(monkeypatch) -> None:
    searched: list[tuple[int, int]] = []
    original = patchmatch._search

    def record(lv, nnf, iterations, rng, **kwargs):
        if kwargs.get("random", True):  # a full search (finer levels only propagate between neighbours)
            searched.append((lv.h, lv.w))
        return original(lv, nnf, iterations, rng, **kwargs)

    monkeypatch.setattr(patchmatch, "_search", record)
    img = _texture(512)
    hole = np.zeros((512, 512), bool)
    hole[100:420, 80:400] = True  # 40 % of the layer
    start = time.process_time()
    out = complete_layer_info(img, ~hole, hole, method="patchmatch-base")
    seconds = time.process_time() - start
    assert max(max(s) for s in searched) <= 128  # the 256 and 512 px levels are not searched
    assert seconds < 6.0  # 1.4 s CPU on the (loaded) development machine, 3.3 s searching every level
    inner = ndimage.binary_erosion(hole, np.ones((9, 9), bool))
    assert _detail(out.rgb)[inner].mean() > 0.5 * _detail(img)[~hole].mean()  # the detail still arrives


def test_the_stack_completion_continues_stripes_under_a_sticker() -> None:
    n = 128
    ys, xs = np.mgrid[0:n, 0:n]
    stripes = np.where((((xs + ys) // 8) % 2 == 0)[..., None], np.float32([0.9, 0.8, 0.2]),
                       np.float32([0.2, 0.4, 0.7])).astype(np.float32)
    disc = (ys - 64) ** 2 + (xs - 64) ** 2 < 28 ** 2
    stack = np.zeros((2, n, n, 4), np.float32)
    stack[0, ..., :3] = np.where(disc[..., None], 0.0, stripes)  # a black hole: no ghost may stay
    stack[0, ..., 3] = 1.0
    stack[1, disc, :3] = (0.95, 0.1, 0.5)
    stack[1, disc, 3] = 1.0
    rgb = np.where(disc[..., None], stack[1, ..., :3], stripes)
    done = complete_hidden(stack, rgb)  # the default: exemplar completion
    inner = ndimage.binary_erosion(disc, np.ones((7, 7), bool))
    err = np.abs(done[0, ..., :3] - stripes).mean(-1)[inner].mean()
    smear = complete_hidden(stack, rgb, exemplar=False)
    assert err < 0.1 < np.abs(smear[0, ..., :3] - stripes).mean(-1)[inner].mean()


def test_the_default_decomposer_continues_stripes_under_a_sticker() -> None:
    from layerdiff.regions.decomposer import RegionLayerDecomposer

    n = 160
    ys, xs = np.mgrid[0:n, 0:n]
    stripes = np.where(((xs // 10) % 2 == 0)[..., None], np.float32([0.95, 0.85, 0.3]),
                       np.float32([0.25, 0.45, 0.75])).astype(np.float32)
    disc = (ys - 80) ** 2 + (xs - 80) ** 2 < 30 ** 2
    image = (np.where(disc[..., None], np.float32([0.9, 0.15, 0.45]), stripes) * 255).round().astype(np.uint8)
    stack = RegionLayerDecomposer.from_pretrained("layerdiff-tiny").decompose_stack(image, 2)  # (2, n, n, 4)
    inner = (ys - 80) ** 2 + (xs - 80) ** 2 < 24 ** 2  # well inside the sticker
    assert stack[1, ..., 3][inner].min() > 0.99 and stack[0, ..., 3][inner].min() > 0.99
    # the background uncovered under the sticker holds the stripes (push-pull leaves a blend: error 0.25)
    assert np.abs(stack[0, ..., :3] - stripes).mean(-1)[inner].mean() < 0.05
