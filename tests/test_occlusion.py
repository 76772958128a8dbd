"""Occluded-region scores: L1 on what each true layer hides, ghosts (copies of what lies above) and holes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerdiff.eval.occlusion import hidden_masks, occlusion_scores, summarize_occlusion

N = 32
BG = (0.2, 0.4, 0.8)
TOP = (1.0, 0.6, 0.0)


def _gt() -> np.ndarray:
    stack = np.zeros((2, N, N, 4), np.float32)
    stack[0] = (*BG, 1.0)
    stack[1, 8:24, 8:24] = (*TOP, 1.0)
    return stack


def test_the_truth_scores_zero() -> None:
    out = occlusion_scores(_gt(), _gt())
    assert out["occluded_l1"] == 0.0 and out["ghost_rate"] == 0.0 and out["uncovered_share"] == 0.0
    assert out["hidden_pixels"] == 16 * 16 and not out["skipped"]


def test_a_copy_of_the_layer_above_is_a_ghost() -> None:
    pred = _gt()
    pred[0, 8:24, 8:24, :3] = TOP  # the background keeps the square's colour under it
    out = occlusion_scores(pred, _gt())
    assert out["ghost_rate"] == 1.0
    want = np.abs(np.round(np.float32(TOP) * 255) / 255 - np.round(np.float32(BG) * 255) / 255).mean()
    assert out["occluded_l1"] == pytest.approx(want, abs=1e-6)


def test_a_wrong_but_different_colour_is_no_ghost() -> None:
    pred = _gt()
    pred[0, 8:24, 8:24, :3] = (0.5, 0.5, 0.5)
    out = occlusion_scores(pred, _gt())
    assert out["ghost_rate"] == 0.0 and out["occluded_l1"] > 0.1


def test_a_transparent_hole_is_uncovered_not_a_ghost() -> None:
    pred = _gt()
    pred[0, 8:24, 8:24] = (*TOP, 0.0)  # a hole in the background, input colour under zero alpha
    out = occlusion_scores(pred, _gt())
    assert out["uncovered_share"] == 1.0 and out["ghost_rate"] == 0.0


def test_single_layer_truth_is_skipped() -> None:
    out = occlusion_scores(_gt()[:1], _gt()[:1])
    assert out["skipped"] and math.isnan(out["occluded_l1"])


def test_hidden_masks_and_colour_above_a_half_transparent_overlay() -> None:
    stack = _gt()
    stack = np.concatenate([stack, np.zeros((1, N, N, 4), np.float32)])
    stack[2, :, :16] = (0.0, 0.0, 0.0, 0.4)  # a light overlay over the left half: hides nothing alone
    hidden, above = hidden_masks(stack)
    assert not hidden[2].any()
    assert not hidden[1].any()  # the overlay alone (0.4) is below the 0.5 threshold
    assert hidden[0][8:24, 8:24].all() and hidden[0].sum() == 16 * 16
    np.testing.assert_allclose(above[1][10, 10], (0.0, 0.0, 0.0))
    # above the background at (10, 10): 0.4 black over the opaque square -> 0.6 * TOP
    np.testing.assert_allclose(above[0][10, 10], 0.6 * np.float32(TOP), atol=1e-6)
    hidden_strict, _ = hidden_masks(stack, hidden_above=0.999)
    assert hidden_strict[0].sum() == 16 * 16


def test_summary_pools_and_averages() -> None:
    ghost = _gt()
    ghost[0, 8:24, 8:24, :3] = TOP
    rows = [occlusion_scores(_gt(), _gt()), occlusion_scores(ghost, _gt()), occlusion_scores(_gt()[:1], _gt()[:1])]
    s = summarize_occlusion(rows)
    assert s["samples"] == 2 and s["with_hidden"] == 2
    assert s["ghost_rate"] == pytest.approx(0.5)
    assert s["occluded_l1"] == pytest.approx(rows[1]["occluded_l1"] / 2)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="canvas"):
        occlusion_scores(_gt()[:, :16], _gt())
    with pytest.raises(ValueError, match="hidden_above"):
        occlusion_scores(_gt(), _gt(), hidden_above=0.0)
