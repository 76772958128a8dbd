"""The LayerD decomposition metric on hand-made stacks whose scores are worked out in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerdiff.eval.metric import dtw_path, evaluate_pair, group_top_layers, pair_cost, psnr, rgb_l1, soft_iou
from layerdiff.layered import LayeredImage


def _layer(h: int, w: int, rgb: tuple[float, float, float], box: tuple[int, int, int, int] | None = None,
           alpha: float = 1.0) -> np.ndarray:
    """(h, w, 4) layer of colour ``rgb`` everywhere, alpha ``alpha`` inside ``box`` = (y0, y1, x0, x1)."""
    out = np.zeros((h, w, 4), np.float32)
    out[..., :3] = rgb
    if box is None:
        out[..., 3] = alpha
    else:
        y0, y1, x0, x1 = box
        out[y0:y1, x0:x1, 3] = alpha
    return out


BG = _layer(16, 16, (0.2, 0.4, 0.6))


def test_identical_stacks_are_perfect_at_every_budget():
    # L1 of a layer with itself is 0 and its soft IoU is 1, whatever the alignment.
    gt = np.stack([BG, _layer(16, 16, (1, 0, 0), (2, 8, 2, 8)), _layer(16, 16, (0, 1, 0), (5, 12, 5, 12))])
    out = evaluate_pair(gt, LayeredImage.from_numpy(gt))
    assert out["l1"] == [0.0] * 6
    assert out["iou"] == [1.0] * 6
    assert out["count_error"] == 0 and out["psnr"] == pytest.approx(100.0)
    assert not out["skipped"]


def test_layer_split_in_two_costs_at_budget_0_and_is_recovered_by_one_merge():
    # gt: background + an 8x8 red box X (64 px). The prediction paints X, then a 4x4 red box X2 (16 px)
    # inside it (same colour everywhere, so the composite is unchanged). X2 overlaps X1, so pre-grouping
    # keeps them apart: groups [bg], [X1], [X2] against gt [bg], [X].
    # Budget 0: DTW pairs (bg,bg), (X1,X), (X2,X): L1 0, 0, 0 (same colours under gt's mask);
    # IoU 1, 1, 16/64 -> mean IoU (2 + 0.25) / 3 = 0.75; mean cost (0 + 0 + 0.375) / 3 = 0.125.
    # Budget 1: merging X1 and X2 gives X exactly -> L1 0, IoU 1. The gt (2 groups) may not be merged.
    red = (1.0, 0.0, 0.0)
    gt = np.stack([BG, _layer(16, 16, red, (4, 12, 4, 12))])
    pred = np.stack([BG, _layer(16, 16, red, (4, 12, 4, 12)), _layer(16, 16, red, (6, 10, 6, 10))])
    out = evaluate_pair(pred, gt)
    assert out["l1"][0] == pytest.approx(0.0, abs=1e-7)
    assert out["iou"][0] == pytest.approx(0.75)
    assert out["cost"][0] == pytest.approx(0.125)
    assert out["l1"][1] == pytest.approx(0.0, abs=1e-7) and out["iou"][1] == pytest.approx(1.0)
    assert out["iou"][5] == pytest.approx(1.0)
    assert out["num_pred_groups"] == 3 and out["num_gt_groups"] == 2
    assert out["count_error"] == 1


def test_disjoint_alphas_have_iou_zero_and_cost_half_plus():
    a = _layer(8, 8, (0, 0, 0), (0, 4, 0, 8))
    b = _layer(8, 8, (0, 0, 0), (4, 8, 0, 8))
    assert soft_iou(a, b) == 0.0
    # same colour -> L1 0, so the pair cost is (0 + 1) / 2
    assert pair_cost(a, b) == pytest.approx(0.5)


def test_known_l1_value_uses_the_gt_mask_only():
    # p is black everywhere; g is (0.3, 0.6, 0.9) with alpha 1 on 4 of 16 pixels, white elsewhere but
    # transparent there. L1 = mean_c |p - g| over the mask = (0.3 + 0.6 + 0.9) / 3 = 0.6.
    p = _layer(4, 4, (0.0, 0.0, 0.0))
    g = _layer(4, 4, (1.0, 1.0, 1.0), alpha=0.0)
    g[:2, :2, :3] = (0.3, 0.6, 0.9)
    g[:2, :2, 3] = 1.0
    assert rgb_l1(p, g) == pytest.approx(0.6, rel=1e-6)


def test_soft_iou_with_fractional_alpha():
    # a_p = 0.5 on 4 px; a_g = 1 on 2 of them: sum min = 2 x 0.5 = 1, sum max = 2 x 1 + 2 x 0.5 = 3.
    p = _layer(1, 4, (0, 0, 0), alpha=0.5)
    g = _layer(1, 4, (0, 0, 0), (0, 1, 0, 2))
    assert soft_iou(p, g) == pytest.approx(1 / 3)


def test_pre_grouping_peels_top_layers():
    # bg (full), A (top-left), B (bottom-right, disjoint from A), C (overlaps A) on top.
    # Round 1: C is on top; B: only C is above and it does not touch B -> {B, C}.
    # Round 2: {A}; round 3: {bg}. Back to front: [[0], [1], [2, 3]].
    stack = np.stack([BG, _layer(16, 16, (1, 0, 0), (0, 6, 0, 6)),
                      _layer(16, 16, (0, 1, 0), (10, 16, 10, 16)), _layer(16, 16, (0, 0, 1), (4, 8, 4, 8))])
    assert group_top_layers(stack) == [[0], [1], [2, 3]]


def test_group_composite_keeps_the_lower_layers_colour_where_both_are_transparent():
    # Pillow's alpha_composite (the reference implementation's grouping and merge operation) returns
    # dst unchanged where src is fully transparent, colour included. gt: white bg + green column 0;
    # pred: white bg + two disjoint red columns (2 and 3) whose hidden colour is green on column 0,
    # so the pred groups are [bg], [col 2 + col 3]. Pair (1, 1): the group keeps green under column
    # 0 -> L1 0 (zeroing hidden colours would give mean_c |0 - (0, 1, 0)| = 1/3); IoU 0 (disjoint).
    # Pair (0, 0) is perfect -> mean L1 0, mean IoU 0.5.
    white, green, red = (1.0, 1.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)
    gt = np.stack([_layer(4, 4, white), _layer(4, 4, green, (0, 4, 0, 1))])
    tops = []
    for col in (2, 3):
        top = _layer(4, 4, red, (0, 4, col, col + 1))
        top[:, 0, :3] = green
        tops.append(top)
    pred = np.stack([_layer(4, 4, white), *tops])
    scores = evaluate_pair(pred, gt, max_edits=0)
    assert scores["num_pred_groups"] == 2
    assert scores["l1"][0] == pytest.approx(0.0, abs=1e-7)
    assert scores["iou"][0] == pytest.approx(0.5)


def test_dtw_path_is_monotone_and_many_to_one():
    # Prediction 3 layers, gt 2: the cheap cells are (0,0), (1,1), (2,1): the path takes them.
    cost = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.1]])
    assert dtw_path(cost) == [(0, 0), (1, 1), (2, 1)]


def test_single_layer_prediction_is_never_merged_and_gt_of_two_not_either():
    # pred: 1 layer (the composite); gt: bg + box -> no merge is allowed (stacks of <= 2 layers),
    # so every budget reports the budget-0 value.
    gt = np.stack([BG, _layer(16, 16, (1, 0, 0), (4, 12, 4, 12))])
    comp = LayeredImage.from_numpy(gt).composite()
    out = evaluate_pair(comp[None], gt)
    assert len(set(out["l1"])) == 1 and len(set(out["iou"])) == 1
    # composite vs bg: IoU 1 (both opaque); composite vs box: IoU 64 / 256 -> mean 0.625
    assert out["iou"][0] == pytest.approx(0.625)


def test_sample_with_one_gt_layer_is_skipped():
    out = evaluate_pair(np.stack([BG, BG]), BG[None])
    assert out["skipped"] and all(math.isnan(v) for v in out["l1"] + out["iou"])
    assert out["num_gt"] == 1 and out["count_error"] == 1


def test_psnr_of_known_mse():
    a = np.zeros((4, 4, 3))
    b = np.full((4, 4, 3), 0.1)  # MSE 0.01 -> 20 dB
    assert psnr(a, b) == pytest.approx(20.0)


def test_psnr_uses_the_given_input_image():
    gt = np.stack([BG, _layer(16, 16, (1, 0, 0), (4, 12, 4, 12))])
    image = LayeredImage.from_numpy(gt).composite()
    image[..., :3] = np.clip(image[..., :3] + 0.1, 0, 1)
    assert evaluate_pair(gt, gt, image=image)["psnr"] < 25.0


def test_input_errors():
    with pytest.raises(ValueError, match="differs"):
        evaluate_pair(np.zeros((2, 8, 8, 4), np.float32), np.zeros((2, 9, 8, 4), np.float32))
    with pytest.raises(ValueError, match="RGBA stack"):
        evaluate_pair(np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 4), np.float32))
    with pytest.raises(ValueError, match="max_edits"):
        evaluate_pair(np.stack([BG, BG]), np.stack([BG, BG]), max_edits=-1)
