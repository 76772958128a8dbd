"""complete_layer / complete_stack: the method is chosen per layer, a panel under text continues in the
panel's colour, a layer's hidden part never keeps a copy of what lies above it."""

from __future__ import annotations

import numpy as np
import pytest

from layerdiff.completion import complete_layer, complete_layer_info, complete_stack


def _text_mask(n: int = 96) -> np.ndarray:
    m = np.zeros((n, n), bool)
    for k in range(5):  # five "letters": vertical bars and a crossbar
        m[30:60, 20 + 12 * k:26 + 12 * k] = True
    m[43:47, 20:80] = True
    return m


def test_panel_under_text_continues_in_the_panel_colour() -> None:
    n = 96
    rgb = np.zeros((n, n, 3), np.float32)
    rgb[:] = (0.1, 0.2, 0.9)  # the background around the panel (another layer)
    panel = np.zeros((n, n), bool)
    panel[15:80, 10:90] = True
    rgb[panel] = (1.0, 0.55, 0.1)
    text = _text_mask() & panel
    rgb[text] = (1.0, 1.0, 1.0)  # white text above the panel: a ghost if it stays
    out = complete_layer_info(rgb, panel & ~text, text)
    assert out.method == "parametric" and out.fit is not None and out.fit.kind == "solid"
    np.testing.assert_allclose(out.rgb[text], np.broadcast_to((1.0, 0.55, 0.1), (text.sum(), 3)), atol=1e-5)
    np.testing.assert_array_equal(out.rgb[~text], rgb[~text])


def test_texture_is_inpainted_by_exemplars() -> None:
    n = 128
    xs = np.arange(n)[None, :].repeat(n, 0)
    ys = xs.T
    check = ((xs // 8 + ys // 8) % 2).astype(bool)
    rgb = np.where(check[..., None], np.float32([0.9, 0.9, 0.2]), np.float32([0.2, 0.3, 0.8])).astype(np.float32)
    hole = np.zeros((n, n), bool)
    hole[50:80, 40:90] = True
    rgb[hole] = 1.0
    out = complete_layer_info(rgb, ~hole, hole)
    assert out.fit is not None and not out.fit.accepted
    assert out.method in ("patchmatch", "patchmatch-base")
    assert set(out.validation) == {"patchmatch", "patchmatch-base", "push-pull"}
    # the hole holds the two colours of the pattern, not a blend of them (a smooth fill would)
    near = np.minimum(np.abs(out.rgb[hole] - (0.9, 0.9, 0.2)).max(-1), np.abs(out.rgb[hole] - (0.2, 0.3, 0.8)).max(-1))
    assert (near < 0.1).mean() > 0.8


def test_without_exemplars_texture_gets_the_smooth_fill() -> None:
    rng = np.random.default_rng(2)
    rgb = rng.random((48, 48, 3)).astype(np.float32)
    hole = np.zeros((48, 48), bool)
    hole[10:20, 10:30] = True
    out = complete_layer_info(rgb, ~hole, hole, exemplar=False)
    assert out.method == "push-pull" and out.validation == {}


@pytest.mark.parametrize("method", ["parametric", "patchmatch", "patchmatch-base", "push-pull"])
def test_forced_methods_fill_only_the_hole(method: str) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((48, 48, 3)).astype(np.float32)
    hole = np.zeros((48, 48), bool)
    hole[10:20, 10:30] = True
    out = complete_layer_info(rgb, ~hole, hole, method=method)
    assert out.method == method
    np.testing.assert_array_equal(out.rgb[~hole], rgb[~hole])
    assert np.isfinite(out.rgb).all() and out.rgb.min() >= 0 and out.rgb.max() <= 1


def test_no_hole_is_a_copy() -> None:
    rgb = np.full((8, 8, 3), 0.4, np.float32)
    out = complete_layer(rgb, np.ones((8, 8), bool), np.zeros((8, 8), bool))
    np.testing.assert_array_equal(out, rgb)


def test_bad_method_raises() -> None:
    with pytest.raises(ValueError, match="method"):
        complete_layer(np.zeros((8, 8, 3)), np.ones((8, 8), bool), np.zeros((8, 8), bool), method="blur")


def test_complete_stack_removes_ghosts_and_keeps_the_composite() -> None:
    n = 96
    ys, xs = np.mgrid[0:n, 0:n] / n
    bg = np.stack([0.2 + 0.6 * xs, 0.3 + 0.2 * ys, np.full_like(xs, 0.5)], -1).astype(np.float32)  # linear
    disc = (ys - 0.5) ** 2 + (xs - 0.5) ** 2 < 0.3 ** 2
    stack = np.zeros((2, n, n, 4), np.float32)
    stack[0, ..., :3] = bg
    stack[0, ..., 3] = 1.0
    stack[0][disc, :3] = (1.0, 1.0, 1.0)  # ghost: the background holds a copy of the disc
    stack[1][disc] = (1.0, 1.0, 1.0, 1.0)
    out, methods = complete_stack(stack)
    assert methods == ["parametric", "none"]
    assert np.abs(out[0][disc, :3] - bg[disc]).max() < 2.0 / 255.0
    np.testing.assert_array_equal(out[1], stack[1])
    np.testing.assert_array_equal(out[0][~disc], stack[0][~disc])


def test_complete_stack_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="stack"):
        complete_stack(np.zeros((4, 4, 4)))
