"""Refining generated layers with :class:`~layerdiff.models.layer_refiner.LayerRefiner`: crop, refine, paste.

Each layer to refine gets a square window around its visible part (alpha > 0.5, else > 0.1) with a
margin, sampled to the refiner's crop size; the refiner's alpha is sampled back into the window and
replaces the layer's alpha there (outside the window the layer is unchanged). Where the new alpha
reaches pixels the coarse layer left (nearly) transparent, their colour is filled from the layer's
visible pixels by push-pull (Gortler et al. 1996, "The Lumigraph", pull-push interpolation), so the
layer keeps its colours. Training crops come from the same :func:`crop_windows` and :func:`crop`.

The refiner may run several passes, each on the previous pass's layer with a window taken anew: the
iterative refinement of a coarse mask by one network (as in CascadePSP, Cheng et al. 2020). Each pass
commits the outline further toward the class the phrase names (the effect of the pass count is in
MODEL_CARD.md).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

WINDOW_MARGIN = 0.3
"""Margin on each side of the visible part's box, as a share of its longer side."""
MIN_WINDOW = 12.0
"""Smallest window side in pixels."""


def layer_window(alpha: torch.Tensor, margin: float = WINDOW_MARGIN, min_side: float = MIN_WINDOW
                 ) -> tuple[float, float, float] | None:
    """(centre x, centre y, side) in pixels of the square window around a layer's visible part, or None.

    alpha: (H, W). The part is alpha > 0.5, or alpha > 0.1 when nothing is above 0.5.
    """
    mask = alpha > 0.5
    if not bool(mask.any()):
        mask = alpha > 0.1
        if not bool(mask.any()):
            return None
    ys = torch.nonzero(mask.any(1)).flatten()
    xs = torch.nonzero(mask.any(0)).flatten()
    x0, x1, y0, y1 = float(xs[0]), float(xs[-1]) + 1, float(ys[0]), float(ys[-1]) + 1
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    return (x0 + x1) / 2, (y0 + y1) / 2, max(side, min_side)


def crop_windows(windows: torch.Tensor, size: int, height: int, width: int) -> torch.Tensor:
    """Sampling grid (N, S, S, 2) of ``grid_sample`` (align_corners=False) for windows (N, 3) of (cx, cy, side)."""
    steps = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5  # (S,) in (-0.5, 0.5)
    cx, cy, side = (windows[:, i, None].float() for i in range(3))  # (N, 1) each
    px = cx + steps[None] * side  # (N, S) pixel x of each crop column
    py = cy + steps[None] * side  # (N, S)
    gx = (2 * px / width - 1)[:, None, :].expand(-1, size, -1)  # (N, S, S)
    gy = (2 * py / height - 1)[:, :, None].expand(-1, -1, size)  # (N, S, S)
    return torch.stack([gx, gy], dim=-1)  # (N, S, S, 2)


def crop(images: torch.Tensor, windows: torch.Tensor, size: int) -> torch.Tensor:
    """images (N, C, H, W) -> (N, C, S, S) crops of the windows (N, 3); zeros outside the canvas."""
    grid = crop_windows(windows, size, images.shape[-2], images.shape[-1]).to(images.device, images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def paste(crops: torch.Tensor, windows: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """crops (N, C, S, S) back onto (H, W) canvases: (values (N, C, H, W), inside-window mask (N, 1, H, W))."""
    xs = torch.arange(width, dtype=torch.float32) + 0.5  # (W,) pixel centres
    ys = torch.arange(height, dtype=torch.float32) + 0.5  # (H,)
    cx, cy, side = (windows[:, i, None].float() for i in range(3))  # (N, 1) each
    u = 2 * (xs[None] - cx) / side  # (N, W) in [-1, 1] inside the window
    v = 2 * (ys[None] - cy) / side  # (N, H)
    grid = torch.stack([u[:, None, :].expand(-1, height, -1), v[:, :, None].expand(-1, -1, width)], -1)  # (N, H, W, 2)
    values = F.grid_sample(crops, grid.to(crops.device, crops.dtype), mode="bilinear", padding_mode="border",
                           align_corners=False)  # (N, C, H, W)
    inside = ((u.abs() <= 1)[:, None, :] & (v.abs() <= 1)[:, :, None])[:, None]  # (N, 1, H, W)
    return values, inside.to(crops.device)


def push_pull_fill(rgb: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fill colours where ``weight`` is 0 from the weighted pixels around (pull-push over a 2x pyramid).

    rgb: (N, 3, H, W); weight: (N, 1, H, W) >= 0. Pixels of positive weight keep a weighted average of
    their own colour; the rest take the finest coarser level that saw any weight, upsampled. Unlike
    :func:`layerdiff.regions.fill.push_pull_fill` (NumPy, one image), which blends every level
    with the coarser ones, a level here keeps its own average wherever it saw any weight, so new alpha
    takes the colour of the nearest trusted pixels, not a smooth mix of farther ones.
    """
    levels = [(rgb * weight, weight)]
    while min(levels[-1][1].shape[-2:]) > 1:
        cw, w = levels[-1]
        levels.append((F.avg_pool2d(cw, 2, ceil_mode=True), F.avg_pool2d(w, 2, ceil_mode=True)))
    cw, w = levels[-1]
    cur = cw / w.clamp_min(1e-8)  # (N, 3, h, w) coarsest
    for cw, w in reversed(levels[:-1]):
        up = F.interpolate(cur, size=w.shape[-2:], mode="bilinear", align_corners=False)
        cur = torch.where(w > 1e-6, cw / w.clamp_min(1e-8), up)
    return cur


REFINE_PASSES = 1
"""Refiner passes when a model's defaults name none (``refine_passes``)."""


@torch.no_grad()
def refine_layers(refiner: torch.nn.Module, layers: torch.Tensor, text: torch.Tensor,
                  select: torch.Tensor | None = None, passes: int = REFINE_PASSES) -> torch.Tensor:
    """Refine the alpha of the selected layers ``passes`` times; the others come back bit-identical.

    layers: (L, 4, H, W) straight RGBA in [0, 1]; text: (L, P) phrase embeddings (zeros: no phrase);
    select: (L,) bool, the layers to refine (default: all). Empty layers are left as they are.
    """
    if passes < 1:
        raise ValueError(f"passes must be at least 1, got {passes}")
    for _ in range(passes):
        layers = _refine_once(refiner, layers, text, select)
    return layers


def _refine_once(refiner: torch.nn.Module, layers: torch.Tensor, text: torch.Tensor,
                 select: torch.Tensor | None) -> torch.Tensor:
    """One pass of :func:`refine_layers`."""
    n, _, h, w = layers.shape
    select = torch.ones(n, dtype=torch.bool) if select is None else select.bool().cpu()
    idx, wins = [], []
    for k in range(n):
        win = layer_window(layers[k, 3].float().cpu()) if bool(select[k]) else None
        if win is not None:
            idx.append(k)
            wins.append(win)
    if not idx:
        return layers
    param = next(refiner.parameters())
    size = int(refiner.config.crop_size)
    windows = torch.tensor(wins, dtype=torch.float32)  # (N, 3)
    chosen = layers[idx].to(param.device, torch.float32)  # (N, 4, H, W)
    premult = torch.cat([chosen[:, :3] * chosen[:, 3:], chosen[:, 3:]], 1)  # (N, 4, H, W)
    logits = refiner(crop(premult, windows, size).to(param.dtype),
                     text[idx].to(param.device, param.dtype)).float()  # (N, 1, S, S)
    alpha_in, inside = paste(torch.sigmoid(logits), windows, h, w)  # (N, 1, H, W) each
    alpha_old = chosen[:, 3:]  # (N, 1, H, W)
    alpha = torch.where(inside, alpha_in, alpha_old)  # (N, 1, H, W)
    sure = (alpha_old > 0.5).float()  # (N, 1, H, W) pixels whose colour is trusted
    weight = torch.where(sure.flatten(1).any(1)[:, None, None, None], sure, alpha_old)
    rgb = torch.where(weight > 0, chosen[:, :3], push_pull_fill(chosen[:, :3], weight))  # (N, 3, H, W)
    out = layers.clone()
    out[idx] = torch.cat([rgb, alpha], 1).clamp(0, 1).to(layers.device, layers.dtype)
    return out
