"""Painting layers from region assignments: masks, matted alphas, push-pull filled colours, and the
work-size round trip with exact recomposition.

1. :func:`layer_masks`: each layer covers its regions and everything they enclose (completed under the
   layers on top: the hidden part of its convex hull under siblings over it, and on request under any
   higher layer for regions that fill the rest of their hull), and owns its visible pixels;
2. :func:`paint_layers`: soft edges from a colour-line matte in a 1-px band (Levin et al. 2008), hidden
   colours filled by pyramid push-pull from the visible ones (Gortler et al. 1996,
   :func:`layerdiff.regions.fill.push_pull_fill`);
3. :func:`at_work_size`: the engine runs at most ``work_size`` px on the longest side;
   :func:`layerdiff.recompose.project_residual` makes the composite equal the input and larger inputs
   are lifted with :func:`layerdiff.recompose.upsample_layers`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..blend import over
from ..layered import LayeredImage, from_float
from ..morphology import edge_band
from ..parallel import parallel_map
from ..recompose import colour_line_matte, project_residual, resize_plane, upsample_layers
from .fill import push_pull_fill
from .graph import RegionGraph

__all__ = ["layer_masks", "matte_cover", "paint_layers", "at_work_size", "shrink_to", "named_stack", "make_room",
           "merge_speck"]


def layer_masks(graph: RegionGraph, layer: np.ndarray, count: int, convex: bool = False,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per layer: the pixels it covers (its regions, everything they enclose, and the parts of their
    convex hulls hidden by siblings over them) and its own visible pixels. (K, h, w) bool each.
    ``layer`` (n,) is the layer of each region of ``graph``; ``convex``: also the hidden part of every
    region that fills the rest of its convex hull (:func:`_complete_convex`)."""
    n = graph.count
    labels = graph.regions.labels
    tree, hulls = graph.tree, graph.hulls
    below = graph.ancestry | np.eye(n, dtype=bool)  # below[a, r]: r is a or lies inside a
    covers = np.zeros((count, n), bool)
    for a in range(n):
        covers[layer[a]] |= below[a] & (layer >= layer[a])  # a hole showing a lower layer stays open
    cover_px = covers[:, labels]  # (K, h, w)
    for top, low in tree.over:  # complete the hidden part of ``low`` under ``top``
        if layer[top] <= layer[low]:
            continue
        sl = hulls.slices[low]
        hidden = hulls.hull(low) & np.isin(labels[sl], np.nonzero(below[top])[0])
        cover_px[layer[low]][sl] |= hidden
    if convex:
        _complete_convex(graph, layer, cover_px)
    own_px = layer[labels][None] == np.arange(count)[:, None, None]  # (K, h, w)
    return cover_px, own_px


def _complete_convex(graph: RegionGraph, layer: np.ndarray, cover_px: np.ndarray) -> None:
    """Add to ``cover_px`` (K, h, w), in place, the hidden part of every convex region: a region of a
    layer above the background that fills its convex hull wherever no higher layer covers the hull
    (at least 95% of those pixels), with at least 4 hull pixels under higher layers (a disc cut by a
    panel over it), covers those pixels too."""
    labels = graph.regions.labels
    px_layer = layer[labels]  # (h, w)
    for r in np.nonzero(layer > 0)[0]:
        sl = graph.hulls.slices[r]
        if sl is None:
            continue
        hull = graph.hulls.hull(int(r))  # (bh, bw)
        hidden = hull & (px_layer[sl] > layer[r])
        if hidden.sum() < 4:
            continue
        rest = hull & ~hidden
        if (rest & (labels[sl] == r)).sum() >= 0.95 * rest.sum():
            cover_px[layer[r]][sl] |= hidden


def at_work_size(full: np.ndarray, work_size: int, decompose_small: Callable[[np.ndarray], np.ndarray],
                 ) -> np.ndarray:
    """Run ``decompose_small`` on ``full`` (H, W, 4) shrunk to at most ``work_size`` px on its longest
    side, and lift its layers (K, h, w, 4) back to full resolution with exact recomposition."""
    small = shrink_to(full, work_size)
    low = decompose_small(small)  # (K, h, w, 4)
    return upsample_layers(low, full) if small.shape != full.shape else project_residual(low, full)


def shrink_to(full: np.ndarray, work_size: int) -> np.ndarray:
    """``full`` (H, W, 4) resized (premultiplied) to at most ``work_size`` px on its longest side, in [0, 1]."""
    height, width = full.shape[:2]
    scale = min(1.0, work_size / max(height, width))
    if scale >= 1.0:
        return np.clip(full, 0.0, 1.0)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    premult = np.concatenate([full[..., :3] * full[..., 3:], full[..., 3:]], -1)
    small_p = np.clip(resize_plane(premult, size), 0.0, 1.0)  # (h, w, 4)
    a = small_p[..., 3:]
    small = np.concatenate([np.divide(small_p[..., :3], a, out=np.zeros_like(small_p[..., :3]),
                                      where=a > 1e-6), a], -1)
    return np.clip(small, 0.0, 1.0)


def named_stack(stack: np.ndarray, decomposer: str, on_8bit_grid: bool = False) -> LayeredImage:
    """A decomposer's result: layers named Background, Layer 1, ... with the decomposer in the metadata.

    ``on_8bit_grid``: ``stack`` (L, H, W, 4) float holds only multiples of 1/255 (as :func:`at_work_size`'s
    exact recomposition leaves it); its layers are then held as uint8 (4 bytes a pixel instead of 16, the
    same values), converted in bands of rows so no second float stack is made."""
    names = ["Background"] + [f"Layer {i}" for i in range(1, len(stack))]
    if on_8bit_grid:
        samples = np.empty(stack.shape, np.uint8)  # (L, H, W, 4)
        rows = max(1, (1 << 22) // max(1, stack.shape[2] * 4))
        for k in range(stack.shape[0]):
            for y in range(0, stack.shape[1], rows):
                samples[k, y:y + rows] = from_float(stack[k, y:y + rows], 8)
        samples.flags.writeable = False  # the layers share it instead of copying it
        stack = samples
    out = LayeredImage.from_numpy(stack, names=names)
    out.metadata["decomposer"] = decomposer
    return out


def paint_layers(rgb: np.ndarray, cover: np.ndarray, own: np.ndarray, matte_radius: int,
                 wanted: int | None = None) -> np.ndarray:
    """Layers (K, h, w, 4) from per-layer boolean masks (K, h, w): ``cover`` (what each layer covers,
    hidden parts included) and ``own`` (its visible pixels). Layer 0 is opaque; the others get a matted
    alpha; hidden colours are filled by push-pull from the visible ones. Padded with empty layers on
    top up to ``wanted``."""
    count = cover.shape[0]
    h, w = rgb.shape[:2]
    stack = np.zeros((count, h, w, 4), np.float32)

    def paint(k: int) -> None:
        stack[k, ..., 3] = 1.0 if k == 0 else matte_cover(rgb, cover[k], matte_radius)
        visible = own[k] & ~_edge_band(own[k])
        if not visible.any():
            visible = own[k]
        fill = push_pull_fill(rgb, visible.astype(np.float32))  # (h, w, 3)
        # fully transparent pixels carry the input's colour (invisible; keeps edges fringe-free when
        # the alpha is later refined at full resolution)
        stack[k, ..., :3] = np.where(stack[k, ..., 3:] > 0, fill, rgb)

    parallel_map(paint, range(count))  # one layer a thread: each writes only its own
    if wanted is not None and count < wanted:
        pad = np.zeros((wanted - count, h, w, 4), np.float32)
        stack = np.concatenate([stack, pad])
    return stack


def matte_cover(rgb: np.ndarray, cover: np.ndarray, radius: int) -> np.ndarray:
    """Soft alpha (h, w) of a layer covering the boolean region ``cover``: colour-line matte in the
    1-px band around its boundary, the hard mask elsewhere."""
    band = _edge_band(cover)
    hard = cover.astype(np.float32)
    rows, cols = np.flatnonzero(band.any(1)), np.flatnonzero(band.any(0))
    if rows.size == 0:
        return hard
    # the matte's windows reach ``radius`` px: filter only the band's box with that halo
    h, w = cover.shape
    y0, y1 = max(0, rows[0] - radius), min(h, rows[-1] + 1 + radius)
    x0, x1 = max(0, cols[0] - radius), min(w, cols[-1] + 1 + radius)
    box = (slice(y0, y1), slice(x0, x1))
    c, b = cover[box], band[box]  # (bh, bw)
    alpha, conf = colour_line_matte(rgb[box], c & ~b, ~c & ~b, radius)
    soft = hard[box] + conf * (alpha - hard[box])
    hard[box] = np.where(b, soft, hard[box])
    return hard


def _edge_band(mask: np.ndarray) -> np.ndarray:
    """Pixels within one pixel of the boundary of a boolean mask (both sides)."""
    return edge_band(mask)


def merge_speck(stack: np.ndarray, speck: float) -> np.ndarray | None:
    """``stack`` (K, h, w, 4) less one layer: its smallest layer above the background, when that covers
    (alpha over 0.5) less than ``speck`` of the canvas, composited onto the layer under it; None when every
    layer is larger (or there is none)."""
    if len(stack) < 2:
        return None
    cover = (stack[1:, ..., 3] > 0.5).mean(axis=(1, 2))  # (K - 1,) share of the canvas
    k = int(np.argmin(cover)) + 1
    if cover[k - 1] >= speck:
        return None
    out = np.delete(stack, k, 0)  # (K - 1, h, w, 4)
    out[k - 1] = over(stack[k - 1], stack[k])
    return out


def make_room(stack: np.ndarray, exact: bool, cap: int) -> np.ndarray | None:
    """``stack`` (K, h, w, 4) ready to take one more layer, or None when it has no room: with an exact count,
    without its topmost empty layer above the background (None when none is empty); with an automatic
    count, as it is while it has fewer than ``cap`` layers."""
    if not exact:
        return stack if len(stack) < cap else None
    empty = np.nonzero(stack[1:, ..., 3].max(axis=(1, 2)) <= 0)[0] + 1  # (E,)
    return np.delete(stack, empty[-1], 0) if len(empty) else None
