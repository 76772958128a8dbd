"""What each layer hides, completed: no layer keeps a copy of what lies above it.

Painting fills a layer's hidden pixels by push-pull from its visible ones, and the exact-recomposition
step leaves mixed colours where a layer above is partly transparent (anti-aliased letter edges), so
hiding the top layer shows faint outlines of it. Here:

1. :func:`layerdiff.completion.complete_stack` re-paints every pixel of a layer that the layers above
   cover at least ``reveal`` (not only the fully hidden ones), from the layer's own fully visible pixels
   (parametric fits for flat and gradient fills; otherwise push-pull, or PatchMatch with ``exemplar``);
2. where that changed a pixel, the topmost layer there is unblended against the new composite of the
   layers below it (LayerD's colour unblending, Suzuki et al. 2025): its colour becomes
   ``(C - B (1 - a)) / a`` for the input colour C, the composite B below and its alpha a, clipped to
   [0, 1]. Pixels where it clips (or where that alpha is under ``min_alpha``) keep a small residual that
   the decomposer's exact-recomposition projection removes.
"""

from __future__ import annotations

import numpy as np

from ..completion import complete_stack

__all__ = ["complete_hidden"]


def complete_hidden(stack: np.ndarray, rgb: np.ndarray, reveal: float = 0.05, min_alpha: float = 0.05,
                    exemplar: bool = False) -> np.ndarray:
    """``stack`` (L, H, W, 4) straight alpha with what each layer hides re-painted and the top layer's
    colours unblended where that changed the layers below (module docstring); ``rgb`` (H, W, 3) is the
    image the stack recomposes to. Alphas are unchanged. ``exemplar``: layers no parametric model fits
    are inpainted with PatchMatch (several times the decomposition's own time on these CPUs) instead of
    push-pull."""
    arr = np.asarray(stack, np.float32)
    done, _ = complete_stack(arr, hidden_above=reveal, exemplar=exemplar)  # (L, H, W, 4)
    changed = np.abs(done[..., :3] - arr[..., :3]).max(-1) > 1e-6  # (L, H, W)
    alpha = done[..., 3]  # (L, H, W)
    count = len(done)
    opaque = alpha > 0
    top = count - 1 - np.argmax(opaque[::-1], axis=0)  # (H, W) topmost layer with any alpha
    below = np.zeros(rgb.shape, np.float32)  # (H, W, 3) composite of the layers under ``top``
    for k in range(count):
        under = (top > k)[..., None]
        a = alpha[k][..., None]
        below = np.where(under, done[k, ..., :3] * a + below * (1.0 - a), below)
    fix = changed.any(0)  # (H, W) pixels where some layer's colour changed
    ys, xs = np.nonzero(fix)
    t = top[ys, xs]
    a = alpha[t, ys, xs][:, None]  # (m, 1)
    ok = (a[:, 0] >= min_alpha) & (t > 0)
    ys, xs, t, a = ys[ok], xs[ok], t[ok], a[ok]
    colour = (rgb[ys, xs] - below[ys, xs] * (1.0 - a)) / a  # (m, 3)
    done[t, ys, xs, :3] = np.clip(colour, 0.0, 1.0)
    return done
