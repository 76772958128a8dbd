"""The non-learned decomposers on a small flat design built here: background, a panel with a bar of
"text" on it, and a disc partly under the panel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from layerdiff.baselines import ClusterMattingDecomposer, SingleLayerDecomposer
from layerdiff.contract import LayerLimitError
from layerdiff.eval.metric import evaluate_pair
from layerdiff.layered import LayeredImage, from_float
from layerdiff.loader import load
from layerdiff.regions.fill import push_pull_fill
from layerdiff.registry import get_preset


def _design(size: int = 96, transparent_bg: bool = False) -> np.ndarray:
    """(4, H, W, 4) ground truth: background, disc, panel over the disc, bar on the panel."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    s = size / 96.0

    def box(x0, y0, x1, y1):
        return (np.clip(xx - x0 * s + 0.5, 0, 1) * np.clip(x1 * s - xx + 0.5, 0, 1)
                * np.clip(yy - y0 * s + 0.5, 0, 1) * np.clip(y1 * s - yy + 0.5, 0, 1))

    layers = np.zeros((4, size, size, 4), np.float32)
    layers[0, ..., :3] = (0.95, 0.92, 0.85)
    layers[0, ..., 3] = 0.0 if transparent_bg else 1.0
    layers[1, ..., :3] = (0.85, 0.2, 0.2)
    layers[1, ..., 3] = np.clip(18 * s - np.hypot(xx - 28 * s, yy - 30 * s) + 0.5, 0, 1)
    layers[2, ..., :3] = (0.15, 0.3, 0.6)
    layers[2, ..., 3] = box(36.3, 40.2, 84.7, 80.6)
    layers[3, ..., :3] = (1.0, 0.85, 0.1)
    layers[3, ..., 3] = box(44.5, 56.5, 76.5, 63.5)
    return layers


def _recomposition_error_255(result: LayeredImage, image_u8: np.ndarray) -> float:
    comp = LayeredImage.from_numpy(from_float(result.to_numpy(), 8)).composite()
    target = image_u8.astype(np.float32) / 255.0
    if target.shape[-1] == 3:
        target = np.concatenate([target, np.ones_like(target[..., :1])], -1)
    err = np.abs(comp - target)
    err[..., :3] *= target[..., 3:] > 0
    return float(err.max() * 255)


def test_cluster_matting_recovers_the_design_and_recomposes_exactly():
    gt = _design()
    image = from_float(LayeredImage.from_numpy(gt).composite(), 8)[..., :3]  # (H, W, 3) uint8
    result = ClusterMattingDecomposer().decompose(image)
    assert isinstance(result, LayeredImage) and result.size == (96, 96)
    assert _recomposition_error_255(result, image) <= 1.0
    scores = evaluate_pair(result, gt)
    # measured: 4 layers found, L1@0 ~ 0.004, IoU@0 ~ 0.98; the single layer scores IoU@0 ~ 0.45
    assert len(result) == 4
    assert scores["iou"][0] > 0.9 and scores["l1"][0] < 0.03
    single = evaluate_pair(SingleLayerDecomposer().decompose(image), gt)
    assert scores["iou"][0] > single["iou"][0] + 0.3


def test_panel_is_completed_under_the_bar_and_disc_under_the_panel():
    gt = _design()
    image = LayeredImage.from_numpy(gt).composite()
    stack = ClusterMattingDecomposer().decompose(image).to_numpy()
    assert len(stack) == 4
    # order bottom to top: background, disc, panel, bar (pixels given as [y, x])
    assert stack[0, 5, 5, 3] == 1.0 and stack[1, 30, 28, 3] > 0.99 and stack[3, 60, 60, 3] > 0.99
    assert stack[2, 45, 45, 3] > 0.99 and stack[2, 5, 5, 3] == 0.0
    assert stack[2, 60, 60, 3] > 0.99  # the panel continues under the bar
    assert stack[1, 41, 37, 3] > 0.99  # the disc continues under the panel corner (its convex hull)
    np.testing.assert_allclose(stack[2, 60, 60, :3], (0.15, 0.3, 0.6), atol=2 / 255)  # hidden colour filled


@pytest.mark.parametrize("count", [1, 2, 6])
def test_requested_layer_count_is_exact(count):
    image = from_float(LayeredImage.from_numpy(_design(64)).composite(), 8)
    result = ClusterMattingDecomposer().decompose(image, num_layers=count)
    assert len(result) == count
    assert _recomposition_error_255(result, image) <= 1.0


def test_large_input_goes_through_the_full_resolution_lift():
    gt = _design(160)
    image = from_float(LayeredImage.from_numpy(gt).composite(), 8)[..., :3]
    dec = ClusterMattingDecomposer.from_pretrained("cluster-matting", work_size=64)
    result = dec.decompose(Image.fromarray(image))
    assert result.size == (160, 160)
    assert _recomposition_error_255(result, image) <= 1.0
    assert evaluate_pair(result, gt)["iou"][5] > 0.85


def test_transparent_input_keeps_its_alpha():
    gt = _design(64, transparent_bg=True)
    image = from_float(LayeredImage.from_numpy(gt).composite(), 8)  # (H, W, 4) with alpha 0 around
    result = ClusterMattingDecomposer().decompose(image)
    assert _recomposition_error_255(result, image) <= 1.0


def test_single_layer_returns_the_input():
    image = from_float(LayeredImage.from_numpy(_design(32)).composite(), 8)
    result = SingleLayerDecomposer().decompose(Image.fromarray(image), num_layers=1)
    assert len(result) == 1
    with pytest.raises(LayerLimitError, match="'single-layer' makes at most 1 layer; got num_layers=3"):
        SingleLayerDecomposer().decompose(Image.fromarray(image), num_layers=3)  # its one limit, as registered
    np.testing.assert_array_equal(from_float(result.to_numpy()[0], 8), image)
    layered = LayeredImage.from_numpy(_design(32))
    assert SingleLayerDecomposer().decompose(layered).size == (32, 32)


@pytest.mark.parametrize("decomposer", [SingleLayerDecomposer(), ClusterMattingDecomposer()])
def test_input_validation(decomposer):
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="num_layers"):
        decomposer.decompose(image, num_layers=0)
    with pytest.raises(ValueError, match="num_layers"):
        decomposer.decompose(image, num_layers="many")
    with pytest.raises(ValueError, match="max_layers"):
        decomposer.decompose(image, max_layers=0)
    with pytest.raises(ValueError, match="image"):
        decomposer.decompose(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="image"):
        decomposer.decompose("not an image")


def test_registered_presets_load_with_options():
    assert get_preset("cluster-matting").kind == "decomposer"
    dec = load("cluster-matting", work_size=128)
    assert isinstance(dec, ClusterMattingDecomposer) and dec.config.work_size == 128
    assert isinstance(load("single-layer"), SingleLayerDecomposer)
    with pytest.raises(ValueError, match="unknown options"):
        load("cluster-matting", colours=3)


def test_push_pull_fill_continues_known_colours():
    colour = np.zeros((20, 30, 3), np.float32)
    colour[..., 0] = 0.7
    colour[..., 1] = np.linspace(0, 1, 30)[None]
    weight = np.ones((20, 30), np.float32)
    weight[5:15, 8:20] = 0
    filled = push_pull_fill(colour * weight[..., None], weight)
    np.testing.assert_allclose(filled[weight == 1], colour[weight == 1], atol=1e-6)  # known kept
    np.testing.assert_allclose(filled[..., 0], 0.7, atol=1e-5)  # a constant channel is continued
    hole = filled[5:15, 8:20, 1]
    assert hole.min() >= colour[0, 8, 1] - 0.05 and hole.max() <= colour[0, 19, 1] + 0.05
