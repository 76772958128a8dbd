"""Translucent shapes on a transparent canvas are read from the picture (regions/translucent_art.py)."""

from __future__ import annotations

import numpy as np
from region_scenes import over

from layerdiff.regions.config import RegionConfig
from layerdiff.regions.graph import region_graph
from layerdiff.regions.translucent_art import translucent_shapes

SIDE = 96


def _discs(alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Three discs (blue, green, red; bottom to top) at ``alpha`` over a transparent canvas: the truth
    (3, H, W, 4) and its composite (H, W, 4)."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    truth = np.zeros((3, SIDE, SIDE, 4), np.float32)
    for k, (cy, cx, colour) in enumerate([(34, 34, (0.1, 0.2, 0.9)), (34, 62, (0.1, 0.8, 0.2)),
                                           (60, 48, (0.9, 0.15, 0.1))]):
        cover = np.clip(22.5 - np.hypot(yy - cy, xx - cx), 0.0, 1.0)  # anti-aliased outline
        truth[k, cover > 0, :3], truth[k, ..., 3] = colour, alpha * cover
    a = np.zeros((SIDE, SIDE, 1), np.float32)
    premult = np.zeros((SIDE, SIDE, 3), np.float32)
    for layer in truth:  # straight-alpha "over", bottom first
        la = layer[..., 3:]
        premult = layer[..., :3] * la + premult * (1.0 - la)
        a = la + a * (1.0 - la)
    image = np.concatenate([np.divide(premult, a, out=np.zeros_like(premult), where=a > 0), a], -1)
    return truth, image


def test_three_translucent_discs_come_back_as_discs_in_their_order():
    truth, image = _discs(0.5)
    labels = region_graph(image, RegionConfig()).regions.labels
    out = translucent_shapes(image, labels, wanted=3)
    assert out is not None and out.shape == (3, SIDE, SIDE, 4)
    for k in range(3):
        a, b = out[k, ..., 3] > 0.25, truth[k, ..., 3] > 0.25
        assert (a & b).sum() / (a | b).sum() > 0.93  # the whole disc, under the others too
        assert np.abs(out[k, b, :3] - truth[k, b, :3]).max(-1).mean() < 0.02  # its colour
    error = np.abs(over(out) - over(truth)).max(-1)  # (H, W): off only on a few outline pixels
    assert error.mean() < 0.01 and (error > 0.06).mean() < 0.01
    union = 1.0 - np.prod(1.0 - out[..., 3], axis=0)  # (H, W) the layers' alpha, composited
    off = np.abs(union - image[..., 3])  # edges anti-aliased as drawn, crossings too (binary: 2.7% off)
    assert off.mean() < 0.001 and (off > 0.03).mean() < 0.005
    assert translucent_shapes(image, labels, wanted=2) is None  # not the count asked for


def test_opaque_discs_and_opaque_designs_are_left_to_the_layerer():
    _, opaque = _discs(1.0)
    assert translucent_shapes(opaque, region_graph(opaque, RegionConfig()).regions.labels) is None
    design = np.ones((SIDE, SIDE, 4), np.float32)  # no transparent canvas
    design[20:60, 20:60, :3] = (0.2, 0.4, 0.8)
    assert translucent_shapes(design, region_graph(design, RegionConfig()).regions.labels) is None


def test_the_decomposer_reads_translucent_discs_and_recomposes_exactly():
    from layerdiff.eval.metric import evaluate_pair
    from layerdiff.regions.decomposer import RegionLayerDecomposer

    truth, image = _discs(0.5)
    decomposer = RegionLayerDecomposer.from_pretrained("layerdiff-tiny")
    out = decomposer.decompose(image, num_layers="auto").to_numpy()
    assert out.shape[0] == 3 and evaluate_pair(out, truth)["iou"][0] > 0.95
    premult = np.zeros((SIDE, SIDE, 3), np.float32)
    a = np.zeros((SIDE, SIDE, 1), np.float32)
    for layer in out:
        la = layer[..., 3:]
        premult, a = layer[..., :3] * la + premult * (1.0 - la), la + a * (1.0 - la)
    assert np.abs(a[..., 0] - image[..., 3]).max() <= 1.0 / 255.0 + 1e-6
    shown = image[..., 3] > 0
    colour = premult[shown] / a[shown]  # (m, 3) straight colours of the recomposition
    assert np.abs(colour - image[shown, :3]).max() <= 2.0 / 255.0  # 8-bit layers: within two steps
