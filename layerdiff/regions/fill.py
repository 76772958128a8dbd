"""Fast hole filling for layer colours hidden behind other layers: pyramid push-pull.

Gortler et al., "The Lumigraph" (SIGGRAPH 1996), section 3.3: "pull" averages the known colours down a
2x pyramid with their weights; "push" fills each level's unknown pixels from the coarser level. O(N)
and smooth; on flat graphics it continues a uniform colour exactly, on photos it gives a soft fill.
"""

from __future__ import annotations

import numpy as np

__all__ = ["push_pull_fill"]


def _down2(x: np.ndarray) -> np.ndarray:
    """Sum over 2x2 blocks (odd sizes padded with zeros): (h, w, C) -> (ceil(h/2), ceil(w/2), C)."""
    h, w = x.shape[:2]
    if h % 2 or w % 2:
        x = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)))
    return x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]


def _up2(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear 2x upsampling of (h, w, C) to ``shape`` (H, W) with H <= 2h, W <= 2w."""
    h, w = x.shape[:2]
    out_h, out_w = shape

    def taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n_out) + 0.5) / 2.0 - 0.5, 0, n_in - 1)
        i0 = np.floor(pos).astype(np.intp)
        return i0, np.minimum(i0 + 1, n_in - 1), (pos - i0).astype(np.float32)

    y0, y1, fy = taps(h, out_h)
    x0, x1, fx = taps(w, out_w)
    rows = x[y0] + fy[:, None, None] * (x[y1] - x[y0])  # (H, w, C)
    left = np.take(rows, x0, axis=1)  # (H, W, C); np.take: far faster than indexing the second axis
    return left + fx[None, :, None] * (np.take(rows, x1, axis=1) - left)  # (H, W, C)


def push_pull_fill(colour: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill ``colour`` (H, W, C) where ``weight`` (H, W) in [0, 1] is low from where it is high.

    Pixels with weight 1 keep their colour; weight 0 pixels take the smooth fill; in between they are
    blended. With no weight anywhere the result is the plain mean colour.
    """
    col = np.asarray(colour, dtype=np.float32)
    wt = np.clip(np.asarray(weight, dtype=np.float32), 0.0, 1.0)
    if col.ndim != 3 or wt.shape != col.shape[:2]:
        raise ValueError(f"push_pull_fill: colour {col.shape} must be (H, W, C) and weight {wt.shape} (H, W)")
    if wt.max(initial=0.0) <= 0:
        return np.broadcast_to(col.mean((0, 1)), col.shape).astype(np.float32)
    # pull: premultiplied colour and weight pyramids, weights saturating at 1
    levels = [(col * wt[..., None], wt[..., None])]  # [(h, w, C), (h, w, 1)]
    while max(levels[-1][1].shape[:2]) > 1:
        p, w = levels[-1]
        p2, w2 = _down2(p), _down2(w)
        scale = np.minimum(1.0, w2) / np.maximum(w2, 1e-12)  # normalise so the coarse weight is <= 1
        levels.append((p2 * scale, w2 * scale))
    # push: fill each level from the coarser one
    p, w = levels[-1]
    filled = p / np.maximum(w, 1e-12)  # (1, 1, C)
    for p, w in reversed(levels[:-1]):
        coarse = _up2(filled, p.shape[:2])  # (h, w, C)
        filled = p + (1.0 - w) * coarse  # p is colour * w, so weight-1 pixels keep their colour
    return filled.astype(np.float32)
