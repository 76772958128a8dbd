"""Exact layer edits: geometry without halos, recolour keeps alpha, errors."""

from __future__ import annotations

import numpy as np
import pytest

from layerdiff import edit_ops
from layerdiff.layered import Layer, LayeredImage


def _stack() -> LayeredImage:
    bg = np.ones((32, 32, 4), np.float32)
    bg[..., :3] = (1.0, 1.0, 1.0)
    obj = np.zeros((32, 32, 4), np.float32)
    obj[..., :3] = (0.0, 0.0, 0.0)  # invisible pixels are black: a straight resampler would darken edges
    yy, xx = np.mgrid[0:32, 0:32]
    obj[((yy - 16) ** 2 + (xx - 16) ** 2) < 64] = (1.0, 0.0, 0.0, 1.0)
    return LayeredImage((32, 32), [Layer(bg, name="bg"), Layer(obj, name="dot")])


def test_scale_has_no_dark_halo():
    out = edit_ops.scale(_stack(), "dot", 1.7)
    comp = out.composite()
    # every pixel is a mix of red (1, 0, 0) and white (1, 1, 1): red channel stays 1 everywhere
    assert comp[..., 0].min() >= 1 - 1e-4
    assert out[1].content_bbox() is not None


def test_move_shifts_content_and_keeps_pixels():
    src = _stack()
    out = edit_ops.move(src, 1, 5, -3)
    assert out[1].offset == (5, -3) and np.array_equal(out[1].pixels, src[1].pixels)
    assert src[1].offset == (0, 0)


def test_recolor_keeps_alpha_and_tints():
    out = edit_ops.recolor(_stack(), "dot", "#0000ff")
    assert np.array_equal(out[1].pixels[..., 3], _stack()[1].pixels[..., 3])
    assert out[1].pixels[16, 16, 2] > 0.5 and out[1].pixels[16, 16, 0] < 0.5


def test_apply_dispatch_and_errors():
    s = _stack()
    assert edit_ops.apply(s, 1, "hide")[1].visible is False
    assert edit_ops.apply(s, 1, "opacity", value=0.25)[1].opacity == 0.25
    assert [lay.name for lay in edit_ops.apply(s, 1, "reorder", index=0)] == ["dot", "bg"]
    assert len(edit_ops.apply(s, 0, "delete")) == 1
    with pytest.raises(ValueError, match="cannot delete the only layer"):
        edit_ops.delete(LayeredImage((4, 4), [Layer(np.ones((4, 4, 4)))]), 0)
    with pytest.raises(ValueError, match="#rrggbb"):
        edit_ops.parse_color("#12")
    with pytest.raises(ValueError, match="scale factor"):
        edit_ops.scale(s, 1, 0)
