"""Translucent boxes over a texture or a photo (layerdiff.regions.texture_panels)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from layerdiff.regions.texture_panels import edge_runs, find_texture_panels, insert_texture_panels

N = 256
BOX = (60, 180, 70, 220)  # y0, y1, x0, x1
RED = np.array([0.85, 0.2, 0.2], np.float32)


def _texture(seed: int = 0) -> np.ndarray:
    """A mottled texture (N, N, 3) with fine grain: coarse noise zoomed up plus a little per-pixel noise."""
    rng = np.random.default_rng(seed)
    coarse = ndimage.zoom(rng.random((8, 8, 3)), (N / 8, N / 8, 1), order=1)[:N, :N]
    return np.clip(0.15 + 0.7 * coarse + 0.03 * rng.standard_normal((N, N, 3)), 0, 1).astype(np.float32)


def _with_box(base: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    y0, y1, x0, x1 = BOX
    out = base.copy()
    out[y0:y1 + 1, x0:x1 + 1] = (1 - opacity) * base[y0:y1 + 1, x0:x1 + 1] + opacity * RED
    return out


def test_edge_runs_keep_straight_lines_not_texture():
    step = np.zeros((64, 64), np.float32)
    step[20, 10:50] = 0.5  # a line
    step[40:52, 5:60] = 0.5  # a thick textured band: no line stands out of it
    runs = edge_runs(step, 16)
    assert [(r, s, e) for r, s, e in runs] == [(20, 10, 50)]


def test_box_over_a_texture_is_found_with_its_opacity_and_colour():
    panels = find_texture_panels(_with_box(_texture()))
    assert len(panels) == 1
    panel = panels[0]
    ys, xs = np.nonzero(panel.mask)
    y0, y1, x0, x1 = BOX
    assert abs(ys.min() - y0) <= 2 and abs(ys.max() - y1) <= 2 and abs(xs.min() - x0) <= 2 and abs(xs.max() - x1) <= 2
    assert abs(panel.alpha - 0.6) < 0.05
    assert np.abs(panel.colour - RED).max() < 0.06


def test_no_box_in_a_texture_alone_or_an_opaque_box():
    assert find_texture_panels(_texture(1)) == []
    opaque = _texture(2)
    y0, y1, x0, x1 = BOX
    opaque[y0:y1 + 1, x0:x1 + 1] = RED  # an opaque box shows nothing of what lies under it
    assert find_texture_panels(opaque) == []


def test_inserting_a_box_replaces_the_solvers_copy_and_keeps_the_composite():
    base = _texture()
    img = _with_box(base)
    y0, y1, x0, x1 = BOX
    stack = np.zeros((2, N, N, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = img, 1.0
    stack[0, y0:y1 + 1, x0:x1 + 1, :3] = 0.5  # the solver's copy holds the picture under the panel
    stack[1, y0:y1 + 1, x0:x1 + 1, :3], stack[1, y0:y1 + 1, x0:x1 + 1, 3] = img[y0:y1 + 1, x0:x1 + 1], 1.0
    out = insert_texture_panels(stack, img, find_texture_panels(img), exact=True, cap=2)  # (2, N, N, 4)
    assert out.shape[0] == 2
    panel = out[1, y0 + 5:y1 - 5, x0 + 5:x1 - 5]
    assert np.abs(panel[..., 3] - 0.6).max() < 0.05 and np.ptp(panel[..., :3], axis=(0, 1)).max() < 1e-6
    assert np.abs(out[0, y0 + 5:y1 - 5, x0 + 5:x1 - 5, :3] - base[y0 + 5:y1 - 5, x0 + 5:x1 - 5]).mean() < 0.03
    comp = out[1, ..., :3] * out[1, ..., 3:] + out[0, ..., :3] * (1 - out[1, ..., 3:])
    assert np.abs(comp - img).max() < 0.5 / 255


def test_a_box_needs_room_in_an_exact_count():
    img = _with_box(_texture())
    stack = np.concatenate([img, np.ones((N, N, 1), np.float32)], -1)[None]  # (1, N, N, 4)
    panels = find_texture_panels(img)
    assert insert_texture_panels(stack, img, panels, exact=True, cap=1).shape[0] == 1  # no empty slot
    assert insert_texture_panels(stack, img, panels, exact=False, cap=3).shape[0] == 2  # automatic: one more


def test_decomposer_returns_the_box_over_a_texture():
    from layerdiff.loader import load

    img = (_with_box(_texture()) * 255 + 0.5).astype(np.uint8)
    out = load("layerdiff-tiny", "decompose").decompose_stack(img, num_layers=2)  # (2, N, N, 4)
    y0, y1, x0, x1 = BOX
    inner = out[1, y0 + 5:y1 - 5, x0 + 5:x1 - 5]
    assert abs(float(inner[..., 3].mean()) - 0.6) < 0.06
    assert out[1, :y0 - 5, ..., 3].max() == 0  # nothing of the texture outside the box
    comp = out[1, ..., :3] * out[1, ..., 3:] + out[0, ..., :3] * (1 - out[1, ..., 3:])
    assert np.abs(comp * 255 - img).max() <= 1.0


def test_tiny_images_have_no_boxes():
    assert find_texture_panels(_with_box(_texture())[:5]) == []


def test_two_edges_at_a_corner_of_the_canvas_are_no_box():
    base = _texture()
    img = base.copy()
    img[:100, :120] = 0.4 * base[:100, :120] + 0.6 * RED  # cut by the top and left borders
    assert find_texture_panels(img) == []
