"""Occluded-region scores: what a decomposition puts under what it hides (issue 28, item 2b).

A layer's hidden part is invisible in the input, so the LayerD metric (:mod:`layerdiff.eval.metric`)
barely sees it, yet it is what hiding or moving a layer reveals. For each ground-truth layer (after the
metric's pre-grouping), its *hidden pixels* are those where it has alpha > 0 and the ground-truth layers
above it cover at least ``hidden_above`` (alpha of their composite). Predicted layers are paired with the
true groups by the metric's dynamic time warping at budget 0 (pair cost ``(L1 + (1 - IoU)) / 2``, no
merges). The predicted layers are not pre-grouped: grouping composites disjoint layers, which would put
the colour of a layer above into a layer that is transparent under it and so report a hole as a ghost.
Over every aligned pair:

- ``occluded_l1``: mean over channels of ``|predicted colour - true colour|`` on the true layer's hidden
  pixels, pooled over pixels (a layer aligned with two predictions counts twice). As in the metric's L1,
  the predicted colour counts whatever its alpha;
- ``ghost_rate``: share of hidden pixels holding a *ghost*, a copy of what lies above: the predicted
  layer is painted there (alpha > 0), its colour is within ``ghost_tol`` (mean absolute, [0, 1]) of the
  colour of the true layers above, and closer to it than to the true hidden colour. Only pixels where
  the true hidden colour and the colour above differ by more than ``ghost_tol`` count (elsewhere a ghost
  cannot be told from a right answer);
- ``uncovered_share``: share of hidden pixels where the predicted layer is transparent (a hole that
  hiding the layers above would show).

All stacks are RGBA in [0, 1], bottom to top, snapped to the 8-bit grid as in the metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..layered import LayeredImage
from .metric import _grouped, checked_pair, dtw_path, rgb_l1, soft_iou

__all__ = ["occlusion_scores", "hidden_masks", "summarize_occlusion", "HIDDEN_ABOVE", "GHOST_TOL"]

HIDDEN_ABOVE = 0.5
GHOST_TOL = 0.1


def hidden_masks(stack: np.ndarray, hidden_above: float = HIDDEN_ABOVE) -> tuple[np.ndarray, np.ndarray]:
    """Hidden pixels (L, H, W) bool of each layer of ``stack`` (L, H, W, 4) and the straight colour
    (L, H, W, 3) of the composite of the layers above each (zero where nothing is above)."""
    alpha = stack[..., 3]  # (L, H, W)
    hidden = np.zeros(alpha.shape, bool)
    above_rgb = np.zeros(stack.shape[:3] + (3,), np.float32)
    prem = np.zeros(stack.shape[1:3] + (3,), np.float32)  # (H, W, 3) premultiplied composite above
    cover = np.zeros(stack.shape[1:3], np.float32)  # (H, W) its alpha
    for k in range(len(stack) - 1, -1, -1):
        hidden[k] = (alpha[k] > 0) & (cover >= hidden_above)
        above_rgb[k] = prem / np.maximum(cover, 1e-8)[..., None]
        # layer k goes under what is above: above = above + (1 - cover) * layer k
        prem = prem + (1.0 - cover)[..., None] * stack[k, ..., :3] * alpha[k][..., None]
        cover = cover + (1.0 - cover) * alpha[k]
    return hidden, above_rgb


def occlusion_scores(pred: LayeredImage | np.ndarray, gt: LayeredImage | np.ndarray, *,
                     hidden_above: float = HIDDEN_ABOVE, ghost_tol: float = GHOST_TOL) -> dict[str, Any]:
    """Occluded-region L1, ghost rate and uncovered share of one prediction (module docstring).

    Returns ``{"occluded_l1", "ghost_rate", "uncovered_share"}`` (NaN where undefined: no hidden pixel,
    or no pixel where a ghost is distinguishable) with the pixel counts behind them (``hidden_pixels``,
    ``ghost_pixels``, ``distinguishable_pixels``, ``uncovered_pixels``, ``l1_sum``) and ``skipped`` (the
    metric's rule: fewer than 2 non-empty ground-truth layers).
    """
    if not 0.0 < hidden_above <= 1.0:
        raise ValueError(f"hidden_above must be in (0, 1], got {hidden_above}")
    p, g = checked_pair(pred, gt)
    out: dict[str, Any] = {"occluded_l1": float("nan"), "ghost_rate": float("nan"),
                           "uncovered_share": float("nan"), "hidden_pixels": 0, "ghost_pixels": 0,
                           "distinguishable_pixels": 0, "uncovered_pixels": 0, "l1_sum": 0.0, "skipped": True}
    if sum(1 for layer in g if (layer[..., 3] > 0).any()) < 2:
        return out
    pg, gg = p, np.stack(_grouped(g))  # (P, H, W, 4) as predicted, (G, H, W, 4) pre-grouped
    cost = np.array([[0.5 * (rgb_l1(a, b) + 1.0 - soft_iou(a, b)) for b in gg] for a in pg])  # (P, G)
    hidden, above = hidden_masks(gg, hidden_above)  # (G, H, W), (G, H, W, 3)
    l1_sum, n_hidden, n_ghost, n_dist, n_uncovered = 0.0, 0, 0, 0, 0
    for i, j in dtw_path(cost):
        mask = hidden[j]
        if not mask.any():
            continue
        pc, tc, ac = pg[i][mask, :3], gg[j][mask, :3], above[j][mask]  # (N, 3) each
        painted = pg[i][mask, 3] > 0  # (N,)
        to_true = np.abs(pc - tc).mean(-1)  # (N,)
        to_above = np.abs(pc - ac).mean(-1)
        distinguishable = np.abs(tc - ac).mean(-1) > ghost_tol
        ghost = distinguishable & painted & (to_above < ghost_tol) & (to_above < to_true)
        l1_sum += float(to_true.sum(dtype=np.float64))
        n_hidden += int(mask.sum())
        n_ghost += int(ghost.sum())
        n_dist += int(distinguishable.sum())
        n_uncovered += int((~painted).sum())
    out.update(hidden_pixels=n_hidden, ghost_pixels=n_ghost, distinguishable_pixels=n_dist,
               uncovered_pixels=n_uncovered, l1_sum=l1_sum, skipped=False)
    if n_hidden:
        out.update(occluded_l1=l1_sum / n_hidden, uncovered_share=n_uncovered / n_hidden)
    if n_dist:
        out["ghost_rate"] = n_ghost / n_dist
    return out


def summarize_occlusion(results: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Set-level figures from :func:`occlusion_scores` results: ``occluded_l1`` (mean over samples with
    hidden pixels), ``occluded_l1_pooled`` (over all hidden pixels of the set), ``ghost_rate`` and
    ``uncovered_share`` (pooled), ``samples`` (scored, not skipped) and ``with_hidden``."""
    rows: Sequence[dict[str, Any]] = [r for r in results if not r.get("skipped")]
    per = [r["occluded_l1"] for r in rows if r["hidden_pixels"]]
    hidden = sum(r["hidden_pixels"] for r in rows)
    dist = sum(r["distinguishable_pixels"] for r in rows)
    nan = float("nan")
    return {
        "occluded_l1": float(np.mean(per)) if per else nan,
        "occluded_l1_pooled": sum(r["l1_sum"] for r in rows) / hidden if hidden else nan,
        "ghost_rate": sum(r["ghost_pixels"] for r in rows) / dist if dist else nan,
        "uncovered_share": sum(r["uncovered_pixels"] for r in rows) / hidden if hidden else nan,
        "samples": float(len(rows)),
        "with_hidden": float(len(per)),
    }
