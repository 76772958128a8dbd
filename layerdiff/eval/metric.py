"""Decomposition metric: the LayerD protocol (Suzuki et al., "LayerD: Decomposing Raster Graphic Designs
into Layers", ICCV 2025), as used by Qwen-Image-Layered; see docs ANCHORS.md "Decomposition metric".

Both stacks are RGBA in [0, 1], bottom to top, on one canvas. Values are first snapped to the 8-bit grid
(the protocol is defined on 8-bit PNG layers, so "hard alpha > 0" means "alpha >= 1/255").

1. Pre-grouping: repeatedly take every remaining layer that no remaining layer above it overlaps (hard
   alpha > 0 on both at some pixel), composite that set into one layer; groups are ordered back to front.
   Compositing (here and in step 4) is Pillow's ``Image.alpha_composite``, as in the reference
   implementation (LayerD's ``LayersEditDist``): a fully transparent pixel keeps the colour beneath it.
2. Pair cost ``(L1 + (1 - IoU)) / 2`` with the gt-alpha-masked RGB L1 and the soft alpha IoU.
3. Dynamic time warping over the cost matrix (order-preserving, many-to-one); scores are means over the
   aligned pairs of the warping path.
4. Up to ``max_edits`` merges of two adjacent layers in either stack, greedily the one that lowers the
   mean aligned cost most, only when it lowers it, never in a stack of 2 layers or fewer.
5. Samples with fewer than 2 (non-empty) ground-truth layers are skipped (``skipped=True``, NaN scores).

Also: recomposition PSNR and layer-count error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..blend import visibility_weights
from ..layered import LayeredImage, from_float

__all__ = [
    "evaluate_pair", "group_top_layers", "pair_cost", "rgb_l1", "soft_iou", "dtw_path", "psnr",
    "stack_array", "MAX_EDITS",
]

MAX_EDITS = 5
_EPS = 1e-8


# ----------------------------------------------------------------------------------------- inputs
def stack_array(layers: LayeredImage | np.ndarray | Sequence[np.ndarray], what: str = "stack") -> np.ndarray:
    """A layered image or array-like (L, H, W, 4) -> float32 (L, H, W, 4) in [0, 1] (uint8/uint16 scaled)."""
    if isinstance(layers, LayeredImage):
        return layers.to_numpy(include_hidden=False)
    arr = np.asarray(layers)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 4:
        raise ValueError(f"{what}: expected an (L, H, W, 4) RGBA stack, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{what}: unsupported dtype {arr.dtype}")
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _snap8(x: np.ndarray) -> np.ndarray:
    """Round onto the 8-bit grid (float32 values k / 255)."""
    return (np.round(np.clip(x, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def checked_pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, ground truth) as (L, H, W, 4) stacks snapped to 8-bit levels; empty stacks and
    different canvases raise ``ValueError``."""
    p = _snap8(stack_array(pred, "prediction"))
    g = _snap8(stack_array(gt, "ground truth"))
    if len(p) == 0 or len(g) == 0:
        raise ValueError(f"empty stack: prediction has {len(p)} layers, ground truth {len(g)}")
    if p.shape[1:3] != g.shape[1:3]:
        raise ValueError(f"prediction canvas {p.shape[2]}x{p.shape[1]} differs from ground truth "
                         f"{g.shape[2]}x{g.shape[1]}")
    return p, g


def _over(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``src`` over ``dst``, both (H, W, 4) straight alpha on the 8-bit grid, by Pillow's
    ``Image.alpha_composite``: the operation the reference implementation (LayerD's
    ``LayersEditDist``) uses for pre-grouping and merges. Where ``src`` is fully transparent the result
    is ``dst`` unchanged, colour included, even where ``dst`` is transparent too."""
    out = Image.alpha_composite(Image.fromarray(from_float(dst), "RGBA"), Image.fromarray(from_float(src), "RGBA"))
    return np.asarray(out, dtype=np.float32) / 255.0  # (H, W, 4)


def _composite_list(layers: Sequence[np.ndarray]) -> np.ndarray:
    out = layers[0]
    for layer in layers[1:]:
        out = _over(out, layer)
    return out


# ------------------------------------------------------------------------------------ step 1
def group_top_layers(stack: np.ndarray) -> list[list[int]]:
    """Indices of the pre-grouped layers, groups ordered back to front (LayerD's "top layers" peeling).

    ``stack``: (L, H, W, 4) on the 8-bit grid. Each round takes every remaining layer that no remaining
    layer above it overlaps (both hard alpha > 0 somewhere), so the layers of one group are disjoint.
    """
    hard = stack[..., 3] > 0  # (L, H, W)
    flat = hard.reshape(hard.shape[0], -1).astype(np.float32)  # (L, HW)
    overlaps = (flat @ flat.T) > 0  # (L, L) layer pairs sharing a pixel
    remaining = list(range(stack.shape[0]))
    groups: list[list[int]] = []
    while remaining:
        top = [i for k, i in enumerate(remaining) if not any(overlaps[i, j] for j in remaining[k + 1:])]
        groups.append(top)
        remaining = [i for i in remaining if i not in top]
    return groups[::-1]


def _grouped(stack: np.ndarray) -> list[np.ndarray]:
    return [_composite_list([stack[i] for i in g]) for g in group_top_layers(stack)]


# ------------------------------------------------------------------------------------ step 2
def rgb_l1(pred: np.ndarray, gt: np.ndarray) -> float:
    """``sum_x M(x) mean_c |p_c - g_c| / (sum_x M(x) + 1e-8)`` with ``M = [alpha_g > 0]``; (H, W, 4) each."""
    mask = gt[..., 3] > 0  # (H, W)
    diff = np.abs(pred[..., :3] - gt[..., :3]).mean(-1)  # (H, W)
    return float((diff * mask).sum(dtype=np.float64) / (mask.sum() + _EPS))


def soft_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """``sum min(a_p, a_g) / sum max(a_p, a_g)``; two empty alphas count as identical (IoU 1)."""
    a_p, a_g = pred[..., 3], gt[..., 3]  # (H, W)
    union = float(np.maximum(a_p, a_g).sum(dtype=np.float64))
    if union <= 0:
        return 1.0
    return float(np.minimum(a_p, a_g).sum(dtype=np.float64) / union)


def pair_cost(pred: np.ndarray, gt: np.ndarray) -> float:
    """``(L1 + (1 - IoU)) / 2`` between one predicted and one ground-truth layer."""
    return 0.5 * (rgb_l1(pred, gt) + 1.0 - soft_iou(pred, gt))


# ------------------------------------------------------------------------------------ step 3
def dtw_path(cost: np.ndarray) -> list[tuple[int, int]]:
    """Dynamic time warping path through an (P, G) cost matrix from (0, 0) to (P-1, G-1).

    Steps (1, 0), (0, 1), (1, 1): order-preserving, many-to-one in both directions. Backtracking
    prefers the diagonal on ties, then a step in the prediction.
    """
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    i, j = n, m
    path = [(i - 1, j - 1)]
    while (i, j) != (1, 1):
        steps = [(acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j), (acc[i, j - 1], i, j - 1)]
        _, i, j = min(steps, key=lambda s: s[0])  # min keeps the first of equal values
        path.append((i - 1, j - 1))
    return path[::-1]


class _Matcher:
    """Pair scores between two lists of layers, cached by object identity of the layer arrays."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], tuple[float, float]] = {}
        self._keep: list[np.ndarray] = []  # keeps ids stable while cached

    def scores(self, p: np.ndarray, g: np.ndarray) -> tuple[float, float]:
        key = (id(p), id(g))
        if key not in self._cache:
            self._keep.extend((p, g))
            self._cache[key] = (rgb_l1(p, g), soft_iou(p, g))
        return self._cache[key]

    def match(self, preds: list[np.ndarray], gts: list[np.ndarray]) -> tuple[float, float, float]:
        """(mean cost, mean L1, mean IoU) over the DTW path."""
        l1 = np.empty((len(preds), len(gts)))
        iou = np.empty_like(l1)
        for a, p in enumerate(preds):
            for b, g in enumerate(gts):
                l1[a, b], iou[a, b] = self.scores(p, g)
        cost = 0.5 * (l1 + 1.0 - iou)  # (P, G)
        path = dtw_path(cost)
        rows, cols = np.array(path).T
        return float(cost[rows, cols].mean()), float(l1[rows, cols].mean()), float(iou[rows, cols].mean())


# ------------------------------------------------------------------------------------ step 4
def _merge_candidates(stack: list[np.ndarray]) -> list[list[np.ndarray]]:
    if len(stack) <= 2:
        return []
    return [stack[:i] + [_over(stack[i], stack[i + 1])] + stack[i + 2:] for i in range(len(stack) - 1)]


def _edit_curve(preds: list[np.ndarray], gts: list[np.ndarray], max_edits: int,
                ) -> tuple[list[float], list[float], list[float]]:
    matcher = _Matcher()
    cost, l1, iou = matcher.match(preds, gts)
    costs, l1s, ious = [cost], [l1], [iou]
    for _ in range(max_edits):
        best: tuple[float, float, float, list[np.ndarray], list[np.ndarray]] | None = None
        options = [(cand, gts) for cand in _merge_candidates(preds)]
        options += [(preds, cand) for cand in _merge_candidates(gts)]
        for p, g in options:
            c, a, b = matcher.match(p, g)
            if c < cost - 1e-12 and (best is None or c < best[0]):
                best = (c, a, b, p, g)
        if best is not None:
            cost, l1, iou, preds, gts = best
        costs.append(cost)
        l1s.append(l1)
        ious.append(iou)
    return costs, l1s, ious


# ---------------------------------------------------------------------------------- extras
def _premultiplied_composite(stack: np.ndarray) -> np.ndarray:
    """(H, W, 4) premultiplied composite of a bottom-to-top straight-alpha stack (L, H, W, 4)."""
    w = visibility_weights(stack[..., 3])  # (L, H, W)
    rgb = np.einsum("lhw,lhwc->hwc", w, stack[..., :3])  # (H, W, 3)
    return np.concatenate([rgb, w.sum(0)[..., None]], axis=-1)


def psnr(a: np.ndarray, b: np.ndarray, floor_mse: float = 1e-10) -> float:
    """PSNR in dB between two (H, W, C) images in [0, 1]; MSE is floored so identical images give 100 dB."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(10.0 * np.log10(1.0 / max(mse, floor_mse)))


def _count(stack: np.ndarray) -> int:
    return int(sum(1 for layer in stack if (layer[..., 3] > 0).any()))


def evaluate_pair(pred: LayeredImage | np.ndarray, gt: LayeredImage | np.ndarray,
                  image: np.ndarray | None = None, max_edits: int = MAX_EDITS) -> dict[str, Any]:
    """Score a predicted decomposition against the ground truth with the LayerD protocol.

    Args:
        pred, gt: layered images or (L, H, W, 4) stacks (bottom to top) on the same canvas.
        image: the input the prediction was made from, (H, W, 3|4); default: the gt composite.
        max_edits: largest merge budget K reported.

    Returns:
        ``{"l1": [K+1 floats], "iou": [...], "cost": [...], "psnr": dB of the prediction's composite
        against the input (premultiplied RGB + alpha), "count_error": |#pred - #gt| (non-empty layers),
        "num_pred", "num_gt", "num_pred_groups", "num_gt_groups", "skipped": bool}``. Index k of the lists is
        budget k; a skipped sample (gt with < 2 non-empty layers) has NaN lists.
    """
    if max_edits < 0:
        raise ValueError(f"max_edits must be >= 0, got {max_edits}")
    p, g = checked_pair(pred, gt)
    if image is None:
        target = _premultiplied_composite(g)
    else:
        im = stack_array(image, "image")[0]
        if im.shape[:2] != g.shape[1:3]:
            raise ValueError(f"image size {im.shape[1]}x{im.shape[0]} differs from the stacks' canvas")
        target = np.concatenate([im[..., :3] * im[..., 3:], im[..., 3:]], axis=-1)
    out: dict[str, Any] = {
        "psnr": psnr(_premultiplied_composite(p), target),
        "num_pred": _count(p),
        "num_gt": _count(g),
    }
    out["count_error"] = abs(out["num_pred"] - out["num_gt"])
    nan = [float("nan")] * (max_edits + 1)
    if out["num_gt"] < 2:
        out.update(l1=nan, iou=list(nan), cost=list(nan), skipped=True, num_pred_groups=0, num_gt_groups=0)
        return out
    pg, gg = _grouped(p), _grouped(g)
    costs, l1s, ious = _edit_curve(pg, gg, max_edits)
    out.update(l1=l1s, iou=ious, cost=costs, skipped=False, num_pred_groups=len(pg), num_gt_groups=len(gg))
    return out
